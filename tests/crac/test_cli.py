"""``python -m sim_devices.crac serve|control`` as real subprocesses, driven over their ports."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator

import pytest
from peers.simprocess import Served, run_module, serving

from devices.crac import CracCommandError, ModbusCrac, get_crac_profile
from devices.modbus.link import RtuLink, TcpLink
from sim_devices.control import ControlClient, ControlError


async def run_cli(*args: str) -> tuple[int, str, str]:
    return await run_module("sim_devices.crac", *args)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving(
        "sim_devices.crac", "serve",
        "--port", "0", "--control-port", "0", "--rtu", "--baudrate", "115200",
        "--it-load-w", "9000", "--setpoint-range", "20,26", "--log-level", "WARNING",
    ) as served:  # fmt: skip
        yield served


async def test_serve_control_and_drive_it(served: Served) -> None:
    proc, ready = served
    assert ready["ready"] is True
    assert (ready["model"], ready["unit_id"]) == ("pcw1", 1)
    tcp, rtu = ready["servers"]
    assert (tcp["kind"], rtu["kind"]) == ("tcp", "rtu")
    assert rtu["path"].startswith("/dev/pts/")
    assert rtu["baudrate"] == 115200

    async with ControlClient(ready["control_port"]) as control:
        state = (await control.request("state"))["state"]
        assert state["it_load_w"] == 9000
        await control.request("advance", s=1800)
        answer = await control.request("fault", name="compressor")
        assert answer["faults"] == ["compressor_1", "compressor_2"]
        await control.request("advance", s=600)
        state = (await control.request("state"))["state"]
        assert state["room_air_c"] > 30
        assert "high_return_temp" in state["alarms"]
        with pytest.raises(ControlError, match="unknown fault 'boiler'"):
            await control.request("fault", name="boiler")
        with pytest.raises(ControlError, match="unknown command 'melt'"):
            await control.request("melt")

        link = TcpLink("cli", "127.0.0.1", tcp["port"], timeout_s=0.5)
        try:
            crac = ModbusCrac("cli", link, 1, get_crac_profile("pcw1"), verify_timeout_s=0.3)
            reading = await crac.read()
            registers = (await control.request("state"))["state"]["registers"]
            # the process runs on real time: allow one count of movement between the two reads
            assert reading.return_air_c == pytest.approx(
                int(registers["input"]["2"]) / 10, abs=0.11
            )
            assert reading.alarms is not None
            assert "compressor_1_failure" in reading.alarms
            with pytest.raises(CracCommandError, match=r"exception 3 \(illegal data value\)"):
                await crac.set_setpoint(27.0)  # --setpoint-range 20,26
            await crac.set_setpoint(25.0)
        finally:
            await link.close()
        await control.request("local_lock", on=True)

    rtu_link = RtuLink("cli-rtu", rtu["path"], baudrate=115200, timeout_s=0.2)
    try:
        crac = ModbusCrac("cli-rtu", rtu_link, 1, get_crac_profile("pcw1"))
        reading = await crac.read()
        assert reading.local_mode is True
        assert reading.return_setpoint_c == pytest.approx(25.0)
    finally:
        await rtu_link.close()

    code, out, err = await run_cli(
        "control", "--port", str(ready["control_port"]), "link-fault", "silent"
    )
    assert code == 0, err
    assert json.loads(out)["link_fault"]["mode"] == "silent"
    code, out, err = await run_cli("control", "--port", str(ready["control_port"]), "quit")
    assert (code, json.loads(out)) == (0, {"ok": True})
    async with asyncio.timeout(15):
        assert await proc.wait() == 0


async def test_sigterm_stops_it_cleanly(served: Served) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(15):
        assert await proc.wait() == 0


async def test_bad_arguments_and_unreachable_simulator(free_tcp_port: int) -> None:
    code, _, err = await run_cli("serve", "--model", "xyz")
    assert code == 2
    assert "invalid choice: 'xyz'" in err
    code, _, err = await run_cli("serve", "--unit-id", "300")
    assert code == 2
    assert "unit id 300 outside 1..247" in err
    code, _, err = await run_cli("control", "--port", str(free_tcp_port), "state")
    assert code == 1
    assert "cannot reach the simulator" in err
