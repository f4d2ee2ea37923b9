"""net-snmp's snmpget / snmpwalk / snmpbulkwalk / snmpset as the independent manager."""

from __future__ import annotations

import pytest

from sim_devices.clock import ManualClock
from sim_devices.ups import UpsConfig, UpsParams, UpsSimulator

from .netsnmp import needs_net_snmp, snmp

pytestmark = [pytest.mark.peer, needs_net_snmp]

UPS = "1.3.6.1.2.1.33.1"
SOURCE = f"{UPS}.4.1.0"
BATTERY_STATUS = f"{UPS}.2.1.0"
MINUTES = f"{UPS}.2.3.0"
CHARGE = f"{UPS}.2.4.0"
ALARMS_PRESENT = f"{UPS}.6.1.0"
LINE_BADS = f"{UPS}.3.1.0"
TEST_ID = f"{UPS}.7.1.0"
TEST_SUMMARY = f"{UPS}.7.3.0"
LOW_BATT_TIME = f"{UPS}.9.7.0"
QUICK_TEST = f"{UPS}.7.7.4"


async def test_snmpget_reads_identity_and_state(sim: UpsSimulator) -> None:
    result = await snmp(
        "snmpget", sim.port,
        "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", f"{UPS}.1.2.0", SOURCE, MINUTES, CHARGE,
        f"{UPS}.3.3.1.3.1", f"{UPS}.4.4.1.5.1",
    )  # fmt: skip
    assert result.code == 0, result.err
    values = result.values()
    assert values["1.3.6.1.2.1.1.1.0"] == '"walkout simulated UPS (RFC 1628 UPS-MIB agent)"'
    assert values["1.3.6.1.2.1.1.2.0"] == ".1.3.6.1.2.1.33"
    assert values[f"{UPS}.1.2.0"] == '"SIM-3000RM"'
    assert values[SOURCE] == "3"  # normal
    assert values[MINUTES] == "54"
    assert values[CHARGE] == "100"
    assert values[f"{UPS}.3.3.1.3.1"] == "230"
    assert values[f"{UPS}.4.4.1.5.1"] == "33"


async def test_values_follow_the_model_after_a_power_cut(
    sim: UpsSimulator, clock: ManualClock
) -> None:
    sim.cut_grid()
    clock.advance(600)
    result = await snmp(
        "snmpget", sim.port, SOURCE, BATTERY_STATUS, MINUTES, CHARGE, ALARMS_PRESENT, LINE_BADS,
        f"{UPS}.2.2.0", f"{UPS}.3.3.1.3.1",
    )  # fmt: skip
    assert result.code == 0, result.err
    values = result.values()
    state = sim.state()
    assert values[SOURCE] == "5"  # battery
    assert state["output_source"] == "battery"
    assert values[BATTERY_STATUS] == "2"
    assert values[MINUTES] == str(state["runtime_min"]) == "44"  # 733.3 Wh at 1000 W
    assert values[CHARGE] == str(state["charge_pct"]) == "81"
    assert values[ALARMS_PRESENT] == "2"  # upsAlarmOnBattery, upsAlarmInputBad
    assert values[LINE_BADS] == "1"
    assert values[f"{UPS}.2.2.0"] == "600"
    assert values[f"{UPS}.3.3.1.3.1"] == "0"


async def test_alarm_table_walk(sim: UpsSimulator) -> None:
    sim.cut_grid()
    result = await snmp("snmpwalk", sim.port, f"{UPS}.6")
    assert result.code == 0, result.err
    values = result.values()
    assert values[f"{UPS}.6.2.1.2.1"] == f".{UPS}.6.3.2"  # upsAlarmOnBattery
    assert values[f"{UPS}.6.2.1.2.2"] == f".{UPS}.6.3.6"  # upsAlarmInputBad
    assert values[f"{UPS}.6.2.1.1.1"] == "1"
    assert values[f"{UPS}.6.2.1.3.1"] == "0"  # detected at sysUpTime 0 (clock not moved)


