"""Debian's mbpoll (libmodbus) as an independent master against the simulator."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim_devices import ItemSpec, RtuServerSpec, Scenario, ShelfSimulator, TcpServerSpec, UnitSpec

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed"),
]

VALUE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)


async def mbpoll(*args: str) -> tuple[int, dict[int, str], str]:
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-1", "-0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(10):
        out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode is not None
    return proc.returncode, {int(a): v for a, v in VALUE.findall(text)}, text


@pytest.fixture
async def sim() -> AsyncIterator[ShelfSimulator]:
    mc10 = UnitSpec(
        unit_id=1,
        cells=4,
        length_m=1.2,
        dead_load_g=800.0,
        sigma_g=0.0,
        items=(ItemSpec(300.0, 0.6),),
        serial_number=20261234,
    )
    tx1 = UnitSpec(unit_id=2, model="tx1", dead_load_g=-42.5, sigma_g=0.0)
    scenario = Scenario(
        servers=(TcpServerSpec(units=(mc10,)), RtuServerSpec(units=(mc10, tx1), baudrate=19200))
    )
    async with ShelfSimulator(scenario) as simulator:
        yield simulator


async def test_mbpoll_tcp_floats_big_endian(sim: ShelfSimulator) -> None:
    port = str(sim.tcp_port(0))
    code, values, text = await mbpoll(
        "-m", "tcp", "-p", port, "-a", "1", "-t", "3:float", "-B", "-r", "0", "-c", "4",
        "127.0.0.1",
    )  # fmt: skip
    assert code == 0, text
    assert [float(values[a]) for a in (0, 2, 4, 6)] == [200.0, 350.0, 350.0, 200.0]
    code, values, text = await mbpoll(
        "-m", "tcp", "-p", port, "-a", "1", "-t", "4:int", "-B", "-r", "200", "127.0.0.1"
    )  # fmt: skip
    assert code == 0, text
    assert values[200] == "20261234"


async def test_mbpoll_tcp_exception_and_gateway(sim: ShelfSimulator) -> None:
    port = str(sim.tcp_port(0))
    code, _, text = await mbpoll(
        "-m", "tcp", "-p", port, "-a", "1", "-t", "3", "-r", "32", "127.0.0.1"
    )
    assert code != 0
    assert "Illegal data address" in text
    code, _, text = await mbpoll("-m", "tcp", "-p", port, "-a", "9", "-t", "3", "127.0.0.1")
    assert code != 0
    assert "Target device failed to respond" in text


async def test_mbpoll_rtu_multidrop_and_write(sim: ShelfSimulator) -> None:
    path = sim.rtu_path(1)
    rtu = ("-m", "rtu", "-b", "19200", "-P", "none")
    code, values, text = await mbpoll(*rtu, "-a", "2", "-t", "4:int", "-r", "0", path)
    assert code == 0, text
    assert values[0] == "-425"  # -42.5 g in 0.1 g, low word first (mbpoll's default)
    code, _, text = await mbpoll(*rtu, "-a", "1", "-t", "4", "-r", "100", path, "1", "15")
    assert code == 0, text  # FC16 [tare, all cells]
    code, values, text = await mbpoll(
        *rtu, "-a", "1", "-t", "3:float", "-B", "-r", "0", "-c", "4", path
    )
    assert code == 0, text
    assert [float(values[a]) for a in (0, 2, 4, 6)] == [0.0, 0.0, 0.0, 0.0]
    code, _, text = await mbpoll(*rtu, "-a", "7", "-o", "0.2", "-t", "3", path)
    assert code != 0
    assert "timed out" in text
    assert sim.stats()[1]["ignored"] == 1


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat not installed")
async def test_serves_one_end_of_a_socat_pair(tmp_path: Path) -> None:
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    socat = await asyncio.create_subprocess_exec(
        "socat", "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}",
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert socat.stderr is not None
        async with asyncio.timeout(5):
            while b"starting data transfer loop" not in await socat.stderr.readline():
                pass
        unit = UnitSpec(unit_id=4, model="tx1", dead_load_g=250.0, sigma_g=0.0)
        scenario = Scenario(servers=(RtuServerSpec(units=(unit,), device=str(a)),))
        async with ShelfSimulator(scenario):
            code, values, text = await mbpoll(
                "-m", "rtu", "-b", "19200", "-P", "none", "-a", "4", "-t", "4:int", "-r", "0",
                str(b),
            )  # fmt: skip
        assert code == 0, text
        assert values[0] == "2500"
    finally:
        if socat.returncode is None:
            socat.terminate()
        async with asyncio.timeout(5):
            await socat.communicate()
