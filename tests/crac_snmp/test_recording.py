"""The SNMP CRAC driver reads the real Liebert PEX recording of snmpsim-data right.

What ``data/UPS/vertiv-power.snmprec.bz2`` really has (509 objects, 224 under
Liebert's 476 enterprise): a Liebert PEX (lgpAgentDeviceModel, firmware
"PAL 1.04.026.STD") behind an IntelliSlot Web Card 3.210.0, sysObjectID
1.3.6.1.4.1.476.1.42, sysDescr "Uninitialized".

- lgpEnvTemperatureTableDegC rows 1..5 are control, *supply air*, *return
  air*, digital scroll compressor 1 and 2: supply and return are swapped
  against the registration order of their identity OIDs (…1.1.3 at index 2,
  …1.1.2 at index 3). The supply-air row has no measurement (.3) column,
  only its setpoint (.6 = 5 °C); no row has the tenths columns (.50, .53).
- lgpEnvHumidityTableRel rows 1 control and 2 return air, 42 % RH each.
- lgpEnvState: system on(1), cooling off(2), humidifying off(2), fan on(1),
  electric heater off(2), hot water off(2); heating (…3.3) absent; fan
  capacity 100 %; lgpConditionsPresent 0 and no conditions rows.
- lgpEnvTemperatureSettingDegC 23; lgpEnvControlShutdown/StartupAfterDelay -1.

Expected values come from ``expected.py`` (the file's lines and the MIBs),
never from running the driver.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.crac import CracAlarm, CracAlarmWatch, CracReading, SnmpCrac, get_crac_profile
from devices.crac.snmp_profile import SnmpCracProfile
from devices.errors import DeviceProtocolError, DeviceTimeoutError
from devices.snmp import Community

from .conftest import REAL, Agent
from .expected import (
    HUM,
    HUM_ID,
    LGP,
    STATE,
    TEMP,
    TEMP_ID,
    expected_reading,
    number,
    rows_by_identity,
)

VERSIONS = ["1", "2c"]


def profile() -> SnmpCracProfile:
    found = get_crac_profile("liebert_gp")
    assert isinstance(found, SnmpCracProfile)
    return found


def crac(agent: Agent, community: str, version: str = "2c", **kwargs: Any) -> SnmpCrac:
    credentials = Community(community, version="1" if version == "1" else "2c")
    return SnmpCrac(community, agent.target(), credentials, profile(), **kwargs)


def fields(reading: CracReading) -> dict[str, Any]:
    return {f.name: getattr(reading, f.name) for f in dataclasses.fields(reading)}


def assert_matches(reading: CracReading, expected: dict[str, Any]) -> None:
    got = fields(reading)
    for key, want in expected.items():
        if isinstance(want, float):
            assert got[key] == pytest.approx(want), key
        else:
            assert got[key] == want, key


def test_what_the_recording_has(agent: Agent) -> None:
    records = agent.records(REAL)
    temperature = rows_by_identity(records, TEMP)
    assert temperature == {
        TEMP_ID + "1": "1",
        TEMP_ID + "3": "2",  # supply air before return air: not registration order
        TEMP_ID + "2": "3",
        TEMP_ID + "11.1": "4",
        TEMP_ID + "11.2": "5",
    }
    supply = temperature[TEMP_ID + "3"]
    assert f"{TEMP}3.{supply}" not in records  # no measurement for the supply air
    assert number(records, f"{TEMP}6.{supply}") == 5
    assert not [o for o in records if o.startswith((TEMP + "50.", TEMP + "53.", HUM + "50."))]
    assert rows_by_identity(records, HUM) == {HUM_ID + "1": "1", HUM_ID + "2": "2"}
    assert f"{STATE}3.0" not in records  # lgpEnvStateHeating
    assert number(records, LGP + "3.2.2.0") == 0


@pytest.mark.parametrize("version", VERSIONS)
async def test_reading_matches_the_recording(agent: Agent, version: str) -> None:
    unit = crac(agent, REAL, version)
    async with unit:
        reading = await unit.read()
        identity = unit.identity
    expected = expected_reading(agent.records(REAL))
    assert_matches(reading, expected)
    # What that means on this unit, spelled out:
    assert (reading.supply_air_c, reading.return_air_c, reading.humidity_pct) == (None, 23, 42)
    assert (reading.unit_on, reading.heater_on, reading.compressors_on) == (True, False, (False,))
    assert reading.alarms == ()
    assert identity is not None
    assert (identity.manufacturer, identity.model) == ("Liebert Corporation", "Liebert PEX")
    assert identity.sys_object_id == "1.3.6.1.4.1.476.1.42"


async def test_rows_are_found_by_identity_not_index(agent: Agent) -> None:
    unit = crac(agent, REAL)
    async with unit:
        rows = unit.rows
    temperature = rows_by_identity(agent.records(REAL), TEMP)
    assert rows[("temperature", "supply_air")] == temperature[TEMP_ID + "3"]
    assert rows[("temperature", "return_air")] == temperature[TEMP_ID + "2"]
    assert ("humidity", "supply_air") not in rows  # the unit has no such sensor


@pytest.mark.parametrize("version", VERSIONS)
async def test_rows_elsewhere_tenths_and_conditions(agent: Agent, version: str) -> None:
    unit = crac(agent, "liebert-reordered", version)
    async with unit:
        first = await unit.read()
        second = await unit.read()  # over v1, the absent OIDs learnt from the first are skipped
    expected = expected_reading(agent.records("liebert-reordered"))
    assert_matches(first, expected)
    assert_matches(second, expected)
    # tenths win over whole degrees; standby is not running; 32768 and 0 are unknowns
    assert (first.supply_air_c, first.return_air_c) == (pytest.approx(14.2), pytest.approx(23.6))
    assert (first.unit_on, first.fan_pct, first.humidifier_on) == (False, None, None)
    assert first.alarms == ("1.3.6.1.4.1.476.1.42.3.2.1.5423", "high_temperature")


async def test_rows_renumbered_while_polling(agent: Agent) -> None:
    """The unit swaps its supply and return rows: the next read follows the identities."""
    community = "liebert-renumbered"
    records = agent.records(REAL)  # the copy is the recording with the column made writable
    rows = rows_by_identity(records, TEMP)
    supply, ret = rows[TEMP_ID + "3"], rows[TEMP_ID + "2"]
    unit = crac(agent, community)

    async def swap(supply_at: str, return_at: str) -> None:
        await agent.net_snmp(
            "snmpset",
            community,
            f"{TEMP}2.{supply_at}",
            "o",
            TEMP_ID + "3",
            f"{TEMP}2.{return_at}",
            "o",
            TEMP_ID + "2",
        )

    async with unit:
        before = await unit.read()
        await swap(ret, supply)
        try:
            after = await unit.read()
            moved = unit.rows
        finally:
            await swap(supply, ret)
    measured = number(records, f"{TEMP}3.{ret}")
    assert (before.supply_air_c, before.return_air_c) == (None, measured)
    assert (after.supply_air_c, after.return_air_c) == (measured, None)
    assert moved[("temperature", "supply_air")] == ret


async def test_alarm_events_through_the_coordinator(agent: Agent) -> None:
    bus = Bus()
    sub = bus.subscribe(CracReading, CracAlarm)
    coordinator = PollingCoordinator(bus)
    unit = crac(agent, "liebert-reordered")
    job = coordinator.add(unit, 1.0, CracAlarmWatch())
    async with unit:
        assert await coordinator.poll_once(job)
        assert await coordinator.poll_once(job)
    messages = [sub.get_nowait() for _ in range(len(sub))]
    alarms = [m for m in messages if isinstance(m, CracAlarm)]
    assert [type(m).__name__ for m in messages] == ["CracReading", "CracAlarm", "CracReading"]
    assert alarms[0].raised == expected_reading(agent.records("liebert-reordered"))["alarms"]
    assert alarms[0].cleared == ()
    assert job.stats.last_latency_s > 0


async def test_an_agent_without_the_environmental_mib_is_refused(agent: Agent) -> None:
    unit = crac(agent, "liebert-not-environmental")
    with pytest.raises(DeviceProtocolError, match=r"does not answer 1\.3\.6\.1\.4\.1\.476\.1\.42"):
        await unit.connect()
    assert unit.identity is None
    await unit.close()


async def test_wrong_community_is_a_timeout(agent: Agent) -> None:
    unit = SnmpCrac("x", agent.target(0.2, 0), Community("no-such-recording"), profile())
    with pytest.raises(DeviceTimeoutError, match="wrong community"):
        await unit.read()
    await unit.close()


async def test_a_row_that_vanishes_is_looked_for_again(agent: Agent) -> None:
    """The return-air row loses its identity (sensor unplugged), then gets it back."""
    community = "liebert-renumbered"
    records = agent.records(REAL)
    ret = rows_by_identity(records, TEMP)[TEMP_ID + "2"]
    identity_cell = f"{TEMP}2.{ret}"
    unit = crac(agent, community, resolve_interval_s=0.0)
    async with unit:
        await agent.net_snmp("snmpset", community, identity_cell, "o", TEMP_ID + "99")
        try:
            gone = await unit.read()
            rows_while_gone = unit.rows
        finally:
            await agent.net_snmp("snmpset", community, identity_cell, "o", TEMP_ID + "2")
        back = await unit.read()
    assert gone.return_air_c is None
    assert ("temperature", "return_air") not in rows_while_gone
    assert back.return_air_c == number(records, f"{TEMP}3.{ret}")
