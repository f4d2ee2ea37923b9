"""The UPS simulator as a child process (``python -m sim_devices.ups serve``).

For callers that keep the simulator out of their own event loop (the bench,
crash tests that SIGKILL it): start it, read its ready line (SNMP port,
control port), stop and reap it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from types import TracebackType
from typing import Any, BinaryIO


class UpsProcessError(RuntimeError):
    """The simulator process did not come up; the message says how."""


class UpsSimulatorProcess:
    """``python -m sim_devices.ups serve --port 0 --control-port 0 [args]`` with its ready line.

    ``args`` are extra ``serve`` options (``["--accel", "60", "--trap",
    "127.0.0.1:16200/v2c/public"]``); ``stderr`` receives its log.
    """

    def __init__(
        self,
        args: list[str] | tuple[str, ...] = (),
        *,
        stderr: BinaryIO | None = None,
        ready_timeout_s: float = 30.0,
    ) -> None:
        self.args = list(args)
        self._stderr = stderr
        self._ready_timeout_s = ready_timeout_s
        self._proc: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        """Process id of the running simulator."""
        if self._proc is None:
            raise UpsProcessError("the UPS simulator is not running")
        return self._proc.pid

    @property
    def snmp_port(self) -> int:
        """UDP port of the SNMP agent (from the ready line)."""
        port: int = self.ready["snmp"]["port"]
        return port

    @property
    def control_port(self) -> int:
        """TCP port of the control API (from the ready line)."""
        port: int = self.ready["control_port"]
        return port

    async def start(self) -> dict[str, Any]:
        """Start it and return its ready line."""
        if self._proc is not None:
            raise UpsProcessError("the UPS simulator is already running")
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sim_devices.ups", "serve",
            "--port", "0", "--control-port", "0", "--log-level", "WARNING", *self.args,
            stdout=asyncio.subprocess.PIPE, stderr=self._stderr,
        )  # fmt: skip
        assert self._proc.stdout is not None
        try:
            async with asyncio.timeout(self._ready_timeout_s):
                line = await self._proc.stdout.readline()
        except TimeoutError:
            line = b""
        if not line:
            code = await self.kill()
            raise UpsProcessError(f"the UPS simulator gave no ready line (exit status {code})")
        try:
            ready = json.loads(line)
        except json.JSONDecodeError:
            ready = None
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            await self.kill()
            raise UpsProcessError(f"the UPS simulator's first line is not a ready line: {line!r}")
        self.ready = ready
        return ready

    async def wait(self, timeout_s: float = 10.0) -> int | None:
        """Wait for it to exit by itself (after ``quit``); None if still running then."""
        proc = self._proc
        if proc is None:
            return None
        try:
            async with asyncio.timeout(timeout_s):
                await proc.wait()
        except TimeoutError:
            return None
        return await self.kill()

    async def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; reaps it and returns its exit status."""
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(grace_s):
                    await proc.wait()
            except TimeoutError:
                pass
        return await self.kill()

    async def kill(self) -> int | None:
        """SIGKILL if still running and reap it; returns the exit status. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
        return proc.returncode

    async def __aenter__(self) -> UpsSimulatorProcess:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
