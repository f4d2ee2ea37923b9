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

from .clitools import table_rows, walkout, walkout_all

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


def listed_ids(stdout: str) -> list[int]:
    return [int(row[0]) for row in table_rows(stdout) if row and row[0].isdigit()]


async def test_list_filters(history: Path, tmp_path: Path) -> None:
    db = ("--db", str(history))
    active, everything, recent, warning, rule, critical_json = await walkout_all(
        ("alerts", "list", *db),
        ("alerts", "list", "--all", *db),
        ("alerts", "list", "--since", "2h", *db),
        ("alerts", "list", "--severity", "warning", *db),
        ("alerts", "list", "--all", "--rule", "crac_supply_hot", *db),
        ("alerts", "list", "--severity", "critical", "--json", *db),
        cwd=tmp_path,
    )
    for result in (active, everything, recent, warning, rule, critical_json):
        assert result.code == 0, result
    assert listed_ids(active.stdout) == [1, 2, 4]  # active only, newest first
    assert listed_ids(everything.stdout) == [1, 2, 4, 3]
    assert listed_ids(recent.stdout) == [1, 2]
    assert listed_ids(warning.stdout) == [1, 2]  # warning and above
    assert listed_ids(rule.stdout) == [2, 3]
    rows = {int(r[0]): r for r in table_rows(everything.stdout) if r and r[0].isdigit()}
    assert rows[2][1:5] == ["critical", "crac_supply_hot", "crac1", "acknowledged"]
    assert rows[2][6] == "ops"
    assert rows[3][4] == "resolved"
    assert rows[1][6] == "-"
    (critical,) = json.loads(critical_json.stdout)
    assert critical["id"] == 2
    assert critical["acked_by"] == "ops"
    assert critical["state"] == "acknowledged"
    assert critical["labels"] == {"site": "test"}
    assert critical["fired_at"] == pytest.approx(time.time() - HOUR_S, abs=120)


async def test_list_json_of_everything_parses(history: Path, tmp_path: Path) -> None:
    result = await walkout("alerts", "list", "--all", "--json", "--db", str(history), cwd=tmp_path)
    assert result.code == 0, result
    alerts = json.loads(result.stdout)
    assert [a["id"] for a in alerts] == [1, 2, 4, 3]
    by_id = {a["id"]: a for a in alerts}
    assert by_id[3]["state"] == "resolved"
    assert by_id[3]["resolved_at"] is not None
    assert by_id[4]["resolved_at"] is None
    assert by_id[1]["severity"] == "warning"


async def test_db_from_config_is_next_to_the_config(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "store.yaml").write_text(
        "store:\n  id: s1\nalerts:\n  db: history/alerts.db\n", encoding="utf-8"
    )
    (site / "history").mkdir()
    fill_history(site / "history" / "alerts.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = await walkout("alerts", "list", "-c", "../site/store.yaml", cwd=elsewhere)
    assert result.code == 0, result
    assert listed_ids(result.stdout) == [1, 2, 4]
    assert not (elsewhere / "history").exists()


async def test_ack_and_errors(history: Path, tmp_path: Path) -> None:
    db = ("--db", str(history))
    missing = tmp_path / "missing.db"
    acked, unknown, resolved, no_db_ack, no_db_list, bad_since = await walkout_all(
        ("alerts", "ack", "4", "--by", "night-ops", *db),
        ("alerts", "ack", "99", *db),
        ("alerts", "ack", "3", "--by", "x", *db),
        ("alerts", "ack", "1", "--db", str(missing)),
        ("alerts", "list", "--db", str(missing)),
        ("alerts", "list", "--since", "2 weeks", *db),
        cwd=tmp_path,
    )
    assert acked.code == 0, acked
    assert "night-ops" in acked.stdout
    assert unknown.code == 1
    assert "no alert with id 99" in unknown.stderr
    assert resolved.code == 1
    assert "alert 3 is already resolved" in resolved.stderr
    for result in (no_db_ack, no_db_list):
        assert result.code == 2, result
        assert f"alert database {missing} does not exist" in result.stderr
        assert "Traceback" not in result.stderr
    assert not missing.exists()  # never created by list or ack
    assert bad_since.code == 2
    assert "'2 weeks' is not a duration" in bad_since.stderr

    db_check = AlertDb(history)
    try:
        stored = db_check.get(4)
        untouched = db_check.get(3)
    finally:
        db_check.close()
    assert stored is not None
    assert stored.alert.state is AlertState.ACKNOWLEDGED
    assert stored.alert.acked_by == "night-ops"
    assert stored.acked_at is not None
    assert untouched is not None
    assert untouched.alert.acked_by is None

    again = await walkout("alerts", "ack", "4", "--by", "someone-else", *db, cwd=tmp_path)
    assert again.code == 0, again
    assert "already acknowledged by night-ops" in again.stdout


async def test_not_an_alert_database_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "ledger.db"
    conn = sqlite3.connect(other)
    try:
        conn.execute("CREATE TABLE journal (seq INTEGER PRIMARY KEY)")
        conn.commit()
    finally:
        conn.close()
    result = await walkout("alerts", "list", "--db", str(other), cwd=tmp_path)
    assert result.code == 2
    assert "not an alert database" in result.stderr
    assert "Traceback" not in result.stderr


OB = StateRule(
    name="ups_on_battery", message_type=UpsReading, field="status",
    values=frozenset({"on_battery"}),
)  # fmt: skip


async def test_ack_reaches_the_running_service(tmp_path: Path) -> None:
    path = tmp_path / "alerts.db"
    bus = Bus()
    watch = bus.subscribe(AlertEvent, name="watch")
    try:
        async with AlertStore(path) as store, AlertDispatcher([]) as dispatcher:
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
    finally:
        watch.close()
