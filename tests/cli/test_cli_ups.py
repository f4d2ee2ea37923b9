"""``walkout ups check`` as a child process against the UPS simulator (SNMP v2c).

Expected figures come from the simulator's own state (its model), never from walkout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim_devices.ups import UpsSimulator

from .clitools import store_yaml, table_value, walkout


@pytest.fixture
async def ups() -> AsyncIterator[UpsSimulator]:
    async with UpsSimulator(port=0) as simulator:
        yield simulator


def ups_store(tmp_path: Path, port: int, community: str = "public") -> None:
    agent = {"host": "127.0.0.1", "port": port, "community": community, "timeout_s": 0.3}
    store_yaml(
        tmp_path / "store.yaml",
        tcp_port=1502,
        extra={
            "facility": {"ups": [{"id": "ups-1", "type": "snmp", "agent": {**agent, "retries": 0}}]}
        },
    )


async def test_check_on_line_shows_the_model(tmp_path: Path, ups: UpsSimulator) -> None:
    ups_store(tmp_path, ups.port)
    result = await walkout("ups", "check", "ups-1", cwd=tmp_path)
    assert result.code == 0, result.stderr
    state = ups.state()
    assert table_value(result.stdout, "status") == "on_line"
    assert table_value(result.stdout, "charge") == f"{state['charge_pct']} %"
    assert table_value(result.stdout, "runtime left") == f"{state['runtime_min']:.1f} min"
    assert table_value(result.stdout, "input 1").startswith(f"{state['input_voltage_v']:.1f} V")
    assert "alarms: none" in result.stdout


async def test_check_on_battery_exits_1_with_the_alarm(tmp_path: Path, ups: UpsSimulator) -> None:
    ups_store(tmp_path, ups.port)
    ups.cut_grid()
    result = await walkout("ups", "check", "ups-1", cwd=tmp_path)
    assert result.code == 1, result.stderr
    assert table_value(result.stdout, "status") == "on_battery"
    assert "status is on_battery" in result.stdout
    assert "onBattery" in result.stdout


async def test_self_test_reaches_the_unit(tmp_path: Path, ups: UpsSimulator) -> None:
    ups_store(tmp_path, ups.port, community="private")  # the simulator's write community
    result = await walkout("ups", "check", "ups-1", "--self-test", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "self-test started" in result.stdout
    assert ups.state()["test"]["id"] != "noTestsInitiated"


async def test_self_test_refused_with_a_read_community(tmp_path: Path, ups: UpsSimulator) -> None:
    ups_store(tmp_path, ups.port)
    result = await walkout("ups", "check", "ups-1", "--self-test", cwd=tmp_path)
    assert result.code == 3
    assert "refused the self-test: noAccess" in result.stderr


async def test_wrong_community_is_a_clear_device_error(tmp_path: Path, ups: UpsSimulator) -> None:
    ups_store(tmp_path, ups.port, community="nope")
    result = await walkout("ups", "check", "ups-1", cwd=tmp_path)
    assert result.code == 3
    assert "community" in result.stderr
    assert "Traceback" not in result.stderr


async def test_unknown_ups(tmp_path: Path, ups: UpsSimulator) -> None:
    ups_store(tmp_path, ups.port)
    result = await walkout("ups", "check", "ups-9", cwd=tmp_path)
    assert result.code == 2
    assert "no UPS 'ups-9' in the config (known: ups-1)" in result.stderr
