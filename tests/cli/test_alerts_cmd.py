"""``walkout alerts list|ack`` as a child process, on a history written by the alert store.

The database is filled through ``AlertDb.record`` (what the running service calls), with a
wall clock set per alert, so which alert each filter keeps is known from the fixture alone.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from devices.bus import Bus
from devices.ups.state import UpsReading, UpsStatus
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.engine import AlertEngine
from facility.alerts.events import (
    Alert,
    AlertAcknowledged,
    AlertEvent,
    AlertFiring,
    AlertResolved,
    AlertState,
)
from facility.alerts.rules import Severity, StateRule
from facility.alerts.service import AlertService
from facility.alerts.store import AlertDb, AlertStore
from walkout.cli import app

from .clitools import table_rows, walkout

HOUR_S = 3600.0


def _alert(ident: int, rule: str, source: str, severity: Severity, **changes: object) -> Alert:
    fields: dict[str, object] = {
        "id": ident,
        "rule": rule,
        "source": source,
        "severity": severity,
        "summary": f"{rule} on {source}",
        "labels": (("site", "test"),),
        "group_key": f"{rule}/{source}",
        "started_mono": float(ident),
        "fired_mono": float(ident),
        **changes,
    }
    return Alert(**fields)  # type: ignore[arg-type]


def fill_history(path: Path) -> None:
    """Four alerts, fired (by the wall clock) 5 h, 3 h, 1 h and 10 min ago.

    id severity rule            source state         fired
    3  info     crac_supply_hot crac2  resolved      5 h ago
    4  info     gpu_hot         gpu0   firing        3 h ago
    2  critical crac_supply_hot crac1  acknowledged  1 h ago (by ops)
    1  warning  ups_on_battery  ups1   firing        10 min ago
    """
    now = time.time()
    wall = [now]
    db = AlertDb(path, wall_clock=lambda: wall[0])
    try:

        def at(ago_s: float, event: AlertEvent) -> None:
            wall[0] = now - ago_s
            db.record(event)

        crac2 = _alert(3, "crac_supply_hot", "crac2", Severity.INFO)
        at(5 * HOUR_S, AlertFiring(source="crac2", t_mono=3, alert=crac2))
        resolved = _alert(
            3, "crac_supply_hot", "crac2", Severity.INFO,
            state=AlertState.RESOLVED, resolved_mono=50.0,
        )  # fmt: skip
        at(4 * HOUR_S, AlertResolved(source="crac2", t_mono=50, alert=resolved))
        gpu = _alert(4, "gpu_hot", "gpu0", Severity.INFO)
        at(3 * HOUR_S, AlertFiring(source="gpu0", t_mono=4, alert=gpu))
        crac1 = _alert(2, "crac_supply_hot", "crac1", Severity.CRITICAL)
        at(HOUR_S, AlertFiring(source="crac1", t_mono=2, alert=crac1))
        acked = _alert(
            2, "crac_supply_hot", "crac1", Severity.CRITICAL,
            state=AlertState.ACKNOWLEDGED, acked_by="ops", acked_mono=60.0,
        )  # fmt: skip
        at(0.5 * HOUR_S, AlertAcknowledged(source="crac1", t_mono=60, alert=acked))
        ups = _alert(1, "ups_on_battery", "ups1", Severity.WARNING)
        at(600, AlertFiring(source="ups1", t_mono=1, alert=ups))
    finally:
        db.close()


@pytest.fixture
def history(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.db"
    fill_history(path)
    return path


def cli(*args: str) -> Result:
    """``walkout ARGS`` in this process (the filter matrix; each child process costs seconds)."""
    return CliRunner().invoke(app, list(args))


def json_ids(*args: str) -> list[int]:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return [a["id"] for a in json.loads(result.stdout)]


def listed_ids(stdout: str) -> list[int]:
    return [int(row[0]) for row in table_rows(stdout) if row and row[0].isdigit()]


async def test_list_active_and_all(history: Path, tmp_path: Path) -> None:
    db = ("--db", str(history))
    active = await walkout("alerts", "list", *db, cwd=tmp_path)
    everything = await walkout("alerts", "list", "--all", *db, cwd=tmp_path)
    assert active.code == 0, active
    assert everything.code == 0, everything
    assert listed_ids(active.stdout) == [1, 2, 4]  # active only, newest first
    assert listed_ids(everything.stdout) == [1, 2, 4, 3]
    rows = {int(r[0]): r for r in table_rows(everything.stdout) if r and r[0].isdigit()}
    assert rows[2][1:5] == ["critical", "crac_supply_hot", "crac1", "acknowledged"]
    assert rows[2][6] == "ops"
    assert rows[3][4] == "resolved"
    assert rows[1][6] == "-"


def test_list_filters(history: Path) -> None:
    db = ("--db", str(history))
    assert json_ids("alerts", "list", "--since", "2h", *db) == [1, 2]
    assert json_ids("alerts", "list", "--severity", "warning", *db) == [1, 2]  # and above
    assert json_ids("alerts", "list", "--severity", "critical", *db) == [2]
    assert json_ids("alerts", "list", "--all", "--rule", "crac_supply_hot", *db) == [2, 3]
    assert json_ids("alerts", "list", "--all", "--since", "4h30m", *db) == [1, 2, 4]
    assert json_ids("alerts", "list", "--all", "--limit", "2", *db) == [1, 2]
    assert json_ids("alerts", "list", "--rule", "no_such_rule", *db) == []


def test_list_json_fields(history: Path) -> None:
    result = cli("alerts", "list", "--all", "--json", "--db", str(history))
    assert result.exit_code == 0, result.output
    by_id = {a["id"]: a for a in json.loads(result.stdout)}
    assert by_id[2]["acked_by"] == "ops"
    assert by_id[2]["state"] == "acknowledged"
    assert by_id[2]["severity"] == "critical"
    assert by_id[2]["labels"] == {"site": "test"}
    assert by_id[2]["fired_at"] == pytest.approx(time.time() - HOUR_S, abs=120)
    assert by_id[3]["state"] == "resolved"
    assert by_id[3]["resolved_at"] == pytest.approx(time.time() - 4 * HOUR_S, abs=120)
    assert by_id[4]["resolved_at"] is None
    assert by_id[1]["acked_by"] is None


def test_db_from_config_is_next_to_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "store.yaml").write_text(
        "store:\n  id: s1\nalerts:\n  db: history/alerts.db\n", encoding="utf-8"
    )
    (site / "history").mkdir()
    fill_history(site / "history" / "alerts.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert json_ids("alerts", "list", "-c", "../site/store.yaml") == [1, 2, 4]
    assert not (elsewhere / "history").exists()


def test_ack_writes_who_and_keeps_the_first(history: Path) -> None:
    db = ("--db", str(history))
    acked = cli("alerts", "ack", "4", "--by", "night-ops", *db)
    assert acked.exit_code == 0, acked.output
    assert "acknowledged alert 4 (gpu_hot on gpu0) by night-ops" in acked.stdout
    check = AlertDb(history)
    try:
        stored, untouched = check.get(4), check.get(1)
    finally:
        check.close()
    assert stored is not None
    assert stored.alert.state is AlertState.ACKNOWLEDGED
    assert stored.alert.acked_by == "night-ops"
    assert stored.acked_at is not None
    assert untouched is not None
    assert untouched.alert.acked_by is None
    assert untouched.alert.state is AlertState.FIRING

    again = cli("alerts", "ack", "4", "--by", "someone-else", *db)
    assert again.exit_code == 0, again.output
    assert "already acknowledged by night-ops" in again.stdout


def test_ack_unknown_or_resolved_alert(history: Path) -> None:
    db = ("--db", str(history))
    unknown = cli("alerts", "ack", "99", *db)
    assert unknown.exit_code == 1, unknown.output
    assert "no alert with id 99" in unknown.stderr
    resolved = cli("alerts", "ack", "3", "--by", "x", *db)
    assert resolved.exit_code == 1, resolved.output
    assert "alert 3 is already resolved" in resolved.stderr
    check = AlertDb(history)
    try:
        stored = check.get(3)
    finally:
        check.close()
    assert stored is not None
    assert stored.alert.acked_by is None


async def test_missing_database_is_an_error_and_stays_missing(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    no_db_ack = cli("alerts", "ack", "1", "--db", str(missing))
    assert no_db_ack.exit_code == 2, no_db_ack.output
    assert f"alert database {missing} does not exist" in no_db_ack.stderr
    # And as the installed command, from a shell:
    no_db_list = await walkout("alerts", "list", "--db", str(missing), cwd=tmp_path)
    assert no_db_list.code == 2, no_db_list
    assert f"alert database {missing} does not exist" in no_db_list.stderr
    assert "Traceback" not in no_db_list.stderr
    assert not missing.exists()


def test_bad_options_are_refused(history: Path) -> None:
    db = ("--db", str(history))
    bad_since = cli("alerts", "list", "--since", "2 weeks", *db)
    assert bad_since.exit_code == 2
    assert "'2 weeks' is not a duration" in bad_since.stderr
    bad_severity = cli("alerts", "list", "--severity", "urgent", *db)
    assert bad_severity.exit_code == 2
    assert "unknown severity 'urgent'" in bad_severity.stderr


def test_not_an_alert_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "ledger.db"
    conn = sqlite3.connect(other)
    try:
        conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY)")
        conn.commit()
    finally:
        conn.close()
    result = cli("alerts", "list", "--db", str(other))
    assert result.exit_code == 2, result.output
    assert "not an alert database" in result.stderr


class Recorder:
    """A sink that keeps what it was given (a dispatcher needs at least one sink to run)."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    async def send(self, event: AlertEvent) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        pass


