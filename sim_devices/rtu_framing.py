"""Modbus RTU request framing: CRC-16/MODBUS and splitting a byte stream into frames.

A real RTU slave delimits frames by line silence (t3.5). Over a pty the
master's bytes arrive in bursts whose timing says little, so requests are
framed by their function code's length and the CRC, with silence only as the
fallback for garbage and unknown function codes. After a CRC failure the
splitter drops one byte and tries again (resynchronisation), as a slave that
came up mid-frame would after the next silence.
"""

from __future__ import annotations

from dataclasses import dataclass


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes | bytearray) -> int:
    """CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) as an int.

    On the wire the low byte goes first: ``01 03 00 00 00 0A`` has CRC
    0xCDC5, sent as ``C5 CD``.
    """
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def with_crc(body: bytes, *, corrupt: bool = False) -> bytes:
    """Append the CRC low byte first; ``corrupt`` inverts it (fault injection)."""
    crc = crc16(body) ^ (0xFFFF if corrupt else 0)
    return body + bytes([crc & 0xFF, crc >> 8])


def crc_ok(frame: bytes | bytearray) -> bool:
    """True if the last two bytes are the CRC of the rest."""
    return len(frame) >= 4 and crc16(frame[:-2]) == frame[-2] | frame[-1] << 8


MIN_FRAME = 4
MAX_FRAME = 256
"""RTU ADU limits: address + function + CRC at least, 256 bytes at most."""

NEED_MORE = -1
UNKNOWN = 0

_FIXED_LENGTH = {1: 8, 2: 8, 3: 8, 4: 8, 5: 8, 6: 8, 7: 4, 8: 8, 11: 4, 12: 4, 17: 4, 22: 10, 24: 6}
"""Request ADU length of standard function codes with a fixed-size request."""

_COUNTED = {15: (6, 9), 16: (6, 9), 23: (10, 13)}
"""FC -> (offset of the byte count, ADU length without the counted bytes)."""


def request_length(buffer: bytes | bytearray) -> int:
    """Length of the request starting at ``buffer[0]``.

    Returns :data:`NEED_MORE` if more bytes are needed to tell, or
    :data:`UNKNOWN` for a function code whose request size is not known here
    (only silence can end such a frame). A byte count that cannot fit in an
    ADU is reported as length 1 so that the byte is dropped at once.
    """
    if len(buffer) < 2:
        return NEED_MORE
    function_code = buffer[1]
    if function_code in _FIXED_LENGTH:
        return _FIXED_LENGTH[function_code]
    if function_code in _COUNTED:
        offset, base = _COUNTED[function_code]
        if len(buffer) <= offset:
            return NEED_MORE
        length = base + buffer[offset]
        return length if length <= MAX_FRAME else 1
    return UNKNOWN


@dataclass(frozen=True)
class Frame:
    """A CRC-valid request and the emulated time its last byte finished on the wire."""

    adu: bytes
    end_s: float


class RtuRequestSplitter:
    """Turns received bytes into CRC-valid request frames with wire timestamps.

    Each byte is given the time it would have finished arriving on a real
    line at ``char_time_s`` per character: the first byte of a burst starts
    when the burst is read (or when the previous byte finished, if the line
    was still busy). ``silence_s`` is the gap after which leftover bytes are
    treated as a finished (and, unless CRC-valid, discarded) frame.
    """

    def __init__(self, char_time_s: float, silence_s: float) -> None:
        self.char_time_s = char_time_s
        self.silence_s = silence_s
        self._buffer = bytearray()
        self._ends: list[float] = []
        self._line_free_s = float("-inf")
        self._discarding = False
        self.crc_errors = 0
        self.dropped_bytes = 0
        self.bytes_in = 0

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buffer)

    @property
    def quiet_deadline_s(self) -> float:
        """When leftover bytes count as a finished frame if nothing else arrives."""
        return (self._ends[-1] if self._ends else self._line_free_s) + self.silence_s

    def feed(self, data: bytes, now_s: float) -> list[Frame]:
        """Add bytes read at ``now_s``; returns the frames they complete."""
        frames: list[Frame] = []
        if self._buffer and now_s >= self.quiet_deadline_s:
            frames += self.flush()
        start = max(now_s, self._line_free_s)
        self._ends.extend(start + (k + 1) * self.char_time_s for k in range(len(data)))
        self._line_free_s = start + len(data) * self.char_time_s
        self._buffer += data
        self.bytes_in += len(data)
        frames += self._split(final=False)
        return frames

    def flush(self) -> list[Frame]:
        """The line went quiet: whatever is buffered is the end of a frame."""
        frames = self._split(final=True)
        if self._buffer:
            self._drop(len(self._buffer))
        self._discarding = False
        return frames

    def _drop(self, count: int) -> None:
        if not self._discarding:
            self.crc_errors += 1
            self._discarding = True
        self.dropped_bytes += count
        del self._buffer[:count]
        del self._ends[:count]

    def _take(self, count: int) -> Frame:
        frame = Frame(bytes(self._buffer[:count]), self._ends[count - 1])
        del self._buffer[:count]
        del self._ends[:count]
        self._discarding = False
        return frame

    def _split(self, *, final: bool) -> list[Frame]:
        frames: list[Frame] = []
        while self._buffer:
            length = request_length(self._buffer)
            if length == UNKNOWN and final and crc_ok(self._buffer):
                # A whole silence-delimited frame with a function code we do
                # not size: pass it on so it can get "illegal function".
                frames.append(self._take(len(self._buffer)))
                continue
            if length in (NEED_MORE, UNKNOWN) or length > len(self._buffer):
                if not final and (length != UNKNOWN or not self._later_frame_exists()):
                    break
                self._drop(1)
                continue
            if length >= MIN_FRAME and crc_ok(self._buffer[:length]):
                frames.append(self._take(length))
            else:
                self._drop(1)
        return frames

    def _later_frame_exists(self) -> bool:
        """Whether a complete CRC-valid known-length frame starts after the first byte.

        Lets a valid request that directly follows garbage be served at once
        instead of after the quiet timeout.
        """
        for offset in range(1, len(self._buffer)):
            rest = self._buffer[offset:]
            length = request_length(rest)
            if length >= MIN_FRAME and length <= len(rest) and crc_ok(rest[:length]):
                return True
        return False
