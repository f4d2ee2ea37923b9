"""32-bit values spread over two 16-bit Modbus registers.

Modbus registers are 16 bits with the high byte first; how a 32-bit value is
split over two registers is vendor choice. ``big`` word order puts the high
word first ("ABCD", usual for floats), ``little`` puts the low word first
("CDAB", common on weight transmitters). The simulator encodes its own
registers here rather than borrowing the driver's codec, so a word-order bug
on either side shows up as a wrong weight instead of cancelling out.
"""

from __future__ import annotations

import struct
from typing import Literal

WordOrder = Literal["big", "little"]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def _order(high: int, low: int, word_order: WordOrder) -> list[int]:
    return [high, low] if word_order == "big" else [low, high]


def float32_words(value: float, word_order: WordOrder = "big") -> list[int]:
    """IEEE-754 single precision; values beyond float32 range become +-inf."""
    try:
        raw = struct.pack(">f", value)
    except OverflowError:
        raw = struct.pack(">f", float("inf") if value > 0 else float("-inf"))
    high, low = struct.unpack(">HH", raw)
    return _order(high, low, word_order)


def int32_words(value: int, word_order: WordOrder = "big") -> list[int]:
    """Two's complement; out-of-range values saturate like a transmitter's counter."""
    clamped = max(INT32_MIN, min(INT32_MAX, value))
    high, low = struct.unpack(">HH", struct.pack(">i", clamped))
    return _order(high, low, word_order)


def uint32_words(value: int, word_order: WordOrder = "big") -> list[int]:
    """Unsigned 32-bit; a value outside 0..2**32-1 is a configuration error."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{value} does not fit in uint32")
    return _order(value >> 16, value & 0xFFFF, word_order)


def words_to_float32(words: list[int], word_order: WordOrder = "big") -> float:
    """Inverse of :func:`float32_words` (used by tests to check the encoding)."""
    high, low = (words[0], words[1]) if word_order == "big" else (words[1], words[0])
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return value


def words_to_int32(words: list[int], word_order: WordOrder = "big") -> int:
    """Inverse of :func:`int32_words`."""
    high, low = (words[0], words[1]) if word_order == "big" else (words[1], words[0])
    value: int = struct.unpack(">i", struct.pack(">HH", high, low))[0]
    return value