async def test_bulkwalk_v2c_and_walk_v1_see_the_whole_mib(sim: UpsSimulator) -> None:
    bulk = await snmp("snmpbulkwalk", sim.port, "-Cr7", "1.3.6.1")
    assert bulk.code == 0, bulk.err
    walk_v1 = await snmp("snmpwalk", sim.port, "1.3.6.1", version="1")
    assert walk_v1.code == 0, walk_v1.err
    v2 = bulk.values()
    v1 = walk_v1.values()
    assert sim.stats()["requests"].get("getbulk", 0) > 0
    assert sim.stats()["requests"].get("getnext", 0) > 0
    # RFC 3584: v1 managers do not see Counter64; everything else is the same tree
    counter64 = {"1.3.6.1.4.1.32473.1.1.0", "1.3.6.1.4.1.32473.1.2.0"}
    assert counter64 <= set(v2)
    assert set(v2) - set(v1) == counter64
    expected = {name for name in v2 if name.startswith(UPS)}
    # ident 6, battery 7, input 2+5, output 3+5, bypass 2+4, alarm 1 (table empty),
    # test 6, control 5, config 10
    assert len(expected) == 56
    for group in range(1, 10):
        assert any(name.startswith(f"{UPS}.{group}.") for name in expected), group
    assert v2[f"{UPS}.7.1.0"] == f".{UPS}.7.7.1"  # upsTestNoTestsInitiated


async def test_bulk_answers_are_cut_to_the_message_size(sim: UpsSimulator) -> None:
    # max-repetitions 500 would never fit in 1472 octets: the agent sends what fits
    small = await snmp("snmpbulkwalk", sim.port, "-Cr500", "1.3.6.1")
    big = await snmp("snmpbulkwalk", sim.port, "-Cr3", "1.3.6.1")
    assert small.code == big.code == 0
    assert set(small.values()) == set(big.values())
    assert sim.stats()["too_big"] == 0


async def test_getnext_past_the_end(sim: UpsSimulator) -> None:
    v2 = await snmp("snmpgetnext", sim.port, "1.3.6.1.4.1.32473.1.3.0")
    assert "No more variables left in this MIB View" in v2.out
    v1 = await snmp("snmpgetnext", sim.port, "1.3.6.1.4.1.32473.1.3.0", version="1")
    assert v1.code != 0
    assert "noSuchName" in v1.err


async def test_missing_objects_v2c_exceptions_and_v1_error(sim: UpsSimulator) -> None:
    v2 = await snmp("snmpget", sim.port, f"{UPS}.9.99.0", f"{UPS}.2.3.1")
    assert "No Such Object available on this agent at this OID" in v2.out
    assert "No Such Instance currently exists at this OID" in v2.out
    v1 = await snmp("snmpget", sim.port, MINUTES, f"{UPS}.9.99.0", version="1")
    assert v1.code != 0
    assert "noSuchName" in v1.err
    assert f"{UPS}.9.99.0" in v1.err  # net-snmp names the failed object (error-index 2)


async def test_snmpset_starts_a_self_test(sim: UpsSimulator, clock: ManualClock) -> None:
    result = await snmp("snmpset", sim.port, TEST_ID, "o", QUICK_TEST, community="private")
    assert result.code == 0, result.err
    assert result.values()[TEST_ID] == f".{QUICK_TEST}"
    progress = await snmp("snmpget", sim.port, TEST_SUMMARY, TEST_ID)
    assert progress.values()[TEST_SUMMARY] == "5"  # inProgress
    assert progress.values()[TEST_ID] == f".{QUICK_TEST}"
    clock.advance(10)
    done = await snmp("snmpget", sim.port, TEST_SUMMARY, f"{UPS}.7.6.0")
    assert done.values()[TEST_SUMMARY] == "1"  # donePass
    assert done.values()[f"{UPS}.7.6.0"] == "1000"  # 10 s in TimeTicks
    assert sim.state()["test"]["result"] == "done_pass"


