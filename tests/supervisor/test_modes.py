"""Mode machine: hysteresis and dwell, fixed floors, fail-safe on stale inputs."""

from __future__ import annotations

import pytest

from devices.health import Health, HealthChanged, HealthState
from devices.ups.state import GridEvent, GridEventKind, UpsReading, UpsStatus
from facility.supervisor import (
    Decision,
    ModeChanged,
    ShutdownHost,
    StoreMode,
    Supervisor,
    default_policy,
)


def ups(
    t: float,
    status: UpsStatus = UpsStatus.ON_LINE,
    runtime_s: float | None = 3600.0,
    charge_pct: float | None = 100.0,
    load_pct: float | None = 40.0,
) -> UpsReading:
    return UpsReading(
        source="ups-1",
        t_mono=t,
        status=status,
        runtime_s=runtime_s,
        charge_pct=charge_pct,
        load_pct=load_pct,
        output_power_w=None if load_pct is None else 100.0 * load_pct,
    )


def changes(decisions: list[Decision]) -> list[ModeChanged]:
    return [d for d in decisions if isinstance(d, ModeChanged)]


def test_store_modes_are_ordered_by_severity() -> None:
    order = [StoreMode.NORMAL, StoreMode.CONSERVE, StoreMode.DEGRADED]
    order += [StoreMode.CLOSING, StoreMode.SHUTDOWN]
    assert [m.severity for m in order] == [0, 1, 2, 3, 4]
    assert StoreMode.CONSERVE.worse(StoreMode.CLOSING) is StoreMode.CLOSING
    assert StoreMode.SHUTDOWN.worse(StoreMode.NORMAL) is StoreMode.SHUTDOWN


def test_grid_flapping_every_few_seconds_does_not_flap_the_store() -> None:
    sup = Supervisor(default_policy())
    out: list[Decision] = []
    t = 0.0
    while t < 1200.0:
        flapping = 100.0 <= t < 700.0
        on_battery = flapping and int(t // 3) % 2 == 0  # 3 s on battery, 3 s on line
        status = UpsStatus.ON_BATTERY if on_battery else UpsStatus.ON_LINE
        out += sup.feed(ups(t, status, runtime_s=3000.0 if on_battery else 3600.0))
        t += 1.0
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CONSERVE, StoreMode.NORMAL]
    assert mode_changes[0].t_mono == 102.0  # the first on-battery second (102 // 3 is even)
    # Back to normal only once the grid has been steady for recover_s (60 s) after the
    # last on-battery reading at 698 s (conserve has long passed its minimum dwell).
    assert mode_changes[1].t_mono == 698.0 + 60.0
    assert mode_changes[1].rule == "recovered"


def test_a_short_blip_holds_conserve_for_the_minimum_dwell() -> None:
    sup = Supervisor(default_policy())
    out: list[Decision] = []
    for step in range(400):
        t = float(step)
        status = UpsStatus.ON_BATTERY if 10.0 <= t < 15.0 else UpsStatus.ON_LINE
        out += sup.feed(ups(t, status))
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CONSERVE, StoreMode.NORMAL]
    # Condition clear at 15 s: recover_s 60 s would allow 75 s, but conserve dwells 120 s.
    assert mode_changes[1].t_mono == 10.0 + 120.0


def test_grid_event_applies_before_the_next_poll() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    out = sup.feed(
        GridEvent(source="ups-1", t_mono=1.5, kind=GridEventKind.ON_BATTERY, started_mono=1.5)
    )
    assert [c.mode for c in changes(out)] == [StoreMode.CONSERVE]


def test_charge_floor_applies_when_the_runtime_is_unknown() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    out = sup.feed(ups(5.0, UpsStatus.ON_BATTERY, runtime_s=None, charge_pct=8.0))
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.SHUTDOWN]
    assert mode_changes[0].rule == "battery_floor"
    assert "charge 8% <= 10%" in mode_changes[0].explanation
    assert mode_changes[0].figure("charge_pct") == 8.0
    assert any(isinstance(d, ShutdownHost) for d in out)


def test_runtime_floor_applies_without_a_fit() -> None:
    sup = Supervisor(default_policy())
    # No load spread on line: the exponent fit is unsure, yet the floor still holds.
    sup.feed(ups(0.0, load_pct=40.0))
    out = sup.feed(ups(5.0, UpsStatus.ON_BATTERY, runtime_s=240.0, charge_pct=60.0))
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.SHUTDOWN]
    assert "runtime 240 s <= 300 s" in mode_changes[0].explanation
    assert "runtime_budget" in mode_changes[0].active


