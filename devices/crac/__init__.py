"""Precision air conditioning (CRAC) drivers: readings, alarms and verified commands.

The register map of each unit model is a profile (``devices/profiles/crac/*.yaml``,
validated by :mod:`devices.crac.profile`); :class:`ModbusCrac` reads and
commands a unit over a Modbus TCP or RTU link through it.
"""

from devices.crac.messages import CracAlarm, CracAlarmWatch, CracCommandError, CracReading
from devices.crac.modbus import ModbusCrac
from devices.crac.profile import (
    CracProfile,
    builtin_crac_profiles,
    get_crac_profile,
    load_crac_profile_file,
    parse_crac_profile,
)

__all__ = [
    "CracAlarm",
    "CracAlarmWatch",
    "CracCommandError",
    "CracProfile",
    "CracReading",
    "ModbusCrac",
    "builtin_crac_profiles",
    "get_crac_profile",
    "load_crac_profile_file",
    "parse_crac_profile",
]
