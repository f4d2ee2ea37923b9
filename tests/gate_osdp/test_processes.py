"""The simulator as ``python -m sim_devices.osdp_pd serve``, and a control panel that dies."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.gate.io import CredentialPresented, GateLinkChanged
from sim_devices.control import ControlClient, ControlError

from .osdptools import ADDRESS, KEY, next_of, pd_spec, until

REPO_ROOT = Path(__file__).resolve().parents[2]

# A control panel in its own process: lock the exit, say so, then wait to be killed.
CP_CHILD = """
import asyncio, sys
from devices.bus import Bus
from devices.gate.osdp import OsdpGate
from devices.gate.osdp_config import OsdpGateSettings, OsdpLineSettings

async def main(path, key, address):
    gate = OsdpGate("exit-1", OsdpGateSettings(address=address, scbk=key),
                    line=OsdpLineSettings(port=path), bus=Bus())
    await gate.connect()
    await gate.lock()
    print("locked", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


@pytest.fixture
async def served(
    tmp_path: Path,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, Any]]]:
    key_file = tmp_path / "scbk"
    key_file.write_text(KEY.hex() + "\n")
    ready_file = tmp_path / "ready.json"
    with (tmp_path / "sim.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sim_devices.osdp_pd", "serve",
            "--address", str(ADDRESS), "--scbk-file", str(key_file), "--watchdog-s", "1.5",
            "--control-port", "0", "--ready-file", str(ready_file), "--log-level", "WARNING",
            cwd=REPO_ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
    try:
        await until(ready_file.exists, timeout_s=20, what="simulator ready file")
        yield proc, json.loads(ready_file.read_text())
    finally:
        if proc.returncode is None:
            proc.kill()
        async with asyncio.timeout(15):
            await proc.wait()


async def test_simulator_process_with_driver_and_control(served, make_gate, events):
    proc, ready = served
    assert ready["ready"] is True
    assert ready["path"].startswith("/dev/pts/")
    assert [pd["address"] for pd in ready["pds"]] == [ADDRESS]

    gate = await make_gate(ready["path"])
    async with ControlClient(ready["control_port"]) as control:
        answer = await control.request("card", hex="123456C0", bits=26)
        cred = await next_of(events, CredentialPresented)
        assert (cred.credential, cred.bits) == ("048D15B", 26)
        assert cred.t_mono >= answer["t"]  # one CLOCK_MONOTONIC for both processes

        await gate.hold_open()
        (state,) = (await control.request("state"))["pds"]
        assert state["secure"] is True
        assert state["relay"]["passage"] == "open"

        with pytest.raises(ControlError, match="unknown fault"):
            await control.request("fault", mode="melt")
        await control.request("fault", mode="silent")
        down = await next_of(events, GateLinkChanged, timeout_s=3.0)
        while down.online:
            down = await next_of(events, GateLinkChanged, timeout_s=3.0)
        assert "no reply" in down.reason
        await control.request("fault", mode="none")
        await next_of(events, GateLinkChanged, timeout_s=10.0)
        await gate.close()
        await control.request("quit")
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_simulator_process_stops_on_sigterm(served):
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_killed_control_panel_makes_the_exit_fail_open(make_sim):
    sim = make_sim(pd_spec(watchdog_s=0.5))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CP_CHILD, sim.path, KEY.hex(), str(ADDRESS),
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        async with asyncio.timeout(20):
            assert await child.stdout.readline() == b"locked\n"
        assert sim.state()["relay"]["passage"] == "locked"
        child.kill()  # SIGKILL: no release, no goodbye
        async with asyncio.timeout(10):
            await child.wait()
        await until(lambda: sim.state()["relay"]["failsafe"], timeout_s=3.0, what="PD watchdog")
        state = sim.state()
        assert state["relay"]["passage"] == "open"
        assert state["relay_changes"][-1]["why"] == "failsafe"
        assert state["failsafe_trips"] == 1
    finally:
        if child.returncode is None:
            child.kill()
        async with asyncio.timeout(10):
            await child.communicate()
