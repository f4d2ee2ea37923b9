"""Register types, word orders and read planning.

Modbus has 16-bit registers only; 32-bit values span two, and vendors disagree
on which comes first. ``big`` word order is high word first ("ABCD", the
Modbus convention for floats), ``little`` is low word first ("CDAB", common on
weight transmitters). Bytes inside a register are always big-endian.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_READ_REGISTERS = 125
"""Modbus application protocol limit for one FC3/FC4 read (PDU of 253 bytes)."""


class Table(enum.StrEnum):
    """Which register table a point lives in (function code 3 or 4)."""

    HOLDING = "holding"
    INPUT = "input"


class BitTable(enum.StrEnum):
    """Which bit table a digital point lives in (function code 1 or 2)."""

    COILS = "coils"
    DISCRETE = "discrete_inputs"


class DataType(enum.StrEnum):
    """Register encodings a profile may use."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def width(self) -> int:
        """Number of 16-bit registers the value occupies."""
        return 1 if self in (DataType.INT16, DataType.UINT16) else 2


class WordOrder(enum.StrEnum):
    """Order of the two registers of a 32-bit value."""

    BIG = "big"
    LITTLE = "little"


_STRUCT = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
}


def decode(registers: Sequence[int], dtype: DataType, order: WordOrder = WordOrder.BIG) -> float:
    """Decode one value from ``dtype.width`` registers."""
    if len(registers) != dtype.width:
        raise ValueError(f"{dtype} needs {dtype.width} registers, got {len(registers)}")
    words = list(registers)
    if order is WordOrder.LITTLE:
        words.reverse()
    raw = b"".join(word.to_bytes(2, "big") for word in words)
    value: float = struct.unpack(_STRUCT[dtype], raw)[0]
    return value


def encode(value: float, dtype: DataType, order: WordOrder = WordOrder.BIG) -> list[int]:
    """Encode one value into registers; integers must fit the type."""
    number: float | int = value if dtype is DataType.FLOAT32 else int(value)
    raw = struct.pack(_STRUCT[dtype], number)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if order is WordOrder.LITTLE:
        words.reverse()
    return words


@dataclass(frozen=True, slots=True)
class RegisterSpan:
    """Registers wanted: ``count`` registers from ``address`` in ``table``."""

    table: Table
    address: int
    count: int

    @property
    def end(self) -> int:
        """One past the last register."""
        return self.address + self.count


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One Modbus read that covers one or more wanted spans."""

    table: Table
    address: int
    count: int


def plan_reads(
    spans: Iterable[RegisterSpan], *, max_gap: int = 0, max_count: int = MAX_READ_REGISTERS
) -> list[ReadBlock]:
    """Cover ``spans`` with as few reads as possible.

    Spans are merged when they touch, or when the registers between them
    number at most ``max_gap`` (a profile sets this only for devices that
    answer reads over their reserved registers) and the merged read stays
    within ``max_count``.
    """
    blocks: list[ReadBlock] = []
    for table in Table:
        ordered = sorted((s for s in spans if s.table is table), key=lambda s: s.address)
        start = end = -1
        for span in ordered:
            if span.count > max_count:
                raise ValueError(f"{span} is longer than one read ({max_count})")
            if (
                start >= 0
                and span.address - end <= max_gap
                and max(end, span.end) - start <= max_count
            ):
                end = max(end, span.end)
                continue
            if start >= 0:
                blocks.append(ReadBlock(table, start, end - start))
            start, end = span.address, span.end
        if start >= 0:
            blocks.append(ReadBlock(table, start, end - start))
    return blocks


class RegisterImage:
    """Registers returned by a set of reads, looked up by table and address."""

    def __init__(self) -> None:
        self._values: dict[tuple[Table, int], int] = {}

    def store(self, block: ReadBlock, values: Sequence[int]) -> None:
        """Record the answer to ``block``."""
        if len(values) != block.count:
            raise ValueError(f"read of {block.count} registers returned {len(values)}")
        for offset, value in enumerate(values):
            self._values[(block.table, block.address + offset)] = value

    def get(self, table: Table, address: int, count: int) -> list[int]:
        """Registers ``address .. address+count-1``; KeyError when not read."""
        return [self._values[(table, address + i)] for i in range(count)]

    def as_tables(self) -> dict[str, dict[int, int]]:
        """Plain nested dicts, table name -> address -> value (for fixtures)."""
        out: dict[str, dict[int, int]] = {}
        for (table, address), value in sorted(self._values.items()):
            out.setdefault(table.value, {})[address] = value
        return out


_LOCATOR_FORMAT = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
}


@dataclass(frozen=True, slots=True)
class Locator:
    """Where a value sits in the answers to a fixed read plan, worked out once.

    The polling hot path decodes with one ``struct.unpack_from`` per value
    instead of looking registers up one by one.
    """

    block: int
    byte_offset: int
    fmt: str
    swap_words: bool

    def value(self, buffers: Sequence[bytes]) -> float:
        """Decode this value from the raw bytes of each block's answer."""
        buffer = buffers[self.block]
        if self.swap_words:
            low, high = (
                buffer[self.byte_offset : self.byte_offset + 2],
                buffer[self.byte_offset + 2 : self.byte_offset + 4],
            )
            result: float = struct.unpack(self.fmt, high + low)[0]
            return result
        value: float = struct.unpack_from(self.fmt, buffer, self.byte_offset)[0]
        return value


