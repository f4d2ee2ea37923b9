"""Notifications, received and decoded by net-snmp's snmptrapd (not by our own decoder)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from peers.snmpsim import free_udp_port

from sim_devices.clock import ManualClock
from sim_devices.ups import UpsConfig, UpsSimulator

from .netsnmp import needs_net_snmp, snmp

pytestmark = [pytest.mark.peer, needs_net_snmp]

UPS = r"\.1\.3\.6\.1\.2\.1\.33"
TRAP_OID = r"\.1\.3\.6\.1\.6\.3\.1\.1\.4\.1\.0 = OID: "


class TrapReceiver:
    """snmptrapd in the foreground, logging every notification to its stdout."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.text = ""

    async def wait_for(self, pattern: str, within_s: float = 5.0) -> re.Match[str]:
        """Read snmptrapd's output until ``pattern`` matches somewhere in it."""
        regex = re.compile(pattern)
        assert self.proc.stdout is not None
        async with asyncio.timeout(within_s):
            while (found := regex.search(self.text)) is None:
                chunk = await self.proc.stdout.read(65536)
                if not chunk:
                    raise AssertionError(f"snmptrapd exited; output so far:\n{self.text}")
                self.text += chunk.decode(errors="replace")
        return found

    def count(self, pattern: str) -> int:
        return len(re.findall(pattern, self.text))


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[TrapReceiver]:
    conf = tmp_path / "snmptrapd.conf"
    conf.write_text("disableAuthorization yes\n")  # log every community, v1 and v2c
    port = free_udp_port()
    proc = await asyncio.create_subprocess_exec(
        "snmptrapd", "-f", "-Lo", "-C", "-c", str(conf), "-On", "-m", "", "-M", "/dev/null",
        f"udp:127.0.0.1:{port}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    trapd = TrapReceiver(proc, port)
    try:
        await trapd.wait_for(r"NET-SNMP version")  # printed once it listens
        yield trapd
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.communicate()


@pytest.fixture
async def sim(clock: ManualClock, receiver: TrapReceiver) -> AsyncIterator[UpsSimulator]:
    traps = [f"127.0.0.1:{receiver.port}/v2c/v2public", f"127.0.0.1:{receiver.port}/v1/v1public"]
    async with UpsSimulator(UpsConfig(), clock=clock, traps=traps) as simulator:
        yield simulator


async def test_cold_start_then_on_battery_in_both_versions(
    sim: UpsSimulator, receiver: TrapReceiver
) -> None:
    await receiver.wait_for(TRAP_OID + r"\.1\.3\.6\.1\.6\.3\.1\.1\.5\.1")  # coldStart, v2c
    await receiver.wait_for(r"Cold Start Trap \(0\)")  # v1 generic 0
    sim.cut_grid()
    v2 = await receiver.wait_for(TRAP_OID + UPS + r"\.2\.1\s+(.*)")
    assert ".1.3.6.1.2.1.33.1.2.3.0 = INTEGER: 54" in v2.group(1)  # upsEstimatedMinutesRemaining
    assert ".1.3.6.1.2.1.33.1.2.2.0 = INTEGER: 0" in v2.group(1)  # upsSecondsOnBattery
    assert ".1.3.6.1.2.1.33.1.9.7.0 = INTEGER: 2" in v2.group(1)  # upsConfigLowBattTime
    # v1: enterprise upsTraps, specific 1 (RFC 3584 3.2)
    v1 = await receiver.wait_for(
        r"TRAP, SNMP v1, community v1public\s+" + UPS + r"\.2 Enterprise Specific Trap \(1\)"
    )
    assert v1 is not None
    # upsAlarmInputBad (row 2) notifies; upsAlarmOnBattery (row 1) has the trap above instead
    added = await receiver.wait_for(TRAP_OID + UPS + r"\.2\.3\s+(.*)")
    assert ".1.3.6.1.2.1.33.1.6.2.1.1.2 = INTEGER: 2" in added.group(1)
    assert ".1.3.6.1.2.1.33.1.6.2.1.2.2 = OID: .1.3.6.1.2.1.33.1.6.3.6" in added.group(1)
    assert receiver.count(TRAP_OID + UPS + r"\.2\.3\s") == 1


async def test_alarm_removed_and_reminders(
    sim: UpsSimulator, receiver: TrapReceiver, clock: ManualClock
) -> None:
    sim.cut_grid()
    await receiver.wait_for(TRAP_OID + UPS + r"\.2\.1\s")
    clock.advance(121)
    sim.pump()
    # two reminders, one a minute, with the seconds on battery at sending time
    await receiver.wait_for(r"(?s)(" + TRAP_OID + UPS + r"\.2\.1\s.*){3}")
    sim.restore_grid()
    removed = await receiver.wait_for(
        r"(?s)" + TRAP_OID + UPS + r"\.2\.4\s.*" + TRAP_OID + UPS + r"\.2\.4\s[^\n]*"
    )
    assert ".1.3.6.1.2.1.33.1.6.2.1.2.1 = OID: .1.3.6.1.2.1.33.1.6.3.2" in removed.group(0)
    assert ".1.3.6.1.2.1.33.1.6.2.1.2.2 = OID: .1.3.6.1.2.1.33.1.6.3.6" in removed.group(0)


async def test_test_completed_after_snmpset(
    sim: UpsSimulator, receiver: TrapReceiver, clock: ManualClock
) -> None:
    result = await snmp(
        "snmpset", sim.port, "1.3.6.1.2.1.33.1.7.1.0", "o", "1.3.6.1.2.1.33.1.7.7.4",
        community="private",
    )  # fmt: skip
    assert result.code == 0, result.err
    clock.advance(10)
    sim.pump()
    done = await receiver.wait_for(TRAP_OID + UPS + r"\.2\.2\s+(.*)")
    assert ".1.3.6.1.2.1.33.1.7.3.0 = INTEGER: 1" in done.group(1)  # donePass
    assert ".1.3.6.1.2.1.33.1.7.1.0 = OID: .1.3.6.1.2.1.33.1.7.7.4" in done.group(1)
    assert '.1.3.6.1.2.1.33.1.7.4.0 = STRING: "battery ok"' in done.group(1)


async def test_targets_added_and_removed_at_run_time(
    clock: ManualClock, receiver: TrapReceiver
) -> None:
    async with UpsSimulator(UpsConfig(), clock=clock) as sim:
        target = sim.add_trap_target(f"127.0.0.1:{receiver.port}/v2c/public")
        sim.cut_grid()
        await receiver.wait_for(TRAP_OID + UPS + r"\.2\.1\s")
        sim.remove_trap_target(target)
        sim.restore_grid()
        sim.set_fault("battery_failed")  # would notify upsAlarmBatteryBad
        sim.add_trap_target(f"127.0.0.1:{receiver.port}/v2c/public")
        sim.set_fault("overload")
        await receiver.wait_for(r"OID: " + UPS + r"\.1\.6\.3\.8")  # upsAlarmOutputOverload
        assert "OID: .1.3.6.1.2.1.33.1.6.3.1" not in receiver.text  # sent while removed
        assert sim.stats()["out_traps"] == 1 + 1 + 1  # on battery, input bad, overload
