"""``walkout crac check|setpoint|power`` as child processes against the CRAC simulator.

The simulator runs in the test's process (its model is read directly for the expected
values); walkout reaches it over Modbus TCP like a real unit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim_devices.clock import ManualClock
from sim_devices.crac import CracSimulator

from .clitools import store_yaml, table_value, walkout


@pytest.fixture
async def crac_sim() -> AsyncIterator[CracSimulator]:
    clock = ManualClock()
    async with CracSimulator("pcw1", clock=clock, unit_id=5) as sim:
        clock.advance(600)
        yield sim


def crac_store(tmp_path: Path, sim: CracSimulator) -> Path:
    return store_yaml(
        tmp_path / "store.yaml",
        tcp_port=sim.tcp_port,
        extra={
            "facility": {"crac": [{"id": "crac-1", "bus": "gw-1", "unit_id": 5, "profile": "pcw1"}]}
        },
    )


async def test_check_shows_what_the_unit_holds(tmp_path: Path, crac_sim: CracSimulator) -> None:
    crac_store(tmp_path, crac_sim)
    result = await walkout("crac", "check", "crac-1", cwd=tmp_path)
    assert result.code == 0, result.stderr
    state = crac_sim.crac.state()
    # pcw1 sends temperatures in 0.1 °C: the table shows one decimal, as the unit has it.
    assert table_value(result.stdout, "return air") == f"{state['return_air_c']:.1f} °C"
    assert table_value(result.stdout, "return setpoint") == f"{state['return_setpoint_c']:.1f} °C"
    assert table_value(result.stdout, "unit on") == "yes"
    assert "alarms: none" in result.stdout


async def test_check_exits_1_on_an_alarm(tmp_path: Path, crac_sim: CracSimulator) -> None:
    crac_store(tmp_path, crac_sim)
    crac_sim.crac.set_fault("fan")
    result = await walkout("crac", "check", "crac-1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert "alarms active" in result.stdout
    assert "fan" in result.stdout.split("alarms active:")[1]


async def test_setpoint_is_read_back(tmp_path: Path, crac_sim: CracSimulator) -> None:
    crac_store(tmp_path, crac_sim)
    result = await walkout("crac", "setpoint", "crac-1", "22.5", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert crac_sim.crac.state()["return_setpoint_c"] == pytest.approx(22.5)
    assert "setpoint now 22.5 °C (read back)" in result.stdout


async def test_refused_command_exits_3_with_the_reason(
    tmp_path: Path, crac_sim: CracSimulator
) -> None:
    crac_store(tmp_path, crac_sim)
    crac_sim.crac.local_lock = True
    before = crac_sim.crac.state()["return_setpoint_c"]
    result = await walkout("crac", "setpoint", "crac-1", "21", cwd=tmp_path)
    assert result.code == 3
    assert "local mode" in result.stderr
    assert crac_sim.crac.state()["return_setpoint_c"] == before


async def test_unknown_unit_is_a_config_error(tmp_path: Path, crac_sim: CracSimulator) -> None:
    crac_store(tmp_path, crac_sim)
    result = await walkout("crac", "check", "crac-9", cwd=tmp_path)
    assert result.code == 2
    assert "no cooling unit 'crac-9' (known: crac-1)" in result.stderr
