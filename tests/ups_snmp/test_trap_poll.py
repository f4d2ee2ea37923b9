"""A trap makes the UPS poll at once instead of at its next slot.

The poll loop runs with a 60 s period: after the first poll, a second reading
can only come that soon because the trap (sent by net-snmp's snmptrap from
127.0.0.1, the UPS's address) asked for it. Everything waits on bus messages
with a deadline far below the period; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time

import pytest
from peers.snmpsim import free_udp_port

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.health import HealthChanged, HealthState
from devices.snmp import Community, SnmpTarget
from devices.snmp.traps import TrapReceiver
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading, UpsTrap
from devices.ups.trap_poll import UpsPollLoop, UpsTrapRouter

from .conftest import Agent

PERIOD_S = 60.0
DEADLINE_S = 10.0  # far below the period: a poll inside it was brought forward

needs_snmptrap = pytest.mark.skipif(
    shutil.which("snmptrap") is None, reason="net-snmp's snmptrap is not installed (apt: snmp)"
)


async def snmptrap(port: int, trap_oid: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "snmptrap",
        "-v2c",
        "-c",
        "public",
        f"127.0.0.1:{port}",
        "",
        trap_oid,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(proc.wait(), DEADLINE_S) == 0


@contextlib.asynccontextmanager
async def running(*coros):
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@needs_snmptrap
async def test_trap_triggers_an_immediate_poll(snmpsim_agent: Agent):
    bus = Bus()
    readings = bus.subscribe(UpsReading, name="readings")
    traps = bus.subscribe(UpsTrap, name="traps")
    ups = SnmpUps("ups-1", snmpsim_agent.target(), Community("ietf-onbattery-alarms"))
    loop = UpsPollLoop(PollingCoordinator(bus), ups, rate_hz=1 / PERIOD_S)
    router = UpsTrapRouter(bus, [ups])
    try:
        async with (
            TrapReceiver("127.0.0.1", 0, ["public"]) as receiver,
            running(loop.run(), router.run(receiver)),
        ):
            first = await asyncio.wait_for(readings.get(), DEADLINE_S)
            assert isinstance(first, UpsReading)
            assert loop.stats.scheduled == 1
            sent = time.monotonic()
            await snmptrap(receiver.port, "1.3.6.1.2.1.33.2.1")
            message = await asyncio.wait_for(traps.get(), DEADLINE_S)
            second = await asyncio.wait_for(readings.get(), DEADLINE_S)
        assert isinstance(message, UpsTrap)
        assert (message.name, message.source, message.oid) == (
            "upsTrapOnBattery",
            "ups-1",
            "1.3.6.1.2.1.33.2.1",
        )
        assert isinstance(second, UpsReading)
        assert second.t_mono > sent  # a new poll, after the trap
        assert second.t_mono - first.t_mono < PERIOD_S
        assert loop.stats.triggered == 1
        assert loop.stats.scheduled == 1
        assert second.status.value == "low_battery"
    finally:
        await ups.close()


async def test_trap_from_an_unknown_sender_is_counted(snmpsim_agent: Agent):
    bus = Bus()
    ups = SnmpUps("ups-1", SnmpTarget("192.0.2.10"), Community("x"))
    router = UpsTrapRouter(bus, [ups])
    from devices.snmp.traps import Trap

    out = await router.handle(Trap(("127.0.0.1", 1234), "2c", "1.3.6.1.2.1.33.2.1", 5))
    assert out == []
    assert router.stats.unknown_sender == 1
    assert not ups.poll_requested.is_set()


async def test_dead_agent_goes_offline_and_a_trap_still_wakes_the_loop():
    # Nothing listens on this port: every read times out. Offline, the loop waits out a
    # backoff of at least 24 s (period 60 s, capped at 30 s, +-20 % jitter), but a
    # requested poll runs at once.
    bus = Bus()
    health = bus.subscribe(HealthChanged, name="health")
    target = SnmpTarget("127.0.0.1", free_udp_port(), timeout_s=0.05, retries=0)
    ups = SnmpUps("ups-dead", target, Community("public"))
    loop = UpsPollLoop(PollingCoordinator(bus), ups, rate_hz=1 / PERIOD_S, offline_backoff_cap_s=30)
    try:
        async with running(loop.run()):
            changed = await asyncio.wait_for(health.get(), DEADLINE_S)
            assert isinstance(changed, HealthChanged)
            assert changed.health.state is HealthState.OFFLINE
            assert "no usable answer" in changed.health.reason
            assert loop.job.stats.polls == 1
            ups.request_poll()
            deadline = time.monotonic() + DEADLINE_S
            while loop.job.stats.failures < 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
        assert loop.stats.triggered == 1
        assert loop.job.stats.polls == 2
    finally:
        await ups.close()


async def test_trap_hosts_include_the_resolved_address(snmpsim_agent: Agent):
    target = SnmpTarget("localhost", snmpsim_agent.port)
    ups = SnmpUps("by-name", target, Community("phoenixtec-power"))
    assert ups.trap_hosts == {"localhost"}
    async with ups:
        assert ups.trap_hosts == {"localhost", "127.0.0.1"}
    pinned = SnmpUps("pinned", target, Community("phoenixtec-power"), trap_hosts=["10.9.8.7"])
    async with pinned:
        assert pinned.trap_hosts == {"10.9.8.7"}
