"""The rule set a store gets when store.yaml names none.

Kept as data (the same shape as a rules file) so an installer can copy it
into store.yaml and change a number without reading code. Thresholds follow
the usual rack figures: ASHRAE's recommended supply air tops out at 27 °C;
a UPS below 30 % charge has minutes left at rack load; NVIDIA boards begin
software slowdown in the mid 80s °C.
"""

from __future__ import annotations

from typing import Any

from facility.alerts.rules import AnyRule, rules_from_list

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "kind": "state",
        "name": "ups_on_battery",
        "message": "UpsReading",
        "field": "status",
        "values": ["on_battery", "low_battery"],
        "severity": "warning",
        "summary": "UPS is running on battery",
        "clear_for_s": 10,
        "escalate_after_s": 300,
        "labels": {"area": "power"},
        "group_by": ["area"],
    },
    {
        "kind": "state",
        "name": "ups_fault",
        "message": "UpsReading",
        "field": "status",
        "values": ["fault"],
        "severity": "critical",
        "summary": "UPS reports a fault",
        "labels": {"area": "power"},
        "group_by": ["area"],
    },
    {
        "kind": "threshold",
        "name": "ups_charge_low",
        "message": "UpsReading",
        "field": "charge_pct",
        "below": 30,
        "clear": 40,
        "severity": "critical",
        "summary": "UPS battery charge is low",
        "escalate_after_s": 120,
        "labels": {"area": "power"},
        "group_by": ["area"],
    },
    {
        "kind": "threshold",
        "name": "crac_supply_air_high",
        "message": "CracReading",
        "field": "supply_air_c",
        "above": 27,
        "clear": 25.5,
        "for_s": 60,
        "severity": "warning",
        "summary": "Supply air above 27 °C",
        "escalate_after_s": 600,
        "labels": {"area": "cooling"},
        "group_by": ["area"],
    },
    {
        "kind": "rate",
        "name": "crac_supply_air_rising",
        "message": "CracReading",
        "field": "supply_air_c",
        "per_min": 1.0,
        "clear_per_min": 0.3,
        "window_s": 300,
        "severity": "warning",
        "summary": "Supply air rising faster than 1 K/min",
        "labels": {"area": "cooling"},
        "group_by": ["area"],
    },
    {
        "kind": "state",
        "name": "crac_alarm",
        "message": "CracAlarm",
        "field": "active",
        "severity": "warning",
        "summary": "Air conditioner reports alarms",
        "labels": {"area": "cooling"},
        "group_by": ["area"],
    },
    {
        "kind": "threshold",
        "name": "gpu_temperature_high",
        "message": "GpuReading",
        "field": "temperature_c",
        "above": 85,
        "clear": 80,
        "for_s": 30,
        "severity": "warning",
        "summary": "GPU temperature above 85 °C",
        "labels": {"area": "compute"},
        "group_by": ["area"],
    },
    {
        "kind": "state",
        "name": "device_offline",
        "message": "HealthChanged",
        "field": "health.state",
        "values": ["offline"],
        "severity": "warning",
        "summary": "Device is offline",
        "for_s": 0,
        "escalate_after_s": 900,
        "labels": {"area": "devices"},
        "group_by": ["area"],
    },
    {
        "kind": "absence",
        "name": "ups_data_stale",
        "message": "UpsReading",
        "after_s": 60,
        "severity": "warning",
        "summary": "No UPS reading for 60 s",
        "labels": {"area": "power"},
        "group_by": ["area"],
    },
    {
        "kind": "absence",
        "name": "crac_data_stale",
        "message": "CracReading",
        "after_s": 60,
        "severity": "warning",
        "summary": "No air conditioner reading for 60 s",
        "labels": {"area": "cooling"},
        "group_by": ["area"],
    },
    {
        "kind": "state",
        "name": "action_failed",
        "message": "ActionOutcome",
        "field": "ok",
        "values": ["false"],
        "severity": "warning",
        "summary": "A supervisor action failed (GPU cap, cameras, screens, gate, ledger, shutdown)",
        "escalate_after_s": 120,
        "labels": {"area": "facility"},
        "group_by": ["area"],
    },
]


def default_rules() -> tuple[AnyRule, ...]:
    """The default rule set, validated."""
    return rules_from_list(DEFAULT_RULES)
