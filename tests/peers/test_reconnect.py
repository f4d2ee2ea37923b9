"""The driver stack survives the simulator PROCESS being killed and started again.

A real shelf controller gets power-cycled, a TCP gateway reboots: the socket dies without
a goodbye. Here the simulator runs as its own process on a fixed port; SIGKILL takes it
down (no FIN from an orderly shutdown path of ours, no chance to answer anything) and a
new process comes up on the same port. The coordinator must report the unit OFFLINE,
keep its retries bounded by the backoff caps while the port refuses connections, and
come back ONLINE with fresh readings by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from devices.backoff import Backoff
from devices.bus import Bus, Message, Subscription
from devices.coordinator import PollingCoordinator
from devices.health import HealthChanged, HealthState
from devices.modbus.link import TcpLink
from devices.profiles import get_profile
from devices.scale import ModbusScale, ScaleReading, ShelfWeights, shelf_weights
from sim_devices.control import ControlClient
from sim_devices.process import SimulatorProcess

READY_TIMEOUT_S = 10.0
EVENT_TIMEOUT_S = 5.0
RATE_HZ = 10.0
CELLS = [0, 1, 2, 3]


class CountingLink(TcpLink):
    """A TcpLink that counts its attempts to open a connection."""

    opens = 0

    async def _open(self) -> None:
        self.opens += 1
        await super()._open()


class TimedScale(ModbusScale):
    """A ModbusScale that notes when each read (each poll) started."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_starts: list[float] = []
        self._polled = asyncio.Event()

    async def read(self) -> ScaleReading:
        self.read_starts.append(time.monotonic())
        self._polled.set()
        return await super().read()

    async def wait_for_reads(self, count: int, timeout_s: float) -> None:
        """Wait until ``count`` reads have started in all."""
        try:
            async with asyncio.timeout(timeout_s):
                while len(self.read_starts) < count:
                    self._polled.clear()
                    await self._polled.wait()
        except TimeoutError:
            pytest.fail(f"{len(self.read_starts)} of {count} polls within {timeout_s} s")


@pytest.fixture
def scenario(tmp_path: Path, free_tcp_port: int) -> Path:
    path = tmp_path / "scenario.yaml"
    unit = {
        "unit_id": 1,
        "model": "mc10",
        "cells": 4,
        "length_m": 1.2,
        "sigma_g": 0.0,
        "drift_g_per_h": 0.0,
        "items": [{"weight_g": 500.0, "position_m": 0.3, "label": "jar"}],
    }
    servers = [{"kind": "tcp", "host": "127.0.0.1", "port": free_tcp_port, "units": [unit]}]
    path.write_text(yaml.safe_dump({"name": "reconnect", "servers": servers}), encoding="utf-8")
    return path


@pytest.fixture
async def sim(scenario: Path, tmp_path: Path) -> AsyncIterator[SimulatorProcess]:
    """The simulator process; the test starts, kills and restarts it (log in sim.log)."""
    with (tmp_path / "sim.log").open("ab") as log:
        process = SimulatorProcess(scenario, stderr=log, ready_timeout_s=READY_TIMEOUT_S)
        try:
            yield process
        finally:
            await process.kill()


@contextlib.asynccontextmanager
async def running(coordinator: PollingCoordinator) -> AsyncIterator[None]:
    task = asyncio.create_task(coordinator.run(), name="coordinator")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_message(
    sub: Subscription, match: Callable[[Message], bool], what: str, seen: list[Message]
) -> Message:
    """The next message on ``sub`` that ``match``es; every message read is added to ``seen``."""
    try:
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while True:
                message = await sub.get()
                seen.append(message)
                if match(message):
                    return message
    except TimeoutError:
        pytest.fail(f"no {what} within {EVENT_TIMEOUT_S} s; last messages: {seen[-5:]}")


def health_is(state: HealthState) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, HealthChanged) and m.health.state is state


def shelf_emitter(reading: ScaleReading) -> list[Message]:
    return [shelf_weights(reading, "A1", CELLS, {})]


