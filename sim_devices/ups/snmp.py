"""SNMP v1/v2c messages (RFC 1157, RFC 3416): value types, PDUs, encode and decode.

Only what an agent needs: it decodes the five request PDUs (and the trap and
response PDUs, so tests and tools can read what it sends) and encodes
responses and notifications. Values are small frozen classes, one per SMI
type, so a varbind's type is never guessed from a Python int.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from sim_devices.ups.ber import (
    INTEGER,
    NULL,
    OBJECT_IDENTIFIER,
    OCTET_STRING,
    SEQUENCE,
    BerError,
    Reader,
    decode_oid,
    decode_signed,
    encode_oid,
    encode_signed,
    encode_unsigned,
    tlv,
)

Oid = tuple[int, ...]


def oid(text: str) -> Oid:
    """``"1.3.6.1"`` (a leading dot is allowed) to a tuple of arcs."""
    return tuple(int(part) for part in text.strip().lstrip(".").split("."))


def oid_str(arcs: Oid) -> str:
    """Dotted form without a leading dot, as net-snmp prints with ``-On`` minus the dot."""
    return ".".join(str(arc) for arc in arcs)


class Tag(enum.IntEnum):
    """BER tags of the SMI types and the v2 exception values."""

    INTEGER = INTEGER
    OCTET_STRING = OCTET_STRING
    NULL = NULL
    OBJECT_IDENTIFIER = OBJECT_IDENTIFIER
    IP_ADDRESS = 0x40
    COUNTER32 = 0x41
    GAUGE32 = 0x42
    TIMETICKS = 0x43
    OPAQUE = 0x44
    COUNTER64 = 0x46
    NO_SUCH_OBJECT = 0x80
    NO_SUCH_INSTANCE = 0x81
    END_OF_MIB_VIEW = 0x82


class PduType(enum.IntEnum):
    """Context-specific constructed tags of the PDUs."""

    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    SET = 0xA3
    TRAP_V1 = 0xA4
    GET_BULK = 0xA5
    INFORM = 0xA6
    TRAP_V2 = 0xA7
    REPORT = 0xA8


class Version(enum.IntEnum):
    """The msgVersion field: 0 is SNMPv1, 1 is SNMPv2c."""

    V1 = 0
    V2C = 1


class ErrorStatus(enum.IntEnum):
    """error-status values (RFC 3416); 0-5 are the only ones SNMPv1 knows."""

    NO_ERROR = 0
    TOO_BIG = 1
    NO_SUCH_NAME = 2
    BAD_VALUE = 3
    READ_ONLY = 4
    GEN_ERR = 5
    NO_ACCESS = 6
    WRONG_TYPE = 7
    WRONG_LENGTH = 8
    WRONG_ENCODING = 9
    WRONG_VALUE = 10
    NO_CREATION = 11
    INCONSISTENT_VALUE = 12
    RESOURCE_UNAVAILABLE = 13
    COMMIT_FAILED = 14
    UNDO_FAILED = 15
    AUTHORIZATION_ERROR = 16
    NOT_WRITABLE = 17
    INCONSISTENT_NAME = 18


# --- values --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Integer:
    """INTEGER / Integer32 (also enumerations)."""

    value: int

    def encode(self) -> bytes:
        """TLV bytes."""
        if not -(2**31) <= self.value < 2**31:
            raise ValueError(f"Integer32 out of range: {self.value}")
        return tlv(Tag.INTEGER, encode_signed(self.value))


@dataclass(frozen=True, slots=True)
class OctetString:
    """OCTET STRING (DisplayString is ASCII text in one)."""

    value: bytes

    @classmethod
    def text(cls, value: str) -> OctetString:
        """A DisplayString."""
        return cls(value.encode("ascii", "replace"))

    def encode(self) -> bytes:
        """TLV bytes."""
        return tlv(Tag.OCTET_STRING, self.value)


@dataclass(frozen=True, slots=True)
class Null:
    """NULL, the value of every varbind in a request."""

    def encode(self) -> bytes:
        """TLV bytes."""
        return b"\x05\x00"


@dataclass(frozen=True, slots=True)
class ObjectId:
    """OBJECT IDENTIFIER (AutonomousType, sysObjectID, upsTestId)."""

    value: Oid

    def encode(self) -> bytes:
        """TLV bytes."""
        return tlv(Tag.OBJECT_IDENTIFIER, encode_oid(self.value))


@dataclass(frozen=True, slots=True)
class IpAddress:
    """IpAddress: four octets, network order."""

    value: bytes

    def encode(self) -> bytes:
        """TLV bytes."""
        if len(self.value) != 4:
            raise ValueError(f"IpAddress needs 4 octets, got {len(self.value)}")
        return tlv(Tag.IP_ADDRESS, self.value)


@dataclass(frozen=True, slots=True)
class _Unsigned:
    value: int
    TAG = Tag.COUNTER32
    BITS = 32

    def encode(self) -> bytes:
        """TLV bytes."""
        if not 0 <= self.value < 2**self.BITS:
            raise ValueError(f"{type(self).__name__} out of range: {self.value}")
        return tlv(self.TAG, encode_unsigned(self.value))


@dataclass(frozen=True, slots=True)
class Counter32(_Unsigned):
    """Counter32 (wraps at 2^32)."""

    TAG = Tag.COUNTER32


@dataclass(frozen=True, slots=True)
class Gauge32(_Unsigned):
    """Gauge32 / Unsigned32."""

    TAG = Tag.GAUGE32


@dataclass(frozen=True, slots=True)
class TimeTicks(_Unsigned):
    """TimeTicks: hundredths of a second."""

    TAG = Tag.TIMETICKS


@dataclass(frozen=True, slots=True)
class Counter64(_Unsigned):
    """Counter64: SNMPv2c only (RFC 3584 hides it from v1 managers)."""

    TAG = Tag.COUNTER64
    BITS = 64


@dataclass(frozen=True, slots=True)
class Opaque:
    """Opaque: BER of something else wrapped in an octet string (decoded, never served)."""

    value: bytes

    def encode(self) -> bytes:
        """TLV bytes."""
        return tlv(Tag.OPAQUE, self.value)


@dataclass(frozen=True, slots=True)
class NoSuchObject:
    """v2 exception: no object of that type in the agent's view."""

    def encode(self) -> bytes:
        """TLV bytes."""
        return b"\x80\x00"


