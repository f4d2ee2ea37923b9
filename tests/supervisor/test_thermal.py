"""CRAC compressor failure: GPU caps come down before the GPUs slow themselves, then return."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from types import MappingProxyType

import pytest

from devices.bus import Message
from facility.supervisor import (
    CapGpus,
    Decision,
    ModeChanged,
    Policy,
    StoreMode,
    Supervisor,
    ThermalConfig,
    ThermalController,
    default_policy,
)
from facility.supervisor.policy import DEFAULT_ACTIONS
from sim_devices.fake_nvml import A100_PCIE_40GB, L4, GpuPhysics

from .world import Battery, apply, crac_reading, gpu_reading, ups_reading

FAIL_T = 300.0
REPAIR_T = 1800.0
END_T = 4200.0
RACK_PREHEAT_K = 8.0
ALARM = ("compressor_1_fault",)


def supply_air_c(t: float) -> float:
    """20 degC; from the failure +1.2 K/min up to 45 degC; after repair -2 K/min back to 20."""
    if t < FAIL_T:
        return 20.0
    rising = min(45.0, 20.0 + 1.2 * (t - FAIL_T) / 60.0)
    if t < REPAIR_T:
        return rising
    peak = min(45.0, 20.0 + 1.2 * (REPAIR_T - FAIL_T) / 60.0)
    return max(20.0, peak - 2.0 * (t - REPAIR_T) / 60.0)


@dataclass
class ThermalRun:
    decisions: list[Decision] = field(default_factory=list)
    max_temp_c: float = 0.0
    first_thermal_slowdown_t: float | None = None
    first_cap_t: float | None = None
    restored_t: float | None = None
    caps: list[tuple[float, float]] = field(default_factory=list)


def run_failure(policy: Policy | None) -> ThermalRun:
    """``policy`` None runs the world with no supervisor at all (the baseline)."""
    gpus = [GpuPhysics(A100_PCIE_40GB, inlet_c=20.0 + RACK_PREHEAT_K, utilisation=1.0)]
    gpus.append(GpuPhysics(A100_PCIE_40GB, inlet_c=20.0 + RACK_PREHEAT_K, utilisation=0.9))
    battery = Battery(k=30_000.0, a=1.1, rated_w=10_000.0)
    sup = Supervisor(policy) if policy is not None else None
    run = ThermalRun()
    t = 0.0
    while t <= END_T:
        supply = supply_air_c(t)
        for g in gpus:
            g.inlet_c = supply + RACK_PREHEAT_K
            g.advance(1.0)
        messages: list[Message] = [gpu_reading(t, i, g) for i, g in enumerate(gpus)]
        if t % 5 == 0:
            alarms = ALARM if FAIL_T <= t < REPAIR_T else ()
            messages.append(crac_reading(t, supply, alarms))
            messages.append(ups_reading(t, battery, 5000.0, on_battery=False))
        for message in messages:
            if sup is None:
                continue
            out = sup.feed(message)
            run.decisions.extend(out)
            apply(out, gpus, None)
        for i, g in enumerate(gpus):
            run.max_temp_c = max(run.max_temp_c, g.temperature_c)
            reading = gpu_reading(t, i, g)
            if reading.thermal_slowdown and run.first_thermal_slowdown_t is None:
                run.first_thermal_slowdown_t = t
        limits = [g.limit_w for g in gpus]
        run.caps.append((t, min(limits)))
        if run.first_cap_t is None and min(limits) < A100_PCIE_40GB.default_limit_w:
            run.first_cap_t = t
        if t > REPAIR_T and run.restored_t is None and min(limits) >= 250.0:
            run.restored_t = t
        if t > REPAIR_T and min(limits) < 250.0:
            run.restored_t = None
        t += 1.0
    return run


def thermal_only_policy() -> Policy:
    """Mode caps that never bind: the thermal loop alone must protect the GPUs."""
    actions = {m: dataclasses.replace(a, gpu_cap_frac=1.0) for m, a in DEFAULT_ACTIONS.items()}
    return dataclasses.replace(default_policy(), actions=MappingProxyType(actions))


@pytest.fixture(scope="module")
def baseline() -> ThermalRun:
    return run_failure(None)


@pytest.mark.parametrize("policy_name", ["default", "thermal_only"])
def test_caps_come_down_before_thermal_slowdown_and_go_back(
    baseline: ThermalRun, policy_name: str
) -> None:
    # Without a supervisor, the failure drives the GPUs into thermal slowdown.
    assert baseline.first_thermal_slowdown_t is not None
    assert baseline.max_temp_c > A100_PCIE_40GB.max_operating_c
    policy = default_policy() if policy_name == "default" else thermal_only_policy()
    run = run_failure(policy)
    assert run.first_thermal_slowdown_t is None, "a GPU reached its slowdown threshold"
    assert run.max_temp_c < A100_PCIE_40GB.max_operating_c - 2.0
    assert run.first_cap_t is not None
    assert FAIL_T < run.first_cap_t < baseline.first_thermal_slowdown_t
    # Caps never leave the settable range.
    assert all(150.0 <= cap <= 250.0 for _, cap in run.caps)
    # After the repair every cap is back at the default limit, and stays there.
    assert run.restored_t is not None
    assert run.caps[-1][1] == 250.0
    modes = [d.mode for d in run.decisions if isinstance(d, ModeChanged)]
    if policy_name == "default":
        assert modes == [StoreMode.DEGRADED, StoreMode.NORMAL]
        degraded = next(d for d in run.decisions if isinstance(d, ModeChanged))
        assert degraded.rule == "crac_cooling"
        assert "compressor_1_fault" in degraded.explanation
        slope = degraded.figure("supply_slope_k_per_min")
        assert isinstance(slope, float)
        assert slope >= 0.3
    print(
        f"\n{policy_name}: failure at {FAIL_T:.0f} s; first cap +{run.first_cap_t - FAIL_T:.0f} s; "
        f"baseline thermal slowdown +{baseline.first_thermal_slowdown_t - FAIL_T:.0f} s "
        f"(peak {baseline.max_temp_c:.1f} degC); supervised peak {run.max_temp_c:.1f} degC; "
        f"caps fully restored {run.restored_t - REPAIR_T:.0f} s after the repair"
    )


def test_cap_requests_are_rate_limited_and_restored_stepwise() -> None:
    cfg = ThermalConfig()
    controller = ThermalController(cfg)
    gpu = GpuPhysics(L4, inlet_c=25.0, utilisation=1.0)
    caps: list[tuple[float, float]] = []
    for step in range(3000):
        t = float(step)
        gpu.inlet_c = 48.0 if 100 <= t < 1200 else 25.0
        gpu.advance(1.0)
        cap = controller.update(gpu_reading(t, 0, gpu), crac_degraded=False)
        assert cap is not None
        gpu.limit_w = cap
        caps.append((t, cap))
        if t >= 600 and t < 1200:
            # Held under the setpoint (87 - 5) give or take the reading's rounding.
            assert gpu.temperature_c < 83.5
    for (t0, c0), (t1, c1) in itertools.pairwise(caps):
        assert c0 - c1 <= cfg.rate_down_w_per_s * (t1 - t0) + 1e-9  # down: rate-limited
        assert c1 - c0 <= cfg.restore_step_w + 1e-9  # up: one step at a time
    raises = [t for (t0, c0), (t, c) in itertools.pairwise(caps) if c > c0]
    assert raises
    assert all(b - a >= cfg.restore_interval_s for a, b in itertools.pairwise(raises))
    assert min(c for _, c in caps) < L4.default_limit_w - 10.0
    assert caps[-1][1] == L4.default_limit_w


def test_crac_degraded_lowers_the_setpoint() -> None:
    controller = ThermalController(ThermalConfig(margin_k=5.0, crac_margin_k=4.0))
    gpu = GpuPhysics(L4, inlet_c=25.0, utilisation=1.0)
    controller.update(gpu_reading(0.0, 0, gpu), crac_degraded=False)
    assert controller.setpoint_c("gpu-0") == 87.0 - 5.0
    controller.update(gpu_reading(1.0, 0, gpu), crac_degraded=True)
    assert controller.setpoint_c("gpu-0") == 87.0 - 5.0 - 4.0


def test_cap_changes_are_published_only_when_they_move() -> None:
    sup = Supervisor(default_policy())
    gpu = GpuPhysics(L4, inlet_c=25.0, utilisation=1.0)
    caps: list[CapGpus] = []
    for step in range(50):
        out = sup.feed(gpu_reading(float(step), 0, gpu))
        caps.extend(d for d in out if isinstance(d, CapGpus))
    # The first reading announces the uncapped limit; a cool GPU needs nothing more.
    assert len(caps) == 1
    assert caps[0].targets == (("gpu-0", 72.0),)
