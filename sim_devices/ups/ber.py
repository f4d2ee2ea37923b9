"""BER (X.690) for the subset SNMP v1/v2c uses: definite lengths, one-byte tags.

Hand-written on purpose: the walkout driver encodes with pysnmp/pyasn1, so an
agent built on the same library could share its bugs. Decoding is strict where
a real agent must be (indefinite lengths, lengths running past the datagram,
high tag numbers, OID sub-identifiers over 32 bits are rejected with
:class:`BerError`) and lenient where X.690 allows a choice (long-form lengths
for short values, which some managers send).
"""

from __future__ import annotations

from collections.abc import Iterator

MAX_OID_ARCS = 128
"""RFC 2578 limits an OID to 128 sub-identifiers."""

MAX_SUBID = 2**32 - 1
"""SNMP sub-identifiers are unsigned 32-bit (RFC 2578 section 3.5)."""


class BerError(ValueError):
    """A byte string that is not valid BER for SNMP; the message says where and why."""


# universal tags
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_IDENTIFIER = 0x06
SEQUENCE = 0x30


def encode_length(length: int) -> bytes:
    """Definite length, short form below 128 and minimal long form above."""
    if length < 0:
        raise ValueError(f"negative length {length}")
    if length < 0x80:
        return bytes([length])
    body = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One tag-length-value triple."""
    return bytes([tag]) + encode_length(len(content)) + content


def encode_signed(value: int) -> bytes:
    """Minimal two's complement content of an INTEGER (0 is one zero byte)."""
    length = max(1, (value + (value < 0)).bit_length() // 8 + 1)
    return value.to_bytes(length, "big", signed=True)


def encode_unsigned(value: int) -> bytes:
    """Content of an unsigned application type: a non-negative INTEGER (leading 0 if needed)."""
    if value < 0:
        raise ValueError(f"unsigned value is negative: {value}")
    return encode_signed(value)


def encode_oid(arcs: tuple[int, ...]) -> bytes:
    """Content octets of an OBJECT IDENTIFIER (the first two arcs share one sub-identifier)."""
    if len(arcs) < 2:
        raise ValueError(f"an OID needs at least two arcs: {arcs}")
    first, second = arcs[0], arcs[1]
    if first > 2 or (first < 2 and second > 39):
        raise ValueError(f"bad first arcs {first}.{second}")
    out = bytearray()
    for subid in (40 * first + second, *arcs[2:]):
        if subid < 0:
            raise ValueError(f"negative arc in {arcs}")
        chunk = [subid & 0x7F]
        subid >>= 7
        while subid:
            chunk.append(0x80 | (subid & 0x7F))
            subid >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def decode_signed(content: bytes) -> int:
    """Two's complement INTEGER content (X.690 8.3); empty content is an error."""
    if not content:
        raise BerError("INTEGER with no content octets")
    return int.from_bytes(content, "big", signed=True)


def decode_oid(content: bytes) -> tuple[int, ...]:
    """OBJECT IDENTIFIER content octets to arcs."""
    if not content:
        raise BerError("OBJECT IDENTIFIER with no content octets")
    subids: list[int] = []
    value = 0
    started = False
    for byte in content:
        if not started and byte == 0x80:
            raise BerError("OBJECT IDENTIFIER sub-identifier with a leading 0x80 octet")
        started = True
        value = (value << 7) | (byte & 0x7F)
        if value > MAX_SUBID and len(subids) > 0:
            raise BerError("OBJECT IDENTIFIER sub-identifier over 32 bits")
        if not byte & 0x80:
            subids.append(value)
            value = 0
            started = False
    if started:
        raise BerError("OBJECT IDENTIFIER ends inside a sub-identifier")
    first = subids[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    arcs = (*head, *subids[1:])
    if len(arcs) > MAX_OID_ARCS:
        raise BerError(f"OBJECT IDENTIFIER with {len(arcs)} arcs (max {MAX_OID_ARCS})")
    return arcs


class Reader:
    """Walks the TLVs of one constructed value (or of a whole datagram)."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        """True when every TLV in range has been read."""
        return self.pos >= self.end

    def read(self) -> tuple[int, bytes, int]:
        """Next TLV as (tag, content, offset of its tag byte)."""
        start = self.pos
        if start + 2 > self.end:
            raise BerError(f"truncated TLV header at offset {start}")
        tag = self.data[start]
        if tag & 0x1F == 0x1F:
            raise BerError(f"multi-byte tag 0x{tag:02x} at offset {start} (not used by SNMP)")
        first = self.data[start + 1]
        pos = start + 2
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise BerError(f"indefinite length at offset {start} (SNMP allows definite only)")
        else:
            count = first & 0x7F
            if count > 4:
                raise BerError(f"length of {count} octets at offset {start}")
            if pos + count > self.end:
                raise BerError(f"truncated length at offset {start}")
            length = int.from_bytes(self.data[pos : pos + count], "big")
            pos += count
        if pos + length > self.end:
            raise BerError(
                f"value at offset {start} runs past its container "
                f"({length} octets, {self.end - pos} left)"
            )
        self.pos = pos + length
        return tag, self.data[pos : pos + length], start

    def expect(self, tag: int, what: str) -> bytes:
        """Read a TLV that must carry ``tag``; returns its content."""
        got, content, offset = self.read()
        if got != tag:
            raise BerError(f"{what}: expected tag 0x{tag:02x}, got 0x{got:02x} at offset {offset}")
        return content

    def sub(self, tag: int, what: str) -> Reader:
        """Read a constructed TLV with ``tag`` and return a reader over its content."""
        content = self.expect(tag, what)
        return Reader(content)

    def __iter__(self) -> Iterator[tuple[int, bytes, int]]:
        while not self.at_end():
            yield self.read()
