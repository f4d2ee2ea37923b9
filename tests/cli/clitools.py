"""Running the real ``walkout`` CLI and the shelf simulator as child processes.

The simulator is started with ``python -m sim_devices shelf serve --control-port 0``; its
one JSON ready line gives the TCP ports, the pty path and the control port. The CLI is
the installed ``walkout`` console script, run with a wide terminal so that rich does not
wrap its tables and messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim_devices.control import ControlClient

REPO_ROOT = Path(__file__).resolve().parents[2]
WALKOUT = Path(sys.executable).parent / "walkout"
READY_TIMEOUT_S = 10.0
CLI_TIMEOUT_S = 20.0

QUIET = {"sigma_g": 0.0, "drift_g_per_h": 0.0}
"""Noise-free, drift-free cells: what the simulator says it holds does not move."""

MC10_GAIN_ERRORS = [0.03, -0.02, 0.0, 0.01]
MC10_OFFSETS_G = [20.0, -15.0, 0.0, 5.0]
MC10_SERIAL = 20261234
MC10_FIRMWARE = 0x0207
TX1_SERIAL = 20265678


def mc10_unit(**overrides: Any) -> dict[str, Any]:
    """The mc10 of the tests: 4 cells over 1.2 m, known gain errors and offsets, a jar."""
    unit: dict[str, Any] = {
        "unit_id": 1,
        "model": "mc10",
        "cells": 4,
        "length_m": 1.2,
        **QUIET,
        "gain_errors": MC10_GAIN_ERRORS,
        "offsets_g": MC10_OFFSETS_G,
        "serial_number": MC10_SERIAL,
        "firmware": MC10_FIRMWARE,
        "items": [{"weight_g": 500.0, "position_m": 0.3, "label": "jar"}],
    }
    unit.update(overrides)
    return unit


def tx1_unit(**overrides: Any) -> dict[str, Any]:
    unit: dict[str, Any] = {
        "unit_id": 2,
        "model": "tx1",
        **QUIET,
        "dead_load_g": 250.0,
        "serial_number": TX1_SERIAL,
    }
    unit.update(overrides)
    return unit


def shop_scenario(**mc10_overrides: Any) -> dict[str, Any]:
    """Server 0: TCP with the mc10 as unit 1; server 1: RTU 19200 8N1 with the tx1 as unit 2."""
    return {
        "name": "cli-tests",
        "servers": [
            {"kind": "tcp", "host": "127.0.0.1", "port": 0, "units": [mc10_unit(**mc10_overrides)]},
            {
                "kind": "rtu",
                "baudrate": 19200,
                "parity": "N",
                "stopbits": 1,
                "units": [tx1_unit()],
            },
        ],
    }


class SimProcess:
    """The simulator as a child process; ``ready`` is its parsed ready line."""

    def __init__(self, scenario: dict[str, Any], workdir: Path, name: str = "sim") -> None:
        self.scenario_path = workdir / f"{name}-scenario.yaml"
        self.scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
        self.log_path = workdir / f"{name}.log"
        self.ready: dict[str, Any] = {}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sim_devices",
                    "shelf",
                    "serve",
                    "--scenario",
                    str(self.scenario_path),
                    "--control-port",
                    "0",
                    "--log-level",
                    "WARNING",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )
        try:
            self.ready = json.loads(self._ready_line())
        except BaseException:
            self.stop()
            raise

    def _ready_line(self) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        data = b""
        deadline = time.monotonic() + READY_TIMEOUT_S
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    pytest.fail(f"simulator not ready in {READY_TIMEOUT_S} s: {self.log()}")
                chunk = os.read(fd, 4096)
                if not chunk:
                    pytest.fail(f"simulator exited before its ready line: {self.log()}")
                data += chunk
        return data.decode()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def control_port(self) -> int:
        port: int = self.ready["control_port"]
        return port

    def server(self, index: int) -> dict[str, Any]:
        server: dict[str, Any] = self.ready["servers"][index]
        return server

    def tcp_port(self, index: int = 0) -> int:
        port: int = self.server(index)["port"]
        return port

    def pty(self, index: int = 1) -> str:
        path: str = self.server(index)["path"]
        return path

    def stop(self) -> None:
        """Kill and reap it, closing its pipe; idempotent."""
        if self.proc.returncode is None:
            self.proc.kill()
        self.proc.communicate(timeout=READY_TIMEOUT_S)


async def unit_state(sim: SimProcess, server: int, unit: int) -> dict[str, Any]:
    """What the simulator says one unit holds now (its control ``state`` command)."""
    async with ControlClient(sim.control_port) as control:
        (info,) = await control.state(unit, server=server)
    (state,) = info["units"]
    return dict(state)


StartSim = Callable[..., SimProcess]
"""The ``start_sim`` fixture: ``start_sim(scenario=None, name="sim") -> SimProcess``."""


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return (
            f"walkout {' '.join(self.args)} -> exit {self.code}\n"
            f"--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"
        )


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WALKOUT_")}
    env.update(COLUMNS="400", LINES="50", NO_COLOR="1", PYTHONIOENCODING="utf-8")
    env.update(PYTHONUNBUFFERED="1", TERM="dumb")
    return env


async def start_walkout(*args: str, cwd: Path, stdin: bool = False) -> asyncio.subprocess.Process:
    """Start ``walkout ARGS`` with piped stdout/stderr (and stdin if asked)."""
    if not WALKOUT.exists():
        pytest.fail(f"the walkout console script is not installed at {WALKOUT}")
    return await asyncio.create_subprocess_exec(
        str(WALKOUT),
        *args,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=cli_env(),
    )


async def finish(
    proc: asyncio.subprocess.Process, args: tuple[str, ...], timeout_s: float = CLI_TIMEOUT_S
) -> Result:
    """Wait for a started CLI process (killed and reaped if it overruns)."""
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        pytest.fail(f"walkout {' '.join(args)} still running after {timeout_s} s: {err!r}")
    assert proc.returncode is not None
    return Result(args, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def walkout(*args: str, cwd: Path) -> Result:
    """Run ``walkout ARGS`` to completion."""
    return await finish(await start_walkout(*args, cwd=cwd), args)


async def walkout_all(*commands: tuple[str, ...], cwd: Path) -> list[Result]:
    """Run several independent ``walkout`` commands at once."""
    return list(await asyncio.gather(*(walkout(*c, cwd=cwd) for c in commands)))


class OutputReader:
    """Reads a child's stdout incrementally: prompts end without a newline."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.text = ""
        self._pos = 0

    async def expect(self, needle: str, timeout_s: float = 10.0) -> str:
        """Wait until ``needle`` appears after what earlier calls consumed; returns the text."""
        try:
            async with asyncio.timeout(timeout_s):
                while needle not in self.text[self._pos :]:
                    chunk = await self.stream.read(4096)
                    if not chunk:
                        break
                    self.text += chunk.decode(errors="replace")
        except TimeoutError:
            pass
        found = self.text.find(needle, self._pos)
        if found < 0:
            pytest.fail(f"{needle!r} did not appear within {timeout_s} s; output:\n{self.text}")
        self._pos = found + len(needle)
        return self.text