async def test_back_online_after_the_process_is_killed_and_restarted(
    sim: SimulatorProcess, free_tcp_port: int
) -> None:
    ready = await sim.start()
    assert ready["servers"][0]["port"] == free_tcp_port
    link = TcpLink(
        "gw",
        "127.0.0.1",
        free_tcp_port,
        timeout_s=0.3,
        backoff=Backoff(initial_s=0.1, cap_s=0.5),
    )
    scale = ModbusScale("sc-01", link, 1, get_profile("mc10"), CELLS)
    bus = Bus()
    sub = bus.subscribe(maxsize=10_000)
    coordinator = PollingCoordinator(bus, offline_backoff_cap_s=0.5)
    job = coordinator.add(scale, RATE_HZ, shelf_emitter)
    seen: list[Message] = []
    try:
        async with running(coordinator):
            await next_message(sub, health_is(HealthState.ONLINE), "first ONLINE", seen)

            await sim.kill()
            t_killed = time.monotonic()
            offline = await next_message(sub, health_is(HealthState.OFFLINE), "OFFLINE", seen)
            assert isinstance(offline, HealthChanged)
            assert offline.health.device_id == "sc-01"
            reason = offline.health.reason.lower()
            assert "link" in reason or "connect" in reason, reason
            assert f"127.0.0.1:{free_tcp_port}" in offline.health.reason
            assert offline.health.stale_since is not None
            assert offline.health.stale_since <= t_killed  # the last good reading came before
            assert offline.health.consecutive_failures >= 3

            ready = await sim.start()
            t_restarted = time.monotonic()
            assert ready["servers"][0]["port"] == free_tcp_port
            start = len(seen)
            await next_message(sub, health_is(HealthState.ONLINE), "ONLINE again", seen)
            fresh = await next_message(
                sub,
                lambda m: isinstance(m, ShelfWeights) and m.t_mono > t_restarted,
                "a ShelfWeights read from the new process",
                seen,
            )
            # While it was down nothing posed as a reading.
            outage = seen[seen.index(offline) : start]
            assert not [m for m in outage if isinstance(m, ShelfWeights)]
            async with ControlClient(ready["control_port"]) as control:
                (server,) = await control.state(1, server=0)
            expected = server["units"][0]["weights_g"]
            assert isinstance(fresh, ShelfWeights)
            assert list(fresh.weights_g) == pytest.approx(expected, abs=0.01)
            assert fresh.total_g == pytest.approx(500.0, abs=0.01)  # no gain errors here
            assert job.tracker.health.state is HealthState.ONLINE
    finally:
        sub.close()
        await link.close()


async def test_backoff_caps_bound_the_attempts_while_the_process_is_down(
    sim: SimulatorProcess, free_tcp_port: int
) -> None:
    """10 Hz polling of a dead unit turns into a few capped retries, then recovers quickly."""
    coordinator_cap_s, link_cap_s, jitter = 0.5, 0.5, 0.2
    retries = 5  # after OFFLINE: 0.2, 0.4, then capped at 0.5 s (+-20 %); uncapped: 0.8, 1.6
    await sim.start()
    link = CountingLink(
        "gw",
        "127.0.0.1",
        free_tcp_port,
        timeout_s=0.3,
        backoff=Backoff(initial_s=0.2, cap_s=link_cap_s, jitter=jitter),
    )
    scale = TimedScale("sc-01", link, 1, get_profile("mc10"), CELLS)
    bus = Bus()
    sub = bus.subscribe(maxsize=10_000)
    coordinator = PollingCoordinator(bus, offline_backoff_cap_s=coordinator_cap_s)
    job = coordinator.add(scale, RATE_HZ, shelf_emitter)
    seen: list[Message] = []
    try:
        async with running(coordinator):
            await next_message(sub, health_is(HealthState.ONLINE), "first ONLINE", seen)
            opens_before = link.opens
            await sim.kill()
            t_killed = time.monotonic()
            await next_message(sub, health_is(HealthState.OFFLINE), "OFFLINE", seen)
            offline_poll = len(scale.read_starts) - 1  # the poll that found it offline
            await scale.wait_for_reads(offline_poll + 1 + retries, timeout_s=10.0)
            polls_down = [t for t in scale.read_starts if t > t_killed]
            opens_down = link.opens - opens_before
            assert job.stats.polls == len(scale.read_starts)

            backoff = scale.read_starts[offline_poll:]
            gaps = [b - a for a, b in itertools.pairwise(backoff)]
            elapsed_s = backoff[-1] - backoff[0]
            # far fewer polls than the 10 Hz schedule would make in that time
            assert retries < RATE_HZ * elapsed_s / 3, gaps
            # the delays grow to the cap and stay there: never back at the 10 Hz period,
            # never beyond the cap (+ jitter + scheduling slack), as 0.8 s and 1.6 s would be
            assert min(gaps) >= 0.2 * (1 - jitter), gaps
            assert max(gaps) <= coordinator_cap_s * (1 + jitter) + 0.4, gaps
            assert gaps[-1] >= coordinator_cap_s * (1 - jitter), gaps
            # the link tried to connect again, but not more often than it was polled
            assert 1 <= opens_down <= len(polls_down)

            await sim.start()
            t_restarted = time.monotonic()
            await next_message(sub, health_is(HealthState.ONLINE), "ONLINE again", seen)
            recovered_s = time.monotonic() - t_restarted
            # worst case: a coordinator retry just missed, and the link's own delay too
            bound_s = (coordinator_cap_s + link_cap_s) * (1 + jitter) + 4 * link.timeout_s
            assert recovered_s < bound_s
            assert job.tracker.health.state is HealthState.ONLINE
    finally:
        sub.close()
        await link.close()
