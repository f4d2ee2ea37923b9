"""Precision air conditioning (CRAC) drivers: readings, alarms and verified commands.

The register map of each unit model is a profile (``devices/profiles/crac/*.yaml``,
validated by :mod:`devices.crac.profile`); :class:`ModbusCrac` reads and
commands a unit over a Modbus TCP or RTU link through it. A unit with an SNMP
card has an OID map instead (``protocol: snmp``, :mod:`devices.crac.snmp_profile`)
and is read by :class:`SnmpCrac`; ``get_crac_profile`` returns either kind.
"""

from devices.crac.messages import CracAlarm, CracAlarmWatch, CracCommandError, CracReading
from devices.crac.modbus import ModbusCrac
from devices.crac.profile import (
    AnyCracProfile,
    CracProfile,
    builtin_crac_profiles,
    builtin_snmp_crac_profiles,
    get_crac_profile,
    load_crac_profile_file,
    parse_crac_profile,
)
from devices.crac.snmp import SnmpCrac, SnmpCracIdentity
from devices.crac.snmp_profile import SnmpCracProfile

__all__ = [
    "AnyCracProfile",
    "CracAlarm",
    "CracAlarmWatch",
    "CracCommandError",
    "CracProfile",
    "CracReading",
    "ModbusCrac",
    "SnmpCrac",
    "SnmpCracIdentity",
    "SnmpCracProfile",
    "builtin_crac_profiles",
    "builtin_snmp_crac_profiles",
    "get_crac_profile",
    "load_crac_profile_file",
    "parse_crac_profile",
]
