"""``python -m sim_devices.ups serve|control`` as separate processes, and the control API."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim_devices.control import ControlClient, ControlError
from sim_devices.ups.process import UpsProcessError, UpsSimulatorProcess

from .netsnmp import Result, needs_net_snmp, run, snmp

pytestmark = [pytest.mark.peer, needs_net_snmp]

UPS = "1.3.6.1.2.1.33.1"


async def control(port: int, *args: str) -> Result:
    return await run(sys.executable, "-m", "sim_devices.ups", "control", "--port", str(port), *args)


@pytest.fixture
async def ups() -> AsyncIterator[UpsSimulatorProcess]:
    async with UpsSimulatorProcess(["--manual-clock", "--three-phase"]) as process:
        yield process


async def test_ready_line_and_control_commands(ups: UpsSimulatorProcess) -> None:
    assert ups.ready["communities"] == {"read": "public", "write": "private"}
    assert ups.ready["phases"] == 3
    first = await snmp("snmpget", ups.snmp_port, f"{UPS}.4.1.0", f"{UPS}.3.2.0")
    assert first.values() == {f"{UPS}.4.1.0": "3", f"{UPS}.3.2.0": "3"}

    result = await control(ups.control_port, "grid-off")
    assert result.code == 0, result.err
    state = json.loads(result.out)["state"]
    assert state["on_battery"] is True
    assert (await snmp("snmpget", ups.snmp_port, f"{UPS}.4.1.0")).values() == {f"{UPS}.4.1.0": "5"}

    # 52 min at 1000 W leaves 33.3 Wh = 2 min: battery low (3) exactly at the threshold
    result = await control(ups.control_port, "advance", "3120")
    assert json.loads(result.out)["state"]["battery_status"] == "low"
    low = await snmp("snmpget", ups.snmp_port, f"{UPS}.2.1.0", f"{UPS}.2.3.0")
    assert low.values() == {f"{UPS}.2.1.0": "3", f"{UPS}.2.3.0": "2"}

    result = await control(ups.control_port, "fault", "silent")
    assert json.loads(result.out)["faults"]["wire"]["mode"] == "silent"
    silent = await snmp("snmpget", ups.snmp_port, f"{UPS}.2.1.0", timeout_s=0.3, retries=0)
    assert "Timeout" in silent.err

    result = await control(ups.control_port, "set-load", "-5")
    assert result.code == 1
    assert "outside" in result.err

    result = await control(ups.control_port, "stats")
    stats = json.loads(result.out)["stats"]
    assert stats["dropped_by_fault"] == 1
    assert stats["requests"]["get"] == 3

    assert (await control(ups.control_port, "quit")).code == 0
    assert await ups.wait() == 0


async def test_control_api_errors_keep_the_connection(ups: UpsSimulatorProcess) -> None:
    async with ControlClient(ups.control_port) as client:
        assert (await client.raw(b"not json\n"))["ok"] is False
        assert "unknown command" in (await client.raw({"cmd": "melt"}))["error"]
        assert "missing field 'load_w'" in (await client.raw({"cmd": "set_load"}))["error"]
        with pytest.raises(ControlError, match="wrong type"):
            await client.request("set_load", load_w="lots")
        with pytest.raises(ControlError, match="bad trap target"):
            await client.request("trap_add", target="localhost")
        answer = await client.request("trap_add", target="127.0.0.1:16299/v1/traps")
        assert answer["target"] == "127.0.0.1:16299/v1/traps"
        state = (await client.request("set_input", voltage_v=150))["state"]
        assert state["output_source"] == "battery"
        assert state["line_bads"] == 1
        assert state["trap_targets"] == ["127.0.0.1:16299/v1/traps"]
        state = (await client.request("state"))["state"]
        assert {a["alarm"] for a in state["alarms"]} == {"on_battery", "input_bad"}


async def test_bad_config_is_refused_with_its_key_path(tmp_path: Path) -> None:
    config = tmp_path / "ups.yaml"
    config.write_text("ups:\n  rating_w: 5000\n  rating_va: 3000\nagent:\n  colour: red\n")
    with pytest.raises(UpsProcessError, match="exit status 2"):
        await UpsSimulatorProcess(["--config", str(config)], ready_timeout_s=20).start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.ups", "serve", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 2
    assert out == b""
    assert b"agent.colour" in err
    assert b"rating_w 5000" in err
