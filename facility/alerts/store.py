"""Alert history in SQLite: every lifecycle event, the alerts' current state, sink failures.

Two layers. ``AlertDb`` is plain synchronous sqlite3 on one connection: the
CLI (``walkout alerts list|ack``) uses it directly. ``AlertStore`` gives the
running process an async API by running one ``AlertDb`` on one dedicated
thread: sqlite3 connections belong to the thread that made them, a single
writer thread keeps writes in event order without a lock, and a slow disk
stalls that thread instead of the event loop (``asyncio.to_thread`` would
spread calls over the shared default pool, needing ``check_same_thread=False``
plus a lock and giving up ordering).

WAL mode lets the CLI read (and acknowledge) while the service writes;
``busy_timeout`` makes the rare concurrent write wait instead of failing.
The schema version is kept in ``PRAGMA user_version``; a database from a
newer walkout is refused rather than misread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from facility.alerts.events import (
    Alert,
    AlertEvent,
    AlertEventKind,
    AlertState,
    SinkFailed,
)
from facility.alerts.rules import Severity

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    rule TEXT NOT NULL,
    source TEXT NOT NULL,
    severity TEXT NOT NULL,
    summary TEXT NOT NULL,
    labels TEXT NOT NULL,
    group_key TEXT NOT NULL,
    started_mono REAL NOT NULL,
    fired_mono REAL NOT NULL,
    value TEXT,
    state TEXT NOT NULL,
    escalations INTEGER NOT NULL,
    acked_by TEXT,
    acked_mono REAL,
    resolved_mono REAL,
    fired_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    acked_at REAL,
    resolved_at REAL
);
CREATE INDEX alerts_state ON alerts(state);
CREATE INDEX alerts_fired_at ON alerts(fired_at);
CREATE TABLE alert_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts(id),
    kind TEXT NOT NULL,
    t_mono REAL NOT NULL,
    at REAL NOT NULL,
    severity TEXT NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events(alert_id);
CREATE TABLE sink_failures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    alert_id INTEGER NOT NULL,
    event TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    t_mono REAL NOT NULL,
    at REAL NOT NULL
);
"""

T = TypeVar("T")


