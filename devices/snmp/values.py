"""SNMP values as plain data, independent of pysnmp's ASN.1 classes.

Drivers and profiles look at two things of a value: its SMI syntax (a unit
that sends TimeTicks where the MIB says INTEGER is telling us something) and
its content. ``SnmpValue`` carries both and nothing else, so code above the
client never touches pyasn1 objects, and tests can build values by hand.

OIDs are dotted strings without a leading dot ("1.3.6.1.2.1.33.1.2.1.0");
``oid_tuple`` turns one into a tuple of ints for ordering and prefix tests.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1902, rfc1905

from devices.errors import DeviceProtocolError


class Syntax(enum.StrEnum):
    """The SMI syntax of a value as it came off the wire."""

    INTEGER = "INTEGER"  # INTEGER / Integer32 (v1 INTEGER too)
    OCTET_STRING = "OCTET STRING"
    OID = "OBJECT IDENTIFIER"
    IP_ADDRESS = "IpAddress"
    COUNTER32 = "Counter32"
    GAUGE32 = "Gauge32"  # also Unsigned32: same tag on the wire
    TIMETICKS = "TimeTicks"
    OPAQUE = "Opaque"
    COUNTER64 = "Counter64"
    NULL = "NULL"


NUMERIC = frozenset(
    {Syntax.INTEGER, Syntax.COUNTER32, Syntax.GAUGE32, Syntax.COUNTER64, Syntax.TIMETICKS}
)
"""Syntaxes whose content is an integer."""


@dataclass(frozen=True, slots=True)
class SnmpValue:
    """One value: ``int`` for the numeric syntaxes, ``bytes`` for strings, ``str`` for OIDs."""

    syntax: Syntax
    value: int | bytes | str | None = None

    @property
    def number(self) -> int | None:
        """The integer content, or None when the syntax is not numeric."""
        if self.syntax in NUMERIC and isinstance(self.value, int):
            return self.value
        return None

    def text(self) -> str:
        """A readable rendering: decimal, dotted OID or IP, UTF-8 text or 0x-hex bytes."""
        if isinstance(self.value, int | str):
            return str(self.value)
        if isinstance(self.value, bytes):
            if self.syntax is Syntax.IP_ADDRESS and len(self.value) == 4:
                return str(ipaddress.IPv4Address(self.value))
            try:
                decoded = self.value.decode("utf-8")
            except UnicodeDecodeError:
                return "0x" + self.value.hex()
            if decoded.isprintable():
                return decoded
            return "0x" + self.value.hex()
        return ""

    @classmethod
    def integer(cls, value: int) -> SnmpValue:
        """An INTEGER value (for SET)."""
        return cls(Syntax.INTEGER, value)

    @classmethod
    def oid(cls, value: str) -> SnmpValue:
        """An OBJECT IDENTIFIER value (for SET)."""
        return cls(Syntax.OID, normalize_oid(value))

    @classmethod
    def octets(cls, value: bytes | str) -> SnmpValue:
        """An OCTET STRING value (for SET)."""
        return cls(Syntax.OCTET_STRING, value.encode() if isinstance(value, str) else value)


def normalize_oid(oid: str) -> str:
    """``oid`` without a leading dot; raises ValueError when it is not a dotted number list."""
    text = oid.strip().lstrip(".")
    parts = text.split(".")
    if len(parts) < 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a numeric OID: {oid!r}")
    return ".".join(str(int(p)) for p in parts)


def oid_tuple(oid: str) -> tuple[int, ...]:
    """The OID as a tuple of ints (orders like SNMP does: lexicographically by sub-id)."""
    return tuple(int(p) for p in normalize_oid(oid).split("."))


def oid_str(parts: tuple[int, ...]) -> str:
    """Dotted form of an OID tuple."""
    return ".".join(str(p) for p in parts)


def is_absent(value: Any) -> bool:
    """True for the v2 exception values: noSuchObject, noSuchInstance, endOfMibView."""
    tag = getattr(value, "tagSet", None)
    return bool(tag in _ABSENT_TAGS)


def is_end_of_mib(value: Any) -> bool:
    """True for endOfMibView."""
    return bool(getattr(value, "tagSet", None) == rfc1905.EndOfMibView.tagSet)


_ABSENT_TAGS = (
    rfc1905.NoSuchObject.tagSet,
    rfc1905.NoSuchInstance.tagSet,
    rfc1905.EndOfMibView.tagSet,
)

_BY_TAG = {
    univ.Integer.tagSet: Syntax.INTEGER,
    univ.OctetString.tagSet: Syntax.OCTET_STRING,
    univ.ObjectIdentifier.tagSet: Syntax.OID,
    univ.Null.tagSet: Syntax.NULL,
    rfc1902.IpAddress.tagSet: Syntax.IP_ADDRESS,
    rfc1902.Counter32.tagSet: Syntax.COUNTER32,
    rfc1902.Gauge32.tagSet: Syntax.GAUGE32,
    rfc1902.TimeTicks.tagSet: Syntax.TIMETICKS,
    rfc1902.Opaque.tagSet: Syntax.OPAQUE,
    rfc1902.Counter64.tagSet: Syntax.COUNTER64,
}


def from_asn1(value: Any, *, oid: str = "") -> SnmpValue | None:
    """Convert a decoded pysnmp/pyasn1 value; None for the v2 exception values.

    Raises ``DeviceProtocolError`` for a syntax SNMP does not define.
    """
    if is_absent(value):
        return None
    tag = getattr(value, "tagSet", None)
    syntax = _BY_TAG.get(tag) if tag is not None else None
    if syntax is None:
        # v1 NetworkAddress is a CHOICE around IpAddress.
        inner = getattr(value, "getComponent", None)
        if callable(inner) and tag is None:
            return from_asn1(inner(), oid=oid)
        raise DeviceProtocolError(
            f"{oid or 'value'}: unknown SNMP syntax {type(value).__name__}",
            expected="an SMI syntax",
        )
    if syntax is Syntax.NULL:
        return SnmpValue(syntax)
    if syntax is Syntax.OID:
        return SnmpValue(syntax, str(value))
    if syntax in (Syntax.OCTET_STRING, Syntax.IP_ADDRESS, Syntax.OPAQUE):
        return SnmpValue(syntax, bytes(value.asOctets()))
    return SnmpValue(syntax, int(value))


def to_asn1(value: SnmpValue) -> Any:
    """The pysnmp object for a value to SET (or to send in a notification)."""
    content = value.value
    match value.syntax:
        case Syntax.INTEGER:
            return rfc1902.Integer32(_as_int(content))
        case Syntax.COUNTER32:
            return rfc1902.Counter32(_as_int(content))
        case Syntax.GAUGE32:
            return rfc1902.Gauge32(_as_int(content))
        case Syntax.TIMETICKS:
            return rfc1902.TimeTicks(_as_int(content))
        case Syntax.COUNTER64:
            return rfc1902.Counter64(_as_int(content))
        case Syntax.OID:
            return rfc1902.ObjectIdentifier(str(content))
        case Syntax.IP_ADDRESS:
            return rfc1902.IpAddress(_as_bytes(content))
        case Syntax.OPAQUE:
            return rfc1902.Opaque(_as_bytes(content))
        case Syntax.OCTET_STRING:
            return rfc1902.OctetString(_as_bytes(content))
        case Syntax.NULL:
            return rfc1902.Null("")
    raise ValueError(f"cannot encode {value.syntax}")  # pragma: no cover - exhaustive


def _as_int(content: object) -> int:
    if not isinstance(content, int):
        raise ValueError(f"expected an int, got {content!r}")
    return content


def _as_bytes(content: object) -> bytes:
    if isinstance(content, str):
        return content.encode()
    if not isinstance(content, bytes):
        raise ValueError(f"expected bytes, got {content!r}")
    return content