def test_ups_low_battery_status_shuts_down_and_shutdown_latches() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    out = sup.feed(ups(5.0, UpsStatus.LOW_BATTERY, runtime_s=900.0, charge_pct=50.0))
    assert [c.mode for c in changes(out)] == [StoreMode.SHUTDOWN]
    later: list[Decision] = []
    for step in range(2, 400):
        later += sup.feed(ups(5.0 * step))  # the grid came back
    assert changes(later) == []
    assert sup.mode is StoreMode.SHUTDOWN


def test_unknown_runtime_on_battery_closes_the_store() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    out = sup.feed(ups(5.0, UpsStatus.ON_BATTERY, runtime_s=None, charge_pct=90.0))
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CLOSING]
    assert mode_changes[0].rule == "runtime_budget"
    assert "runtime is unknown" in mode_changes[0].explanation
    assert mode_changes[0].figure("predicted_runtime_s") is None


def test_budget_closes_when_the_runtime_cannot_cover_a_visit() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    # No occupancy from the checkout: a full default visit (600 s) is assumed.
    # Need: 600 + 300 shutdown reserve + 120 margin, against 85 % of the predicted runtime.
    # No GPUs: closing's load is the rest scaled by 0.8 / 0.9 (closing vs conserve factor),
    # so with exponent 1 the prediction is runtime * 0.9 / 0.8.
    out = sup.feed(ups(5.0, UpsStatus.ON_BATTERY, runtime_s=1300.0, charge_pct=70.0))
    assert [c.mode for c in changes(out)] == [StoreMode.CONSERVE]
    # 1150 s: 1293.75 * 0.85 - 120 = 979.7 > 900, still open.
    assert changes(sup.feed(ups(10.0, UpsStatus.ON_BATTERY, runtime_s=1150.0))) == []
    # 1000 s: 1125 * 0.85 - 120 = 836.25 <= 900, close.
    out = sup.feed(ups(15.0, UpsStatus.ON_BATTERY, runtime_s=1000.0, charge_pct=65.0))
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CLOSING]
    assert mode_changes[0].figure("predicted_runtime_s") == pytest.approx(1125.0)
    assert mode_changes[0].figure("occupancy_known") is False
    assert mode_changes[0].figure("need_s") == 1020.0


def test_silent_ups_is_assumed_in_trouble() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    assert changes(sup.tick(30.0)) == []
    out = sup.tick(31.0)
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CONSERVE]
    assert mode_changes[0].rule == "stale_ups"
    assert "silent for more than 30 s" in mode_changes[0].explanation
    assert mode_changes[0].figure("age_s") == 31.0


def test_silent_ups_last_seen_on_battery_closes() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0, UpsStatus.ON_BATTERY, runtime_s=3000.0, charge_pct=95.0))
    out = sup.tick(40.0)
    assert [c.mode for c in changes(out)] == [StoreMode.CLOSING]


def test_ups_offline_is_stale_at_once() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    health = Health("ups-1", HealthState.OFFLINE, "timeout", stale_since=0.0)
    out = sup.feed(HealthChanged(source="ups-1", t_mono=2.0, health=health))
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CONSERVE]
    assert "offline" in mode_changes[0].explanation


def test_expected_ups_that_never_speaks_is_stale() -> None:
    import dataclasses

    policy = dataclasses.replace(default_policy(), ups_ids=("ups-1",))
    sup = Supervisor(policy)
    assert changes(sup.tick(0.0)) == []
    out = sup.tick(31.0)
    mode_changes = changes(out)
    assert [c.mode for c in mode_changes] == [StoreMode.CONSERVE]
    assert "last reading never" in mode_changes[0].explanation


def test_escalation_ignores_dwell_and_time_never_runs_backwards() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    out = sup.feed(ups(5.0, UpsStatus.ON_BATTERY, runtime_s=3000.0))
    assert [c.mode for c in changes(out)] == [StoreMode.CONSERVE]
    out = sup.feed(ups(6.0, UpsStatus.ON_BATTERY, runtime_s=200.0, charge_pct=20.0))
    assert [c.mode for c in changes(out)] == [StoreMode.SHUTDOWN]
    # A late reading from the past is ignored for state and judged at the latest time.
    sup.feed(ups(3.0))
    assert sup.now == 6.0
    assert sup.mode is StoreMode.SHUTDOWN
