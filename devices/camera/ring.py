"""Where frames may go: an in-memory ring, and one local directory with a retention limit.

Camera frames show shoppers' faces: they never leave the process except into
the archive directory configured for the store (evidence for receipts that
need review, ``walkout camera check`` snapshots), and that directory is kept
within a retention limit (files, bytes, age; oldest removed first).

- :class:`FrameRing` keeps the last N frames in memory (a frame tap: pass
  ``ring.push`` in a source's ``taps``), so evidence around an event can be
  saved after the fact.
- :class:`FrameArchive` writes JPEGs atomically (temporary file, fsync,
  rename) on its own thread. It only ever deletes files it names itself
  (``<camera>_<wall ns>_<seq>.jpg``), oldest first by the time in the name.
  A full disk (``ENOSPC``/``EDQUOT``) raises :class:`ArchiveFullError`
  saying so; any write error stops the archive (later writes raise
  :class:`ArchiveStoppedError` at once, without touching the disk) until
  :meth:`FrameArchive.resume` is called. Nothing here raises into a frame
  source: :class:`FrameRecorder`, the tap that saves a frame every few
  seconds, counts the failures and carries on.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import errno
import logging
import math
import os
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from devices.camera.frame import Frame, Image
from devices.camera.worker import WorkerThread
from devices.errors import DeviceError

_LOGGER = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<camera>[A-Za-z0-9_.-]{1,64})_(?P<ns>\d{19})_(?P<seq>\d{1,12})\.jpg$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class FrameRing:
    """The last ``capacity`` frames pushed, oldest first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._frames: deque[Frame] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._frames)

    def push(self, frame: Frame) -> None:
        """Add a frame, forgetting the oldest when full (usable as a frame tap)."""
        self._frames.append(frame)

    def latest(self, camera_id: str | None = None) -> Frame | None:
        """The newest frame (of one camera)."""
        for frame in reversed(self._frames):
            if camera_id is None or frame.camera_id == camera_id:
                return frame
        return None

    def frames(self, camera_id: str | None = None) -> list[Frame]:
        """Every frame held (of one camera), oldest first."""
        return [f for f in self._frames if camera_id is None or f.camera_id == camera_id]

    def between(self, t0: float, t1: float, camera_id: str | None = None) -> list[Frame]:
        """Frames with ``t0 <= t_mono <= t1`` (of one camera), oldest first."""
        return [f for f in self.frames(camera_id) if t0 <= f.t_mono <= t1]


@dataclass(frozen=True, slots=True)
class Retention:
    """How much the archive may keep; each limit None is off, at least one must be set."""

    max_files: int | None = 1000
    max_bytes: int | None = 1024**3
    max_age_s: float | None = 7 * 24 * 3600.0

    def __post_init__(self) -> None:
        if self.max_files is None and self.max_bytes is None and self.max_age_s is None:
            raise ValueError("retention needs at least one limit (files, bytes or age)")
        if self.max_files is not None and self.max_files < 1:
            raise ValueError("max_files must be >= 1")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        if self.max_age_s is not None and not (
            math.isfinite(self.max_age_s) and self.max_age_s > 0
        ):
            raise ValueError("max_age_s must be > 0")


class ArchiveError(DeviceError):
    """Writing to the archive failed; the archive has stopped writing."""


class ArchiveFullError(ArchiveError):
    """The archive's disk is full."""


class ArchiveStoppedError(ArchiveError):
    """The archive stopped after an earlier error and refuses writes until resumed."""


@dataclass
class ArchiveStats:
    """Counters of the archive."""

    written: int = 0
    bytes_written: int = 0
    removed: int = 0
    failed: int = 0
    refused: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True, order=True)
class _Entry:
    ns: int
    name: str
    size: int