def locate(
    blocks: Sequence[ReadBlock], span: RegisterSpan, dtype: DataType, order: WordOrder
) -> Locator:
    """The locator of a value inside a read plan; ValueError if no block covers it."""
    for index, block in enumerate(blocks):
        if (
            block.table is span.table
            and block.address <= span.address
            and span.end <= block.address + block.count
        ):
            return Locator(
                index,
                (span.address - block.address) * 2,
                _LOCATOR_FORMAT[dtype],
                dtype.width == 2 and order is WordOrder.LITTLE,
            )
    raise ValueError(f"no read covers {span}")


def block_bytes(values: Sequence[int]) -> bytes:
    """Registers of one answer as big-endian bytes (the wire order inside each register)."""
    return struct.pack(f">{len(values)}H", *values)


class PlanDecoder:
    """Decodes a fixed list of values from the answers to a read plan, worked out once.

    Polling decodes the same values from the same places every time, so the
    layout is compiled into one ``struct.Struct`` per block (pad bytes over the
    registers in between) and a poll costs one ``unpack_from`` per block
    instead of one per value. Values the struct cannot take in that pass (low
    word first, or overlapping another value) fall back to their ``Locator``.
    """

    def __init__(
        self,
        blocks: Sequence[ReadBlock],
        items: Sequence[tuple[RegisterSpan, DataType, WordOrder]],
    ) -> None:
        self._size = len(items)
        locators = [locate(blocks, span, dtype, order) for span, dtype, order in items]
        by_block: dict[int, list[int]] = {}
        self._fallback: list[tuple[int, Locator]] = []
        for position, loc in sorted(
            enumerate(locators), key=lambda item: (item[1].block, item[1].byte_offset)
        ):
            if loc.swap_words:
                self._fallback.append((position, loc))
            else:
                by_block.setdefault(loc.block, []).append(position)
        self._passes: list[tuple[int, struct.Struct, tuple[int, ...]]] = []
        for block, positions in by_block.items():
            fmt, cursor, taken = ">", 0, []
            for position in positions:
                loc = locators[position]
                if loc.byte_offset < cursor:  # overlaps the previous value: own pass
                    self._fallback.append((position, loc))
                    continue
                gap = loc.byte_offset - cursor
                fmt += (f"{gap}x" if gap else "") + loc.fmt[1:]
                cursor = loc.byte_offset + struct.calcsize(loc.fmt)
                taken.append(position)
            self._passes.append((block, struct.Struct(fmt), tuple(taken)))
        # The common case (one block, values in the order asked for): the unpacked
        # tuple is the answer as it is.
        self._direct = (
            not self._fallback
            and len(self._passes) == 1
            and self._passes[0][2] == tuple(range(self._size))
        )

    def decode(self, buffers: Sequence[bytes]) -> tuple[float, ...]:
        """The values, in the order given at construction."""
        if self._direct:
            block, unpacker, _ = self._passes[0]
            direct: tuple[float, ...] = unpacker.unpack_from(buffers[block])
            return direct
        out = [0.0] * self._size
        for block, unpacker, positions in self._passes:
            for position, value in zip(
                positions, unpacker.unpack_from(buffers[block]), strict=True
            ):
                out[position] = value
        for position, loc in self._fallback:
            out[position] = loc.value(buffers)
        return tuple(out)
