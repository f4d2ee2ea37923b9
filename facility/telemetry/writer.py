"""The telemetry writer: bus -> batches -> InfluxDB v2 write API, with a disk buffer.

Three tasks, each with one job:

- the collector reads the bus subscription (telemetry may drop the oldest when the
  writer falls behind: counted in ``dropped``), converts messages to points and cuts
  batches at ``batch_points`` or ``flush_interval_s`` after the first point;
- the sender writes each batch once with a ``timeout_s`` deadline. A failure (server
  down, 5xx, 401/403, timeout) puts the batch in the :class:`DiskBuffer`; while the
  buffer holds anything, new batches go to its tail too, and the oldest batch is
  retried after a :class:`~devices.backoff.Backoff` delay. Once one succeeds the
  backlog is replayed oldest-first at full speed: batches reach the server in the
  order they were cut. A batch the server refuses as malformed (400, 413, 422) would
  be refused forever: it is counted in ``rejected`` and dropped, not retried;
- the health publisher puts the writer's own health (device id ``health_id``) on the
  bus as :class:`~devices.health.HealthChanged` when it changes; it runs apart from
  the other two, because a durable publish may wait for this writer's own
  subscription to be read.

The writer owns its buffer: closing it (``async with`` exit, on every path) ends the
subscription, writes what is
still in memory (or buffers it when the server is not reachable) and closes the
client and the buffer; a backlog on disk stays there for the next start. When the exit is a
cancellation, everything in memory goes to the disk buffer without network I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api_async import WriteApiAsync
from influxdb_client.rest import ApiException

from devices.backoff import Backoff
from devices.bus import Bus, Message, Subscription
from devices.health import Health, HealthChanged, HealthTracker
from facility.telemetry.buffer import DiskBuffer, TelemetryBufferError
from facility.telemetry.points import ConverterRegistry, PointContext, WallClockAnchor

_LOGGER = logging.getLogger(__name__)

# Refused for what the batch is, not for the server's state: retrying cannot help.
REJECTED_STATUSES = frozenset({400, 413, 422})


@dataclass(frozen=True, slots=True)
class TelemetryTarget:
    """Where to write: an InfluxDB v2 (or compatible) server.

    ``token`` is a secret: it never appears in ``repr`` or logs.
    """

    url: str
    bucket: str = "walkout"
    org: str = "walkout"
    token: str = ""

    def __repr__(self) -> str:
        return f"TelemetryTarget(url={self.url!r}, bucket={self.bucket!r}, org={self.org!r})"


@dataclass(frozen=True, slots=True)
class WriterStats:
    """Counters since the writer started; points unless the name says messages.

    ``written`` went straight to the server, ``buffered`` went to disk, ``replayed``
    came off the disk to the server, ``evicted`` was pushed out of the full disk
    buffer, ``dropped`` messages the bus subscription lost under backpressure,
    ``rejected`` the server refused as malformed, ``lost`` could not be stored (disk
    full). ``backlog`` is what waits on disk now.
    """

    messages: int
    points: int
    written: int
    buffered: int
    replayed: int
    evicted: int
    dropped: int
    rejected: int
    lost: int
    backlog: int
    failures: int
    unconvertible: int


class _Outcome(enum.Enum):
    OK = "ok"
    REJECTED = "rejected"
    FAILED = "failed"


_Batch = tuple[bytes, int]  # line protocol, point count


class TelemetryWriter:
    """Async context manager that writes the bus's telemetry until it exits."""

    def __init__(
        self,
        bus: Bus,
        target: TelemetryTarget,
        buffer: DiskBuffer,
        *,
        store: str,
        registry: ConverterRegistry,
        anchor: WallClockAnchor | None = None,
        batch_points: int = 5000,
        flush_interval_s: float = 1.0,
        timeout_s: float = 5.0,
        queue_size: int = 10_000,
        pending_batches: int = 4,
        backoff: Backoff | None = None,
        health_id: str = "telemetry",
    ) -> None:
        if batch_points < 1:
            raise ValueError(f"batch_points must be >= 1, got {batch_points}")
        if flush_interval_s <= 0 or timeout_s <= 0:
            raise ValueError("flush_interval_s and timeout_s must be > 0")
        self.bus = bus
        self.target = target
        self.buffer = buffer
        self.registry = registry
        self.batch_points = batch_points
        self.flush_interval_s = flush_interval_s
        self.timeout_s = timeout_s
        self._context = PointContext(store, anchor or WallClockAnchor.now())
        self._queue_size = queue_size
        self._batches: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=pending_batches)
        self._backoff = backoff or Backoff(initial_s=0.5, cap_s=30.0)
        self._tracker = HealthTracker(health_id, degraded_after=1, offline_after=3)
        self._health_out: asyncio.Queue[Health | None] = asyncio.Queue()
        self._sub: Subscription | None = None
        self._client: InfluxDBClientAsync | None = None
        self._api: WriteApiAsync | None = None
        self._task: asyncio.Task[None] | None = None
        self._lines: list[str] = []
        self._emitting: _Batch | None = None  # cut, waiting for room in the queue
        self._in_flight: _Batch | None = None  # being written live
        self._retry_at = 0.0
        self._bad_types: set[type[Message]] = set()
        self._disk_error_logged = False
        self._messages = 0
        self._points = 0
        self._written = 0
        self._buffered = 0
        self._replayed = 0
        self._rejected = 0
        self._lost = 0
        self._failures = 0
        self._unconvertible = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> TelemetryWriter:
        self._sub = self.bus.subscribe(
            *self.registry.types(), maxsize=self._queue_size, name="telemetry"
        )
        try:
            self._client = InfluxDBClientAsync(
                self.target.url,
                token=self.target.token,
                org=self.target.org,
                timeout=int(self.timeout_s * 1000),
            )
            self._api = self._client.write_api()
        except BaseException:
            self._sub.close()
            raise
        self._task = asyncio.create_task(self._run(), name="telemetry-writer")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: flush what is in memory (write or buffer it), close the client and buffer.

        Each batch still in memory gets one write attempt of at most ``timeout_s``
        before it goes to disk, so a hung server delays the close by at most
        ``(pending_batches + 2) * timeout_s``.
        """
        try:
            if self._sub is not None:
                self._sub.close()
            if self._task is not None:
                try:
                    await asyncio.shield(self._task)
                except asyncio.CancelledError:
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
                    raise
        finally:
            try:
                if self._client is not None:
                    client, self._client = self._client, None
                    await client.close()  # type: ignore[no-untyped-call]
            finally:
                self.buffer.close()

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                publisher = group.create_task(self._publish_health(), name="telemetry-health")
                group.create_task(self._collect(), name="telemetry-collect")
                sender = group.create_task(self._send(), name="telemetry-send")
                await asyncio.wait([sender])
                self._health_out.put_nowait(None)
                # A durable publish can wait on a full subscriber; do not hang the close on it.
                done, _ = await asyncio.wait([publisher], timeout=1.0)
                if not done:
                    publisher.cancel()
        finally:
            self._spill()

    def _spill(self) -> None:
        """Move everything still in memory to the disk buffer (cancelled or failed run)."""
        pending = [b for b in (self._in_flight, self._emitting) if b is not None]
        while not self._batches.empty():
            item = self._batches.get_nowait()
            if item is not None:
                pending.append(item)
        if self._lines:
            pending.append(self._cut())
        for payload, points in pending:
            self._store(payload, points)

    # --- stats -----------------------------------------------------------------------------

    @property
    def health(self) -> Health:
        """The writer's own health: online while writes succeed."""
        return self._tracker.health

    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        return WriterStats(
            messages=self._messages,
            points=self._points,
            written=self._written,
            buffered=self._buffered,
            replayed=self._replayed,
            evicted=self.buffer.evicted_points,
            dropped=self._sub.dropped if self._sub is not None else 0,
            rejected=self._rejected,
            lost=self._lost,
            backlog=self.buffer.points,
            failures=self._failures,
            unconvertible=self._unconvertible,
        )

    # --- collector -------------------------------------------------------------------------

    async def _collect(self) -> None:
        assert self._sub is not None
        sub = self._sub
        loop = asyncio.get_running_loop()
        deadline = 0.0
        while True:
            message = sub.get_nowait()
            if message is None:
                try:
                    if self._lines:
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            await self._emit()
                            continue
                        async with asyncio.timeout(remaining):
                            message = await sub.get()
                    else:
                        message = await sub.get()
                except TimeoutError:
                    await self._emit()
                    continue
                except EOFError:
                    break
            if not self._lines:
                deadline = loop.time() + self.flush_interval_s
            self._add(message)
            if len(self._lines) >= self.batch_points:
                await self._emit()
        await self._emit()
        # Not in a finally: a cancelled collector must not wait for room in the queue.
        await self._batches.put(None)

    def _add(self, message: Message) -> None:
        self._messages += 1
        try:
            points = self.registry.convert(message, self._context)
        except Exception:
            self._unconvertible += 1
            if type(message) not in self._bad_types:
                self._bad_types.add(type(message))
                _LOGGER.exception("telemetry: cannot convert a %s", type(message).__name__)
            return
        self._points += len(points)
        self._lines.extend(p.line() for p in points)

    def _cut(self) -> _Batch:
        lines, self._lines = self._lines, []
        return "\n".join(lines).encode(), len(lines)

    async def _emit(self) -> None:
        if self._lines:
            self._emitting = self._cut()
            await self._batches.put(self._emitting)
            self._emitting = None

    # --- sender ----------------------------------------------------------------------------

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if len(self.buffer) or loop.time() < self._retry_at:
                # Backlog: new batches join the tail so everything leaves in order.
                if self._store_queued():
                    break
                if not len(self.buffer) or loop.time() < self._retry_at:
                    wait = max(0.0, self._retry_at - loop.time())
                    try:
                        async with asyncio.timeout(wait):
                            item = await self._batches.get()
                    except TimeoutError:
                        continue
                    if item is None:
                        break
                    self._store(*item)
                    continue
                await self._replay_one()
                continue
            item = await self._batches.get()
            if item is None:
                break
            await self._deliver(*item)

    def _store_queued(self) -> bool:
        """Buffer every batch already queued; True when the end of input was among them."""
        while not self._batches.empty():
            item = self._batches.get_nowait()
            if item is None:
                return True
            self._store(*item)
        return False

    async def _deliver(self, payload: bytes, points: int) -> None:
        self._in_flight = (payload, points)
        try:
            outcome = await self._write(payload, points)
        finally:
            self._in_flight = None
        if outcome is _Outcome.OK:
            self._written += points
        elif outcome is _Outcome.FAILED:
            self._store(payload, points)

    async def _replay_one(self) -> None:
        batch = self.buffer.peek()
        if batch is None:
            return
        outcome = await self._write(batch.payload, batch.points)
        if outcome is _Outcome.FAILED:
            return
        self.buffer.ack(batch)
        if outcome is _Outcome.OK:
            self._replayed += batch.points
            if not len(self.buffer):
                _LOGGER.info("telemetry backlog replayed (%d points so far)", self._replayed)

    def _store(self, payload: bytes, points: int) -> None:
        try:
            self.buffer.append(payload, points)
        except TelemetryBufferError as exc:
            self._lost += points
            if not self._disk_error_logged:
                _LOGGER.error("telemetry: %s", exc)
                self._disk_error_logged = True
            return
        self._disk_error_logged = False
        self._buffered += points

    async def _write(self, payload: bytes, points: int) -> _Outcome:
        assert self._api is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.timeout_s):
                accepted = await self._api.write(
                    bucket=self.target.bucket, org=self.target.org, record=payload
                )
            reason = "" if accepted else "the server answered with an unexpected status"
        except ApiException as exc:
            if exc.status in REJECTED_STATUSES:
                self._rejected += points
                body = str(exc.body or "")[:200]
                _LOGGER.error(
                    "telemetry: the server refused a batch of %d points (HTTP %s): %s",
                    points,
                    exc.status,
                    body,
                )
                return _Outcome.REJECTED
            reason = f"HTTP {exc.status} {exc.reason}"
        except TimeoutError:
            reason = f"no answer within {self.timeout_s:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        now = loop.time()
        if not reason:
            self._backoff.reset()
            self._retry_at = 0.0
            self._health_changed(self._tracker.record_success(now))
            return _Outcome.OK
        self._failures += 1
        self._retry_at = now + self._backoff.next_delay_s()
        self._health_changed(self._tracker.record_failure(f"{self.target.url}: {reason}", now))
        return _Outcome.FAILED

    # --- health ----------------------------------------------------------------------------

    def _health_changed(self, health: Health | None) -> None:
        if health is not None:
            self._health_out.put_nowait(health)

    async def _publish_health(self) -> None:
        while (health := await self._health_out.get()) is not None:
            await self.bus.publish(
                HealthChanged(source=health.device_id, t_mono=time.monotonic(), health=health)
            )