class FrameArchive:
    """JPEG files of frames in ``directory``, within ``retention``.

    ``wall_clock_ns`` names the files and ages them (wall time, so that age
    survives a reboot); ``fsync`` makes each file durable before it is
    renamed into place.
    """

    def __init__(
        self,
        directory: Path,
        retention: Retention | None = None,
        *,
        jpeg_quality: int = 85,
        fsync: bool = True,
        wall_clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not 1 <= jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be within 1..100")
        self.directory = Path(directory)
        self.retention = retention or Retention()
        self.jpeg_quality = jpeg_quality
        self.fsync = fsync
        self.stats = ArchiveStats()
        self.stopped: str | None = None
        """Why the archive stopped writing; None while it writes."""
        self._clock_ns = wall_clock_ns
        self._index: list[_Entry] = []
        self._bytes = 0
        self._worker = WorkerThread(f"camera-archive-{self.directory.name}")

    async def open(self) -> None:
        """Create the directory if needed, index what is there and apply the retention."""
        self._worker.start()
        try:
            await self._worker.call(self._scan)
        except OSError as exc:
            await self._worker.stop()
            raise ArchiveError(
                f"cannot open the archive: {exc.strerror or exc}", address=str(self.directory)
            ) from exc

    async def close(self) -> None:
        """Finish pending writes and stop the thread; safe twice."""
        await self._worker.stop()

    async def __aenter__(self) -> FrameArchive:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def resume(self) -> None:
        """Write again after an error (once the operator made room)."""
        if self.stopped is not None:
            _LOGGER.info("frame archive %s resumes writing", self.directory)
        self.stopped = None

    @property
    def total_bytes(self) -> int:
        """Bytes in the archive's own files."""
        return self._bytes

    def files(self) -> list[Path]:
        """The archive's own files, oldest first."""
        return [self.directory / entry.name for entry in self._index]

    async def write(self, frame: Frame) -> Path:
        """Save one frame; its path. Raises :class:`ArchiveError` (and stops) on failure."""
        if self.stopped is not None:
            self.stats.refused += 1
            raise ArchiveStoppedError(
                f"archive stopped: {self.stopped}", address=str(self.directory)
            )
        try:
            return await self._worker.call(self._write, frame.image, frame.camera_id, frame.seq)
        except ArchiveError as exc:
            self.stats.failed += 1
            if self.stopped is None:
                self.stopped = str(exc)
                _LOGGER.error("frame archive stopped writing: %s", exc)
            raise

    # --- on the worker thread ----------------------------------------------------------

    def _scan(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = []
        with os.scandir(self.directory) as listing:
            for item in listing:
                match = _NAME.match(item.name)
                if match is None or not item.is_file(follow_symlinks=False):
                    continue
                entries.append(_Entry(int(match["ns"]), item.name, item.stat().st_size))
        entries.sort()
        self._index = entries
        self._bytes = sum(e.size for e in entries)
        self._prune()

    def _write(self, image: Image, camera_id: str, seq: int) -> Path:
        where = str(self.directory)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", camera_id):
            raise ArchiveError(f"camera id {camera_id!r} cannot be a file name part", address=where)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise ArchiveError("JPEG encoding failed", address=where)
        data = encoded.tobytes()
        ns = self._clock_ns()
        name = f"{camera_id}_{ns:019d}_{seq}.jpg"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            reason = exc.strerror or str(exc)
            if exc.errno in _DISK_FULL:
                raise ArchiveFullError(
                    f"disk full writing {name} ({reason}): archive stopped, "
                    "frames are no longer saved until it is resumed",
                    address=where,
                ) from exc
            raise ArchiveError(
                f"cannot write {name} ({reason}): archive stopped", address=where
            ) from exc
        entry = _Entry(ns, name, len(data))
        bisect.insort(self._index, entry)
        self._bytes += entry.size
        self.stats.written += 1
        self.stats.bytes_written += entry.size
        self._prune()
        return final

    def _prune(self) -> None:
        limits = self.retention
        oldest_ns = (
            None if limits.max_age_s is None else self._clock_ns() - round(limits.max_age_s * 1e9)
        )
        while self._index:
            entry = self._index[0]
            over = (
                (limits.max_files is not None and len(self._index) > limits.max_files)
                or (limits.max_bytes is not None and self._bytes > limits.max_bytes)
                or (oldest_ns is not None and entry.ns < oldest_ns)
            )
            if not over:
                return
            try:
                os.unlink(self.directory / entry.name)
            except FileNotFoundError:
                pass  # removed by someone else: forget it
            except OSError as exc:
                _LOGGER.error("frame archive cannot remove %s: %s", entry.name, exc)
                return
            self._index.pop(0)
            self._bytes -= entry.size
            self.stats.removed += 1


class FrameRecorder:
    """A frame tap that saves one frame every ``every_s`` into an archive, off the frame path.

    At most one write is in flight; frames arriving meanwhile are not
    queued. Failures are counted (and logged once by the archive); the
    source feeding this tap never sees them.
    """

    def __init__(self, archive: FrameArchive, every_s: float) -> None:
        if not (math.isfinite(every_s) and every_s >= 0):
            raise ValueError("every_s must be >= 0")
        self.archive = archive
        self.every_s = every_s
        self.saved = 0
        self.failed = 0
        self._last_t: float | None = None
        self._task: asyncio.Task[None] | None = None

    def __call__(self, frame: Frame) -> None:
        if self.archive.stopped is not None:
            return
        if self._task is not None and not self._task.done():
            return
        if self._last_t is not None and frame.t_mono - self._last_t < self.every_s:
            return
        self._last_t = frame.t_mono
        self._task = asyncio.create_task(self._save(frame), name="camera-archive-write")

    async def _save(self, frame: Frame) -> None:
        try:
            await self.archive.write(frame)
        except ArchiveError:
            self.failed += 1
        else:
            self.saved += 1

    async def aclose(self) -> None:
        """Wait for the write in flight, if any."""
        task, self._task = self._task, None
        if task is not None:
            await task
