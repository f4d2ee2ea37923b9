"""Helpers for the actuation tests: requests, outcome collection, ports that block or fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from devices.bus import Bus, Subscription
from facility.actuation import ActionOutcome, Actuator


class Outcomes:
    """Every ActionOutcome published, waited on by kind."""

    def __init__(self, bus: Bus) -> None:
        self.sub: Subscription = bus.subscribe(ActionOutcome, maxsize=1000, name="test-outcomes")
        self.seen: list[ActionOutcome] = []
        self._unclaimed: list[ActionOutcome] = []

    async def next(self, kind: str, timeout_s: float = 5.0) -> ActionOutcome:
        """The oldest outcome of ``kind`` not returned yet; all arrivals are kept in ``seen``."""
        async with asyncio.timeout(timeout_s):
            while True:
                for index, outcome in enumerate(self._unclaimed):
                    if outcome.kind == kind:
                        del self._unclaimed[index]
                        return outcome
                message = await self.sub.get()
                assert isinstance(message, ActionOutcome)
                self.seen.append(message)
                self._unclaimed.append(message)

    def close(self) -> None:
        self.sub.close()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
async def outcomes(bus: Bus) -> AsyncIterator[Outcomes]:
    watcher = Outcomes(bus)
    yield watcher
    watcher.close()


async def running(actuator: Actuator) -> asyncio.Task[None]:
    """Start ``actuator.run()`` and wait until it listens."""
    task = asyncio.create_task(actuator.run(), name="test-actuator")
    async with asyncio.timeout(5):
        await actuator.ready.wait()
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "") -> None:
    """Poll ``condition`` on the event loop (for states only a device poll can change)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what or 'condition'} not reached within {timeout_s} s")
        await asyncio.sleep(0.01)


class Entry:
    """An EntryControl that records, and can hold a call until told."""

    def __init__(self) -> None:
        self.calls: list[bool] = []
        self.locked: bool = False
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.emergencies: list[str] = []

    async def set_locked(self, locked: bool, reason: str) -> None:
        self.calls.append(locked)
        self.entered.set()
        if self.hold is not None:
            hold, self.hold = self.hold, None
            await hold.wait()
        self.locked = locked

    def entry_locked(self) -> bool | None:
        return None if self.emergencies else self.locked

    async def emergency(self, reason: str) -> None:
        self.emergencies.append(reason)

    def in_emergency(self) -> bool:
        return bool(self.emergencies)

    async def clear_emergency(self, *, locked: bool, reason: str) -> None:
        self.emergencies.clear()
        self.locked = locked
