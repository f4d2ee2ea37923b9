"""Host shutdown with real (harmless) commands: delay, dry run, failure, timeout, cancel."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from devices.bus import Bus
from facility.actuation import Actuator, HostShutdownRunner
from facility.supervisor import ShutdownHost, StoreMode

from .conftest import Outcomes, running, stop


def writer(path: Path) -> list[str]:
    """A command that records when it ran (monotonic seconds share the host clock)."""
    code = "import pathlib, sys, time; pathlib.Path(sys.argv[1]).write_text(repr(time.monotonic()))"
    return [sys.executable, "-c", code, str(path)]


def shutdown(after_s: float, t_mono: float) -> ShutdownHost:
    return ShutdownHost(
        source="supervisor", t_mono=t_mono, mode=StoreMode.SHUTDOWN, reason="t", after_s=after_s
    )


async def test_command_runs_after_after_s_plus_delay(
    tmp_path: Path, bus: Bus, outcomes: Outcomes
) -> None:
    mark = tmp_path / "ran"
    runner = HostShutdownRunner(writer(mark), delay_s=0.2, timeout_s=20)
    task = await running(Actuator(bus, shutdown=runner))
    try:
        asked = time.monotonic()
        await bus.publish(shutdown(after_s=0.3, t_mono=asked))
        assert not mark.exists()
        outcome = await outcomes.next("shutdown_host", timeout_s=20)
    finally:
        await stop(task)
    assert outcome.ok
    assert outcome.verified
    assert outcome.detail.endswith("exit 0")
    ran_at = float(mark.read_text())
    assert ran_at - asked >= 0.5  # after_s 0.3 + delay_s 0.2
    assert outcome.duration_s >= 0.5
    assert runner.signalled
    again = await runner.run(0.0)  # latched: the host is going down, nothing runs twice
    assert again.ok
    assert not again.ran


async def test_time_already_passed_since_the_request_is_deducted(tmp_path: Path, bus: Bus) -> None:
    mark = tmp_path / "ran"
    runner = HostShutdownRunner(writer(mark), delay_s=0.0, timeout_s=20)
    started = time.monotonic()
    # Asked 100 s ago with after_s 100: due now.
    outcome = await Actuator(bus, shutdown=runner).execute(shutdown(100.0, started - 100.0))
    assert outcome.ok
    assert time.monotonic() - started < 15  # not another 100 s


async def test_dry_run_only_reports(tmp_path: Path, bus: Bus) -> None:
    mark = tmp_path / "ran"
    runner = HostShutdownRunner(writer(mark), delay_s=0.1, dry_run=True)
    outcome = await Actuator(bus, shutdown=runner).execute(shutdown(0.0, time.monotonic()))
    assert outcome.ok
    assert not outcome.verified
    assert outcome.detail.startswith("dry run: would have run ")
    assert str(mark) in outcome.detail
    assert outcome.duration_s >= 0.1
    assert not mark.exists()
    assert not runner.signalled


async def test_failing_command_reports_exit_code_and_stderr(bus: Bus) -> None:
    code = "import sys; sys.stderr.write('poweroff: Access denied\\n'); sys.exit(3)"
    runner = HostShutdownRunner([sys.executable, "-c", code], timeout_s=20)
    outcome = await Actuator(bus, shutdown=runner).execute(shutdown(0.0, time.monotonic()))
    assert not outcome.ok
    assert "exited with 3: poweroff: Access denied" in outcome.detail
    assert not runner.signalled
    direct = await runner.run(0.0)
    assert (direct.exit_code, direct.stderr) == (3, "poweroff: Access denied")


async def test_missing_command_and_hung_command(bus: Bus, tmp_path: Path) -> None:
    missing = HostShutdownRunner([str(tmp_path / "no-such-shutdown")])
    result = await missing.run(0.0)
    assert not result.ok
    assert not result.ran
    assert "could not start" in result.detail
    hung = HostShutdownRunner([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.5)
    result = await hung.run(0.0)
    assert not result.ok
    assert result.ran
    assert result.exit_code is None
    assert "did not finish within 0.5 s; killed" in result.detail


async def test_process_exit_cancels_a_pending_shutdown(tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    waiting = asyncio.Event()

    async def sleep(seconds: float) -> None:
        assert seconds == 30.0
        waiting.set()
        await asyncio.Event().wait()

    runner = HostShutdownRunner(writer(mark), delay_s=30.0, sleep=sleep)
    task = asyncio.create_task(runner.run(0.0))
    async with asyncio.timeout(5):
        await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not mark.exists()
    assert not runner.signalled


@pytest.mark.parametrize(
    ("command", "kwargs", "match"),
    [
        ([], {}, "non-empty list"),
        (["poweroff", ""], {}, "non-empty strings"),
        (["poweroff"], {"delay_s": -1.0}, "delay_s must be >= 0"),
        (["poweroff"], {"timeout_s": 0.0}, "timeout_s must be > 0"),
    ],
)
def test_bad_settings_are_refused(command: list[str], kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HostShutdownRunner(command, **kwargs)  # type: ignore[arg-type]
