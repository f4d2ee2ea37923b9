"""A simulator's ``python -m ... serve`` entry as a child process, as the tests drive it.

Every ``serve`` prints one ready JSON line (its ports) on stdout once it
listens; the tests read that line instead of guessing when the ports are up.
Children run from the repository root with stdout and stderr piped, so a
simulator that dies early shows why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 15.0
"""For one step: the ready line, a CLI run to its end, an exit after SIGTERM."""

Served = tuple[asyncio.subprocess.Process, dict[str, Any]]
"""The running process and its ready line."""


async def run_module(module: str, *args: str) -> tuple[int, str, str]:
    """``python -m module args`` to its end: exit status, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(TIMEOUT_S):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def serving(module: str, *args: str) -> AsyncIterator[Served]:
    """Start ``python -m module args`` and read its ready line; stop it when the block ends.

    Stopping is SIGTERM, then SIGKILL if it has not exited within ``TIMEOUT_S``;
    either way the process is reaped. A test that stops it itself (``quit``,
    its own SIGTERM) leaves nothing to do here.
    """
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(TIMEOUT_S):
            line = await proc.stdout.readline()
        if not line:
            assert proc.stderr is not None
            async with asyncio.timeout(TIMEOUT_S):
                err = await proc.stderr.read()
            raise AssertionError(f"{module} printed no ready line: {err.decode()[-2000:]}")
        yield proc, json.loads(line)
    finally:
        await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                await proc.communicate()
            return
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    async with asyncio.timeout(TIMEOUT_S):
        await proc.communicate()
