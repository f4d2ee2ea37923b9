"""Polling coordinator: one schedule per device, health and backoff for all.

Each device is polled at its own rate on a fixed grid (a late poll does not
shift the following ones; missed slots are skipped and counted as overruns).
A device that is offline is retried on a capped exponential backoff instead
of its rate: a dead unit on a shared RS-485 line then costs one timeout per
backoff delay, and the other units on that line keep their rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.bus import Bus, Message
from devices.errors import DeviceError
from devices.health import Health, HealthChanged, HealthState, HealthTracker

_LOGGER = logging.getLogger(__name__)

Emit = Callable[[Any], Sequence[Message]]


@dataclass
class PollStats:
    """Counters of one poll job, for telemetry and benchmarks."""

    polls: int = 0
    failures: int = 0
    overruns: int = 0
    last_latency_s: float = 0.0


@dataclass
class PollJob:
    """A device, its rate and how its readings become bus messages."""

    device: PolledDevice[Any]
    period_s: float
    emit: Emit
    tracker: HealthTracker
    backoff: Backoff
    stats: PollStats = field(default_factory=PollStats)


class PollingCoordinator:
    """Runs every poll job until cancelled."""

    def __init__(
        self,
        bus: Bus,
        *,
        offline_backoff_cap_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._offline_backoff_cap_s = offline_backoff_cap_s
        self.jobs: list[PollJob] = []

    def add(self, device: PolledDevice[Any], rate_hz: float, emit: Emit) -> PollJob:
        """Poll ``device`` at ``rate_hz``; ``emit`` turns each reading into messages."""
        if rate_hz <= 0:
            raise ValueError(f"{device.device_id}: rate_hz must be > 0")
        period = 1.0 / rate_hz
        job = PollJob(
            device,
            period,
            emit,
            HealthTracker(device.device_id),
            Backoff(initial_s=max(period, 0.2), cap_s=self._offline_backoff_cap_s),
        )
        self.jobs.append(job)
        return job

    def health(self) -> list[Health]:
        """Current health of every device."""
        return [job.tracker.health for job in self.jobs]

    async def run(self) -> None:
        """Poll every job concurrently until cancelled.

        Jobs start spread over their period (job i of n at i/n of it), so a
        hundred controllers are not all asked in the same millisecond.
        """
        count = len(self.jobs)
        async with asyncio.TaskGroup() as group:
            for index, job in enumerate(self.jobs):
                offset_s = job.period_s * index / count
                group.create_task(
                    self._poll_forever(job, offset_s), name=f"poll:{job.device.device_id}"
                )

    async def poll_once(self, job: PollJob) -> bool:
        """One poll of ``job``: publish its messages and health; True on success."""
        start = self._clock()
        job.stats.polls += 1
        try:
            reading = await job.device.read()
        except DeviceError as exc:
            job.stats.failures += 1
            changed = job.tracker.record_failure(str(exc), self._clock())
            await self._publish_health(changed)
            return False
        job.stats.last_latency_s = self._clock() - start
        changed = job.tracker.record_success(self._clock())
        await self._publish_health(changed)
        for message in job.emit(reading):
            await self._bus.publish(message)
        return True

    async def _publish_health(self, health: Health | None) -> None:
        if health is not None:
            await self._bus.publish(
                HealthChanged(source=health.device_id, t_mono=self._clock(), health=health)
            )

    async def _poll_forever(self, job: PollJob, offset_s: float = 0.0) -> None:
        task = asyncio.current_task()
        next_s = self._clock() + offset_s
        await asyncio.sleep(offset_s)
        while True:
            ok = await self.poll_once(job)
            if task is not None and task.cancelling():
                # Python 3.11's wait_for (used inside pymodbus) can swallow a
                # cancellation that lands as the reply arrives; honour it here
                # so stopping the coordinator never hangs.
                raise asyncio.CancelledError
            now = self._clock()
            if ok or job.tracker.health.state is not HealthState.OFFLINE:
                job.backoff.reset()
                next_s += job.period_s
                if next_s < now:
                    skipped = int((now - next_s) / job.period_s) + 1
                    job.stats.overruns += skipped
                    next_s += skipped * job.period_s
            else:
                next_s = now + job.backoff.next_delay_s()
            await asyncio.sleep(max(0.0, next_s - now))
