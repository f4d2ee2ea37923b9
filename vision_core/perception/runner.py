"""Runs a frame pipeline off the event loop and publishes what it finds.

Inference takes tens of milliseconds per frame; on the event loop it would stall
every device driver in the store. :class:`DetectorRunner` owns one worker thread
(:class:`~devices.camera.worker.WorkerThread`) that loads the models and runs every
batch, and one task that feeds it.

Frames are offered with :meth:`DetectorRunner.submit` (never blocks). Per camera only
every ``detect_every_n``-th frame is kept; the tracker carries people across the
others (the trade: n times the cameras per CPU for coarser boxes between detections).
Kept frames wait in a queue of ``queue_size`` that drops the *oldest* when full: a
detector that falls behind answers on recent frames rather than on a growing backlog.
Whatever is queued when the worker is free (several cameras, up to the backend's
``max_batch``) goes into one batch. Each result is published on the bus as
:class:`~devices.camera.detection.PersonDetections` (telemetry: a newer one supersedes
it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterable, Callable
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Self

from devices.bus import Bus
from devices.camera.frame import Frame
from devices.camera.worker import WorkerThread, cancel_and_wait
from vision_core.perception.pipeline import FramePipeline

_LOGGER = logging.getLogger(__name__)


@dataclass
class RunnerStats:
    """Counters of one runner; ``busy_s`` is worker time spent in the pipeline."""

    submitted: int = 0
    skipped: int = 0
    dropped: int = 0
    processed: int = 0
    batches: int = 0
    people: int = 0
    errors: int = 0
    busy_s: float = 0.0
    last_error: str = ""

    def as_dict(self) -> dict[str, int | float | str]:
        """The counters as a plain dict."""
        return asdict(self)


class DetectorRunner:
    """A :class:`FramePipeline` on its own thread, fed from the loop, publishing on ``bus``.

    ``pipeline`` is either a built pipeline or a factory called on the worker thread at
    :meth:`start` (loading and hashing models blocks for a second or so). The runner
    owns the pipeline and closes it in :meth:`close`, unless ``close_pipeline`` is
    False (a pipeline shared with other users).
    """

    def __init__(
        self,
        pipeline: FramePipeline | Callable[[], FramePipeline],
        bus: Bus,
        *,
        detect_every_n: int = 1,
        queue_size: int = 8,
        name: str = "detector",
        close_pipeline: bool = True,
    ) -> None:
        if detect_every_n < 1 or queue_size < 1:
            raise ValueError(
                f"need detect_every_n >= 1 and queue_size >= 1, "
                f"got {detect_every_n} and {queue_size}"
            )
        self._factory = pipeline if callable(pipeline) else None
        self._pipeline = pipeline if isinstance(pipeline, FramePipeline) else None
        self.bus = bus
        self.detect_every_n = detect_every_n
        self.queue_size = queue_size
        self.name = name
        self.close_pipeline = close_pipeline
        self.stats = RunnerStats()
        self._worker = WorkerThread(f"perception:{name}")
        self._queue: deque[Frame] = deque()
        self._ready = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._counts: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._complained: set[str] = set()

    async def start(self) -> None:
        """Start the worker thread (building the pipeline there if needed) and the feeder."""
        if self._task is not None:
            raise RuntimeError(f"runner {self.name} already started")
        self._worker.start()
        try:
            if self._pipeline is None and self._factory is not None:
                self._pipeline = await self._worker.call(self._factory)
        except BaseException:
            await self._worker.stop()
            raise
        self._task = asyncio.create_task(self._feed(), name=f"perception:{self.name}:feed")

    async def close(self) -> None:
        """Stop feeding, let a running batch finish, end the thread, close the models."""
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        await self._worker.stop()
        self._queue.clear()
        self._idle.set()
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None and self.close_pipeline:
            pipeline.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def submit(self, frame: Frame) -> bool:
        """Offer a frame; True if it was queued for detection, False if skipped by ``n``."""
        if self._task is None:
            raise RuntimeError(f"runner {self.name} is not running")
        self.stats.submitted += 1
        count = self._counts.get(frame.camera_id, 0)
        self._counts[frame.camera_id] = count + 1
        if count % self.detect_every_n:
            self.stats.skipped += 1
            return False
        if len(self._queue) >= self.queue_size:
            self._queue.popleft()
            self.stats.dropped += 1
        self._queue.append(frame)
        self._idle.clear()
        self._ready.set()
        return True

    async def feed(self, frames: AsyncIterable[Frame]) -> None:
        """Submit every frame of ``frames`` until it ends."""
        async for frame in frames:
            self.submit(frame)

    async def wait_idle(self, timeout_s: float) -> None:
        """Wait until every queued frame was processed; ``TimeoutError`` after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._idle.wait()

    async def _feed(self) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        while True:
            while not self._queue:
                self._idle.set()
                self._ready.clear()
                await self._ready.wait()
            size = min(len(self._queue), pipeline.max_batch)
            batch = [self._queue.popleft() for _ in range(size)]
            started = time.perf_counter()
            try:
                messages = await self._worker.call(pipeline.process, batch)
            except Exception as exc:  # a bad frame or a model failure must not end the runner
                self._failed(batch, exc)
                continue
            finally:
                self.stats.busy_s += time.perf_counter() - started
            self.stats.batches += 1
            self.stats.processed += len(batch)
            for message in messages:
                self.stats.people += len(message.detections)
                await self.bus.publish(message)

    def _failed(self, batch: list[Frame], exc: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        kind = type(exc).__name__
        if kind in self._complained:
            return
        self._complained.add(kind)
        cameras = sorted({frame.camera_id for frame in batch})
        _LOGGER.error(
            "%s: detection failed on a batch from %s: %s (further %s errors are only counted)",
            self.name,
            ", ".join(cameras),
            exc,
            kind,
        )
