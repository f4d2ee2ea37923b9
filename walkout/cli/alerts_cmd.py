"""``walkout alerts list|ack``: the alert history in SQLite, read and acknowledged from a shell.

The database is the one ``walkout run`` writes (``alerts.db`` in store.yaml, a
relative path taken from the folder of the config file, like
``calibration_file``), or ``--db``. These commands never create it: a missing
file is an error, not an empty history. An acknowledgement written here is
picked up by the running alert service within its ``ack_poll_s``; the service
then stops escalating and tells the sinks.
"""

from __future__ import annotations

import getpass
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from facility.alerts.events import AlertState
from facility.alerts.rules import Severity
from facility.alerts.store import AlertDb, AlertStoreError, StoredAlert
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load

app = typer.Typer(help="Alert history: list alerts, acknowledge them.", no_args_is_help=True)

EXIT_NOT_FOUND = 1
"""``ack`` of an alert id the database does not have, or of a resolved alert."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.CRITICAL: "red"}

DB_OPTION = typer.Option(
    "--db", help="alert database to read (default: alerts.db of the config, next to it)"
)


def parse_duration_s(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` -> seconds (raises ``typer.BadParameter``)."""
    compact = text.strip().lower()
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise typer.BadParameter(
            f"{text!r} is not a duration: use a number with s, m, h or d, e.g. 30m, 2h, 1h30m"
        )
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _severity(text: str) -> Severity:
    try:
        return Severity(text.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in Severity)
        raise typer.BadParameter(f"unknown severity {text!r} (one of: {known})") from None


def db_path(db: Path | None, config: Path) -> Path:
    """``--db`` as given, else the config's ``alerts.db``.

    Loading resolves a relative ``alerts.db`` against the config file's folder,
    as for ``walkout run``, so both find the same database.
    """
    if db is not None:
        return db
    return load(config).alerts.db


@contextmanager
def open_db(path: Path) -> Iterator[AlertDb]:
    """The existing alert database at ``path``; any problem exits with a clear message."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise fail(
            f"alert database {path} {what} (walkout run creates it; use --db or -c to "
            "point at the store's)",
            EXIT_CONFIG,
        )
    try:
        db = AlertDb(path)
    except (AlertStoreError, sqlite3.Error) as exc:
        raise fail(f"cannot use alert database {path}: {exc}", EXIT_CONFIG) from None
    try:
        yield db
    except sqlite3.Error as exc:
        raise fail(f"alert database {path}: {exc}", EXIT_CONFIG) from None
    finally:
        db.close()


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def to_json(stored: StoredAlert) -> dict[str, Any]:
    """The alert as ``Alert.to_json`` gives it, plus the store's wall times (Unix seconds)."""
    return {
        **stored.alert.to_json(),
        "fired_at": stored.fired_at,
        "updated_at": stored.updated_at,
        "acked_at": stored.acked_at,
        "resolved_at": stored.resolved_at,
    }


def _table(alerts: list[StoredAlert], title: str) -> RichTable:
    table = RichTable(
        "id", "severity", "rule", "source", "state", "fired", "acked by", "summary", title=title
    )
    for stored in alerts:
        a = stored.alert
        table.add_row(
            str(a.id),
            f"[{_SEVERITY_STYLE[a.severity]}]{a.severity.value}[/]",
            a.rule,
            a.source,
            a.state.value,
            _when(stored.fired_at),
            a.acked_by or "-",
            a.summary,
        )
    return table


@app.command("list")
def list_alerts(
    show_all: Annotated[
        bool, typer.Option("--all", help="resolved alerts too (default: active only)")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="fired within this long, e.g. 30m, 2h, 1d")
    ] = None,
    severity: Annotated[
        str | None, typer.Option(help="at least this severity: info, warning or critical")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="only alerts of this rule")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 100,
    as_json: Annotated[
        bool, typer.Option("--json", help="a JSON array instead of a table")
    ] = False,
    db: Annotated[Path | None, DB_OPTION] = None,
    config: Path = CONFIG_OPTION,
) -> None:
    """Alerts newest first: the active ones, or with --all the whole history."""
    since_s = None if since is None else parse_duration_s(since)
    min_severity = None if severity is None else _severity(severity)
    path = db_path(db, config)
    with open_db(path) as alert_db:
        since_at = None if since_s is None else time.time() - since_s
        if show_all:
            alerts = alert_db.query(
                since=since_at, min_severity=min_severity, rule=rule, limit=limit
            )
        else:
            alerts = [
                s
                for s in alert_db.active()
                if (since_at is None or s.fired_at >= since_at)
                and (min_severity is None or s.alert.severity.rank >= min_severity.rank)
                and (rule is None or s.alert.rule == rule)
            ]
            alerts.sort(key=lambda s: (s.fired_at, s.alert.id), reverse=True)
            alerts = alerts[:limit]
    if as_json:
        typer.echo(json.dumps([to_json(s) for s in alerts], indent=2))
        return
    if not alerts:
        console.print(f"no {'' if show_all else 'active '}alerts match in {path}")
        return
    console.print(_table(alerts, f"{'alerts' if show_all else 'active alerts'} ({path})"))


def _default_person() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "cli"


@app.command("ack")
def ack(
    alert_id: Annotated[int, typer.Argument(help="alert id, as `walkout alerts list` shows it")],
    by: Annotated[
        str | None, typer.Option(help="who takes the alert (default: your login name)")
    ] = None,
    db: Annotated[Path | None, DB_OPTION] = None,
    config: Path = CONFIG_OPTION,
) -> None:
    """Acknowledge an active alert: escalation stops, it stays listed until it resolves."""
    person = (by or _default_person()).strip()
    if not person:
        raise typer.BadParameter("--by must name someone")
    path = db_path(db, config)
    with open_db(path) as alert_db:
        before = alert_db.get(alert_id)
        try:
            stored = alert_db.acknowledge(alert_id, person)
        except LookupError as exc:
            raise fail(str(exc), EXIT_NOT_FOUND) from None
    a = stored.alert
    if before is not None and before.alert.state is AlertState.ACKNOWLEDGED:
        console.print(
            f"alert {a.id} ({a.rule} on {a.source}) was already acknowledged by "
            f"{a.acked_by} at {_when(stored.acked_at)}"
        )
        return
    console.print(f"[green]acknowledged[/] alert {a.id} ({a.rule} on {a.source}) by {a.acked_by}")
