"""Debian's mbpoll (libmodbus), an independent Modbus master, reads and writes the simulator.

The expected values come from the simulator's own API (``readings``, ``unit_state``) and
from the register maps in the device manuals (mc10: float32 ABCD in input registers, model
code 0x0A10 at 30; tx1: int32 x 0.1 g low word first in holding 0..1, status at 2, command
at 40). The load-cell model runs on a manual clock, so what the simulator says it holds
cannot change between its answer to mbpoll and the test's question.

mbpoll addresses registers from 1 unless told otherwise: register 30 is ``-r 31``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator

import pytest

from sim_devices import RtuServerSpec, Scenario, ShelfSimulator, TcpServerSpec, UnitSpec
from sim_devices.clock import ManualClock

pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        shutil.which("mbpoll") is None,
        reason="mbpoll is not installed (apt-get install mbpoll): it is the independent peer",
    ),
]

MBPOLL_TIMEOUT_S = 10.0
VALUE_LINE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)
"""mbpoll's result lines, e.g. ``[31]: \t2576`` or ``[1]: \t53190 (-12346)``."""

MC10_MODEL_CODE = 0x0A10
MC10_SERIAL = 20261234
MC10_FIRMWARE = 0x0207
MC10_GAIN_ERRORS = (0.03, -0.02, 0.0, 0.01)
MC10_OFFSETS_G = (20.0, -15.0, 0.0, 5.0)
TX1_DEAD_LOAD_G = 250.0
TX1_COMMAND_TARE = 1

TCP, RTU = 0, 1  # server indexes in the scenario


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[ShelfSimulator]:
    mc10 = UnitSpec(
        unit_id=1,
        model="mc10",
        cells=4,
        length_m=1.2,
        sigma_g=0.0,
        drift_g_per_h=0.0,
        gain_errors=MC10_GAIN_ERRORS,
        offsets_g=MC10_OFFSETS_G,
        serial_number=MC10_SERIAL,
        firmware=MC10_FIRMWARE,
    )
    tx1 = UnitSpec(
        unit_id=1, model="tx1", sigma_g=0.0, drift_g_per_h=0.0, dead_load_g=TX1_DEAD_LOAD_G
    )
    scenario = Scenario(
        servers=(
            TcpServerSpec(units=(mc10,), host="127.0.0.1", port=0),
            RtuServerSpec(units=(tx1,), baudrate=19200, parity="N", stopbits=1),
        ),
        name="mbpoll-peer",
    )
    async with ShelfSimulator(scenario, clock=clock) as simulator:
        yield simulator


