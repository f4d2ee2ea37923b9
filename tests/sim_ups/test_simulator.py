"""The in-process API: UpsSimulator's levers, its pump timer and the accelerated clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.snmpsim import free_udp_port

from sim_devices.clock import ManualClock
from sim_devices.ups import (
    DEFAULT_SCENARIO,
    AcceleratedClock,
    AgentConfig,
    UpsConfig,
    UpsConfigError,
    UpsSimulator,
    UpsSimulatorError,
    load_config,
    parse_config,
)
from sim_devices.ups.config import TrapTarget


async def wait_until(condition: Callable[[], bool], within_s: float = 5.0) -> None:
    """Poll a condition of the simulator's state (it has no event to wait on) with a deadline."""
    async with asyncio.timeout(within_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def test_levers_change_the_state(sim: UpsSimulator) -> None:
    assert sim.host == "127.0.0.1"
    assert sim.port > 0
    sim.set_load_w(1800)
    sim.set_input_voltage(250)
    sim.set_input_frequency(50.5)
    state = sim.state()
    assert state["load_w"] == 1800
    assert state["runtime_min"] == 27
    assert state["input_voltage_v"] == 250
    assert state["output_source"] == "normal"
    sim.cut_grid()
    assert sim.state()["on_battery"] is True
    sim.restore_grid()
    sim.set_charge(10)
    assert sim.state()["charge_pct"] == 10
    with pytest.raises(UpsSimulatorError, match="outside"):
        sim.set_charge(150)
    with pytest.raises(UpsSimulatorError, match="not a trap target"):
        sim.remove_trap_target("127.0.0.1:1/v2c/public")


async def test_pump_timer_sends_notifications_without_being_asked(clock: ManualClock) -> None:
    port = free_udp_port()
    config = UpsConfig(
        agent=AgentConfig(traps=(f"127.0.0.1:{port}/v2c/public",), cold_start_trap=False)
    )
    async with UpsSimulator(config, clock=clock, pump_interval_s=0.01) as sim:
        sim.cut_grid()
        sent = sim.stats()["out_traps"]
        assert sent == 2  # upsTrapOnBattery, upsTrapAlarmEntryAdded (input bad)
        clock.advance(60)  # nobody calls pump(): the timer must notice the reminder
        await wait_until(lambda: sim.stats()["out_traps"] == sent + 1)


def test_accelerated_clock() -> None:
    base = ManualClock(500.0)
    clock = AcceleratedClock(60, base=base)
    assert clock() == 500.0
    base.advance(2)
    assert clock() == 620.0
    with pytest.raises(ValueError, match="> 0"):
        AcceleratedClock(0, base=base)


async def test_accel_runs_model_time_faster() -> None:
    async with UpsSimulator(accel=600) as sim:
        sim.cut_grid()
        # 600 model seconds per real second: a minute of battery passes in 0.1 s
        await wait_until(lambda: sim.state()["seconds_on_battery"] >= 60)
        assert sim.state()["charge_pct"] < 100


def test_packaged_scenario_and_config_errors(tmp_path: Path) -> None:
    config = load_config(DEFAULT_SCENARIO)
    assert config.ups.rating_va == 3000
    assert config.agent.communities.read == "public"
    with pytest.raises(UpsConfigError, match=r"ups\.phases"):
        parse_config({"ups": {"phases": 2}})
    with pytest.raises(UpsConfigError, match=r"agent\.traps"):
        parse_config({"agent": {"traps": ["somewhere"]}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("ups: [1, 2\n")
    with pytest.raises(UpsConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(UpsConfigError, match="No such file"):
        load_config(tmp_path / "missing.yaml")


def test_trap_target_text_form() -> None:
    target = TrapTarget.parse("127.0.0.1:16200")
    assert (target.version, target.community) == ("v2c", "public")
    assert str(TrapTarget.parse("10.0.0.5:162/v1/traps")) == "10.0.0.5:162/v1/traps"
    with pytest.raises(UpsConfigError, match="IPv4"):
        TrapTarget.parse("nms.example:162")
    with pytest.raises(UpsConfigError, match="port"):
        TrapTarget.parse("127.0.0.1:70000")
