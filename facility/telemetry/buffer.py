"""A bounded, crash-safe FIFO of line-protocol batches on disk.

Format: append-only segment files (``<seq>.seg``) of framed records, plus a
``head`` file naming the first record not yet delivered. Segment files rather
than SQLite because every failure this buffer must survive is then visible and
testable at the byte level: a torn tail is found by its frame check and cut off,
a full disk is an ``OSError`` from one ``write`` that is rolled back with
``ftruncate``, and nothing is rewritten in place (SQLite would hide the same
cases inside its own journal, where a test cannot reach them).

Record: ``b"WTB1"``, payload length (u32), point count (u32), CRC-32 of the
count and payload (u32), then the payload. All little-endian.

Crash safety: a record is appended whole with one ``write`` and then fsynced.
A crash mid-append leaves a torn record at the end of the newest segment; on
open it fails its length or CRC check and the file is truncated there, so a
crash loses at most the batch being written. Older records are never
rewritten. A bad record inside an older segment (disk damage, not a crash)
makes the rest of that segment unreadable; it is counted and logged, and the
later segments are still read.

fsync policy (``fsync=True``, the default): the segment is fsynced after every
append and the ``head`` file is replaced atomically (write, fsync, rename,
fsync of the directory) after every acknowledgement or eviction. Batches reach
this buffer only while the server is unreachable, one per flush interval, so
the cost is small. With ``fsync=False`` a process crash still loses nothing
(the page cache survives it), but a power loss can lose recent appends and
move the head back, which replays batches twice (a TSDB overwrites a point
with the same series and timestamp, so twice is harmless; lost is not).

Delivery is at-least-once: a batch acknowledged just before a crash, whose new
head did not reach the disk, is delivered again after the restart.

The bound (``max_bytes`` of live records, headers included, and optionally
``max_points``) is enforced by evicting whole batches oldest-first, only when an
append would exceed it; evictions are counted. Disk use can exceed
``max_bytes`` by up to one segment, because a segment is deleted only once
every record in it has been delivered or evicted.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import struct
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

MAGIC = b"WTB1"
_HEADER = struct.Struct("<4sIII")
HEADER_BYTES = _HEADER.size
_HEAD_FILE = "head"
_SUFFIX = ".seg"


class TelemetryBufferError(Exception):
    """The buffer could not do what was asked; the message says what and where."""


class BufferWriteError(TelemetryBufferError):
    """A batch could not be stored (disk full, I/O error); older batches are intact."""

    def __init__(self, message: str, *, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_


@dataclass(frozen=True, slots=True)
class _Entry:
    segment: int
    offset: int
    size: int  # header + payload
    points: int


@dataclass(frozen=True, slots=True)
class BufferedBatch:
    """The oldest undelivered batch, as returned by :meth:`DiskBuffer.peek`."""

    payload: bytes
    points: int
    _entry: _Entry


@dataclass(frozen=True, slots=True)
class BufferStats:
    """What the buffer holds and what it has lost, for the writer's stats."""

    batches: int
    points: int
    size_bytes: int
    evicted_batches: int
    evicted_points: int
    truncated_bytes: int  # torn tails cut off at open (crash mid-append)
    corrupt_bytes: int  # unreadable data skipped inside older segments


def encode_record(payload: bytes, points: int) -> bytes:
    """One framed record."""
    count = struct.pack("<I", points)
    crc = zlib.crc32(payload, zlib.crc32(count))
    return _HEADER.pack(MAGIC, len(payload), points, crc) + payload


