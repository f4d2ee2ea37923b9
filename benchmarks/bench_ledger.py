"""Ledger benchmarks: append rate by fsync policy, and replay rate.

    .venv/bin/python benchmarks/bench_ledger.py [--appends N] [--replay N] [--dir DIR]

1. appends/s of ``Journal.append`` (one transaction per event, checksum
   chain, duplicate check) with ``synchronous=FULL`` (money events, the
   default) and ``NORMAL``, against a bare ``sqlite3`` insert loop on the same
   table and payloads (one autocommit INSERT per row, nothing else) at each
   level, all in the same run, same disk. Also ``Ledger.apply`` (journal +
   cart rules) at FULL.
2. replay: a journal of ``--replay`` events (100k) read back: verification
   and decoding alone (``Journal.replay``), and ``Ledger.open`` (replay and
   rebuild every cart), in events/s.

Timings are printed, never asserted. ``--dir`` picks the disk to measure
(default: a temporary directory).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ledger"))

from streams import make_stream

from vision_core.ledger.events import LedgerEvent, encode_event
from vision_core.ledger.journal import Journal, Synchronous
from vision_core.ledger.ledger import Ledger


def fresh(directory: Path, name: str) -> Path:
    path = directory / name
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def bench_journal(directory: Path, events: list[LedgerEvent], sync: Synchronous) -> float:
    path = fresh(directory, f"journal-{sync}.db")
    with Journal(path, money_synchronous=sync, default_synchronous=sync) as journal:
        start = time.perf_counter()
        for event in events:
            journal.append(event)
        return len(events) / (time.perf_counter() - start)


def bench_bare(directory: Path, events: list[LedgerEvent], sync: Synchronous) -> float:
    path = fresh(directory, f"bare-{sync}.db")
    rows = [(i + 1, e.event_id, *encode_event(e), "0" * 32) for i, e in enumerate(events)]
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={sync}")
        db.execute(
            "CREATE TABLE journal (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
            "kind TEXT NOT NULL, payload TEXT NOT NULL, checksum TEXT NOT NULL)"
        )
        start = time.perf_counter()
        for row in rows:
            db.execute("INSERT INTO journal VALUES (?, ?, ?, ?, ?)", row)
        return len(rows) / (time.perf_counter() - start)


def bench_ledger_apply(directory: Path, events: list[LedgerEvent]) -> float:
    path = fresh(directory, "ledger-apply.db")
    with Ledger.open(path) as ledger:
        start = time.perf_counter()
        for event in events:
            ledger.apply(event)
        return len(events) / (time.perf_counter() - start)


def bench_replay(directory: Path, count: int) -> tuple[float, float, int]:
    path = fresh(directory, "replay.db")
    events = make_stream(11, count, track_totals=False).events
    with Journal(path, money_synchronous="NORMAL") as journal:
        for i, event in enumerate(events):
            journal.append(event)
            if i % 20_000 == 19_999:
                print(f"  built {i + 1}/{count}", file=sys.stderr, flush=True)
    with Journal(path, read_only=True) as journal:
        start = time.perf_counter()
        verified = sum(1 for _ in journal.replay())
        verify_rate = verified / (time.perf_counter() - start)
    start = time.perf_counter()
    with Ledger.open(path) as ledger:
        open_rate = count / (time.perf_counter() - start)
        sessions = len(ledger.state.sessions)
    return verify_rate, open_rate, sessions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=3000)
    parser.add_argument("--replay", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        events = make_stream(5, args.appends, track_totals=False).events
        print(f"appends ({args.appends} events, one transaction each), events/s:")
        results: dict[str, float] = {}
        for sync in ("FULL", "NORMAL"):
            results[f"bare {sync}"] = bench_bare(directory, events, sync)
            results[f"journal {sync}"] = bench_journal(directory, events, sync)
        results["ledger.apply FULL"] = bench_ledger_apply(directory, events)
        for name, rate in results.items():
            print(f"  {name:<20} {rate:10.0f}")
        for sync in ("FULL", "NORMAL"):
            ratio = results[f"journal {sync}"] / results[f"bare {sync}"]
            print(f"  journal/bare at {sync}: {ratio:.2f}")
        print(f"  journal NORMAL/FULL: {results['journal NORMAL'] / results['journal FULL']:.2f}")
        verify_rate, open_rate, sessions = bench_replay(directory, args.replay)
        print(f"replay ({args.replay} events, {sessions} open sessions rebuilt), events/s:")
        print(f"  Journal.replay (verify + decode) {verify_rate:10.0f}")
        print(f"  Ledger.open (replay + carts)     {open_rate:10.0f}")


if __name__ == "__main__":
    main()
