import sqlite3
from pathlib import Path

import pytest

from devices.crac.messages import CracReading
from devices.ups.state import UpsReading, UpsStatus
from facility.alerts.engine import AlertEngine
from facility.alerts.events import AlertEvent, AlertEventKind, AlertState, SinkFailed
from facility.alerts.rules import AnyRule, Severity, StateRule, ThresholdRule
from facility.alerts.store import AlertDb, AlertStore, AlertStoreError

RULES: list[AnyRule] = [
    ThresholdRule(
        name="hot", message_type=CracReading, field="supply_air_c", above=27, clear=26,
        severity=Severity.WARNING, labels=(("area", "cooling"),), group_by=("area",),
    ),
    StateRule(
        name="ob", message_type=UpsReading, field="status", values=frozenset({"on_battery"}),
        severity=Severity.CRITICAL, escalate_after_s=60,
    ),
]  # fmt: skip


class FakeWall:
    """A wall clock the test sets, so time-range queries have known answers."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_round_trip_restart_and_queries(tmp_path: Path) -> None:
    db_path = tmp_path / "alerts.db"
    wall = FakeWall()
    engine = AlertEngine(RULES)
    async with AlertStore(db_path, wall_clock=wall) as store:
        assert await store.next_alert_id() == 1

        async def feed(events: list[AlertEvent]) -> None:
            for e in events:
                await store.record(e)

        await feed(engine.feed(CracReading(source="crac1", t_mono=0, supply_air_c=29.5)))
        wall.now += 100
        await feed(engine.feed(UpsReading(source="ups1", t_mono=1, status=UpsStatus.ON_BATTERY)))
        wall.now += 100
        await feed(engine.tick(61))  # escalation of the UPS alert (critical stays critical)
        await feed(engine.feed(CracReading(source="crac1", t_mono=70, supply_air_c=25)))
        stored = await store.get(1)
        assert stored is not None
        assert stored.alert.state is AlertState.RESOLVED
        assert stored.alert.value == 29.5
        assert stored.alert.labels == (
            ("area", "cooling"), ("rule", "hot"), ("severity", "warning"), ("source", "crac1"),
        )  # fmt: skip
        assert stored.fired_at == 1_700_000_000.0
        assert stored.resolved_at == 1_700_000_200.0
        assert [k for k, _, _ in await store.events(1)] == [
            AlertEventKind.FIRING, AlertEventKind.RESOLVED,
        ]  # fmt: skip
        assert [k for k, _, _ in await store.events(2)] == [
            AlertEventKind.FIRING, AlertEventKind.ESCALATED,
        ]  # fmt: skip
        assert [s.alert.id for s in await store.active()] == [2]
        assert [s.alert.id for s in await store.query(min_severity=Severity.CRITICAL)] == [2]
        assert [s.alert.id for s in await store.query()] == [2, 1]  # newest first
        assert [
            s.alert.id for s in await store.query(since=1_700_000_050.0, until=1_700_000_150.0)
        ] == [2]
        assert [s.alert.id for s in await store.query(state=AlertState.RESOLVED)] == [1]

    # Another process (the CLI) acknowledges through the synchronous API.
    cli = AlertDb(db_path, wall_clock=wall)
    try:
        acked = cli.acknowledge(2, "night-ops")
        assert acked.alert.state is AlertState.ACKNOWLEDGED
        assert acked.alert.acked_by == "night-ops"
        with pytest.raises(LookupError, match="already resolved"):
            cli.acknowledge(1, "x")
        with pytest.raises(LookupError, match="no alert with id 99"):
            cli.acknowledge(99, "x")
    finally:
        cli.close()

    # Restart: the active alert comes back into a new engine; ids continue.
    async with AlertStore(db_path, wall_clock=wall) as store:
        active = [s.alert for s in await store.active()]
        assert [(a.id, a.rule, a.state) for a in active] == [(2, "ob", AlertState.ACKNOWLEDGED)]
        assert await store.next_alert_id() == 3
        assert [s.alert.id for s in await store.acked_since([2, 5])] == [2]
        engine2 = AlertEngine(RULES, next_id=await store.next_alert_id())
        assert engine2.restore(active, t_mono=1000) == []
        events = engine2.feed(UpsReading(source="ups1", t_mono=1001, status=UpsStatus.ON_LINE))
        assert [(e.kind, e.alert.id) for e in events] == [(AlertEventKind.RESOLVED, 2)]
        for e in events:
            await store.record(e)
        after = await store.get(2)
        assert after is not None
        assert after.alert.state is AlertState.RESOLVED
        assert after.alert.acked_by == "night-ops"  # the ack survives the resolution
        assert await store.active() == []


async def test_firing_event_after_cli_ack_keeps_ack(tmp_path: Path) -> None:
    # An escalation written by the service after the CLI acked must not undo the ack.
    engine = AlertEngine(RULES[1:])
    async with AlertStore(tmp_path / "a.db") as store:
        for e in engine.feed(UpsReading(source="u", t_mono=0, status=UpsStatus.ON_BATTERY)):
            await store.record(e)
        await store.acknowledge(1, "ops")
        for e in engine.tick(61):
            await store.record(e)
        stored = await store.get(1)
        assert stored is not None
        assert stored.alert.state is AlertState.ACKNOWLEDGED


async def test_sink_failures_are_stored(tmp_path: Path) -> None:
    async with AlertStore(tmp_path / "a.db") as store:
        await store.record_sink_failure(
            SinkFailed(source="webhook", t_mono=3, alert_id=4, event=AlertEventKind.FIRING,
                       attempts=5, error="boom")
        )  # fmt: skip
        [failure] = await store.sink_failures()
        assert (failure.sink, failure.alert_id, failure.attempts, failure.error) == (
            "webhook", 4, 5, "boom",
        )  # fmt: skip


def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    db = AlertDb(tmp_path / "a.db")
    db.close()
    conn = sqlite3.connect(tmp_path / "a.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        conn.execute("PRAGMA user_version = 9")
    finally:
        conn.close()
    with pytest.raises(AlertStoreError, match="schema 9 is newer"):
        AlertDb(tmp_path / "a.db")


def test_refuses_a_foreign_database(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "ledger.db")
    try:
        conn.execute("CREATE TABLE receipts (id INTEGER)")
        conn.commit()
    finally:
        conn.close()
    with pytest.raises(AlertStoreError, match="not an alert database"):
        AlertDb(tmp_path / "ledger.db")


async def test_store_not_open_is_a_clear_error(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "a.db")
    with pytest.raises(RuntimeError, match="not open"):
        await store.active()
