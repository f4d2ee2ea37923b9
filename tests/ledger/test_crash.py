"""SIGKILL a writer in the middle of a stream of appends, then replay."""

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from vision_core.ledger.ledger import Ledger, LedgerState

from .streams import make_stream

WRITER = Path(__file__).with_name("crash_writer.py")
REPO = Path(__file__).resolve().parents[2]
SEED = 7
COUNT = 5000


def run_writer_until_killed(db: Path, kill_after_acks: int) -> tuple[int, int]:
    """Start the writer, SIGKILL it after ``kill_after_acks`` acks; (start, acks seen in all)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(SEED), str(COUNT)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("start "), first + (proc.stderr.read() if proc.stderr else "")
        start = int(first.split()[1])
        acked = start
        for raw in proc.stdout:
            assert raw == f"ack {acked}\n"
            acked += 1
            if acked - start >= kill_after_acks:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        for raw in proc.stdout:  # acks already in the pipe when the kill landed
            if raw.endswith("\n"):
                assert raw == f"ack {acked}\n"
                acked += 1
        return start, acked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def test_sigkill_mid_stream_loses_no_acknowledged_append(tmp_path: Path):
    db = tmp_path / "crash.db"
    stream = make_stream(SEED, COUNT)
    rng = random.Random(3)
    previous = 0
    for _ in range(3):
        start, acked = run_writer_until_killed(db, rng.randint(150, 600))
        assert start == previous  # the restarted writer resumed where the journal ended
        with Ledger.open(db) as ledger:
            stored = [e.event for e in ledger.journal.replay()]
            # every acknowledged append is there; at most one more (committed, not yet acked)
            assert acked <= len(stored) <= acked + 1
            assert stored == stream.events[: len(stored)]
            reference = LedgerState()
            for event in stream.events[: len(stored)]:
                reference.apply(event)
            assert ledger.state == reference
            totals = {sid: s.total for sid, s in ledger.state.sessions.items()}
            assert totals == stream.totals_after[len(stored)]
            previous = len(stored)