def store_yaml(
    path: Path,
    *,
    tcp_port: int,
    pty: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """A store.yaml for the test shop: sc-01 (mc10) on TCP, tx-02 (tx1) on the RTU pty."""
    buses: list[dict[str, Any]] = [
        {"id": "gw-1", "type": "tcp", "host": "127.0.0.1", "port": tcp_port, "timeout_s": 0.5}
    ]
    units: list[dict[str, Any]] = [{"id": "sc-01", "bus": "gw-1", "unit_id": 1, "profile": "mc10"}]
    shelves: list[dict[str, Any]] = [
        {"id": "A1", "unit": "sc-01", "cells": [0, 1, 2, 3], "length_m": 1.2}
    ]
    if pty is not None:
        buses.append(
            {
                "id": "rs485-a",
                "type": "rtu",
                "port": pty,
                "baudrate": 19200,
                "parity": "N",
                "stopbits": 1,
                "timeout_s": 0.2,
            }
        )
        units.append({"id": "tx-02", "bus": "rs485-a", "unit_id": 2, "profile": "tx1"})
        shelves.append({"id": "C1", "unit": "tx-02", "cells": [0], "length_m": 0.4})
    data: dict[str, Any] = {
        "store": {"id": "test-store", "name": "CLI tests"},
        "modbus": {"buses": buses, "units": units},
        "shelves": shelves,
    }
    data.update(extra or {})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


_BAR = re.compile(r"[│┃|]")


def table_rows(text: str) -> list[list[str]]:
    """Cells of every row of a rich table in ``text`` (header row included)."""
    rows = []
    for line in text.splitlines():
        parts = _BAR.split(line)
        if len(parts) >= 3:
            rows.append([p.strip() for p in parts[1:-1]])
    return rows


def table_value(text: str, name: str) -> str:
    """The value column of the probe table's row ``name``."""
    values = [row[1] for row in table_rows(text) if len(row) >= 2 and row[0] == name]
    assert len(values) == 1, f"no single {name!r} row in:\n{text}"
    return values[0]


def floats(cell: str) -> list[float]:
    return [float(v) for v in cell.split(",")]
