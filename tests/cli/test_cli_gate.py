"""``walkout gate test`` as a child process against the digital-I/O gate simulator.

The test plays the person: when the command prints its WALK THROUGH prompt, the test
walks through the simulated door. What the door saw comes from the simulator itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sim_devices.dio.simulator import DioSimSpec, DioSimulator

from .clitools import finish, start_walkout, store_yaml

WIRING = {"lock_coil": 0, "passage_input": 0}


@pytest.fixture
async def door() -> AsyncIterator[DioSimulator]:
    async with DioSimulator(DioSimSpec()) as sim:
        yield sim


def gate_store(tmp_path: Path, port: int, allow: Path) -> None:
    allow.write_text("credentials: []\n")
    store_yaml(
        tmp_path / "store.yaml",
        tcp_port=port,  # clitools names this bus gw-1
        extra={
            "gates": {
                "check": {"type": "allow_list", "path": str(allow)},
                "gates": [
                    {
                        "id": "entry-1",
                        "role": "entry",
                        "controller": {"type": "dio", "bus": "gw-1", "wiring": WIRING},
                    }
                ],
            }
        },
    )


async def run_gate_test(tmp_path: Path, door: DioSimulator, *, walk: bool) -> tuple[int, str, str]:
    args = ("gate", "test", "entry-1", "--wait", "5")
    proc = await start_walkout(*args, cwd=tmp_path)
    assert proc.stdout is not None
    seen: list[str] = []
    async with asyncio.timeout(30):
        while line := (await proc.stdout.readline()).decode():
            seen.append(line)
            if "WALK THROUGH" in line and walk:
                door.walk_through("entry")
            if "gate entry-1:" in line:
                break
    result = await finish(proc, args)
    return result.code, "".join(seen) + result.stdout, result.stderr


async def test_every_step_passes_on_a_working_door(tmp_path: Path, door: DioSimulator) -> None:
    gate_store(tmp_path, door.port, tmp_path / "allow.yaml")
    code, out, err = await run_gate_test(tmp_path, door, walk=True)
    assert code == 0, out + err
    assert "SKIP  credential read: no reader on this wiring" in out
    assert "PASS  open/close cycle" in out
    assert "PASS  passage sensor" in out
    assert "PASS  fail-open (release)" in out
    assert door.door("entry").passages == 1
    # Letting go of a gate releases it (the driver's fail-safe close), whatever its role.
    assert not door.door("entry").locked


async def test_nobody_walking_fails_the_passage_step(tmp_path: Path, door: DioSimulator) -> None:
    gate_store(tmp_path, door.port, tmp_path / "allow.yaml")
    code, out, _ = await run_gate_test(tmp_path, door, walk=False)
    assert code == 1
    assert "FAIL  passage sensor: no passage within 5 s" in out
    assert "PASS  open/close cycle" in out


async def test_unknown_gate(tmp_path: Path, door: DioSimulator) -> None:
    gate_store(tmp_path, door.port, tmp_path / "allow.yaml")
    proc = await start_walkout("gate", "test", "exit-9", cwd=tmp_path)
    result = await finish(proc, ("gate", "test", "exit-9"))
    assert result.code == 2
    assert "no gate 'exit-9' (known: entry-1)" in result.stderr
