"""The exit fail-safe's watchdog on an injected clock, a bus heartbeat and a dying task."""

from __future__ import annotations

import asyncio
from functools import partial

import pytest

from devices.bus import Bus
from facility.actuation import ExitFailsafe, SupervisorAlive
from sim_devices.clock import ManualClock

from .conftest import Entry, eventually


async def test_silence_longer_than_the_window_trips_once() -> None:
    clock = ManualClock(start=0.0)
    gates = Entry()
    failsafe = ExitFailsafe(gates, window_s=10.0, clock=clock)
    clock.advance(6.0)
    failsafe.beat()  # at 6
    clock.advance(10.0)  # 16: silent exactly 10 s
    assert not await failsafe.check()
    assert failsafe.silent_s() == 10.0
    clock.advance(0.1)
    assert await failsafe.check()
    assert failsafe.tripped.is_set()
    assert len(gates.emergencies) == 1
    assert gates.emergencies[0].startswith("fail-safe: supervisor heartbeat silent for 10.1 s")
    failsafe.beat()  # a heartbeat that comes back does not end the emergency
    clock.advance(1.0)
    assert await failsafe.check()
    assert len(gates.emergencies) == 1
    assert gates.in_emergency()

    await failsafe.release(locked=True, reason="operator checked the store")
    assert not gates.in_emergency()
    assert gates.locked
    clock.advance(10.0)  # the window restarts at the release
    assert not await failsafe.check()


async def test_a_supervisor_that_never_beats_trips_after_the_window() -> None:
    clock = ManualClock(start=50.0)
    gates = Entry()
    failsafe = ExitFailsafe(gates, window_s=5.0, clock=clock, heartbeat=lambda: None)
    clock.advance(5.5)
    assert await failsafe.check()
    assert gates.emergencies


async def test_heartbeat_callable_counts() -> None:
    clock = ManualClock(start=0.0)
    last = {"t": 0.0}
    gates = Entry()
    failsafe = ExitFailsafe(gates, window_s=5.0, clock=clock, heartbeat=lambda: last["t"])
    for _ in range(4):
        clock.advance(4.0)
        last["t"] = clock.now
        assert not await failsafe.check()
    clock.advance(5.5)
    assert await failsafe.check()


def seen(failsafe: ExitFailsafe, beat: float) -> bool:
    return failsafe.last_beat() == beat


async def test_run_beats_on_bus_heartbeats_and_trips_when_they_stop() -> None:
    bus = Bus()
    gates = Entry()
    clock = ManualClock(start=0.0)
    failsafe = ExitFailsafe(gates, window_s=10.0, check_every_s=0.01, clock=clock)
    task = asyncio.create_task(failsafe.run(bus))
    try:
        async with asyncio.timeout(5):
            await failsafe.ready.wait()
        for beat in (8.0, 16.0, 24.0):  # each within the window of the one before
            clock.now = beat
            await bus.publish(SupervisorAlive(source="supervisor", t_mono=0.0))
            await eventually(partial(seen, failsafe, beat), what=f"beat at {beat}")
            assert not failsafe.tripped.is_set()
        clock.now = 34.5
        async with asyncio.timeout(5):
            await failsafe.tripped.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(gates.emergencies) == 1
    assert "heartbeat silent for 10.5 s" in failsafe.reason


async def test_a_supervisor_task_that_dies_trips_at_once() -> None:
    gates = Entry()
    failsafe = ExitFailsafe(gates, window_s=3600.0)

    async def supervisor() -> None:
        raise RuntimeError("KeyError in a rule")

    task = asyncio.create_task(supervisor(), name="supervisor")
    failsafe.watch_task(task)
    async with asyncio.timeout(5):
        await failsafe.tripped.wait()
    await failsafe.settle()
    with pytest.raises(RuntimeError):
        await task
    assert failsafe.reason == "supervisor task 'supervisor' died: RuntimeError: KeyError in a rule"
    assert len(gates.emergencies) == 1


async def test_a_cancelled_supervisor_task_is_an_orderly_stop() -> None:
    gates = Entry()
    failsafe = ExitFailsafe(gates, window_s=3600.0)
    task = asyncio.create_task(asyncio.Event().wait(), name="supervisor")
    failsafe.watch_task(task)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await failsafe.settle()
    assert not failsafe.tripped.is_set()
    assert gates.emergencies == []


def test_bad_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window_s must be > 0"):
        ExitFailsafe(Entry(), window_s=0.0)