class DiskBuffer:
    """FIFO of batches in ``directory``, bounded by ``max_bytes`` (and ``max_points``).

    Synchronous on purpose: each call is one small ``write`` (plus fsync), cheap
    enough for the event loop at one batch per flush interval. Not thread-safe.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        max_points: int | None = None,
        segment_bytes: int = 8 * 1024 * 1024,
        fsync: bool = True,
    ) -> None:
        if max_bytes <= HEADER_BYTES:
            raise ValueError(f"max_bytes must be > {HEADER_BYTES}, got {max_bytes}")
        if max_points is not None and max_points < 1:
            raise ValueError(f"max_points must be >= 1 or None, got {max_points}")
        if segment_bytes < 1:
            raise ValueError(f"segment_bytes must be >= 1, got {segment_bytes}")
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_points = max_points
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self._entries: deque[_Entry] = deque()
        self._bytes = 0
        self._points = 0
        self.evicted_batches = 0
        self.evicted_points = 0
        self.truncated_bytes = 0
        self.corrupt_bytes = 0
        self._fd: int | None = None
        self._active = 0
        self._active_size = 0
        self._closed = False
        self.directory.mkdir(parents=True, exist_ok=True)
        self._recover()

    # --- state ----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def points(self) -> int:
        """Points in undelivered batches."""
        return self._points

    @property
    def size_bytes(self) -> int:
        """Bytes of undelivered records, headers included (what the bound counts)."""
        return self._bytes

    def stats(self) -> BufferStats:
        """A snapshot of the counters."""
        return BufferStats(
            batches=len(self._entries),
            points=self._points,
            size_bytes=self._bytes,
            evicted_batches=self.evicted_batches,
            evicted_points=self.evicted_points,
            truncated_bytes=self.truncated_bytes,
            corrupt_bytes=self.corrupt_bytes,
        )

    # --- append / peek / ack ------------------------------------------------------------------

    def append(self, payload: bytes, points: int) -> int:
        """Store one batch at the tail; returns the points evicted to make room.

        Raises :class:`BufferWriteError` when the disk refuses the write (the
        buffer stays usable and older batches are intact) and
        :class:`TelemetryBufferError` for a batch larger than the whole bound.
        """
        self._check_open()
        size = HEADER_BYTES + len(payload)
        if size > self.max_bytes or (self.max_points is not None and points > self.max_points):
            raise TelemetryBufferError(
                f"a batch of {size} bytes / {points} points cannot fit a buffer bounded to "
                f"{self.max_bytes} bytes / {self.max_points} points: make batches smaller"
            )
        evicted = self._evict_for(size, points)
        if self._fd is None or self._active_size >= self.segment_bytes:
            self._rotate()
        assert self._fd is not None
        record = encode_record(payload, points)
        offset = self._active_size
        try:
            _write_all(self._fd, record)
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._roll_back(offset)
            what = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            raise BufferWriteError(
                f"telemetry buffer {self.directory}: could not store a batch of {points} "
                f"points ({size} bytes): {what}; older batches are kept",
                errno_=exc.errno,
            ) from exc
        self._active_size = offset + size
        self._entries.append(_Entry(self._active, offset, size, points))
        self._bytes += size
        self._points += points
        return evicted

    def peek(self) -> BufferedBatch | None:
        """The oldest batch, still in the buffer until :meth:`ack`; None when empty."""
        self._check_open()
        if not self._entries:
            return None
        entry = self._entries[0]
        with open(self._segment_path(entry.segment), "rb") as f:
            f.seek(entry.offset + HEADER_BYTES)
            payload = f.read(entry.size - HEADER_BYTES)
        return BufferedBatch(payload, entry.points, entry)

    def ack(self, batch: BufferedBatch) -> None:
        """``batch`` was delivered: drop it (it must still be the oldest)."""
        self._check_open()
        if not self._entries or self._entries[0] != batch._entry:
            # Evicted while it was being delivered: nothing left to drop.
            return
        self._pop()
        self._advance_head()

    def close(self) -> None:
        """Close the open segment; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._fd is not None:
            with contextlib.suppress(OSError):
                if self.fsync:
                    os.fsync(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DiskBuffer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise TelemetryBufferError(f"telemetry buffer {self.directory} is closed")

    def _segment_path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}{_SUFFIX}"

    def _segments(self) -> list[int]:
        out = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            with contextlib.suppress(ValueError):
                out.append(int(path.stem))
        return sorted(out)

    def _pop(self) -> _Entry:
        entry = self._entries.popleft()
        self._bytes -= entry.size
        self._points -= entry.points
        return entry

    def _evict_for(self, size: int, points: int) -> int:
        evicted = 0
        while self._entries and (
            self._bytes + size > self.max_bytes
            or (self.max_points is not None and self._points + points > self.max_points)
        ):
            entry = self._pop()
            evicted += entry.points
            self.evicted_batches += 1
            self.evicted_points += entry.points
        if evicted:
            _LOGGER.warning(
                "telemetry buffer %s full: evicted the oldest %d points (%d in total)",
                self.directory,
                evicted,
                self.evicted_points,
            )
            self._advance_head()
        return evicted

    def _advance_head(self) -> None:
        """Persist the new head and delete segments nothing points into any more."""
        if self._entries:
            head = (self._entries[0].segment, self._entries[0].offset)
        else:
            # Empty: start a fresh segment so the old ones can all go.
            self._close_active()
            self._active += 1
            self._active_size = 0
            head = (self._active, 0)
        self._write_head(*head)
        for seq in self._segments():
            if seq < head[0]:
                with contextlib.suppress(FileNotFoundError):
                    self._segment_path(seq).unlink()

    def _write_head(self, segment: int, offset: int) -> None:
        tmp = self.directory / f"{_HEAD_FILE}.tmp"
        try:
            with open(tmp, "w", encoding="ascii") as f:
                f.write(f"{segment} {offset}\n")
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, self.directory / _HEAD_FILE)
            if self.fsync:
                _fsync_dir(self.directory)
        except OSError as exc:
            # The old head stays: after a restart some delivered batches come again.
            _LOGGER.error("telemetry buffer %s: could not save the head: %s", self.directory, exc)

    def _read_head(self) -> tuple[int, int] | None:
        try:
            text = (self.directory / _HEAD_FILE).read_text(encoding="ascii")
            seg, off = text.split()
            return int(seg), int(off)
        except (OSError, ValueError):
            return None

    def _close_active(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _rotate(self) -> None:
        if self._fd is not None:
            self._close_active()
            self._active += 1
            self._active_size = 0
        path = self._segment_path(self._active)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise BufferWriteError(
                f"telemetry buffer {self.directory}: could not open segment {path.name}: "
                f"{exc.strerror or exc}",
                errno_=exc.errno,
            ) from exc
        self._active_size = os.fstat(self._fd).st_size

    def _roll_back(self, offset: int) -> None:
        """Cut a partly written record off; if even that fails, never append there again."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, offset)
        except OSError:
            _LOGGER.error(
                "telemetry buffer %s: could not cut a failed write off segment %d; "
                "starting a new segment",
                self.directory,
                self._active,
            )
            self._close_active()
            self._active += 1
            self._active_size = 0

    def _recover(self) -> None:
        """Rebuild the index from the files: find the head, cut a torn tail, skip damage."""
        segments = self._segments()
        head = self._read_head()
        head_seg, head_off = head if head is not None else (segments[0] if segments else 0, 0)
        if segments and head_seg < segments[0]:
            head_seg, head_off = segments[0], 0
        for seq in segments:
            if seq < head_seg:
                self._segment_path(seq).unlink()
        segments = [s for s in segments if s >= head_seg]
        for i, seq in enumerate(segments):
            last = i == len(segments) - 1
            start = head_off if seq == head_seg else 0
            self._scan(seq, start, last)
        self._active = segments[-1] if segments else head_seg
        if not segments:
            self._write_head(self._active, 0)
        elif self._entries:
            self._write_head(self._entries[0].segment, self._entries[0].offset)
        if self._entries:
            _LOGGER.info(
                "telemetry buffer %s: %d batches (%d points) waiting from before",
                self.directory,
                len(self._entries),
                self._points,
            )

    def _scan(self, seq: int, start: int, last: bool) -> None:
        path = self._segment_path(seq)
        data = path.read_bytes()
        pos = start
        while pos < len(data):
            entry = self._parse(data, pos, seq)
            if entry is None:
                break
            self._entries.append(entry)
            self._bytes += entry.size
            self._points += entry.points
            pos += entry.size
        bad = len(data) - pos
        if bad <= 0:
            return
        if last:
            self.truncated_bytes += bad
            _LOGGER.warning(
                "telemetry buffer %s: cut %d bytes of a torn record off %s (crash mid-write)",
                self.directory,
                bad,
                path.name,
            )
            with open(path, "r+b") as f:
                f.truncate(pos)
                if self.fsync:
                    os.fsync(f.fileno())
        else:
            self.corrupt_bytes += bad
            _LOGGER.error(
                "telemetry buffer %s: %s is damaged at byte %d; %d bytes skipped",
                self.directory,
                path.name,
                pos,
                bad,
            )

    @staticmethod
    def _parse(data: bytes, pos: int, seq: int) -> _Entry | None:
        if len(data) - pos < HEADER_BYTES:
            return None
        magic, length, points, crc = _HEADER.unpack_from(data, pos)
        end = pos + HEADER_BYTES + length
        if magic != MAGIC or end > len(data):
            return None
        payload = data[pos + HEADER_BYTES : end]
        if zlib.crc32(payload, zlib.crc32(struct.pack("<I", points))) != crc:
            return None
        return _Entry(seq, pos, HEADER_BYTES + length, points)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
