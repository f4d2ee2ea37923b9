"""Grafana dashboards as code: ``python -m dashboards.build`` writes their JSON.

Panels query VictoriaMetrics through the provisioned Prometheus-type
datasource (uid :data:`DATASOURCE_UID`). Series are named the way
VictoriaMetrics names InfluxDB line-protocol fields, ``<measurement>_<field>``
(``ups_charge_pct``), with the ``store`` and ``device`` tags as labels;
``walkout.checkout_telemetry.KNOWN_SERIES`` lists what walkout writes (the
facility's converters and the checkout's): building refuses a dashboard that
queries anything else, and the tests check the JSON files against it too.

``--check`` exits 1 when the JSON on disk differs from what the code builds,
so a hand edit of the JSON (or a code change not rebuilt) fails CI.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from walkout.checkout_telemetry import KNOWN_SERIES

DATASOURCE_UID = "walkout-vm"
DATASOURCE = {"type": "prometheus", "uid": DATASOURCE_UID}
OUT_DIR = Path(__file__).parent / "grafana" / "dashboards"
STORE = '{store=~"$store"}'
STORE_MODES = ("normal", "conserve", "degraded", "closing", "shutdown")

AWAITING_TELEMETRY: dict[str, str] = {}
"""Series a panel queries that telemetry does not write yet, and what it should write."""


@dataclass(frozen=True, slots=True)
class Target:
    """One PromQL query; ``metric`` (and ``more_metrics``) the series it reads, for the checks."""

    metric: str
    expr: str
    legend: str = "{{device}}"
    more_metrics: tuple[str, ...] = ()


def series(metric: str, legend: str = "{{device}}") -> Target:
    """The raw series of every device of the selected stores."""
    return Target(metric, f"{metric}{STORE}", legend)


@dataclass
class Panel:
    """A panel; ``kind`` is the Grafana panel type."""

    title: str
    targets: list[Target]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 8
    height: int = 8
    min: float | None = None
    max: float | None = None
    mappings: list[dict[str, Any]] = field(default_factory=list)
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)
    description: str = ""

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        """The panel's Grafana JSON at grid position (x, y)."""
        defaults: dict[str, Any] = {"unit": self.unit, "mappings": self.mappings}
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.thresholds:
            defaults["thresholds"] = {
                "mode": "absolute",
                "steps": [{"value": v, "color": c} for v, c in self.thresholds],
            }
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [
                {
                    "refId": chr(ord("A") + i),
                    "datasource": DATASOURCE,
                    "expr": t.expr,
                    "legendFormat": t.legend,
                }
                for i, t in enumerate(self.targets)
            ],
        }


@dataclass
class Row:
    """A collapsible row of panels, laid out left to right on a 24-column grid."""

    title: str
    panels: list[Panel]


@dataclass
class Dashboard:
    """One dashboard file."""

    uid: str
    title: str
    rows: list[Row]
    tags: tuple[str, ...] = ("walkout",)
    store_metric: str = "ups_charge_pct"
    """The series whose ``store`` labels fill the store picker."""

    def metrics(self) -> set[str]:
        """Every series the dashboard's panels and variables read."""
        names = {
            m for r in self.rows for p in r.panels for t in p.targets
            for m in (t.metric, *t.more_metrics)
        }  # fmt: skip
        return names | {self.store_metric}

    def to_json(self) -> dict[str, Any]:
        """The Grafana dashboard model."""
        panels: list[dict[str, Any]] = []
        next_id, y = 1, 0
        for row in self.rows:
            panels.append(
                {
                    "id": next_id,
                    "type": "row",
                    "title": row.title,
                    "collapsed": False,
                    "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
                    "panels": [],
                }
            )
            next_id, y, x, row_h = next_id + 1, y + 1, 0, 0
            for panel in row.panels:
                if x + panel.width > 24:
                    x, y, row_h = 0, y + row_h, 0
                panels.append(panel.to_json(next_id, x, y))
                next_id, x, row_h = next_id + 1, x + panel.width, max(row_h, panel.height)
            y += row_h
        return {
            "uid": self.uid,
            "title": self.title,
            "tags": list(self.tags),
            "schemaVersion": 39,
            "version": 1,
            "editable": False,
            "graphTooltip": 1,
            "time": {"from": "now-6h", "to": "now"},
            "refresh": "10s",
            "timezone": "browser",
            "templating": {
                "list": [
                    {
                        "name": "store",
                        "label": "Store",
                        "type": "query",
                        "datasource": DATASOURCE,
                        "query": {
                            "query": f"label_values({self.store_metric}, store)",
                            "refId": "S",
                        },
                        "definition": f"label_values({self.store_metric}, store)",
                        "refresh": 2,
                        "includeAll": True,
                        "multi": True,
                        "current": {"text": "All", "value": "$__all"},
                    }
                ]
            },
            "annotations": {"list": []},
            "panels": panels,
        }


