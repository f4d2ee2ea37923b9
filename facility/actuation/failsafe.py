"""Exits open when the supervisor is gone: a watchdog on its heartbeat.

The gate drivers already fail open on their own (a maglock drops without
its controller; the gate machine marks a lost exit failed-open and releases
every exit when it stops). What they cannot see is the supervisor itself
dying or hanging while the gates run on: then nobody would unlock a store
that needs emptying. ``ExitFailsafe`` watches the supervisor's heartbeat
(a callable giving the last beat's monotonic time, ``SupervisorAlive``
messages on the bus, or ``beat()`` calls) and a supervisor task's end; when
the heartbeat stops for longer than ``window_s`` or the task ends with an
exception, it puts the gates into emergency (every gate released and held).

It never releases the emergency by itself, not even when the heartbeat
comes back: a supervisor that died once may die again, and someone has to
look. ``release()`` is the explicit way back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Bus, Message, Subscription
from facility.actuation.ports import EntryControl

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SupervisorAlive(Message):
    """The supervisor is running (telemetry: only the newest matters)."""

    durable: ClassVar[bool] = False


class ExitFailsafe:
    """Watchdog that opens every gate when the supervisor stops beating.

    ``heartbeat`` (optional) returns the monotonic time of the supervisor's
    last beat, None before the first; beats given by ``beat()`` and by
    ``SupervisorAlive`` messages count as well, the latest of all wins. The
    window starts at construction (or at the last ``release``), so a
    supervisor that never beats trips it too. ``check_every_s`` is how often
    ``run`` looks (default a quarter of the window); ``emergency_timeout_s``
    bounds the gate command, after which the failure is logged (the gate
    machine switches its mode before it commands a gate, so credentials are
    refused and exits held free whatever the wiring does).
    """

    def __init__(
        self,
        gates: EntryControl,
        *,
        window_s: float,
        heartbeat: Callable[[], float | None] | None = None,
        check_every_s: float | None = None,
        emergency_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(window_s) and window_s > 0):
            raise ValueError(f"failsafe window_s must be > 0, got {window_s!r}")
        every = window_s / 4 if check_every_s is None else check_every_s
        if not (math.isfinite(every) and every > 0):
            raise ValueError(f"failsafe check_every_s must be > 0, got {check_every_s!r}")
        self.gates = gates
        self.window_s = window_s
        self.check_every_s = every
        self.emergency_timeout_s = emergency_timeout_s
        self.tripped = asyncio.Event()
        """Set once the emergency command has returned (or failed) after a trip."""
        self.reason = ""
        self._tripping = False
        self.ready = asyncio.Event()
        """Set once ``run`` listens on the bus."""
        self._heartbeat = heartbeat
        self._clock = clock
        self._since = clock()
        self._beat: float | None = None
        self._trips: set[asyncio.Task[None]] = set()

    # --- heartbeat ----------------------------------------------------------------------

    def beat(self, t_mono: float | None = None) -> None:
        """The supervisor is alive (at ``t_mono``, default now)."""
        t = self._clock() if t_mono is None else t_mono
        self._beat = t if self._beat is None else max(self._beat, t)

    def last_beat(self) -> float:
        """Latest beat from any input, or the start of the window when none came."""
        beats = [self._since]
        if self._beat is not None:
            beats.append(self._beat)
        if self._heartbeat is not None:
            external = self._heartbeat()
            if external is not None:
                beats.append(external)
        return max(beats)

    def silent_s(self) -> float:
        """Seconds since the last beat."""
        return self._clock() - self.last_beat()

    # --- watching -----------------------------------------------------------------------

    async def check(self) -> bool:
        """Trip if the heartbeat has been silent longer than the window; True once tripped."""
        if self._tripping:
            return True
        silent = self.silent_s()
        if silent > self.window_s:
            await self.trip(
                f"supervisor heartbeat silent for {silent:.1f} s (> {self.window_s:g} s)"
            )
        return self._tripping

    def watch_task(self, task: asyncio.Task[object]) -> None:
        """Trip when ``task`` (the supervisor's) ends with an exception; cancellation is a stop."""

        def done(finished: asyncio.Task[object]) -> None:
            if finished.cancelled():
                return
            exc = finished.exception()
            if exc is None:
                return
            why = f"supervisor task {finished.get_name()!r} died: {type(exc).__name__}: {exc}"
            trip = asyncio.get_running_loop().create_task(self.trip(why), name="exit-failsafe-trip")
            self._trips.add(trip)
            trip.add_done_callback(self._trips.discard)

        task.add_done_callback(done)

    async def run(self, bus: Bus | None = None) -> None:
        """Check every ``check_every_s`` until cancelled; ``SupervisorAlive`` on ``bus`` beats."""
        sub = bus.subscribe(SupervisorAlive, maxsize=16, name="exit-failsafe") if bus else None
        try:
            async with asyncio.TaskGroup() as group:
                if sub is not None:
                    group.create_task(self._listen(sub), name="exit-failsafe-listen")
                self.ready.set()
                while True:
                    await self.check()
                    await asyncio.sleep(self.check_every_s)
        finally:
            self.ready.clear()
            if sub is not None:
                sub.close()
            await self.settle()

    async def settle(self) -> None:
        """Wait for trips started by ``watch_task`` (an emergency under way is never abandoned)."""
        while self._trips:
            pending = set(self._trips)
            await asyncio.wait(pending)
            self._trips -= pending

    async def _listen(self, sub: Subscription) -> None:
        async for _ in sub:
            self.beat()

    # --- acting -------------------------------------------------------------------------

    async def trip(self, reason: str) -> None:
        """Put every gate into emergency now (once; later calls only log)."""
        if self._tripping:
            _LOGGER.info("exit fail-safe already tripped; also: %s", reason)
            return
        self._tripping = True
        self.reason = reason
        _LOGGER.error("exit fail-safe: %s: releasing every gate", reason)
        try:
            async with asyncio.timeout(self.emergency_timeout_s):
                await self.gates.emergency(f"fail-safe: {reason}")
        except Exception as exc:
            _LOGGER.critical("exit fail-safe: emergency command failed: %s", exc)
        finally:
            self.tripped.set()

    async def release(self, *, locked: bool = False, reason: str = "fail-safe released") -> None:
        """End a fail-safe emergency on command; the heartbeat window starts again now."""
        await self.gates.clear_emergency(locked=locked, reason=reason)
        self._tripping = False
        self.tripped.clear()
        self.reason = ""
        self._since = self._clock()
        self._beat = None
        _LOGGER.warning("exit fail-safe released: %s", reason)