async def mbpoll_text(*args: str) -> dict[int, str]:
    """Run mbpoll once (``-1``); the values it printed, by reference number.

    Runs as an asyncio subprocess, so the in-process simulator keeps serving meanwhile.
    """
    proc = await asyncio.create_subprocess_exec(
        "mbpoll",
        "-1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(MBPOLL_TIMEOUT_S):
            out, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, f"mbpoll {' '.join(args)} exited {proc.returncode}:\n{text}"
    return {int(ref): shown for ref, shown in VALUE_LINE.findall(text)}


async def mbpoll(*args: str) -> dict[int, int]:
    """16-bit registers read (or written) by mbpoll, as the unsigned values it prints."""
    return {ref: int(shown) for ref, shown in (await mbpoll_text(*args)).items()}


async def mbpoll_floats(*args: str) -> dict[int, float]:
    """32-bit floats read by mbpoll (``-t 3:float``), keyed by their first reference."""
    return {ref: float(shown) for ref, shown in (await mbpoll_text(*args)).items()}


def tcp_args(sim: ShelfSimulator) -> tuple[str, ...]:
    return ("-m", "tcp", "-p", str(sim.tcp_port(TCP)), "-a", "1")


def rtu_args(sim: ShelfSimulator) -> tuple[str, ...]:
    return ("-m", "rtu", "-b", "19200", "-d", "8", "-s", "1", "-P", "none", "-a", "1")


def int32_low_word_first(low: int, high: int) -> int:
    """Two registers of a tx1 weight (CDAB) as a signed 32-bit count."""
    value = (high << 16) | low
    return value - (1 << 32) if value & 0x8000_0000 else value


async def test_mc10_identity_registers(sim: ShelfSimulator) -> None:
    values = await mbpoll(*tcp_args(sim), "-t", "3", "-r", "31", "-c", "2", "127.0.0.1")
    assert values == {31: MC10_MODEL_CODE, 32: sim.shelf(1, server=TCP).cells}
    assert values[32] == 4
    # holding 200..201 serial uint32 ABCD (high word first), 202 firmware
    values = await mbpoll(*tcp_args(sim), "-t", "4", "-r", "201", "-c", "3", "127.0.0.1")
    state = sim.unit_state(1, server=TCP)
    assert (values[201] << 16) | values[202] == state["serial_number"] == MC10_SERIAL
    assert values[203] == MC10_FIRMWARE


async def test_mc10_cell_weights_are_big_endian_floats(
    sim: ShelfSimulator, clock: ManualClock
) -> None:
    sim.put(1, 437.3, 0.37, "jar", server=TCP)  # between cells 0 and 1 (0.4 m pitch)
    sim.put(1, 1250.0, 1.0, "bottles", server=TCP)  # between cells 2 and 3
    clock.settle()
    values = await mbpoll_floats(
        *tcp_args(sim), "-t", "3:float", "-B", "-r", "1", "-c", "4", "127.0.0.1"
    )
    assert sorted(values) == [1, 3, 5, 7]  # two registers per cell
    expected = sim.readings(1, server=TCP).weights_g
    # mbpoll prints 6 significant digits (%g): that, not float32, bounds the agreement
    assert [values[r] for r in (1, 3, 5, 7)] == pytest.approx(expected, rel=1e-5, abs=1e-4)
    assert all(abs(w) > 10 for w in expected)  # every cell carries something non-trivial
    masks = await mbpoll(*tcp_args(sim), "-t", "3", "-r", "21", "-c", "2", "127.0.0.1")
    reading = sim.readings(1, server=TCP)
    assert masks[21] == sum(int(s) << i for i, s in enumerate(reading.stable)) == 0b1111
    assert masks[22] == sum(int(o) << i for i, o in enumerate(reading.overload)) == 0


@pytest.mark.parametrize(
    ("change", "grams"),
    [("put", 9000.0), ("take_g", 400.0)],
    ids=["above-one-word", "negative"],
)
async def test_tx1_weight_is_int32_low_word_first(
    sim: ShelfSimulator, clock: ManualClock, change: str, grams: float
) -> None:
    if change == "put":
        sim.put(1, grams, 0.0, server=RTU)  # 9250 g = 92500 x 0.1 g: the high word is 1
    else:
        sim.take_g(1, grams, 0.0, server=RTU)  # 250 g - 400 g: negative, two's complement
    clock.settle()
    path = sim.rtu_path(RTU)
    values = await mbpoll(*rtu_args(sim), "-t", "4", "-r", "1", "-c", "3", path)
    assert sorted(values) == [1, 2, 3]
    reading = sim.readings(1, server=RTU)
    tenths = int32_low_word_first(low=values[1], high=values[2])
    assert tenths / 10 == pytest.approx(reading.weights_g[0], abs=0.051)
    assert values[2] != 0  # the high word matters in both cases
    assert values[3] == int(reading.stable[0]) | int(reading.overload[0]) << 1
    assert values[3] & 1  # settled: stable


async def test_tare_written_by_mbpoll(sim: ShelfSimulator, clock: ManualClock) -> None:
    sim.put(1, 1234.5, 0.0, server=RTU)
    clock.settle()
    assert sim.readings(1, server=RTU).weights_g[0] == pytest.approx(TX1_DEAD_LOAD_G + 1234.5)
    path = sim.rtu_path(RTU)
    # write 1 (tare) to holding register 40 (reference 41)
    await mbpoll(*rtu_args(sim), "-t", "4", "-r", "41", path, str(TX1_COMMAND_TARE))
    assert sim.readings(1, server=RTU).weights_g[0] == pytest.approx(0.0, abs=1e-6)
    assert sim.true_loads(1, server=RTU)[0] == pytest.approx(TX1_DEAD_LOAD_G + 1234.5)
    values = await mbpoll(*rtu_args(sim), "-t", "4", "-r", "1", "-c", "2", path)
    assert values == {1: 0, 2: 0}
