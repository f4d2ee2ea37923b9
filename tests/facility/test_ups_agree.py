"""Two roads to one UPS agree: walkout's SNMP driver, and NUT (snmp-ups -> upsd) read by
walkout's NUT client, on the UPS simulator through grid loss, low battery and recovery.

NUT's snmp-ups is net-snmp based and independent of both the simulator (hand-written BER)
and walkout's SNMP driver (pysnmp); upsc, NUT's own client, is checked along the way.
The simulator runs as its own process on a manual clock (``advance`` drains the battery)
because NutServer's start-up waits are blocking.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from ups_nut.nutserver import NutServer, UpsSection, nut_missing

from devices.snmp import Community, SnmpTarget
from devices.ups.nut import NutConnection, NutUps
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading, UpsStatus
from sim_devices.control import ControlClient
from sim_devices.ups.process import UpsSimulatorProcess

pytestmark = [pytest.mark.peer, pytest.mark.slow]

if (why := nut_missing()) is not None or not Path("/lib/nut/snmp-ups").exists():
    pytest.skip(why or "/lib/nut/snmp-ups not installed (Debian nut-snmp)", allow_module_level=True)


@pytest.fixture
async def ups() -> AsyncIterator[UpsSimulatorProcess]:
    async with UpsSimulatorProcess(["--manual-clock"]) as sim:
        yield sim


@pytest.fixture
def nut(ups: UpsSimulatorProcess, tmp_path: Path) -> Iterator[NutServer]:
    section = UpsSection(
        "rack",
        "snmp-ups",
        {
            "port": f"127.0.0.1:{ups.snmp_port}",
            "community": "public",
            "snmp_version": "v2c",
            "mibs": "ietf",
            "pollfreq": "0",  # snmp-ups 2.8 refreshes status only every pollfreq s otherwise
        },
    )
    with NutServer(tmp_path, [section], driver_globals={"pollinterval": "1"}) as server:
        yield server


@contextlib.asynccontextmanager
async def drivers(
    ups: UpsSimulatorProcess, nut: NutServer
) -> AsyncIterator[tuple[SnmpUps, NutUps]]:
    snmp = SnmpUps("ups-snmp", SnmpTarget("127.0.0.1", ups.snmp_port), Community("public"))
    connection = NutConnection("127.0.0.1", nut.port)
    try:
        await snmp.connect()
        yield snmp, NutUps("ups-nut", connection, "rack")
    finally:
        await snmp.close()
        await connection.close()


async def settled(
    nut_ups: NutUps, snmp: SnmpUps, status: UpsStatus
) -> tuple[UpsReading, UpsReading]:
    """Both roads once NUT reports ``status`` (snmp-ups polls every second)."""
    async with asyncio.timeout(20):
        while True:
            via_nut = await nut_ups.read()
            if via_nut.status is status:
                return via_nut, await snmp.read()
            await asyncio.sleep(0.2)  # upsd has no push: ask again, as upsmon does


def assert_agree(via_nut: UpsReading, via_snmp: UpsReading) -> None:
    assert via_snmp.status is via_nut.status
    assert via_snmp.charge_pct == pytest.approx(via_nut.charge_pct, abs=1)
    assert via_snmp.runtime_s == pytest.approx(via_nut.runtime_s, abs=60)
    assert via_snmp.input_v == pytest.approx(via_nut.input_v, abs=1)
    assert via_snmp.load_pct == pytest.approx(via_nut.load_pct, abs=1)


async def test_snmp_and_nut_agree_through_grid_loss_and_low_battery(
    ups: UpsSimulatorProcess, nut: NutServer
) -> None:
    async with drivers(ups, nut) as (snmp, nut_ups), ControlClient(ups.control_port) as control:
        via_nut, via_snmp = await settled(nut_ups, snmp, UpsStatus.ON_LINE)
        assert_agree(via_nut, via_snmp)
        assert nut.upsc("rack")["ups.status"] == "OL"

        await control.request("grid_off")
        via_nut, via_snmp = await settled(nut_ups, snmp, UpsStatus.ON_BATTERY)
        assert_agree(via_nut, via_snmp)
        assert set(nut.upsc("rack")["ups.status"].split()) == {"OB"}

        await control.request("set_charge", charge_pct=3)
        via_nut, via_snmp = await settled(nut_ups, snmp, UpsStatus.LOW_BATTERY)
        assert_agree(via_nut, via_snmp)
        assert set(nut.upsc("rack")["ups.status"].split()) == {"OB", "LB"}

        await control.request("grid_on")
        via_nut, via_snmp = await settled(nut_ups, snmp, UpsStatus.ON_LINE)
        assert via_snmp.status is UpsStatus.ON_LINE
        assert "OL" in nut.upsc("rack")["ups.status"].split()
