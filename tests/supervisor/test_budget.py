"""Runtime fit and budget figures, and policy validation."""

from __future__ import annotations

import dataclasses
import random

import pytest

from facility.supervisor import (
    BatteryFloorRule,
    ModeActions,
    OnBatteryRule,
    OpenSession,
    Policy,
    RuntimeBudgetRule,
    RuntimeModel,
    StoreOccupancy,
    ThermalConfig,
    default_policy,
    fit_runtime_curve,
)


def test_fit_recovers_known_k_and_a() -> None:
    k, a = 250_000.0, 1.25
    points = [(load, k / load**a) for load in (15.0, 25.0, 40.0, 55.0, 70.0, 90.0)]
    fit = fit_runtime_curve(points)
    assert fit is not None
    assert fit.k == pytest.approx(k, rel=1e-9)
    assert fit.a == pytest.approx(a, abs=1e-9)
    assert fit.r2 == pytest.approx(1.0)


def test_fit_with_noise_stays_close() -> None:
    rng = random.Random(6)
    k, a = 90_000.0, 1.1
    points = []
    for _ in range(200):
        load = rng.uniform(20.0, 80.0)
        points.append((load, k / load**a * (1 + rng.uniform(-0.03, 0.03))))
    fit = fit_runtime_curve(points)
    assert fit is not None
    assert fit.a == pytest.approx(a, abs=0.03)
    assert fit.k == pytest.approx(k, rel=0.1)


def test_fit_refuses_degenerate_data() -> None:
    assert fit_runtime_curve([]) is None
    assert fit_runtime_curve([(50.0, 600.0)]) is None
    assert fit_runtime_curve([(50.0, 600.0), (50.0, 610.0)]) is None  # no load spread
    assert fit_runtime_curve([(0.0, 600.0), (50.0, -1.0)]) is None


def test_model_uses_fit_exponent_and_current_level() -> None:
    model = RuntimeModel()
    for i, load in enumerate((30.0, 45.0, 60.0, 75.0)):
        model.add(float(i), load, 60_000.0 / load**1.2)
    est = model.predict(runtime_now_s=500.0, load_now_pct=60.0, load_after_pct=30.0)
    assert est.fitted
    assert est.exponent == pytest.approx(1.2)
    assert est.runtime_after_s == pytest.approx(500.0 * 2.0**1.2)


def test_model_falls_back_to_proportional_scaling() -> None:
    model = RuntimeModel()
    for i in range(10):
        model.add(float(i), 50.0 + 0.1 * i, 1200.0)  # spread far below 15 %
    est = model.predict(runtime_now_s=600.0, load_now_pct=50.0, load_after_pct=25.0)
    assert not est.fitted
    assert est.exponent == 1.0
    assert est.runtime_after_s == pytest.approx(1200.0)


def test_model_rejects_absurd_exponent() -> None:
    model = RuntimeModel()
    for i, load in enumerate((30.0, 45.0, 60.0, 75.0)):
        model.add(float(i), load, 1e9 / load**4.0)
    assert model.fit() is None


def test_occupancy_time_to_empty() -> None:
    empty = StoreOccupancy(source="checkout", t_mono=0.0)
    assert empty.time_to_empty_s == 0.0
    busy = StoreOccupancy(
        source="checkout",
        t_mono=0.0,
        sessions=(OpenSession("a", 120.0), OpenSession("b", 300.0)),
        settlement_s=8.0,
    )
    assert busy.time_to_empty_s == 308.0
    with pytest.raises(ValueError, match="expected_remaining_s must be >= 0"):
        OpenSession("c", -1.0)


def test_policy_validation_errors_are_specific() -> None:
    with pytest.raises(ValueError, match="repeated: on_battery"):
        Policy(rules=(OnBatteryRule(), OnBatteryRule()))
    with pytest.raises(ValueError, match=r"shutdown_runtime_s .* is below battery_floor"):
        Policy(rules=(RuntimeBudgetRule(shutdown_runtime_s=120.0), BatteryFloorRule()))
    with pytest.raises(ValueError, match="margin_frac must be in"):
        RuntimeBudgetRule(margin_frac=1.5)
    with pytest.raises(ValueError, match="cameras must be one of"):
        ModeActions(cameras="some")
    with pytest.raises(ValueError, match=r"thermal\.rate_down_w_per_s must be > 0"):
        ThermalConfig(rate_down_w_per_s=0.0)
    with pytest.raises(ValueError, match="min_dwell_s: missing modes"):
        dataclasses.replace(default_policy(), min_dwell_s={})
    with pytest.raises(ValueError, match="min_charge_pct must be in"):
        BatteryFloorRule(min_charge_pct=120.0)


def test_default_policy_names_its_rules() -> None:
    policy = default_policy()
    assert [r.name for r in policy.rules] == [
        "on_battery",
        "runtime_budget",
        "battery_floor",
        "empty_shutdown",
        "crac_cooling",
        "gpu_thermal_margin",
        "stale_ups",
    ]
    assert policy.rule("battery_floor").mode.value == "shutdown"