@dataclass(frozen=True, slots=True)
class NoSuchInstance:
    """v2 exception: the object exists but not that instance."""

    def encode(self) -> bytes:
        """TLV bytes."""
        return b"\x81\x00"


@dataclass(frozen=True, slots=True)
class EndOfMibView:
    """v2 exception: nothing follows this OID."""

    def encode(self) -> bytes:
        """TLV bytes."""
        return b"\x82\x00"


Value = (
    Integer
    | OctetString
    | Null
    | ObjectId
    | IpAddress
    | Counter32
    | Gauge32
    | TimeTicks
    | Counter64
    | Opaque
    | NoSuchObject
    | NoSuchInstance
    | EndOfMibView
)

EXCEPTIONS = (NoSuchObject, NoSuchInstance, EndOfMibView)

_UNSIGNED: dict[int, tuple[Callable[[int], Value], int]] = {
    Tag.COUNTER32: (Counter32, 32),
    Tag.GAUGE32: (Gauge32, 32),
    Tag.TIMETICKS: (TimeTicks, 32),
    Tag.COUNTER64: (Counter64, 64),
}


def decode_value(tag: int, content: bytes) -> Value:
    """One varbind value from its tag and content octets."""
    if tag == Tag.INTEGER:
        value = decode_signed(content)
        if not -(2**31) <= value < 2**31:
            raise BerError(f"INTEGER out of Integer32 range: {value}")
        return Integer(value)
    if tag == Tag.OCTET_STRING:
        return OctetString(content)
    if tag == Tag.NULL:
        if content:
            raise BerError("NULL with content octets")
        return Null()
    if tag == Tag.OBJECT_IDENTIFIER:
        return ObjectId(decode_oid(content))
    if tag == Tag.IP_ADDRESS:
        if len(content) != 4:
            raise BerError(f"IpAddress of {len(content)} octets")
        return IpAddress(content)
    if tag == Tag.OPAQUE:
        return Opaque(content)
    if tag in _UNSIGNED:
        kind, bits = _UNSIGNED[tag]
        number = decode_signed(content)
        if not 0 <= number < 2**bits:
            raise BerError(f"unsigned value 0x{tag:02x} out of range: {number}")
        return kind(number)
    exceptions: dict[int, Value] = {
        Tag.NO_SUCH_OBJECT: NoSuchObject(),
        Tag.NO_SUCH_INSTANCE: NoSuchInstance(),
        Tag.END_OF_MIB_VIEW: EndOfMibView(),
    }
    if tag in exceptions:
        if content:
            raise BerError(f"exception value 0x{tag:02x} with content octets")
        return exceptions[tag]
    raise BerError(f"unknown value tag 0x{tag:02x}")


# --- PDUs and messages -------------------------------------------------------------------------

VarBind = tuple[Oid, Value]


@dataclass(frozen=True, slots=True)
class Pdu:
    """Every PDU but the v1 Trap.

    For GetBulk, ``error_status`` carries non-repeaters and ``error_index``
    max-repetitions (RFC 3416 section 3).
    """

    type: PduType
    request_id: int
    error_status: int = 0
    error_index: int = 0
    varbinds: tuple[VarBind, ...] = ()

    @property
    def non_repeaters(self) -> int:
        """GetBulk field sharing error-status's place."""
        return self.error_status

    @property
    def max_repetitions(self) -> int:
        """GetBulk field sharing error-index's place."""
        return self.error_index

    def encode(self) -> bytes:
        """TLV bytes."""
        body = (
            Integer(self.request_id).encode()
            + tlv(INTEGER, encode_signed(self.error_status))
            + tlv(INTEGER, encode_signed(self.error_index))
            + encode_varbinds(self.varbinds)
        )
        return tlv(self.type, body)