async def test_snmpset_with_spin_lock_and_config(sim: UpsSimulator) -> None:
    spin = f"{UPS}.7.2.0"
    ok = await snmp(
        "snmpset", sim.port, spin, "i", "0", TEST_ID, "o", QUICK_TEST, community="private"
    )
    assert ok.code == 0, ok.err
    stale = await snmp(
        "snmpset", sim.port, spin, "i", "0", TEST_ID, "o", QUICK_TEST, community="private"
    )
    assert stale.code != 0
    assert "inconsistentValue" in stale.err
    config = await snmp("snmpset", sim.port, LOW_BATT_TIME, "i", "10", community="private")
    assert config.code == 0, config.err
    assert sim.model.low_batt_time_min == 10
    name = await snmp("snmpset", sim.port, "1.3.6.1.2.1.1.5.0", "s", "ups-2", community="private")
    assert name.code == 0, name.err
    assert (await snmp("snmpget", sim.port, "1.3.6.1.2.1.1.5.0")).values() == {
        "1.3.6.1.2.1.1.5.0": '"ups-2"'
    }


@pytest.mark.parametrize(
    ("args", "community", "version", "reason"),
    [
        ((LOW_BATT_TIME, "i", "5"), "public", "2c", "noAccess"),
        ((LOW_BATT_TIME, "i", "5"), "public", "1", "noSuchName"),
        ((BATTERY_STATUS, "i", "3"), "private", "2c", "notWritable"),
        ((BATTERY_STATUS, "i", "3"), "private", "1", "noSuchName"),
        ((LOW_BATT_TIME, "s", "5"), "private", "2c", "wrongType"),
        ((LOW_BATT_TIME, "i", "-3"), "private", "2c", "wrongValue"),
        ((LOW_BATT_TIME, "i", "-3"), "private", "1", "badValue"),
        ((f"{UPS}.9.7.1", "i", "5"), "private", "2c", "noCreation"),
        ((f"{UPS}.9.9.0", "i", "240"), "private", "2c", "inconsistentValue"),
    ],
)
async def test_snmpset_errors(
    sim: UpsSimulator, args: tuple[str, ...], community: str, version: str, reason: str
) -> None:
    result = await snmp("snmpset", sim.port, *args, community=community, version=version)
    assert result.code != 0
    assert reason in result.err
    assert sim.model.low_batt_time_min == 2  # nothing applied


async def test_failed_set_applies_nothing(sim: UpsSimulator) -> None:
    # the second varbind is bad: the first must not be applied either
    result = await snmp(
        "snmpset", sim.port, LOW_BATT_TIME, "i", "9", BATTERY_STATUS, "i", "3", community="private"
    )
    assert result.code != 0
    assert sim.model.low_batt_time_min == 2


async def test_wrong_community_gets_no_answer(sim: UpsSimulator) -> None:
    result = await snmp("snmpget", sim.port, MINUTES, community="nope", timeout_s=0.3, retries=0)
    assert result.code != 0
    assert "Timeout" in result.err
    assert sim.stats()["in_bad_community_names"] == 1
    counters = await snmp("snmpget", sim.port, "1.3.6.1.2.1.11.4.0")
    assert counters.values()["1.3.6.1.2.1.11.4.0"] == "1"  # snmpInBadCommunityNames


async def test_three_phase_tables(clock: ManualClock) -> None:
    config = UpsConfig(ups=UpsParams(phases=3, load_w=1800))
    async with UpsSimulator(config, clock=clock) as sim:
        result = await snmp("snmpbulkwalk", sim.port, f"{UPS}.4")
    values = result.values()
    assert values[f"{UPS}.4.3.0"] == "3"
    assert [values[f"{UPS}.4.4.1.4.{n}"] for n in (1, 2, 3)] == ["600", "600", "600"]
    assert f"{UPS}.4.4.1.5.4" not in values