def _flag(text_on: str, color_on: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                "0": {"text": "no", "color": "green"},
                "1": {"text": text_on, "color": color_on},
            },
        }
    ]


MODE_MAPPING = [
    {
        "type": "value",
        "options": {
            str(level): {"text": mode, "color": color}
            for level, (mode, color) in enumerate(
                zip(STORE_MODES, ("green", "yellow", "orange", "red", "purple"), strict=True)
            )
        },
    }
]
HEALTH_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "online", "color": "green"},
            "1": {"text": "degraded", "color": "orange"},
            "2": {"text": "offline", "color": "red"},
        },
    }
]


def facility() -> Dashboard:
    """UPS and grid, cooling, GPUs, store mode."""
    power = Row(
        "Power",
        [
            Panel("UPS battery charge", [series("ups_charge_pct")], "percent", min=0, max=100,
                  thresholds=[(None, "red"), (20, "orange"), (50, "green")]),
            Panel("UPS runtime left", [series("ups_runtime_s")], "s", min=0,
                  description="Runtime the UPS predicts at its present load."),
            Panel("UPS load", [series("ups_load_pct")], "percent", min=0, max=100),
            Panel("UPS input voltage", [series("ups_input_v")], "volt"),
            Panel("UPS on battery", [series("ups_on_battery")], kind="state-timeline",
                  mappings=_flag("on battery", "red")),
            Panel(
                "Grid events",
                [series("ups_grid_event_active", "{{device}} {{kind}}")],
                kind="state-timeline",
                mappings=_flag("active", "red"),
                description="Transfers to battery, sags, swells and frequency excursions.",
            ),
            Panel("Grid event durations",
                  [series("ups_grid_event_duration_s", "{{device}} {{kind}}")], "s",
                  kind="barchart", width=24),
        ],
    )  # fmt: skip
    cooling = Row(
        "Cooling",
        [
            Panel(
                "CRAC air temperatures",
                [
                    series("crac_supply_air_c", "{{device}} supply"),
                    series("crac_return_air_c", "{{device}} return"),
                    series("crac_supply_setpoint_c", "{{device}} supply setpoint"),
                ],
                "celsius",
            ),
            Panel("CRAC humidity", [series("crac_humidity_pct")], "humidity"),
            Panel("CRAC active alarms", [series("crac_alarms_active")], min=0,
                  thresholds=[(None, "green"), (1, "red")]),
        ],
    )  # fmt: skip
    gpus = Row(
        "GPUs",
        [
            Panel(
                "GPU temperature",
                [
                    series("gpu_temperature_c", "{{device}} gpu{{gpu}}"),
                    series("gpu_slowdown_c", "{{device}} gpu{{gpu}} slowdown"),
                ],
                "celsius",
            ),
            Panel(
                "GPU power and caps",
                [
                    series("gpu_power_w", "{{device}} gpu{{gpu}}"),
                    series("gpu_power_limit_w", "{{device}} gpu{{gpu}} limit"),
                ],
                "watt",
                min=0,
            ),
            Panel(
                "GPU rack power",
                [Target("gpu_power_w", f"sum by (store) (gpu_power_w{STORE})", "{{store}}")],
                "watt",
                min=0,
            ),
            Panel("GPU held by its power cap",
                  [series("gpu_power_capped", "{{device}} gpu{{gpu}}")],
                  kind="state-timeline", mappings=_flag("capped", "orange"), width=12),
            Panel("GPU thermal slowdown",
                  [series("gpu_thermal_slowdown", "{{device}} gpu{{gpu}}")],
                  kind="state-timeline", mappings=_flag("slowing", "red"), width=12),
        ],
    )  # fmt: skip
    store = Row(
        "Store",
        [
            Panel("Store mode", [series("store_mode_level", "{{store}}")],
                  kind="state-timeline", mappings=MODE_MAPPING, width=12, min=0, max=4),
            Panel("Device health", [series("device_health_state")], kind="state-timeline",
                  mappings=HEALTH_MAPPING, width=12),
        ],
    )  # fmt: skip
    return Dashboard("walkout-facility", "walkout facility", [store, power, cooling, gpus])


def _per(window: str, metric: str, by: str = "store", fn: str = "count_over_time") -> str:
    """``sum by (BY) (FN(METRIC{store}[WINDOW]))``: events (or a field's sum) per window."""
    return f"sum by ({by}) ({fn}({metric}{STORE}[{window}]))"