@dataclass(frozen=True, slots=True)
class TrapV1Pdu:
    """SNMPv1 Trap-PDU (RFC 1157 section 4.1.6)."""

    enterprise: Oid
    agent_addr: bytes
    generic_trap: int
    specific_trap: int
    time_stamp: int
    varbinds: tuple[VarBind, ...] = ()
    type: PduType = field(default=PduType.TRAP_V1, init=False)

    def encode(self) -> bytes:
        """TLV bytes."""
        body = (
            ObjectId(self.enterprise).encode()
            + IpAddress(self.agent_addr).encode()
            + Integer(self.generic_trap).encode()
            + Integer(self.specific_trap).encode()
            + TimeTicks(self.time_stamp).encode()
            + encode_varbinds(self.varbinds)
        )
        return tlv(PduType.TRAP_V1, body)


@dataclass(frozen=True, slots=True)
class Message:
    """One SNMP v1/v2c datagram."""

    version: Version
    community: bytes
    pdu: Pdu | TrapV1Pdu

    def encode(self) -> bytes:
        """The datagram's bytes."""
        body = Integer(self.version).encode() + OctetString(self.community).encode()
        return tlv(SEQUENCE, body + self.pdu.encode())


def encode_varbind(varbind: VarBind) -> bytes:
    """One VarBind SEQUENCE."""
    name, value = varbind
    return tlv(SEQUENCE, ObjectId(name).encode() + value.encode())


def encode_varbinds(varbinds: tuple[VarBind, ...] | list[VarBind]) -> bytes:
    """VarBindList SEQUENCE."""
    return tlv(SEQUENCE, b"".join(encode_varbind(varbind) for varbind in varbinds))


def _decode_varbinds(reader: Reader) -> tuple[VarBind, ...]:
    out: list[VarBind] = []
    for tag, content, offset in reader:
        if tag != SEQUENCE:
            raise BerError(f"varbind: expected SEQUENCE, got 0x{tag:02x} at offset {offset}")
        pair = Reader(content)
        name = decode_oid(pair.expect(OBJECT_IDENTIFIER, "varbind name"))
        value_tag, value_content, _ = pair.read()
        if not pair.at_end():
            raise BerError("varbind with more than a name and a value")
        out.append((name, decode_value(value_tag, value_content)))
    return tuple(out)


def decode_message(data: bytes) -> Message:
    """Parse one datagram; raises :class:`BerError` for anything malformed or not v1/v2c."""
    outer = Reader(data)
    message = outer.sub(SEQUENCE, "message")
    if not outer.at_end():
        raise BerError(f"{outer.end - outer.pos} trailing octets after the message")
    version_number = decode_signed(message.expect(INTEGER, "version"))
    try:
        version = Version(version_number)
    except ValueError:
        raise UnsupportedVersion(version_number) from None
    community = message.expect(OCTET_STRING, "community")
    tag, content, offset = message.read()
    if not message.at_end():
        raise BerError("octets after the PDU")
    try:
        pdu_type = PduType(tag)
    except ValueError:
        raise BerError(f"unknown PDU tag 0x{tag:02x} at offset {offset}") from None
    body = Reader(content)
    pdu: Pdu | TrapV1Pdu
    if pdu_type == PduType.TRAP_V1:
        enterprise = decode_oid(body.expect(OBJECT_IDENTIFIER, "enterprise"))
        agent_addr = body.expect(Tag.IP_ADDRESS, "agent-addr")
        if len(agent_addr) != 4:
            raise BerError("agent-addr is not 4 octets")
        generic = decode_signed(body.expect(INTEGER, "generic-trap"))
        specific = decode_signed(body.expect(INTEGER, "specific-trap"))
        stamp = decode_signed(body.expect(Tag.TIMETICKS, "time-stamp"))
        varbinds = _decode_varbinds(body.sub(SEQUENCE, "varbind list"))
        pdu = TrapV1Pdu(enterprise, agent_addr, generic, specific, stamp, varbinds)
    else:
        request_id = decode_signed(body.expect(INTEGER, "request-id"))
        if not -(2**31) <= request_id < 2**31:
            raise BerError(f"request-id out of range: {request_id}")
        status = decode_signed(body.expect(INTEGER, "error-status"))
        index = decode_signed(body.expect(INTEGER, "error-index"))
        varbinds = _decode_varbinds(body.sub(SEQUENCE, "varbind list"))
        pdu = Pdu(pdu_type, request_id, status, index, varbinds)
    if not body.at_end():
        raise BerError("octets after the varbind list")
    return Message(version, community, pdu)


class UnsupportedVersion(BerError):
    """Well-formed so far, but not v1 or v2c (SNMPv3 is 3): counted as snmpInBadVersions."""

    def __init__(self, version: int) -> None:
        super().__init__(f"unsupported SNMP version {version}")
        self.version = version
