"""Traps turn into immediate polls: the UPS poll loop and the trap router.

A UPS that goes on battery sends a trap within milliseconds, but a poll at
1 Hz (or slower, for a large site) would see it up to a period later. The
poll loop here polls a UPS on its normal fixed grid *or* at once when its
``poll_requested`` event is set; ``UpsTrapRouter`` sets that event for the
UPS whose address sent a trap, and publishes the trap itself as a durable
``UpsTrap``.

The loop reuses ``PollingCoordinator.poll_once``: health, backoff while
offline, and publishing are exactly those of every other polled device.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from devices.backoff import Backoff
from devices.bus import Bus, Message
from devices.coordinator import Emit, PollingCoordinator, PollJob
from devices.health import HealthState, HealthTracker
from devices.snmp.traps import Trap, TrapReceiver
from devices.ups.profile import UpsProfile, builtin_ups_profiles
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading, UpsTrap

_LOGGER = logging.getLogger(__name__)


def emit_reading(reading: UpsReading) -> Sequence[Message]:
    """The default emit: a reading is already a bus message."""
    return (reading,)


@dataclass
class TriggerStats:
    """How many polls ran on schedule and how many a trap brought forward."""

    scheduled: int = 0
    triggered: int = 0


class UpsPollLoop:
    """Polls one UPS every ``1 / rate_hz`` s, or immediately when a trap asks for it.

    Scheduled polls stay on a fixed grid (a trap-triggered poll in between
    does not move the next slot); while the UPS is offline the coordinator's
    style of capped backoff applies, and a trap still cuts the wait short
    (a unit that sends traps is reachable again).
    """

    def __init__(
        self,
        coordinator: PollingCoordinator,
        ups: SnmpUps,
        rate_hz: float,
        emit: Emit = emit_reading,
        *,
        offline_backoff_cap_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_hz <= 0:
            raise ValueError(f"{ups.device_id}: rate_hz must be > 0")
        period_s = 1.0 / rate_hz
        self.coordinator = coordinator
        self.ups = ups
        self.job = PollJob(
            ups,
            period_s,
            emit,
            HealthTracker(ups.device_id),
            Backoff(initial_s=max(period_s, 0.2), cap_s=max(offline_backoff_cap_s, 0.2)),
        )
        self.stats = TriggerStats()
        self._clock = clock

    async def run(self) -> None:
        """Poll until cancelled."""
        job, requested = self.job, self.ups.poll_requested
        next_s = self._clock()
        triggered = False
        while True:
            requested.clear()
            if triggered:
                self.stats.triggered += 1
            else:
                self.stats.scheduled += 1
            ok = await self.coordinator.poll_once(job)
            now = self._clock()
            if not ok and job.tracker.health.state is HealthState.OFFLINE:
                next_s = now + job.backoff.next_delay_s()
            else:
                job.backoff.reset()
                if next_s <= now:
                    skipped = int((now - next_s) / job.period_s) + 1
                    job.stats.overruns += max(0, skipped - 1)
                    next_s += skipped * job.period_s
            triggered = await _wait(requested, next_s - now)


async def _wait(event: asyncio.Event, timeout_s: float) -> bool:
    """True when ``event`` was set before ``timeout_s`` ran out."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, timeout_s)):
            await event.wait()
    except TimeoutError:
        return False
    return True


@dataclass
class RouterStats:
    """What the router did with the traps it got."""

    routed: int = 0
    unknown_sender: int = 0


class UpsTrapRouter:
    """Publishes each UPS trap as ``UpsTrap`` and makes the sending UPS poll at once.

    A trap is matched to a UPS by the sender's address (``SnmpUps.trap_hosts``).
    Its name comes from the UPS's profile (``upsTrapOnBattery`` ...), or any
    known profile when the UPS has not been identified yet, else the OID.
    """

    def __init__(
        self,
        bus: Bus,
        upses: Sequence[SnmpUps],
        *,
        profiles: Mapping[str, UpsProfile] | None = None,
    ) -> None:
        self.bus = bus
        self.upses = tuple(upses)
        self.stats = RouterStats()
        self._profiles = tuple((profiles or builtin_ups_profiles()).values())
        self._warned: set[str] = set()

    async def run(self, receiver: TrapReceiver) -> None:
        """Route every trap the receiver accepts, until cancelled."""
        async for trap in receiver:
            await self.handle(trap)

    async def handle(self, trap: Trap) -> list[UpsTrap]:
        """Route one trap; the messages published (one per matching UPS)."""
        targets = [ups for ups in self.upses if trap.sender[0] in ups.trap_hosts]
        if not targets:
            self.stats.unknown_sender += 1
            if trap.sender[0] not in self._warned:
                self._warned.add(trap.sender[0])
                _LOGGER.warning(
                    "trap %s from %s matches no configured UPS (further ones only counted)",
                    trap.trap_oid,
                    trap.sender[0],
                )
            return []
        published: list[UpsTrap] = []
        for ups in targets:
            ups.request_poll()
            message = UpsTrap(
                source=ups.device_id,
                t_mono=trap.received_mono,
                name=self._name(ups, trap.trap_oid),
                oid=trap.trap_oid,
                sender=trap.sender_text,
                varbinds=tuple(
                    (oid, value.text() if value is not None else "") for oid, value in trap.varbinds
                ),
            )
            await self.bus.publish(message)
            published.append(message)
        self.stats.routed += 1
        return published

    def _name(self, ups: SnmpUps, trap_oid: str) -> str:
        resolved = ups.resolved
        profiles = (resolved.profile, *self._profiles) if resolved else self._profiles
        for profile in profiles:
            name = profile.trap_name(trap_oid)
            if name is not None:
                return name
        return trap_oid
