"""``python -m sim_devices shelf serve`` as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest
from peers.simprocess import Served, run_module, serving
from pymodbus.client import AsyncModbusTcpClient

from sim_devices.control import ControlClient

from .simtools import DEMO_SCENARIO


async def run_cli(*args: str) -> tuple[int, str, str]:
    return await run_module("sim_devices", "shelf", *args)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving(
        "sim_devices", "shelf", "serve",
        "--scenario", str(DEMO_SCENARIO), "--control-port", "0", "--log-level", "WARNING",
    ) as served:  # fmt: skip
        yield served


async def test_serve_ready_line_control_and_sigterm(served: Served) -> None:
    proc, ready = served
    assert ready["ready"] is True
    assert [s["kind"] for s in ready["servers"]] == ["tcp", "tcp", "rtu"]
    assert ready["servers"][2]["path"].startswith("/dev/pts/")
    assert ready["servers"][2]["units"] == [1, 2]

    async with ControlClient(ready["control_port"]) as control:
        before = (await control.state(1, server=0))[0]["units"][0]["true_loads_g"]
        await control.put(1, 350.0, 0.4, server=0)  # right above cell 1
        after = (await control.state(1, server=0))[0]["units"][0]["true_loads_g"]
    assert [a - b for a, b in zip(after, before, strict=True)] == pytest.approx([0, 350, 0, 0])

    code, out, err = await run_cli(
        "control", "--port", str(ready["control_port"]),
        "fault", "--unit", "1", "--server", "1", "--mode", "silent",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {"ok": True, "fault": {"mode": "silent", "delay_s": 1.0}}

    client = AsyncModbusTcpClient("127.0.0.1", port=ready["servers"][0]["port"], timeout=1)
    assert await client.connect()
    try:
        rr = await client.read_input_registers(30, count=2, device_id=1)
        assert rr.registers == [0x0A10, 4]
    finally:
        client.close()

    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_quit_command_stops_process(served: Served) -> None:
    proc, ready = served
    code, out, _ = await run_cli("control", "--port", str(ready["control_port"]), "quit")
    assert code == 0
    assert json.loads(out) == {"ok": True}
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_control_error_exit_status(served: Served) -> None:
    _, ready = served
    code, _, err = await run_cli(
        "control", "--port", str(ready["control_port"]), "take", "--unit", "1", "--label", "nope"
    )
    assert code == 1
    assert "no item labelled 'nope'" in err


async def test_bad_scenario_exit_status(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("servers:\n  - kind: tcp\n    units: [{unit_id: 1, cells: 40}]\n")
    code, out, err = await run_cli("serve", "--scenario", str(path))
    assert code == 2
    assert out == ""
    assert "servers[0].units[0].cells" in err


async def test_other_simulators_are_reached_through_the_package_entry() -> None:
    """``python -m sim_devices dio serve`` hands over to the digital-I/O simulator's own CLI."""
    dio = ("sim_devices", "dio", "serve", "--port", "0", "--control-port", "0")
    async with serving(*dio) as (proc, ready):
        assert ready["ready"] is True
        assert ready["kind"] == "dio"
        client = AsyncModbusTcpClient("127.0.0.1", port=ready["port"], timeout=2, retries=0)
        assert await client.connect()
        try:
            reply = await client.read_coils(0, count=2, device_id=ready["unit"])
            assert not reply.isError()
        finally:
            client.close()
    assert proc.returncode == 0
