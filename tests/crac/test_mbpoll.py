"""Debian's mbpoll (libmodbus), an independent Modbus master, against the CRAC simulator.

What mbpoll reads must be what the simulator's own API says it holds (``registers()``), and
decoding it by the manual's table (int16 tenths; irc2 float32 low word first) must give the
model's values. The model runs on a manual clock, so nothing moves while mbpoll reads.
mbpoll numbers registers from 1: register 101 is ``-r 102``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator

import pytest

from sim_devices.clock import ManualClock
from sim_devices.crac import CracSimulator, Refusal
from sim_devices.serial_line import LineSettings

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        shutil.which("mbpoll") is None,
        reason="mbpoll is not installed (apt-get install mbpoll): it is the independent peer",
    ),
]

MBPOLL_TIMEOUT_S = 10.0
VALUE_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)
"""mbpoll's result lines, e.g. ``[3]: \t240`` or ``[3]: \t65336 (-200)`` (unsigned first)."""


async def mbpoll_run(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-1", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(MBPOLL_TIMEOUT_S):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def mbpoll(*args: str) -> dict[int, str]:
    code, text = await mbpoll_run(*args)
    assert code == 0, f"mbpoll {' '.join(args)} exited {code}:\n{text}"
    return {int(ref): shown for ref, shown in VALUE_LINE.findall(text)}


def int16(word: int) -> int:
    return word - 0x10000 if word & 0x8000 else word


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[CracSimulator]:
    async with CracSimulator("pcw1", clock=clock, rtu=True, line=LineSettings(19200)) as simulator:
        simulator.crac.it_load_w = 12_000  # two compressors, a clear delta T
        clock.advance(1800)
        simulator.crac.set_fault("filter")
        yield simulator


def tcp(sim: CracSimulator) -> tuple[str, ...]:
    return ("-m", "tcp", "-p", str(sim.tcp_port), "-a", "1")


async def test_input_registers_are_what_the_simulator_holds(sim: CracSimulator) -> None:
    shown = await mbpoll(*tcp(sim), "-t", "3", "-r", "1", "-c", "15", "127.0.0.1")
    values = {ref - 1: int(v) for ref, v in shown.items()}
    assert values == sim.registers()["input"]
    crac = sim.crac
    assert values[0] == 0x50C1  # model code from the manual
    assert int16(values[2]) / 10 == pytest.approx(crac.return_air_c, abs=0.05)
    assert values[3] / 10 == pytest.approx(crac.humidity_pct, abs=0.05)
    assert int16(values[4]) / 10 == pytest.approx(crac.supply_air_c, abs=0.05)
    assert values[5] / 10 == pytest.approx(crac.fan_pct, abs=0.05)
    assert values[8] & 0b11 == sum(on << i for i, on in enumerate(crac.compressors_on))
    assert values[9] == 1 << 8  # alarm word 1: only bit 8, filter clogged
    assert (values[11] << 16 | values[12]) == int(crac.compressor_hours(0))


async def test_holding_registers_and_a_setpoint_written_by_mbpoll(sim: CracSimulator) -> None:
    shown = await mbpoll(*tcp(sim), "-t", "4", "-r", "101", "-c", "8", "127.0.0.1")
    values = {ref - 1: int(v) for ref, v in shown.items()}
    assert values == sim.registers()["holding"]
    assert values[100] == 1  # on
    assert int16(values[101]) == 240  # 24.0 °C in tenths
    await mbpoll(*tcp(sim), "-t", "4", "-r", "102", "127.0.0.1", "225")
    assert sim.crac.return_setpoint_c == pytest.approx(22.5)


async def test_local_lock_answers_mbpoll_with_exception_1(sim: CracSimulator) -> None:
    sim.crac.local_lock = True
    code, text = await mbpoll_run(*tcp(sim), "-t", "4", "-r", "102", "127.0.0.1", "225")
    assert code != 0
    assert "illegal function" in text.lower()
    assert sim.crac.return_setpoint_c == 24.0
    sim.crac.refusal = Refusal.IGNORE  # acknowledged and dropped: mbpoll sees success
    await mbpoll(*tcp(sim), "-t", "4", "-r", "102", "127.0.0.1", "225")
    assert sim.crac.return_setpoint_c == 24.0


async def test_rtu_line_on_a_pty(sim: CracSimulator) -> None:
    shown = await mbpoll(
        "-m", "rtu", "-b", "19200", "-d", "8", "-s", "1", "-P", "none", "-a", "1",
        "-t", "3", "-r", "3", "-c", "3", sim.rtu_path,
    )  # fmt: skip
    values = {ref - 1: int(v) for ref, v in shown.items()}
    assert values == {a: sim.registers()["input"][a] for a in (2, 3, 4)}


async def test_irc2_floats_low_word_first(clock: ManualClock) -> None:
    async with CracSimulator("irc2", clock=clock) as irc2:
        clock.advance(1800)
        # without -B mbpoll takes the low word first (CDAB), as the irc2 manual says
        shown = await mbpoll(
            "-m", "tcp", "-p", str(irc2.tcp_port), "-a", "1",
            "-t", "4:float", "-r", "1", "-c", "5", "127.0.0.1",
        )  # fmt: skip
        crac = irc2.crac
        expected = [
            crac.supply_air_c,
            crac.return_air_c,
            crac.humidity_pct,
            crac.fan_pct,
            crac.supply_setpoint_c,
        ]
        # mbpoll prints 6 significant digits (%g)
        assert [float(shown[r]) for r in (1, 3, 5, 7, 9)] == pytest.approx(expected, rel=1e-5)