class AlertStoreError(RuntimeError):
    """The database cannot be used (newer schema, not an alert database)."""


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert with the wall-clock times the store added (seconds since the epoch)."""

    alert: Alert
    fired_at: float
    updated_at: float
    acked_at: float | None
    resolved_at: float | None


@dataclass(frozen=True, slots=True)
class SinkFailure:
    """One recorded delivery failure."""

    sink: str
    alert_id: int
    event: AlertEventKind
    attempts: int
    error: str
    at: float


def _row_alert(row: sqlite3.Row) -> StoredAlert:
    value = json.loads(row["value"]) if row["value"] is not None else None
    alert = Alert(
        id=row["id"],
        rule=row["rule"],
        source=row["source"],
        severity=Severity(row["severity"]),
        summary=row["summary"],
        labels=tuple((str(k), str(v)) for k, v in json.loads(row["labels"])),
        group_key=row["group_key"],
        started_mono=row["started_mono"],
        fired_mono=row["fired_mono"],
        value=value,
        state=AlertState(row["state"]),
        escalations=row["escalations"],
        acked_by=row["acked_by"],
        acked_mono=row["acked_mono"],
        resolved_mono=row["resolved_mono"],
    )
    return StoredAlert(
        alert, row["fired_at"], row["updated_at"], row["acked_at"], row["resolved_at"]
    )


class AlertDb:
    """Synchronous alert history on one sqlite3 connection (use it from one thread)."""

    def __init__(self, path: Path | str, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = wall_clock
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._conn.row_factory = sqlite3.Row
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise AlertStoreError(
                f"{self.path}: alert database schema {version} is newer than this walkout "
                f"understands ({SCHEMA_VERSION})"
            )
        if version == 0:
            tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:
                raise AlertStoreError(f"{self.path}: not an alert database (has other tables)")
            with self._conn:
                self._conn.execute("BEGIN")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # --- writes -----------------------------------------------------------------------

    def record(self, event: AlertEvent) -> None:
        """Store one lifecycle event and the alert's state after it (one transaction)."""
        a, now = event.alert, self._clock()
        value = None if a.value is None else json.dumps(a.value)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                """INSERT INTO alerts (id, rule, source, severity, summary, labels, group_key,
                       started_mono, fired_mono, value, state, escalations, acked_by,
                       acked_mono, resolved_mono, fired_at, updated_at, acked_at, resolved_at)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
                   ON CONFLICT(id) DO UPDATE SET severity=excluded.severity,
                       labels=excluded.labels, escalations=excluded.escalations,
                       state=CASE WHEN alerts.state='resolved' THEN 'resolved'
                                  WHEN alerts.state='acknowledged' AND excluded.state='firing'
                                  THEN 'acknowledged' ELSE excluded.state END,
                       acked_by=coalesce(alerts.acked_by, excluded.acked_by),
                       acked_mono=coalesce(alerts.acked_mono, excluded.acked_mono),
                       acked_at=coalesce(alerts.acked_at, excluded.acked_at),
                       resolved_mono=coalesce(excluded.resolved_mono, alerts.resolved_mono),
                       resolved_at=coalesce(excluded.resolved_at, alerts.resolved_at),
                       updated_at=excluded.updated_at""",
                (
                    a.id, a.rule, a.source, a.severity.value, a.summary,
                    json.dumps([list(p) for p in a.labels]), a.group_key, a.started_mono,
                    a.fired_mono, value, a.state.value, a.escalations, a.acked_by,
                    a.acked_mono, a.resolved_mono, now, now,
                    now if a.acked_by is not None else None,
                    now if a.state is AlertState.RESOLVED else None,
                ),
            )  # fmt: skip
            self._conn.execute(
                "INSERT INTO alert_events (alert_id, kind, t_mono, at, severity) "
                "VALUES (?,?,?,?,?)",
                (a.id, event.kind.value, event.t_mono, now, a.severity.value),
            )

    def record_sink_failure(self, failure: SinkFailed) -> None:
        """Store a delivery that failed after every retry."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "INSERT INTO sink_failures (sink, alert_id, event, attempts, error, t_mono, at) "
                "VALUES (?,?,?,?,?,?,?)",
                (failure.source, failure.alert_id, failure.event.value, failure.attempts,
                 failure.error, failure.t_mono, self._clock()),
            )  # fmt: skip

    def acknowledge(self, alert_id: int, by: str) -> StoredAlert:
        """Mark an active alert acknowledged (the CLI's ``alerts ack``).

        The running engine picks this up through ``acked_since``. Raises
        ``LookupError`` for an unknown or resolved alert; acknowledging twice
        keeps the first person and time.
        """
        now = self._clock()
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute("SELECT state FROM alerts WHERE id=?", (alert_id,)).fetchone()
            if row is None:
                raise LookupError(f"no alert with id {alert_id}")
            if row["state"] == AlertState.RESOLVED:
                raise LookupError(f"alert {alert_id} is already resolved")
            self._conn.execute(
                "UPDATE alerts SET state='acknowledged', acked_by=coalesce(acked_by, ?), "
                "acked_at=coalesce(acked_at, ?), updated_at=? WHERE id=?",
                (by, now, now, alert_id),
            )
        stored = self.get(alert_id)
        assert stored is not None
        return stored

    # --- reads ------------------------------------------------------------------------

    def get(self, alert_id: int) -> StoredAlert | None:
        """One alert by id."""
        row = self._conn.execute("SELECT * FROM alerts WHERE id=?", (alert_id,)).fetchone()
        return None if row is None else _row_alert(row)

    def active(self) -> list[StoredAlert]:
        """Unresolved alerts, oldest first (what a restarted engine takes back)."""
        rows = self._conn.execute("SELECT * FROM alerts WHERE state!='resolved' ORDER BY id")
        return [_row_alert(r) for r in rows]

    def query(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        min_severity: Severity | None = None,
        state: AlertState | None = None,
        rule: str | None = None,
        limit: int = 100,
    ) -> list[StoredAlert]:
        """Alerts that fired in ``[since, until)`` (wall clock), newest first."""
        where, args = ["1=1"], list[Any]()
        if since is not None:
            where.append("fired_at >= ?")
            args.append(since)
        if until is not None:
            where.append("fired_at < ?")
            args.append(until)
        if min_severity is not None:
            allowed = [s.value for s in Severity if s.rank >= min_severity.rank]
            where.append(f"severity IN ({','.join('?' * len(allowed))})")
            args.extend(allowed)
        if state is not None:
            where.append("state = ?")
            args.append(state.value)
        if rule is not None:
            where.append("rule = ?")
            args.append(rule)
        args.append(limit)
        rows = self._conn.execute(
            f"SELECT * FROM alerts WHERE {' AND '.join(where)} ORDER BY fired_at DESC, id DESC "
            "LIMIT ?",
            args,
        )
        return [_row_alert(r) for r in rows]

    def events(self, alert_id: int) -> list[tuple[AlertEventKind, float, float]]:
        """An alert's lifecycle: (kind, t_mono, wall time) in order."""
        rows = self._conn.execute(
            "SELECT kind, t_mono, at FROM alert_events WHERE alert_id=? ORDER BY seq", (alert_id,)
        )
        return [(AlertEventKind(r["kind"]), r["t_mono"], r["at"]) for r in rows]

    def sink_failures(self, *, limit: int = 100) -> list[SinkFailure]:
        """Recorded delivery failures, newest first."""
        rows = self._conn.execute("SELECT * FROM sink_failures ORDER BY seq DESC LIMIT ?", (limit,))
        return [
            SinkFailure(r["sink"], r["alert_id"], AlertEventKind(r["event"]), r["attempts"],
                        r["error"], r["at"])
            for r in rows
        ]  # fmt: skip

    def acked_since(self, alert_ids: list[int]) -> list[StoredAlert]:
        """Those of ``alert_ids`` the store has as acknowledged (acks made by the CLI)."""
        if not alert_ids:
            return []
        marks = ",".join("?" * len(alert_ids))
        rows = self._conn.execute(
            f"SELECT * FROM alerts WHERE state='acknowledged' AND id IN ({marks})", alert_ids
        )
        return [_row_alert(r) for r in rows]

    def next_alert_id(self) -> int:
        """The first id a new engine may hand out."""
        return int(self._conn.execute("SELECT coalesce(max(id), 0) + 1 FROM alerts").fetchone()[0])


class AlertStore:
    """Async front of ``AlertDb``: every call runs on one thread of its own.

    Use as ``async with AlertStore(path) as store``.
    """

    def __init__(self, path: Path | str, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._wall_clock = wall_clock
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._db: AlertDb | None = None

    async def __aenter__(self) -> AlertStore:
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="alert-store"
        )
        try:
            self._db = await self._run(lambda: AlertDb(self.path, wall_clock=self._wall_clock))
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        executor, db = self._executor, self._db
        self._db = None
        if executor is None:
            return
        try:
            if db is not None:
                await self._run(db.close, executor)
        finally:
            self._executor = None
            # Nothing is queued after the close: the thread ends at once, so waiting for
            # it here costs microseconds and leaves no thread behind.
            executor.shutdown(wait=True)

    async def _run(
        self, fn: Callable[[], T], executor: concurrent.futures.Executor | None = None
    ) -> T:
        pool = executor or self._executor
        if pool is None:
            raise RuntimeError("AlertStore is not open: use 'async with AlertStore(...)'")
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    def _require(self) -> AlertDb:
        if self._db is None:
            raise RuntimeError("AlertStore is not open: use 'async with AlertStore(...)'")
        return self._db

    async def record(self, event: AlertEvent) -> None:
        """See ``AlertDb.record``."""
        db = self._require()
        await self._run(lambda: db.record(event))

    async def record_sink_failure(self, failure: SinkFailed) -> None:
        """See ``AlertDb.record_sink_failure``."""
        db = self._require()
        await self._run(lambda: db.record_sink_failure(failure))

    async def acknowledge(self, alert_id: int, by: str) -> StoredAlert:
        """See ``AlertDb.acknowledge``."""
        db = self._require()
        return await self._run(lambda: db.acknowledge(alert_id, by))

    async def active(self) -> list[StoredAlert]:
        """See ``AlertDb.active``."""
        return await self._run(self._require().active)

    async def get(self, alert_id: int) -> StoredAlert | None:
        """See ``AlertDb.get``."""
        db = self._require()
        return await self._run(lambda: db.get(alert_id))

    async def query(self, **kwargs: Any) -> list[StoredAlert]:
        """See ``AlertDb.query`` (same keyword arguments)."""
        db = self._require()
        return await self._run(lambda: db.query(**kwargs))

    async def events(self, alert_id: int) -> list[tuple[AlertEventKind, float, float]]:
        """See ``AlertDb.events``."""
        db = self._require()
        return await self._run(lambda: db.events(alert_id))

    async def sink_failures(self, *, limit: int = 100) -> list[SinkFailure]:
        """See ``AlertDb.sink_failures``."""
        db = self._require()
        return await self._run(lambda: db.sink_failures(limit=limit))

    async def acked_since(self, alert_ids: list[int]) -> list[StoredAlert]:
        """See ``AlertDb.acked_since``."""
        db = self._require()
        return await self._run(lambda: db.acked_since(alert_ids))

    async def next_alert_id(self) -> int:
        """See ``AlertDb.next_alert_id``."""
        return await self._run(self._require().next_alert_id)
