"""Signal the host to shut down: a configured command, run after a delay.

The command is site configuration (``["systemctl", "poweroff"]``, a UPS
vendor's script, ``["shutdown", "-h", "+0"]``): walkout only runs it, with
no shell, and reports its exit code and the end of its stderr.

Cancellation: the supervisor latches shutdown by default
(``Policy.latch_shutdown``), so a grid that returns before the command runs
does *not* cancel it; the only thing that cancels a pending shutdown is the
process itself exiting (the actuator's task being cancelled), which kills a
command still running and waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

_LOGGER = logging.getLogger(__name__)

STDERR_KEEP_CHARS = 2000
"""How much of the command's stderr (its end) goes into the outcome."""


@dataclass(frozen=True, slots=True)
class ShutdownResult:
    """How a shutdown signal went.

    ``ran``: the command was started (False for a dry run and for a repeat
    after a successful signal). ``exit_code`` is None when it did not run or
    was killed after its timeout.
    """

    ok: bool
    detail: str
    ran: bool = False
    exit_code: int | None = None
    stderr: str = ""
    dry_run: bool = False
    waited_s: float = 0.0


class HostShutdownRunner:
    """Runs ``command`` ``after_s + delay_s`` seconds after it is asked to.

    ``delay_s`` is the site's final grace (for the ledger's last fsync and the
    UPS's own shutdown timer to be set); ``timeout_s`` bounds the command
    itself, which is killed past it. ``dry_run`` waits the same time, then
    only logs what it would run and reports success. Once a command has
    succeeded, later requests report that the host was already signalled
    and run nothing.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        delay_s: float = 0.0,
        timeout_s: float = 30.0,
        dry_run: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        argv = list(command)
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ValueError(
                f"shutdown command must be a non-empty list of non-empty strings, got {command!r}"
            )
        if not delay_s >= 0:
            raise ValueError(f"shutdown delay_s must be >= 0, got {delay_s!r}")
        if not timeout_s > 0:
            raise ValueError(f"shutdown timeout_s must be > 0, got {timeout_s!r}")
        self.command = tuple(argv)
        self.delay_s = delay_s
        self.timeout_s = timeout_s
        self.dry_run = dry_run
        self.signalled = False
        self._sleep = sleep

    async def run(self, after_s: float = 0.0) -> ShutdownResult:
        """Wait ``after_s + delay_s``, then run the command (or report a dry run)."""
        if self.signalled:
            return ShutdownResult(True, "host shutdown already signalled; nothing run")
        wait_s = max(0.0, after_s) + self.delay_s
        shown = " ".join(self.command)
        _LOGGER.warning("host shutdown in %.1f s: %s%s", wait_s, shown, " (dry run)" * self.dry_run)
        if wait_s > 0:
            await self._sleep(wait_s)
        if self.dry_run:
            _LOGGER.warning("dry run: would run %s now", shown)
            return ShutdownResult(
                True, f"dry run: would have run {shown}", dry_run=True, waited_s=wait_s
            )
        result = await self._execute(shown)
        result = ShutdownResult(
            result.ok, result.detail, result.ran, result.exit_code, result.stderr, False, wait_s
        )
        if result.ok:
            self.signalled = True
        return result

    async def _execute(self, shown: str) -> ShutdownResult:
        started = time.monotonic()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            _LOGGER.error("host shutdown command could not start: %s: %s", shown, exc)
            return ShutdownResult(False, f"could not start {shown}: {exc}")
        try:
            async with asyncio.timeout(self.timeout_s):
                _, err = await proc.communicate()
        except TimeoutError:
            await _kill(proc)
            _LOGGER.error("host shutdown command timed out after %g s: %s", self.timeout_s, shown)
            return ShutdownResult(
                False, f"{shown} did not finish within {self.timeout_s:g} s; killed", ran=True
            )
        except BaseException:  # cancelled: the process is exiting, take the command with it
            await _kill(proc)
            raise
        stderr = err.decode("utf-8", "replace")[-STDERR_KEEP_CHARS:].strip()
        code = proc.returncode
        took = time.monotonic() - started
        if code == 0:
            _LOGGER.warning("host shutdown signalled: %s (%.2f s)", shown, took)
            return ShutdownResult(True, f"ran {shown}: exit 0", True, 0, stderr)
        _LOGGER.error("host shutdown command failed (exit %s): %s: %s", code, shown, stderr)
        tail = f": {stderr}" if stderr else ""
        return ShutdownResult(False, f"{shown} exited with {code}{tail}", True, code, stderr)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill and reap (SIGKILL cannot be ignored, so the wait is short)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()
