"""The frame-source base: lifecycle, frame queue, fps cap, reconnect, health.

Every concrete source (MJPEG over HTTP, RTSP and files through FFmpeg)
shares this shape::

    async with MjpegSource("cam-3", "http://10.0.4.13/mjpg/video.mjpg") as source:
        async for frame in source:
            ...

Frames go through a short queue to one consumer. A live camera does not
wait for a slow consumer: when the queue is full the *oldest* frame is
dropped and counted (``dropped_queue``), so the consumer always gets the
newest picture. A source may instead be lossless (video files read as fast
as possible), in which case it waits for room.

A lost stream is reconnected for ever, on a capped, jittered backoff that is
reset only once a frame has arrived (a server that accepts and hangs up at
once is not hammered). The stream's health comes from
:class:`~devices.camera.quality.CameraMonitor` and is published on the bus
on every change, as :class:`~devices.camera.quality.CameraStatus` and, when
the state changes, as :class:`~devices.health.HealthChanged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import urllib.parse
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Self

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.bus import Bus, Message
from devices.camera.frame import Frame, Image
from devices.camera.quality import CameraMonitor, CameraStatus, QualityLimits
from devices.camera.worker import cancel_and_wait
from devices.errors import DeviceConnectionError, DeviceError, DeviceTimeoutError
from devices.health import Health, HealthChanged

_LOGGER = logging.getLogger(__name__)

FrameTap = Callable[[Frame], None]
"""Called with every delivered frame, on the loop, before the consumer sees it
(the in-memory ring, the archive recorder). Must not block; its exceptions are
logged once and counted, never passed to the source."""


class EndOfStream(DeviceError):
    """A finite source (a video file read without ``loop``) has no more frames."""


def redact_url(url: str) -> str:
    """``url`` with any password replaced, for logs and error messages."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"{user}@{host}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


@dataclass
class SourceStats:
    """Counters of one source, for telemetry, benchmarks and tests.

    Frames are dropped in three places, each counted apart: above the fps cap
    before decoding (``dropped_fps_cap``), while the decoder was busy with an
    earlier frame (``dropped_decode``: only the newest waiting frame is kept),
    and when the consumer fell behind (``dropped_queue``).
    """

    frames: int = 0
    bytes: int = 0
    dropped_fps_cap: int = 0
    dropped_decode: int = 0
    dropped_queue: int = 0
    decode_errors: int = 0
    tap_errors: int = 0
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, int | str]:
        """The counters as a plain dict."""
        return asdict(self)


class FpsGate:
    """Admits frames at no more than ``fps_cap`` per second on average.

    Frames are admitted on a grid of ``1/fps_cap`` with a quarter period of
    tolerance, so a 30 fps stream capped at 10 yields every third frame even
    when arrival times jitter; the grid restarts after a gap, so a stalled
    stream does not earn a burst afterwards.
    """

    def __init__(self, fps_cap: float | None) -> None:
        if fps_cap is not None and not (math.isfinite(fps_cap) and fps_cap > 0):
            raise ValueError(f"fps_cap must be > 0 or None, got {fps_cap!r}")
        self.fps_cap = fps_cap
        self._period = 1.0 / fps_cap if fps_cap else 0.0
        self._due: float | None = None

    def admit(self, t_mono: float) -> bool:
        """Whether a frame arriving at ``t_mono`` is kept."""
        if self.fps_cap is None:
            return True
        period = self._period
        due = self._due
        if due is not None and t_mono < due - period / 4:
            return False
        self._due = t_mono + period if due is None or t_mono > due + period else due + period
        return True

    def reset(self) -> None:
        """Start a new grid at the next frame (after a reconnect)."""
        self._due = None


