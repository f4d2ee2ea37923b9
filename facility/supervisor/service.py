"""The running supervisor: bus readings and commands in, mode changes and actions out.

Wiring only; every decision is the pure ``Supervisor``'s. Time is judged
twice: at each message's own ``t_mono``, and every ``tick_s`` at the
clock's time, so a UPS that falls silent is judged stale even when nothing
else arrives. Readings and ticks go through one lock, so the decisions of
one moment are published together and in order (the mode change first).

Commands from building systems become holds: a fire alarm holds closing
while it is active, a demand-response request holds conserve for its
minutes, a mode override holds its mode exactly until it expires. Opening
the exits on a fire alarm is not the supervisor's job: that path goes
straight to the gates (it must not wait on a rule).

``heartbeat_t`` is the clock time of the last loop turn: the exit
fail-safe watches it and opens the exits when the supervisor stops.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from devices.bus import Bus, Message, serve_ticking
from devices.crac.messages import CracAlarm, CracReading
from devices.gate.machine import Entered, Exited
from devices.gpu.reading import GpuReading
from devices.health import HealthChanged
from devices.ups.state import GridEvent, UpsReading
from facility.mqtt_bridge.commands import (
    DemandResponseCommand,
    FireAlarmCommand,
    ModeOverrideCommand,
)
from facility.supervisor.budget import StoreOccupancy
from facility.supervisor.decisions import Decision, ModeChanged
from facility.supervisor.modes import StoreMode
from facility.supervisor.occupancy import OccupancyTracker
from facility.supervisor.supervisor import Supervisor

_LOGGER = logging.getLogger(__name__)

READING_TYPES: tuple[type[Message], ...] = (
    UpsReading,
    GridEvent,
    CracReading,
    CracAlarm,
    GpuReading,
    HealthChanged,
)
COMMAND_TYPES: tuple[type[Message], ...] = (
    FireAlarmCommand,
    DemandResponseCommand,
    ModeOverrideCommand,
)


class SupervisorService:
    """Runs a ``Supervisor`` on live bus messages until cancelled."""

    def __init__(
        self,
        bus: Bus,
        supervisor: Supervisor,
        *,
        occupancy: OccupancyTracker | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 1.0,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be > 0, got {tick_s}")
        self.bus = bus
        self.supervisor = supervisor
        self.occupancy = occupancy
        self._clock = clock
        self._tick_s = tick_s
        self._on_decision = on_decision
        self._lock = asyncio.Lock()
        self.ready = asyncio.Event()
        self.heartbeat_t: float | None = None
        self.mode_changes = 0

    @property
    def mode(self) -> StoreMode:
        """The store's mode now."""
        return self.supervisor.mode

    def _types(self) -> tuple[type[Message], ...]:
        gate = (Entered, Exited) if self.occupancy is not None else (StoreOccupancy,)
        return READING_TYPES + COMMAND_TYPES + gate

    async def run(self) -> None:
        """Serve until cancelled; the supervisor's first judgement is made at once."""
        subscription = self.bus.subscribe(*self._types(), maxsize=10_000, name="supervisor")
        await serve_ticking(
            subscription,
            self.feed,
            self.tick,
            self._tick_s,
            ready=self.ready,
            name="supervisor",
            start=self.tick,
        )

    async def feed(self, message: Message) -> None:
        """Judge one message (what ``run`` does with each bus message)."""
        async with self._lock:
            decisions = self._judge(message)
            if isinstance(message, Entered | Exited) and self.occupancy is not None:
                snapshot = self.occupancy.feed(message)
                if snapshot is not None:
                    decisions += self.supervisor.feed(snapshot)
                    await self.bus.publish(snapshot)
            await self._publish(decisions)

    async def tick(self) -> None:
        """Let the clock's time pass through the supervisor."""
        async with self._lock:
            now = self._clock()
            decisions: list[Decision] = []
            if self.occupancy is not None and self.occupancy.people:
                decisions += self.supervisor.feed(self.occupancy.snapshot(now))
            decisions += self.supervisor.tick(now)
            await self._publish(decisions)

    def _judge(self, message: Message) -> list[Decision]:
        if isinstance(message, FireAlarmCommand):
            t = self._command_time(message)
            if message.active:
                _LOGGER.warning("fire alarm from %s: store closing", message.sender)
                return self.supervisor.hold(
                    "fire_alarm", StoreMode.CLOSING, t, explanation=f"fire alarm ({message.sender})"
                )
            _LOGGER.warning("fire alarm cleared by %s", message.sender)
            return self.supervisor.release("fire_alarm", t)
        if isinstance(message, DemandResponseCommand):
            t = self._command_time(message)
            return self.supervisor.hold(
                "demand_response",
                StoreMode.CONSERVE,
                t,
                until_t=t + 60.0 * message.minutes,
                explanation=f"demand response for {message.minutes} min ({message.sender})",
            )
        if isinstance(message, ModeOverrideCommand):
            t = self._command_time(message)
            return self.supervisor.hold(
                "mode_override",
                StoreMode(message.mode),
                t,
                until_t=t + 60.0 * message.minutes,
                explanation=f"override to {message.mode} for {message.minutes} min "
                f"({message.sender})",
                exact=True,
            )
        if isinstance(message, Entered | Exited):
            return []
        return self.supervisor.feed(message)

    def _command_time(self, message: Message) -> float:
        """A command is judged no earlier than the latest reading (time never runs back)."""
        now = self.supervisor.now
        return message.t_mono if now is None else max(now, message.t_mono)

    async def _publish(self, decisions: list[Decision]) -> None:
        self.heartbeat_t = self._clock()
        for decision in decisions:
            if isinstance(decision, ModeChanged):
                self.mode_changes += 1
            if self._on_decision is not None:
                self._on_decision(decision)
            await self.bus.publish(decision)
