"""Setpoint, on/off and alarm reset over SNMP: verified by reading back, refusals explained.

liebert-writable has lgpEnvTemperatureSettingDegC writable with the unit's
own range 16..27 °C (wrongValue outside), and the start/stop delays and the
event reset writable; liebert-readonly answers those SETs with notWritable;
the unedited recording has no write handler at all (snmpsim then answers a
SET with noSuchInstance over v2c, noSuchName over v1). net-snmp's snmpget is
the independent peer that says what the agent holds.

snmpsim cannot make the unit react to a SET (the start/stop delays do not
change lgpEnvStateSystem), which is exactly the "accepted but not applied"
case the read-back exists for.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from devices.crac import CracCommandError, SnmpCrac, get_crac_profile, load_crac_profile_file
from devices.crac.snmp_profile import SnmpCracProfile
from devices.snmp import Community

from .conftest import REAL, Agent
from .expected import EVENT_RESET, SETTING, STARTUP

VERSIONS = ["1", "2c"]
VERIFY_S = 0.3
PROFILE_FILE = Path(__file__).resolve().parents[2] / "devices/profiles/crac/liebert-gp.yaml"


def liebert() -> SnmpCracProfile:
    found = get_crac_profile("liebert_gp")
    assert isinstance(found, SnmpCracProfile)
    return found


def crac(
    agent: Agent, community: str, version: str = "2c", profile: SnmpCracProfile | None = None
) -> SnmpCrac:
    credentials = Community(community, version="1" if version == "1" else "2c")
    return SnmpCrac(
        community, agent.target(), credentials, profile or liebert(), verify_timeout_s=VERIFY_S
    )


@pytest.mark.parametrize(("version", "celsius"), [("1", 21.0), ("2c", 24.0)])
async def test_setpoint_is_set_and_read_back(agent: Agent, version: str, celsius: float) -> None:
    unit = crac(agent, "liebert-writable", version)
    async with unit:
        held = await unit.set_setpoint(celsius)
    assert held == celsius
    assert await agent.net_snmp("snmpget", "liebert-writable", SETTING) == str(int(celsius))


async def test_setpoint_rounds_to_what_the_object_holds(agent: Agent) -> None:
    unit = crac(agent, "liebert-writable")
    async with unit:
        held = await unit.set_setpoint(22.4)  # a whole-degree object: 22 is within half a count
    assert held == 22.0
    assert await agent.net_snmp("snmpget", "liebert-writable", SETTING) == "22"


@pytest.mark.parametrize("celsius", [14.9, 35.5, math.nan])
async def test_setpoint_outside_the_profile_is_not_sent(agent: Agent, celsius: float) -> None:
    unit = crac(agent, "liebert-writable")
    async with unit:
        sent = unit._client.requests if unit._client else -1
        with pytest.raises(CracCommandError, match=r"outside 15\.\.35 °C .* nothing was sent"):
            await unit.set_setpoint(celsius)
        assert unit._client is not None
        assert unit._client.requests == sent


@pytest.mark.parametrize(("version", "status"), [("1", "badValue"), ("2c", "wrongValue")])
async def test_unit_refuses_a_setpoint_outside_its_own_range(
    agent: Agent, version: str, status: str
) -> None:
    unit = crac(agent, "liebert-writable", version)
    async with unit:
        with pytest.raises(CracCommandError) as caught:
            await unit.set_setpoint(29.0)
    held = await agent.net_snmp("snmpget", "liebert-writable", SETTING)
    assert f"unit refused setpoint 29 °C: {status} on {SETTING}" in str(caught.value)
    assert f"it still reads {held} °C" in str(caught.value)
    assert caught.value.requested == 29.0
    assert caught.value.read_back == float(held)


@pytest.mark.parametrize(("version", "status"), [("1", "noSuchName"), ("2c", "notWritable")])
async def test_not_writable_is_refused(agent: Agent, version: str, status: str) -> None:
    unit = crac(agent, "liebert-readonly", version)
    async with unit:
        with pytest.raises(CracCommandError, match=f"refused setpoint 20 °C: {status}"):
            await unit.set_setpoint(20.0)
        with pytest.raises(CracCommandError, match=f"refused switch off: {status}"):
            await unit.set_unit_on(False)


async def test_an_object_without_write_handler_is_refused(agent: Agent) -> None:
    unit = crac(agent, REAL)
    async with unit:
        with pytest.raises(CracCommandError, match="answered noSuchInstance") as caught:
            await unit.set_setpoint(20.0)
    assert caught.value.read_back == 23.0  # the recording's lgpEnvTemperatureSettingDegC


async def test_switching_on_a_running_unit_is_verified(agent: Agent) -> None:
    unit = crac(agent, "liebert-writable")
    async with unit:
        await unit.set_unit_on(True)
    assert await agent.net_snmp("snmpget", "liebert-writable", STARTUP) == "0"


async def test_switch_off_that_the_unit_ignores_is_reported(agent: Agent) -> None:
    unit = crac(agent, "liebert-writable")
    async with unit:
        with pytest.raises(CracCommandError, match=r"switch off not applied: .* says running") as c:
            await unit.set_unit_on(False)
    assert c.value.requested is False
    assert c.value.read_back is True


async def test_clear_alarms(agent: Agent) -> None:
    unit = crac(agent, "liebert-writable")
    async with unit:
        assert await unit.clear_alarms() == ()
    assert await agent.net_snmp("snmpget", "liebert-writable", EVENT_RESET) == "2"


async def test_commands_a_profile_does_not_map_are_not_supported(
    agent: Agent, tmp_path: Path
) -> None:
    data = yaml.safe_load(PROFILE_FILE.read_text())
    data["name"] = "liebert_gp_monitor_only"
    data.pop("commands")
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(data))
    profile = load_crac_profile_file(path)
    assert isinstance(profile, SnmpCracProfile)
    unit = crac(agent, "liebert-writable", profile=profile)
    async with unit:
        with pytest.raises(CracCommandError, match="switching the unit on is not supported"):
            await unit.set_unit_on(True)
        with pytest.raises(CracCommandError, match="setting the setpoint is not supported"):
            await unit.set_setpoint(22.0)
        with pytest.raises(CracCommandError, match="resetting alarms is not supported"):
            await unit.clear_alarms()
