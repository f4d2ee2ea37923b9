"""NUT as the peer: snmp-ups (mibs = ietf) polls the agent, upsd serves it, upsc reads it.

The simulator runs on a manual clock, so nothing drifts between NUT's poll
and the comparison; time moves only where the test moves it. Expected
values come from the default unit (900 W load = 1000 W from a 900 Wh
battery, 150 W charger, low battery at 2 minutes).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sim_devices.clock import ManualClock
from sim_devices.ups import UpsConfig, UpsSimulator

SNMP_UPS = Path("/lib/nut/snmp-ups")
UPSD = Path("/lib/nut/upsd")

pytestmark = [
    pytest.mark.peer,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (
            SNMP_UPS.exists() and UPSD.exists() and shutil.which("upsc") and shutil.which("upscmd")
        ),
        reason="NUT (nut-server, nut-snmp, nut-client) not installed",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="the NUT daemons are run as root here"),
]

Vars = dict[str, str]


def flags(variables: Vars) -> set[str]:
    return set(variables.get("ups.status", "").split())


@dataclass
class Nut:
    env: dict[str, str]
    port: int
    driver: asyncio.subprocess.Process
    upsd: asyncio.subprocess.Process
    tmp: Path

    async def upsc(self) -> Vars | None:
        proc = await asyncio.create_subprocess_exec(
            "upsc", f"sim@127.0.0.1:{self.port}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=self.env,
        )  # fmt: skip
        async with asyncio.timeout(10):
            out, _ = await proc.communicate()
        if proc.returncode != 0:
            return None
        pairs = (line.split(": ", 1) for line in out.decode().splitlines() if ": " in line)
        return {key: value for key, value in pairs}

    async def wait(self, condition: Callable[[Vars], bool], within_s: float = 20.0) -> Vars:
        """Poll upsc until ``condition`` holds; fail with the last variables seen."""
        last: Vars | None = None
        try:
            async with asyncio.timeout(within_s):
                while True:
                    last = await self.upsc()
                    if last is not None and condition(last):
                        return last
                    await asyncio.sleep(0.1)  # poll interval, not synchronisation
        except TimeoutError:
            logs = (self.tmp / "driver.log").read_text(errors="replace")[-2000:]
            raise AssertionError(f"NUT never got there; last upsc: {last}\n{logs}") from None


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[UpsSimulator]:
    async with UpsSimulator(UpsConfig(), clock=clock) as simulator:
        yield simulator


@pytest.fixture
async def nut(sim: UpsSimulator, tmp_path: Path, free_tcp_port: int) -> AsyncIterator[Nut]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (tmp_path / "ups.conf").write_text(
        "pollinterval = 1\n"
        "[sim]\n"
        "  driver = snmp-ups\n"
        f"  port = 127.0.0.1:{sim.port}\n"
        "  community = private\n"  # the write community: load.off below is a SET
        "  snmp_version = v2c\n"
        "  mibs = ietf\n"
        # snmp-ups 2.8.0 re-reads everything, status included, only when
        # time() > last poll + pollfreq (whole seconds): pollfreq 0 polls every
        # pollinterval (1 s); the default 30 s / 2 s notices a power cut after ~32 s.
        "  pollfreq = 0\n"
    )
    (tmp_path / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {free_tcp_port}\nSTATEPATH {state}\n")
    (tmp_path / "upsd.users").write_text("[admin]\n  password = secret\n  instcmds = ALL\n")
    for name in ("ups.conf", "upsd.conf", "upsd.users"):
        (tmp_path / name).chmod(0o600)
    env = {**os.environ, "NUT_CONFPATH": str(tmp_path), "NUT_STATEPATH": str(state)}
    driver_log = (tmp_path / "driver.log").open("wb")
    upsd_log = (tmp_path / "upsd.log").open("wb")
    driver = await asyncio.create_subprocess_exec(
        str(SNMP_UPS), "-a", "sim", "-u", "root", "-F",
        env=env, stdout=driver_log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    upsd = await asyncio.create_subprocess_exec(
        str(UPSD), "-F", "-u", "root",
        env=env, stdout=upsd_log, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        yield Nut(env, free_tcp_port, driver, upsd, tmp_path)
    finally:
        await _stop(upsd)
        await _stop(driver)
        driver_log.close()
        upsd_log.close()


async def test_nut_follows_grid_battery_and_recovery(
    sim: UpsSimulator, clock: ManualClock, nut: Nut
) -> None:
    online = await nut.wait(lambda v: flags(v) == {"OL"})
    assert online["driver.version.data"].startswith("ietf MIB")
    assert online["device.mfr"] == "walkout"
    assert online["ups.model"] == "SIM-3000RM"
    assert online["battery.charge"] == "100"
    assert online["battery.runtime"] == "3240"  # 54 min
    assert online["battery.runtime.low"] == "120"
    assert online["input.voltage"] == "230"
    assert online["input.frequency"] == "50"
    assert online["ups.load"] == "33"
    assert online["output.realpower.nominal"] == "2700"

    sim.cut_grid()
    on_battery = await nut.wait(lambda v: flags(v) == {"OB"})
    assert on_battery["input.voltage"] == "0"
    assert on_battery["battery.charge"] == "100"

    # 52.5 min at 1000 W leaves 25 Wh: 1.5 min of runtime, below the 2 min threshold
    clock.advance(52.5 * 60)
    low = await nut.wait(lambda v: flags(v) == {"OB", "LB"})
    state = sim.state()
    assert low["battery.charge"] == str(state["charge_pct"]) == "3"  # 25/900
    assert low["battery.runtime"] == str(60 * state["runtime_min"]) == "120"  # rounded up

    sim.restore_grid()
    back = await nut.wait(lambda v: "OL" in flags(v))
    assert flags(back) == {"OL", "LB"}  # still low until the charger catches up
    clock.advance(600)  # +25 Wh at 150 W: 50 Wh = 3 min at 1000 W
    charged = await nut.wait(lambda v: flags(v) == {"OL"})
    assert charged["battery.charge"] == "6"  # 50/900
    assert charged["battery.runtime"] == "180"

    sim.set_input_voltage(215)
    sim.set_load_w(450)  # 17 % of 2700 W; 50 Wh now last 6 min at 500 W
    sagged = await nut.wait(lambda v: v.get("input.voltage") == "215" and v["ups.load"] == "17")
    assert sagged["output.realpower"] == "450"
    assert sagged["battery.runtime"] == "360"

    # load.off: NUT sets upsShutdownAfterDelay to 0 and the output goes off
    proc = await asyncio.create_subprocess_exec(
        "upscmd", "-u", "admin", "-p", "secret", f"sim@127.0.0.1:{nut.port}", "load.off",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=nut.env,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    off = await nut.wait(lambda v: flags(v) == {"OFF"})
    assert off["ups.load"] == "0"
    assert sim.state()["output_on"] is False
    assert flags(sagged) == {"OL"}  # 215 V is inside the 170-280 V window
