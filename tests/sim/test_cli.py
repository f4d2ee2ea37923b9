"""``python -m sim_devices shelf serve`` as a real subprocess."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient

from sim_devices.control import ControlClient

from .simtools import DEMO_SCENARIO, REPO_ROOT


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices", "shelf", *args,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(15):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def served() -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices", "shelf", "serve",
        "--scenario", str(DEMO_SCENARIO), "--control-port", "0", "--log-level", "WARNING",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            ready = json.loads(await proc.stdout.readline())
        yield proc, ready
    finally:
        if proc.returncode is None:
            proc.kill()
        async with asyncio.timeout(15):
            await proc.communicate()


async def test_serve_ready_line_control_and_sigterm(
    served: tuple[asyncio.subprocess.Process, dict[str, Any]],
) -> None:
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


async def test_quit_command_stops_process(
    served: tuple[asyncio.subprocess.Process, dict[str, Any]],
) -> None:
    proc, ready = served
    code, out, _ = await run_cli("control", "--port", str(ready["control_port"]), "quit")
    assert code == 0
    assert json.loads(out) == {"ok": True}
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_control_error_exit_status(
    served: tuple[asyncio.subprocess.Process, dict[str, Any]],
) -> None:
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
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices", "dio", "serve", "--port", "0", "--control-port", "0",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            ready = json.loads(await proc.stdout.readline())
        assert ready["ready"] is True
        assert ready["kind"] == "dio"
        client = AsyncModbusTcpClient("127.0.0.1", port=ready["port"], timeout=2, retries=0)
        assert await client.connect()
        try:
            reply = await client.read_coils(0, count=2, device_id=ready["unit"])
            assert not reply.isError()
        finally:
            client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(15):
            await proc.wait()
    assert proc.returncode == 0
