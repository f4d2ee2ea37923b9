"""Delivery of alert events to every sink, with a retry queue per sink.

Each sink has its own FIFO queue and worker task: a mail server that is down
delays mail only, never the webhook or MQTT. A failed attempt is retried
with ``devices.backoff.Backoff`` up to ``max_attempts``; when the last one
fails (or the sink refuses for good), the failure is never silent: it is
logged at ERROR, written to the alert store and published on the bus as a
durable ``SinkFailed``. Queues are unbounded on purpose: alert events are
few and durable, and dropping one is the thing this module exists to avoid.
Events still queued at shutdown are reported the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devices.backoff import Backoff
from devices.bus import Bus
from facility.alerts.events import AlertEvent, SinkFailed
from facility.alerts.sinks import Sink, SinkError
from facility.alerts.store import AlertStore

_LOGGER = logging.getLogger(__name__)


@dataclass
class SinkStats:
    """Per-sink counters for telemetry and tests."""

    delivered: int = 0
    retries: int = 0
    failed: int = 0


class AlertDispatcher:
    """Fans events out to sinks; use as ``async with AlertDispatcher(...) as d``."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        store: AlertStore | None = None,
        bus: Bus | None = None,
        max_attempts: int = 5,
        backoff: Callable[[], Backoff] = lambda: Backoff(initial_s=1.0, cap_s=60.0),
        close_timeout_s: float = 5.0,
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names repeat: {names}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.sinks = tuple(sinks)
        self.stats = {s.name: SinkStats() for s in sinks}
        self._store = store
        self._bus = bus
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._close_timeout_s = close_timeout_s
        self._queues: dict[str, asyncio.Queue[AlertEvent]] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._running = False

    async def __aenter__(self) -> AlertDispatcher:
        self._running = True
        for sink in self.sinks:
            queue: asyncio.Queue[AlertEvent] = asyncio.Queue()
            self._queues[sink.name] = queue
            self._workers.append(
                asyncio.create_task(self._work(sink, queue), name=f"alert-sink:{sink.name}")
            )
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            async with asyncio.timeout(self._close_timeout_s):
                await self.drain()
        except TimeoutError:
            _LOGGER.error("alert sinks did not finish within %.1f s", self._close_timeout_s)
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._running = False
        for sink in self.sinks:
            queue = self._queues[sink.name]
            while not queue.empty():
                await self._report(sink, queue.get_nowait(), 0, "shut down before delivery")
            try:
                await sink.aclose()
            except Exception:
                _LOGGER.exception("closing alert sink %s failed", sink.name)
        self._queues.clear()

    async def deliver(self, event: AlertEvent) -> None:
        """Queue ``event`` for every sink (returns at once; with no sinks, the history alone)."""
        if not self._running:
            raise RuntimeError("AlertDispatcher is not running: use 'async with'")
        for queue in self._queues.values():
            queue.put_nowait(event)

    async def drain(self) -> None:
        """Wait until every queued event was delivered or reported as failed."""
        await asyncio.gather(*(q.join() for q in self._queues.values()))

    async def _work(self, sink: Sink, queue: asyncio.Queue[AlertEvent]) -> None:
        while True:
            event = await queue.get()
            try:
                await self._deliver_one(sink, event)
            finally:
                queue.task_done()

    async def _deliver_one(self, sink: Sink, event: AlertEvent) -> None:
        stats = self.stats[sink.name]
        backoff = self._backoff()
        attempt = 0
        while True:
            attempt += 1
            try:
                await sink.send(event)
            except SinkError as exc:
                if not exc.retryable or attempt >= self._max_attempts:
                    await self._report(sink, event, attempt, str(exc))
                    return
                delay = backoff.next_delay_s()
                stats.retries += 1
                _LOGGER.warning(
                    "alert %d to %s failed (attempt %d/%d), retrying in %.2f s: %s",
                    event.alert.id, sink.name, attempt, self._max_attempts, delay, exc,
                )  # fmt: skip
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug in a sink must not kill its queue
                _LOGGER.exception("alert sink %s crashed", sink.name)
                await self._report(sink, event, attempt, f"sink crashed: {exc!r}")
                return
            else:
                stats.delivered += 1
                return

    async def _report(self, sink: Sink, event: AlertEvent, attempts: int, error: str) -> None:
        """Make a final failure visible: log, store, bus. Never raises."""
        self.stats[sink.name].failed += 1
        failure = SinkFailed(
            source=sink.name,
            t_mono=event.t_mono,
            alert_id=event.alert.id,
            event=event.kind,
            attempts=attempts,
            error=error,
        )
        _LOGGER.error(
            "alert %d (%s) not delivered to %s after %d attempt(s): %s",
            event.alert.id, event.kind.value, sink.name, attempts, error,
        )  # fmt: skip
        if self._store is not None:
            try:
                await self._store.record_sink_failure(failure)
            except Exception:
                _LOGGER.exception("could not record the failure of sink %s", sink.name)
        if self._bus is not None:
            await self._bus.publish(failure)