class FrameSource(PolledDevice[Frame]):
    """Base of every frame source; subclasses implement :meth:`_stream`.

    ``fps_cap`` limits the frames delivered (dropped before decoding where
    the stream allows). ``queue_size`` is the consumer queue's length (2: the
    frame being looked at and the next one). ``read_timeout_s`` bounds
    :meth:`read`. ``bus`` receives the status messages; ``taps`` see every
    frame. ``clock`` is the monotonic clock of ``Frame.t_mono``.
    """

    lossless = False
    """Wait for queue room instead of dropping the oldest frame (finite files)."""

    def __init__(
        self,
        camera_id: str,
        *,
        address: str = "",
        fps_cap: float | None = None,
        queue_size: int = 2,
        read_timeout_s: float = 10.0,
        limits: QualityLimits | None = None,
        bus: Bus | None = None,
        backoff: Backoff | None = None,
        taps: Sequence[FrameTap] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(camera_id)
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if not read_timeout_s > 0:
            raise ValueError("read_timeout_s must be > 0")
        self.camera_id = camera_id
        self.address = redact_url(address)
        self.gate = FpsGate(fps_cap)
        self.queue_size = queue_size
        self.read_timeout_s = read_timeout_s
        self.bus = bus
        self.backoff = backoff or Backoff(initial_s=0.2, cap_s=10.0)
        self.taps = tuple(taps)
        self.stats = SourceStats()
        self._clock = clock
        self._monitor = CameraMonitor(camera_id, limits, clock=clock)
        self._queue: deque[Frame] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._outbox: deque[Message] = deque()
        self._outbox_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._seq = 0
        self._got_frame_since_connect = False
        self._up = False
        self._running = False
        self._ended = False
        self._closed = False
        self._tap_logged: set[int] = set()
        self._last_state = self._monitor.health.state
        self._post(self._monitor.status)

    # --- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start streaming in the background; frames follow once the stream is up.

        Returns without waiting for the camera: a store starts even with a
        camera down, and the source keeps reconnecting. A failure to set up
        local resources (a thread, a session) raises and leaves nothing open.
        """
        if self._running:
            return
        if self._closed:
            raise DeviceConnectionError("source is closed", device=self.camera_id)
        await self._open()
        self._running = True
        self._tasks = [
            asyncio.create_task(self._run(), name=f"camera:{self.camera_id}:stream"),
            asyncio.create_task(self._watch(), name=f"camera:{self.camera_id}:health"),
        ]

    async def close(self) -> None:
        """Stop streaming, end iteration and release every thread and socket; safe twice."""
        self._closed = True
        self._readable.set()
        self._writable.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        if self._running:
            self._running = False
            await self._release()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    # --- consuming --------------------------------------------------------------------

    async def read(self) -> Frame:
        """The next frame; ``DeviceTimeoutError`` after ``read_timeout_s`` without one."""
        try:
            async with asyncio.timeout(self.read_timeout_s):
                frame = await self._next()
        except TimeoutError:
            last = f" (last error: {self.stats.last_error})" if self.stats.last_error else ""
            raise DeviceTimeoutError(
                f"no frame within {self.read_timeout_s:g} s{last}",
                device=self.camera_id,
                address=self.address,
            ) from None
        if frame is None:
            raise EndOfStream(
                "the source is closed" if self._closed else "end of stream",
                device=self.camera_id,
                address=self.address,
            )
        return frame

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Frame:
        frame = await self._next()
        if frame is None:
            raise StopAsyncIteration
        return frame

    async def _next(self) -> Frame | None:
        while not self._queue:
            if self._closed or self._ended:
                return None
            self._readable.clear()
            await self._readable.wait()
        frame = self._queue.popleft()
        self._writable.set()
        return frame

    def set_fps_cap(self, fps_cap: float | None) -> None:
        """Change the fps cap while streaming (the supervisor's degraded mode lowers it)."""
        self.gate = FpsGate(fps_cap)

    @property
    def health(self) -> Health:
        """The camera's health now."""
        return self._monitor.health

    @property
    def status(self) -> CameraStatus:
        """The camera's last status (health, problems, fps)."""
        return self._monitor.status

    @property
    def ended(self) -> bool:
        """A finite source reached its end."""
        return self._ended

    @property
    def queued(self) -> int:
        """Frames waiting for the consumer."""
        return len(self._queue)

    # --- for subclasses ---------------------------------------------------------------

    async def _open(self) -> None:
        """Create what every connection needs (threads, HTTP session)."""

    async def _release(self) -> None:
        """Release what :meth:`_open` created."""

    @abstractmethod
    async def _stream(self) -> None:
        """One connection: open it, deliver frames until it fails.

        Raise a ``DeviceError`` when it fails, :class:`EndOfStream` at the
        end of a finite source; returning normally counts as the peer
        closing the stream and is reconnected.
        """

    def _admit(self, t_mono: float) -> bool:
        """Apply the fps cap to a frame arriving at ``t_mono``; counts what it drops."""
        if self.gate.admit(t_mono):
            return True
        self.stats.dropped_fps_cap += 1
        return False

    def _note_connected(self) -> None:
        """The stream is up (called by :meth:`_stream` once it is)."""
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self._got_frame_since_connect = False
        self._up = True
        self.gate.reset()
        _LOGGER.debug("camera %s connected to %s", self.camera_id, self.address)
        self._post(self._monitor.connected())

    def _deliver(
        self, image: Image, probe: Image | None, t_mono: float, source_ts: float | None
    ) -> Frame | None:
        """Queue a decoded frame, dropping the oldest queued one if the queue is full."""
        if self._closed:
            return None
        frame = self._make_frame(image, probe, t_mono, source_ts)
        if len(self._queue) >= self.queue_size:
            self._queue.popleft()
            self.stats.dropped_queue += 1
        self._queue.append(frame)
        self._readable.set()
        return frame

    async def _deliver_wait(
        self, image: Image, probe: Image | None, t_mono: float, source_ts: float | None
    ) -> Frame | None:
        """Queue a decoded frame, waiting for room (lossless sources)."""
        while len(self._queue) >= self.queue_size and not self._closed:
            self._writable.clear()
            await self._writable.wait()
        if self._closed:
            return None
        frame = self._make_frame(image, probe, t_mono, source_ts)
        self._queue.append(frame)
        self._readable.set()
        return frame

    def _make_frame(
        self, image: Image, probe: Image | None, t_mono: float, source_ts: float | None
    ) -> Frame:
        frame = Frame(self.camera_id, image, t_mono, self._seq, source_ts, probe)
        self._seq += 1
        self.stats.frames += 1
        if not self._got_frame_since_connect:
            self._got_frame_since_connect = True
            self.backoff.reset()
        self._post(self._monitor.frame(t_mono, probe))
        for tap in self.taps:
            try:
                tap(frame)
            except Exception:
                self.stats.tap_errors += 1
                if id(tap) not in self._tap_logged:
                    self._tap_logged.add(id(tap))
                    _LOGGER.exception("camera %s: frame tap %r failed", self.camera_id, tap)
        return frame

    def _end(self) -> None:
        self._ended = True
        self._readable.set()

    # --- background tasks -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._stream()
                reason = "the stream ended"
            except EndOfStream:
                self._end()
                return
            except DeviceError as exc:
                reason = str(exc)
            except Exception as exc:  # a bug or a library surprise: report, reconnect
                reason = f"unexpected {type(exc).__name__}: {exc}"
                _LOGGER.exception("camera %s: unexpected error in the stream", self.camera_id)
            self.stats.last_error = reason
            if self._up:
                self._up = False
                self.stats.disconnects += 1
            self._post(self._monitor.disconnected(reason))
            delay = self.backoff.next_delay_s()
            _LOGGER.debug("camera %s: %s; retrying in %.2f s", self.camera_id, reason, delay)
            await asyncio.sleep(delay)

    async def _watch(self) -> None:
        limits = self._monitor.limits
        tick = min(0.25, limits.stall_after_s / 4) if limits.stall_after_s else 0.25
        tick = max(tick, 0.01)
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await self._outbox_ready.wait()
            self._outbox_ready.clear()
            self._post(self._monitor.evaluate())
            while self._outbox:
                message = self._outbox.popleft()
                if self.bus is not None:
                    await self.bus.publish(message)

    def _post(self, status: CameraStatus | None) -> None:
        if status is None:
            return
        self._outbox.append(status)
        state = status.health.state
        if state is not self._last_state:
            self._last_state = state
            self._outbox.append(
                HealthChanged(source=self.camera_id, t_mono=status.t_mono, health=status.health)
            )
        self._outbox_ready.set()
