"""The driver reads every UPS-MIB recording of snmpsim-data, and the PowerNet file, right.

Expected values come from ``expected.py``: the recording's own lines with the
MIB's units and each unit's documented quirk, never from running the driver.

The recordings (snmpsim-data 1.0.1, data/UPS/) that carry UPS-MIB:

- eastpower-istars-swv053: 3-phase; table indices have a trailing ``.0``
  (``upsInputVoltage.1.0``); minutes remaining 0 on mains at 100 % (reported as is);
- eaton-93e-80: 3-phase, no upsInputLineIndex column; runtime 1092 min = 65535 s
  ceiling of the card (unknown);
- huawei-gse200m: 1-phase UPS5000; -1 for runtime, charge and temperature;
  frequencies in 0.01 Hz, voltages in 0.1 V, output power in 0.1 kW; Gauge32 columns;
- ingrasys-power-switch: Santak Array 3A3, 3-phase; TimeTicks 0 placeholders in INTEGER
  objects; input current not measured (0 A under 40 A of load);
- phoenixtec-power: 1-phase (upsInputNumLines 1) but tables padded to 3 all-zero rows;
  empty identification strings; minutes remaining 0 on mains at 100 % (reported as is).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from peers.snmprec import community_of

from devices.snmp import Community
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading

from .conftest import VARIANTS, Agent, ups_mib_recordings
from .expected import QUIRK_NAMES, expected_ietf, expected_powernet

RECORDED = [community_of(p) for p in ups_mib_recordings()]
IETF_VARIANTS = [n for n, v in VARIANTS.items() if n.startswith("ietf-")]
POWERNET = ["apc-smart-ups-handmade", "apc-smart-ups-advonly", "apc-smart-ups-onbattery"]


def test_the_recordings_with_ups_mib_are_the_documented_ones():
    # If snmpsim-data gains or loses a UPS-MIB recording, its quirks must be looked at.
    assert set(RECORDED) == set(QUIRK_NAMES)


def as_plain(reading: UpsReading) -> dict[str, Any]:
    out = {f.name: getattr(reading, f.name) for f in dataclasses.fields(reading)}
    out["input_lines"] = [dataclasses.asdict(line) for line in reading.input_lines]
    out["output_lines"] = [dataclasses.asdict(line) for line in reading.output_lines]
    out["status"] = reading.status.value
    out["battery_status"] = reading.battery_status.value
    return out


def assert_matches(reading: UpsReading, expected: dict[str, Any]) -> None:
    got = as_plain(reading)
    for key, want in expected.items():
        if isinstance(want, list):
            assert len(got[key]) == len(want), key
            for got_line, want_line in zip(got[key], want, strict=True):
                assert got_line == pytest.approx(want_line), key
        elif isinstance(want, float):
            assert got[key] == pytest.approx(want), key
        else:
            assert got[key] == want, key


async def read_once(
    agent: Agent, community: str, version: str = "2c"
) -> tuple[SnmpUps, UpsReading]:
    ups = SnmpUps(community, agent.target(), Community(community, version=version))
    async with ups:
        reading = await ups.read()
    return ups, reading


@pytest.mark.parametrize("community", RECORDED)
async def test_recording_read_matches_the_recording(snmpsim_agent: Agent, community: str):
    _, reading = await read_once(snmpsim_agent, community)
    expected = expected_ietf(snmpsim_agent.records(community), community)
    assert_matches(reading, expected)
    assert reading.source == community
    assert reading.input_lines, "every recording has input lines"


@pytest.mark.parametrize("community", RECORDED)
async def test_each_recording_gets_its_quirks(snmpsim_agent: Agent, community: str):
    ups = SnmpUps(community, snmpsim_agent.target(), Community(community))
    async with ups:
        assert ups.resolved is not None
        assert ups.resolved.profile.name == "ietf"
        assert ups.resolved.quirks == QUIRK_NAMES[community]


async def test_v1_walks_with_getnext_and_reads_the_same(snmpsim_agent: Agent):
    # eastpower: odd "N.0" indices over GETNEXT; phoenixtec: v1 noSuchName for absent OIDs.
    for community in ("eastpower-istars-swv053", "phoenixtec-power"):
        _, v1 = await read_once(snmpsim_agent, community, version="1")
        _, v2 = await read_once(snmpsim_agent, community, version="2c")
        assert dataclasses.replace(v1, t_mono=0) == dataclasses.replace(v2, t_mono=0)
        assert_matches(v1, expected_ietf(snmpsim_agent.records(community), community))


async def test_identification_strips_padding(snmpsim_agent: Agent):
    ups = SnmpUps("e", snmpsim_agent.target(), Community("eastpower-istars-swv053"))
    async with ups:
        assert ups.identity is not None
        assert (ups.identity.manufacturer, ups.identity.model) == ("EAST", "EA9080")
        assert ups.identity.sys_object_id == "1.3.6.1.4.1.40614"


@pytest.mark.parametrize("community", IETF_VARIANTS)
async def test_edited_recordings(snmpsim_agent: Agent, community: str):
    _, reading = await read_once(snmpsim_agent, community)
    expected = expected_ietf(snmpsim_agent.records(community), snmpsim_agent.origins[community])
    assert_matches(reading, expected)


async def test_on_battery_with_low_battery_and_alarms(snmpsim_agent: Agent):
    _, reading = await read_once(snmpsim_agent, "ietf-onbattery-alarms")
    assert reading.status.value == "low_battery"
    assert reading.alarms == ("onBattery", "lowBattery", "1.3.6.1.4.1.935.1.1.1.99")
    assert reading.runtime_s == 120.0


async def test_general_fault_alarm_makes_the_status_fault(snmpsim_agent: Agent):
    _, reading = await read_once(snmpsim_agent, "ietf-fault")
    assert reading.status.value == "fault"
    assert reading.alarms == ("generalFault",)


@pytest.mark.parametrize("community", POWERNET)
async def test_powernet_handmade(snmpsim_agent: Agent, community: str):
    ups, reading = await read_once(snmpsim_agent, community)
    assert ups.resolved is None  # closed
    assert_matches(reading, expected_powernet(snmpsim_agent.records(community)))


async def test_powernet_values_by_hand(snmpsim_agent: Agent):
    # Spelled out once from the file: HighPrec tenths win over the Adv whole units.
    _, reading = await read_once(snmpsim_agent, "apc-smart-ups-handmade")
    assert reading.via == "snmp:powernet"
    assert reading.runtime_s == pytest.approx(3720.0)  # 372000 ticks
    assert reading.input_v == pytest.approx(231.2)
    assert reading.battery_voltage_v == pytest.approx(54.5)
    assert reading.load_pct == pytest.approx(35.4)
    _, old_card = await read_once(snmpsim_agent, "apc-smart-ups-advonly")
    assert old_card.input_v == pytest.approx(231.0)
    assert old_card.load_pct == pytest.approx(35.0)
    _, on_battery = await read_once(snmpsim_agent, "apc-smart-ups-onbattery")
    assert on_battery.status.value == "low_battery"
    assert on_battery.seconds_on_battery == pytest.approx(150.0)
    assert on_battery.alarms == ("onBattery", "lowBattery", "batteryNeedsReplacing")


async def test_forced_profile_that_the_unit_does_not_speak(snmpsim_agent: Agent):
    from devices.errors import DeviceProtocolError

    ups = SnmpUps("x", snmpsim_agent.target(), Community("huawei-gse200m"), profile="powernet")
    with pytest.raises(DeviceProtocolError, match="none of the UPS profiles"):
        await ups.connect()
    await ups.close()
