"""SNMP for the drivers: a small asyncio client (pysnmp 7) and a trap receiver.

Credentials and values are plain data (``credentials``, ``values``) so that
configuration, profiles and tests never handle pysnmp objects.
"""

from devices.snmp.client import SnmpClient, SnmpErrorStatus, privacy_available
from devices.snmp.credentials import (
    AuthProtocol,
    Community,
    Credentials,
    PrivProtocol,
    SnmpTarget,
    UsmUser,
)
from devices.snmp.values import SnmpValue, Syntax, normalize_oid, oid_str, oid_tuple

__all__ = [
    "AuthProtocol",
    "Community",
    "Credentials",
    "PrivProtocol",
    "SnmpClient",
    "SnmpErrorStatus",
    "SnmpTarget",
    "SnmpValue",
    "Syntax",
    "UsmUser",
    "normalize_oid",
    "oid_str",
    "oid_tuple",
    "privacy_available",
]
