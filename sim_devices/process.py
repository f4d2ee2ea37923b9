"""A simulator as a child process, for callers that need it out of their own.

The bench keeps the simulator's CPU out of the runtime's event loop, the
benchmarks measure the two apart, crash tests SIGKILL it, and the store's
hardware-in-the-loop run starts the shelf and digital-I/O simulators: all of
them start ``python -m <simulator> serve``, wait for its ready line and reap
it, through this one class.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO


class SimulatorProcessError(RuntimeError):
    """The simulator process did not come up; the message carries its stderr tail."""


SHELF_SERVE = ("sim_devices", "shelf", "serve")
"""The shelf simulator's serve command (after ``python -m``)."""


class SimulatorProcess:
    """``python -m <command> [--scenario FILE] --control-port 0`` with its ready line.

    ``command`` defaults to the shelf simulator's serve command (which wants
    a ``scenario_file``); any simulator whose ``serve`` prints one JSON ready
    line and takes ``--control-port`` and ``--log-level`` runs the same way
    (``("sim_devices.dio", "serve")``); ``args`` are its own options.
    ``stderr`` (a file opened for binary
    writing) receives the simulator's log; without it the log goes to this
    process's stderr.
    """

    def __init__(
        self,
        scenario_file: Path | None = None,
        *,
        command: Sequence[str] = SHELF_SERVE,
        args: Sequence[str] = (),
        stderr: BinaryIO | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.scenario_file = scenario_file
        self.command = tuple(command)
        self.args = tuple(args)
        self._stderr = stderr
        self._ready_timeout_s = ready_timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """Process id of the running simulator."""
        if self._proc is None:
            raise SimulatorProcessError("the simulator is not running")
        return self._proc.pid

    async def start(self) -> dict[str, Any]:
        """Start it and return its ready line (servers, control port)."""
        if self._proc is not None:
            raise SimulatorProcessError("the simulator is already running")
        scenario = () if self.scenario_file is None else ("--scenario", str(self.scenario_file))
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *self.command,
            *scenario,
            "--control-port",
            "0",
            "--log-level",
            "WARNING",
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
        )
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                line = await self._proc.stdout.readline()
        except TimeoutError:
            line = b""
        if not line:
            await self.kill()
            raise SimulatorProcessError(
                f"the simulator gave no ready line within {self._ready_timeout_s:.0f} s"
            )
        ready = json.loads(line)
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            await self.kill()
            raise SimulatorProcessError(f"the simulator's first line is not a ready line: {line!r}")
        self.ready = ready
        return self.ready

    async def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s``; reaps it. Safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(grace_s):
                    await proc.wait()
            except TimeoutError:
                pass
        await self.kill()

    async def kill(self) -> None:
        """SIGKILL if still running and reap it, as a crash would leave it. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()  # reaps it and drains and closes the stdout pipe

    async def __aenter__(self) -> SimulatorProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