OB = StateRule(
    name="ups_on_battery", message_type=UpsReading, field="status",
    values=frozenset({"on_battery"}),
)  # fmt: skip


async def test_ack_reaches_the_running_service(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    bus = Bus()
    watch = bus.subscribe(AlertEvent, name="watch")
    recorder = Recorder()
    try:
        async with AlertStore(path) as store, AlertDispatcher([recorder]) as dispatcher:
            engine = AlertEngine([OB], next_id=await store.next_alert_id())
            service = AlertService(bus, engine, store, dispatcher, ack_poll_s=0.05)
            task = asyncio.create_task(service.run())
            try:
                async with asyncio.timeout(10):
                    await service.ready.wait()
                await bus.publish(UpsReading(source="ups1", t_mono=1, status=UpsStatus.ON_BATTERY))
                async with asyncio.timeout(10):
                    fired = await watch.get()
                assert isinstance(fired, AlertFiring)

                listed = await walkout("alerts", "list", "--json", "--db", str(path), cwd=tmp_path)
                assert listed.code == 0, listed
                (row,) = json.loads(listed.stdout)
                assert (row["id"], row["rule"], row["state"]) == (
                    fired.alert.id, "ups_on_battery", "firing",
                )  # fmt: skip

                result = await walkout(
                    "alerts", "ack", str(fired.alert.id), "--by", "night-ops",
                    "--db", str(path), cwd=tmp_path,
                )  # fmt: skip
                assert result.code == 0, result
                async with asyncio.timeout(10):
                    acked = await watch.get()
                assert isinstance(acked, AlertAcknowledged)
                assert acked.alert.id == fired.alert.id
                assert acked.alert.acked_by == "night-ops"
                assert [a.state for a in engine.active()] == [AlertState.ACKNOWLEDGED]
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await dispatcher.drain()
            assert [e.kind.value for e in recorder.events] == ["firing", "acknowledged"]
    finally:
        watch.close()