def store() -> Dashboard:
    """Shoppers, receipts, review and settlement latency, shelf events, the store's mode.

    Checkout accuracy is not here: walkout writes no accuracy series (the store
    bench measures it against its simulated ground truth and prints it).
    """
    shoppers = Row(
        "Shoppers",
        [
            Panel(
                "Sessions",
                [
                    series("checkout_sessions_open", "{{store}} in the store"),
                    series("checkout_sessions_awaiting_receipt", "{{store}} awaiting receipt"),
                    series("checkout_reviews_open", "{{store}} items in review"),
                ],
                min=0,
                description="Sessions with people inside; closed sessions not settled yet.",
            ),
            Panel("Sessions per hour",
                  [Target("checkout_session_opened", _per("1h", "checkout_session_opened"),
                          "{{store}}")], min=0),
            Panel("Group size",
                  [Target("checkout_group_size", f"avg_over_time(checkout_group_size{STORE}[1h])",
                          "{{store}}")], min=0,
                  description="People on one bill, averaged over the last hour of entries."),
        ],
    )  # fmt: skip
    receipts = Row(
        "Receipts",
        [
            Panel("Receipts settled per hour",
                  [Target("checkout_receipt_lines", _per("1h", "checkout_receipt_lines"),
                          "{{store}}")], min=0),
            Panel(
                "Sales per hour",
                [Target("checkout_receipt_total",
                        _per("1h", "checkout_receipt_total", "store, currency", "sum_over_time"),
                        "{{store}} {{currency}}")],
                min=0,
            ),
            Panel(
                "Receipt value",
                [Target("checkout_receipt_total", f"checkout_receipt_total{STORE}",
                        "{{store}} {{currency}}")],
                kind="timeseries", min=0, description="Each settled receipt's total.",
            ),
            Panel(
                "Review rate",
                [
                    Target(
                        "checkout_review_requested",
                        f"{_per('1h', 'checkout_review_requested')} / "
                        f"{_per('1h', 'checkout_session_opened')}",
                        "{{store}}",
                        more_metrics=("checkout_session_opened",),
                    )
                ],
                "percentunit", min=0,
                description="Items sent to a person per session opened, over the last hour.",
            ),
            Panel(
                "Exit to receipt",
                [
                    Target("checkout_exit_to_receipt_s",
                           f"quantile_over_time(0.5, checkout_exit_to_receipt_s{STORE}[1h])",
                           "{{store}} p50"),
                    Target("checkout_exit_to_receipt_s",
                           f"quantile_over_time(0.95, checkout_exit_to_receipt_s{STORE}[1h])",
                           "{{store}} p95"),
                ],
                "s", min=0, thresholds=[(None, "green"), (5, "red")],
                description="From the session's close to its settled receipt (event time), "
                "over the last hour; red from 5 s, the best settlement time quoted in the field.",
            ),
            Panel(
                "Items taken and put back per hour",
                [
                    Target("checkout_line_added_qty",
                           _per("1h", "checkout_line_added_qty", fn="sum_over_time"),
                           "{{store}} taken"),
                    Target("checkout_line_put_back_qty",
                           _per("1h", "checkout_line_put_back_qty", fn="sum_over_time"),
                           "{{store}} put back"),
                ],
                min=0,
            ),
        ],
    )  # fmt: skip
    shelves = Row(
        "Shelves and store",
        [
            Panel("Shelf events per minute",
                  [Target("shelf_change_abs_g", _per("1m", "shelf_change_abs_g", "store, kind"),
                          "{{store}} {{kind}}")], min=0),
            Panel("Shelf change weights", [series("shelf_change_delta_g", "{{shelf}} {{kind}}")],
                  "massg", kind="timeseries",
                  description="Grams per take (negative) or put-back (positive)."),
            Panel("Store mode", [series("store_mode_level", "{{store}}")],
                  kind="state-timeline", mappings=MODE_MAPPING, min=0, max=4),
        ],
    )  # fmt: skip
    return Dashboard(
        "walkout-store", "walkout store", [shoppers, receipts, shelves],
        store_metric="checkout_sessions_open",
    )  # fmt: skip


DASHBOARDS = {"facility.json": facility, "store.json": store}


def unknown_series(dashboard: Dashboard) -> set[str]:
    """Series the dashboard queries that walkout never writes (nor is about to)."""
    return dashboard.metrics() - KNOWN_SERIES - set(AWAITING_TELEMETRY)


def render(builder: Any) -> str:
    """The file text of one dashboard (stable: sorted keys, trailing newline)."""
    return json.dumps(builder().to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) every dashboard's JSON."""
    parser = argparse.ArgumentParser(prog="python -m dashboards.build", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="directory for the JSON")
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    stale = []
    for name, builder in DASHBOARDS.items():
        unknown = unknown_series(builder())
        if unknown:
            print(f"{name}: queries series walkout never writes: {sorted(unknown)}",
                  file=sys.stderr)  # fmt: skip
            return 1
        path: Path = args.out / name
        text = render(builder)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}")
    if stale:
        print("stale (run python -m dashboards.build): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
