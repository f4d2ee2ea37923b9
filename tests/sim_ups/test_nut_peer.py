"""NUT as the peer: snmp-ups (mibs = ietf) polls the agent, upsd serves it, upsc reads it.

The simulator runs on a manual clock, so nothing drifts between NUT's poll
and the comparison; time moves only where the test moves it. Expected
values come from the default unit (900 W load = 1000 W from a 900 Wh
battery, 150 W charger, low battery at 2 minutes). NUT starts and stops in a
worker thread: NutServer's waits block, and the simulator that snmp-ups polls
runs on this test's event loop.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from ups_nut.nutserver import NUT_BIN, NutServer, NutServerError, NutUser, UpsSection, nut_missing

from sim_devices.clock import ManualClock
from sim_devices.ups import UpsSimulator


def _missing() -> str | None:
    if (why := nut_missing()) is not None:
        return why
    if not (NUT_BIN / "snmp-ups").exists():
        return f"{NUT_BIN / 'snmp-ups'} not installed (Debian nut-snmp)"
    if shutil.which("upscmd") is None:
        return "upscmd not installed (Debian nut-client)"
    return None


MISSING = _missing()
pytestmark = [
    pytest.mark.peer,
    pytest.mark.slow,
    pytest.mark.skipif(MISSING is not None, reason=str(MISSING)),
]

Vars = dict[str, str]


def flags(variables: Vars) -> set[str]:
    return set(variables.get("ups.status", "").split())


async def wait(nut: NutServer, condition: Callable[[Vars], bool], within_s: float = 20.0) -> Vars:
    """Poll upsc until ``condition`` holds; fail with the last variables seen."""
    last: Vars | None = None
    try:
        async with asyncio.timeout(within_s):
            while True:
                try:
                    last = await asyncio.to_thread(nut.upsc, "sim")
                except NutServerError:
                    last = None
                if last is not None and condition(last):
                    return last
                await asyncio.sleep(0.1)  # poll interval, not synchronisation
    except TimeoutError:
        logs = nut.log_tail("sim", 2000)
        raise AssertionError(f"NUT never got there; last upsc: {last}\n{logs}") from None


@pytest.fixture
async def nut(sim: UpsSimulator, tmp_path: Path) -> AsyncIterator[NutServer]:
    section = UpsSection(
        "sim",
        "snmp-ups",
        {
            "port": f"127.0.0.1:{sim.port}",
            "community": "private",  # the write community: load.off below is a SET
            "snmp_version": "v2c",
            "mibs": "ietf",
            # snmp-ups 2.8.0 re-reads everything, status included, only when
            # time() > last poll + pollfreq (whole seconds): pollfreq 0 polls every
            # pollinterval (1 s); the default 30 s / 2 s notices a power cut after ~32 s.
            "pollfreq": "0",
        },
    )
    admin = NutUser("admin", "secret", upsmon=None, instcmds="ALL")
    server = NutServer(tmp_path, [section], users=[admin], driver_globals={"pollinterval": "1"})
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def test_nut_follows_grid_battery_and_recovery(
    sim: UpsSimulator, clock: ManualClock, nut: NutServer
) -> None:
    online = await wait(nut, lambda v: flags(v) == {"OL"})
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
    on_battery = await wait(nut, lambda v: flags(v) == {"OB"})
    assert on_battery["input.voltage"] == "0"
    assert on_battery["battery.charge"] == "100"

    # 52.5 min at 1000 W leaves 25 Wh: 1.5 min of runtime, below the 2 min threshold
    clock.advance(52.5 * 60)
    low = await wait(nut, lambda v: flags(v) == {"OB", "LB"})
    state = sim.state()
    assert low["battery.charge"] == str(state["charge_pct"]) == "3"  # 25/900
    assert low["battery.runtime"] == str(60 * state["runtime_min"]) == "120"  # rounded up

    sim.restore_grid()
    back = await wait(nut, lambda v: "OL" in flags(v))
    assert flags(back) == {"OL", "LB"}  # still low until the charger catches up
    clock.advance(600)  # +25 Wh at 150 W: 50 Wh = 3 min at 1000 W
    charged = await wait(nut, lambda v: flags(v) == {"OL"})
    assert charged["battery.charge"] == "6"  # 50/900
    assert charged["battery.runtime"] == "180"

    sim.set_input_voltage(215)
    sim.set_load_w(450)  # 17 % of 2700 W; 50 Wh now last 6 min at 500 W
    sagged = await wait(nut, lambda v: v.get("input.voltage") == "215" and v["ups.load"] == "17")
    assert sagged["output.realpower"] == "450"
    assert sagged["battery.runtime"] == "360"

    # load.off: NUT sets upsShutdownAfterDelay to 0 and the output goes off
    proc = await asyncio.create_subprocess_exec(
        "upscmd", "-u", "admin", "-p", "secret", f"sim@127.0.0.1:{nut.port}", "load.off",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=nut.env,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    off = await wait(nut, lambda v: flags(v) == {"OFF"})
    assert off["ups.load"] == "0"
    assert sim.state()["output_on"] is False
    assert flags(sagged) == {"OL"}  # 215 V is inside the 170-280 V window
