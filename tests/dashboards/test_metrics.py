"""Grafana files: valid basics, fresh against the code, querying only series walkout writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import build
from walkout.checkout_telemetry import KNOWN_SERIES

GRAFANA = Path(build.__file__).parent / "grafana"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))

# PromQL words that are not series names (functions are recognised by the "(" after them).
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan"}  # fmt: skip
IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metrics_in(expr: str) -> set[str]:
    """Series names in a PromQL expression, read independently of dashboards.build."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "{}", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", text)  # grouping labels
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    names = set()
    for match in IDENT.finditer(text):
        rest = text[match.end() :].lstrip()
        word = match.group()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def test_metric_extraction_itself() -> None:
    assert metrics_in('sum by (store) (rate(gpu_energy_j{store=~"$store"}[5m]))') == {
        "gpu_energy_j"
    }
    assert metrics_in("ups_charge_pct < 20 and on (device) ups_on_battery") == {
        "ups_charge_pct", "ups_on_battery",
    }  # fmt: skip


def dashboards() -> list[dict[str, Any]]:
    assert DASHBOARD_FILES, "no dashboard JSON: run python -m dashboards.build"
    return [json.loads(p.read_text(encoding="utf-8")) for p in DASHBOARD_FILES]


def queried_metrics(dashboard: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            names |= metrics_in(target["expr"])
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        if m := re.match(r"label_values\((\w+)", text):
            names.add(m.group(1))
    return names


def provisioned_datasource() -> dict[str, Any]:
    doc = yaml.safe_load((GRAFANA / "provisioning/datasources/walkout.yaml").read_text())
    assert doc["apiVersion"] == 1
    (source,) = doc["datasources"]
    return source  # type: ignore[no-any-return]


def test_datasource_is_prometheus_type_pointing_at_victoriametrics() -> None:
    source = provisioned_datasource()
    assert source["type"] == "prometheus"
    assert source["uid"] == build.DATASOURCE_UID
    assert source["url"].startswith("http://")
    assert source["url"].endswith(":8428")
    assert source["access"] == "proxy"


def test_dashboard_provider_is_a_file_provider() -> None:
    doc = yaml.safe_load((GRAFANA / "provisioning/dashboards/walkout.yaml").read_text())
    (provider,) = doc["providers"]
    assert doc["apiVersion"] == 1
    assert provider["type"] == "file"
    assert Path(provider["options"]["path"]).is_absolute()


def test_json_is_what_the_code_builds() -> None:
    assert build.main(["--check"]) == 0, "stale JSON: run python -m dashboards.build"


def test_grafana_schema_basics() -> None:
    uid = provisioned_datasource()["uid"]
    seen_uids = set()
    for dashboard in dashboards():
        assert dashboard["uid"]
        assert len(dashboard["uid"]) <= 40
        assert dashboard["uid"] not in seen_uids
        seen_uids.add(dashboard["uid"])
        assert dashboard["title"]
        assert isinstance(dashboard["schemaVersion"], int)
        panels = dashboard["panels"]
        assert panels
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), "panel ids must be unique"
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] >= 0, panel["title"]
            assert pos["x"] + pos["w"] <= 24, panel["title"]
            assert pos["h"] > 0
            if panel["type"] == "row":
                continue
            assert panel["title"]
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"], f"panel {panel['title']!r} has no targets"
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids))
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid
                assert target["expr"].strip()
                assert target["expr"].count("(") == target["expr"].count(")")
                assert target["expr"].count("{") == target["expr"].count("}")
        for var in dashboard["templating"]["list"]:
            assert var["datasource"]["uid"] == uid


def test_facility_dashboard_covers_the_facility() -> None:
    (dashboard,) = [d for d in dashboards() if d["uid"] == "walkout-facility"]
    names = queried_metrics(dashboard)
    wanted = {
        "ups_charge_pct", "ups_runtime_s", "ups_load_pct", "ups_input_v",
        "ups_grid_event_active", "crac_supply_air_c", "crac_return_air_c",
        "gpu_temperature_c", "gpu_power_w", "gpu_power_limit_w", "store_mode_level",
    }  # fmt: skip
    assert wanted <= names, wanted - names


def unwritten(dashboards: list[dict[str, Any]]) -> set[str]:
    """Series the dashboards query that walkout neither writes nor awaits."""
    queried = set().union(*(queried_metrics(d) for d in dashboards))
    return queried - KNOWN_SERIES - set(build.AWAITING_TELEMETRY)


def test_every_queried_series_is_written_by_telemetry() -> None:
    files = {p.name for p in DASHBOARD_FILES}
    assert {"facility.json", "store.json"} <= files
    unknown = unwritten(dashboards())
    assert not unknown, f"panels query series telemetry never writes: {sorted(unknown)}"
    # Once telemetry writes one of the awaited series, it must leave the waiting list.
    arrived = set(build.AWAITING_TELEMETRY) & KNOWN_SERIES
    assert not arrived, f"now written by telemetry, drop from AWAITING_TELEMETRY: {arrived}"


def bogus_dashboard() -> build.Dashboard:
    panel = build.Panel("Bogus", [build.series("checkout_sessions_opne")])
    return build.Dashboard("walkout-bogus", "bogus", [build.Row("Bogus", [panel])])


def test_a_panel_on_a_series_walkout_never_writes_is_caught() -> None:
    # By the independent reading of the JSON ...
    bogus = bogus_dashboard().to_json()
    assert unwritten([*dashboards(), bogus]) == {"checkout_sessions_opne"}
    # ... and by the build itself.
    assert build.unknown_series(bogus_dashboard()) == {"checkout_sessions_opne"}


def test_build_refuses_a_dashboard_on_an_unwritten_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(build, "DASHBOARDS", {"bogus.json": bogus_dashboard})
    assert build.main(["--out", str(tmp_path)]) == 1
    assert "checkout_sessions_opne" in capsys.readouterr().err
    assert not (tmp_path / "bogus.json").exists()
    assert build.main(["--out", str(tmp_path), "--check"]) == 1


def test_store_dashboard_covers_the_store() -> None:
    (dashboard,) = [d for d in dashboards() if d["uid"] == "walkout-store"]
    names = queried_metrics(dashboard)
    wanted = {
        "checkout_sessions_open", "checkout_session_opened", "checkout_receipt_total",
        "checkout_receipt_lines", "checkout_review_requested", "checkout_exit_to_receipt_s",
        "shelf_change_abs_g", "store_mode_level",
    }  # fmt: skip
    assert wanted <= names, wanted - names
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert any(e.startswith("quantile_over_time(0.95, checkout_exit_to_receipt_s") for e in exprs)
    store_var = dashboard["templating"]["list"][0]
    assert store_var["definition"] == "label_values(checkout_sessions_open, store)"
