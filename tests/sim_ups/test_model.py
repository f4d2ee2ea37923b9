"""The battery and grid model on a manual clock.

Defaults (UpsParams): 900 W load, inverter efficiency 0.9 (1000 W from the
battery), 900 Wh battery, 150 W charger, low-battery time 2 min. Expected
values are worked out from those numbers in the comments.
"""

from __future__ import annotations

import pytest

from sim_devices.clock import ManualClock
from sim_devices.ups import (
    Alarm,
    BatteryStatus,
    EventKind,
    ModelError,
    OutputSource,
    SelfTestKind,
    SelfTestResult,
    UpsModel,
    UpsParams,
)


@pytest.fixture
def model(clock: ManualClock) -> UpsModel:
    return UpsModel(UpsParams(), clock)


def alarms(model: UpsModel) -> set[Alarm]:
    return {entry.alarm for entry in model.readings().alarms}


def test_on_line_at_rest(model: UpsModel) -> None:
    r = model.readings()
    assert r.output_source == OutputSource.NORMAL
    assert r.battery_status == BatteryStatus.NORMAL
    assert r.charge_pct == 100
    assert r.minutes_remaining == 54  # 900 Wh * 60 / 1000 W
    assert r.seconds_on_battery == 0
    assert r.alarms == ()
    assert r.output_lines[0].percent_load == 33  # 900 W of 2700 W
    assert r.output_lines[0].power_w == 900
    assert r.input_lines[0].voltage_v == 230
    assert r.input_lines[0].frequency_dhz == 500


def test_drain_follows_load(model: UpsModel, clock: ManualClock) -> None:
    model.cut_grid()
    clock.advance(600)
    model.update()
    drained_900 = 900 - model.energy_wh
    assert drained_900 == pytest.approx(1000 * 600 / 3600)  # 166.7 Wh
    assert model.readings().charge_pct == 81  # 733.3 / 900
    model.set_load_w(1800)
    clock.advance(600)
    model.update()
    drained_1800 = 900 - drained_900 - model.energy_wh
    assert drained_1800 == pytest.approx(2 * drained_900)
    assert model.readings().charge_pct == 44  # (900 - 166.7 - 333.3) / 900


def test_runtime_estimate_halves_when_the_load_doubles(model: UpsModel) -> None:
    model.set_load_w(450)
    assert model.readings().minutes_remaining == 108  # 900 Wh / 500 W
    model.set_load_w(900)
    assert model.readings().minutes_remaining == 54
    model.set_load_w(1800)
    assert model.readings().minutes_remaining == 27
    model.set_load_w(0)
    assert model.readings().minutes_remaining == model.params.max_runtime_min


def test_recharge_on_grid_until_full(model: UpsModel, clock: ManualClock) -> None:
    model.set_charge_pct(50)
    assert model.charging
    clock.advance(3600)
    assert model.readings().charge_pct == 67  # 450 + 150 Wh = 600 Wh
    assert model.readings().battery_current_da < 0  # charging current is negative
    clock.advance(2 * 3600)  # full after 2 h more (300 Wh at 150 W); stays there
    model.update()
    r = model.readings()
    assert r.charge_pct == 100
    assert model.energy_wh == pytest.approx(900)
    assert not model.charging
    assert r.battery_current_da == 0


def test_low_battery_when_runtime_reaches_the_threshold(
    model: UpsModel, clock: ManualClock
) -> None:
    # low when runtime <= 2 min: energy <= 2 * 1000 / 60 = 33.3 Wh, i.e. after
    # (900 - 33.3) Wh at 1000 W = 3120 s on battery
    model.cut_grid()
    clock.advance(3119)
    r = model.readings()
    assert r.battery_status == BatteryStatus.NORMAL
    assert r.minutes_remaining == 3
    clock.advance(2)
    r = model.readings()
    assert r.battery_status == BatteryStatus.LOW
    assert r.minutes_remaining == 2
    low = [a for a in r.alarms if a.alarm == Alarm.LOW_BATTERY]
    assert [a.time_ticks for a in low] == [312000]  # stamped at 3120 s, not at 3121 s
    # raising the threshold makes it low earlier; lowering clears it
    model.set_low_batt_time(1)
    assert model.readings().battery_status == BatteryStatus.NORMAL


def test_depletion_turns_the_output_off_and_grid_return_restarts(
    model: UpsModel, clock: ManualClock
) -> None:
    model.cut_grid()
    model.drain_events()
    clock.advance(3600)  # empty at 3240 s
    events = model.drain_events()
    off = [e for e in events if e.kind == EventKind.OUTPUT_OFF]
    assert [e.t - 1000 for e in off] == [pytest.approx(3240)]
    r = model.readings()
    assert r.output_source == OutputSource.NONE
    assert r.battery_status == BatteryStatus.DEPLETED
    assert r.minutes_remaining == 0
    assert r.output_lines[0].voltage_v == 0
    assert r.output_lines[0].power_w == 0
    assert alarms(model) >= {
        Alarm.DEPLETED_BATTERY, Alarm.UPS_OUTPUT_OFF, Alarm.AWAITING_POWER, Alarm.INPUT_BAD
    }  # fmt: skip
    assert Alarm.ON_BATTERY not in alarms(model)
    model.restore_grid()
    r = model.readings()
    assert r.output_source == OutputSource.NORMAL
    assert model.charging
    assert Alarm.UPS_OUTPUT_OFF not in alarms(model)


def test_without_auto_restart_the_output_stays_off(model: UpsModel, clock: ManualClock) -> None:
    model.set_auto_restart(False)
    model.cut_grid()
    clock.advance(3600)
    model.restore_grid()
    assert model.readings().output_source == OutputSource.NONE
    model.startup_after(10)
    clock.advance(10)
    assert model.readings().output_source == OutputSource.NORMAL


def test_events_of_a_long_jump_come_in_order_at_their_own_times(
    model: UpsModel, clock: ManualClock
) -> None:
    model.cut_grid()
    clock.advance(7200)
    model.update()
    seen = [(e.kind, e.alarm, round(e.t - 1000, 3)) for e in model.drain_events()]
    assert seen[0] == (EventKind.ON_BATTERY, None, 0)
    reminders = [t for kind, _, t in seen if kind == EventKind.ON_BATTERY_REMINDER]
    assert reminders == [60.0 * k for k in range(1, 54)]  # every minute until 3240 s
    added = {alarm: t for kind, alarm, t in seen if kind == EventKind.ALARM_ADDED}
    assert added[Alarm.LOW_BATTERY] == 3120
    assert added[Alarm.SHUTDOWN_IMMINENT] == 3235  # 5 s of energy left
    assert added[Alarm.DEPLETED_BATTERY] == 3240
    times = [t for _, _, t in seen]
    assert times == sorted(times)


def test_line_bads_count_each_time_the_input_goes_bad(model: UpsModel) -> None:
    for _ in range(3):
        model.cut_grid()
        model.restore_grid()
    assert model.readings().line_bads == 3
    model.set_input(voltage_v=200)  # a sag inside the 170-280 V window: not bad
    assert model.readings().line_bads == 3
    model.set_input(voltage_v=150)  # below the low transfer point
    assert model.readings().output_source == OutputSource.BATTERY
    model.set_input(voltage_v=140)  # still bad: no new transition
    model.set_input(voltage_v=230, frequency_hz=45)  # frequency out of 47-53 Hz
    assert model.readings().line_bads == 4
    model.set_input(frequency_hz=50)
    assert model.readings().output_source == OutputSource.NORMAL


def test_line_interactive_boosts_and_trims() -> None:
    model = UpsModel(UpsParams(topology="line-interactive"), ManualClock())
    model.set_input(voltage_v=200)
    assert model.readings().output_source == OutputSource.BOOSTER
    assert model.readings().output_lines[0].voltage_v == 230
    model.set_input(voltage_v=265)
    assert model.readings().output_source == OutputSource.REDUCER
    model.set_input(voltage_v=240)
    assert model.readings().output_source == OutputSource.NORMAL
    assert model.readings().output_lines[0].voltage_v == 240  # passes the mains through


def test_overload_alarm_from_load_and_from_the_fault(model: UpsModel) -> None:
    model.set_load_w(3000)
    r = model.readings()
    assert r.output_lines[0].percent_load == 111  # 3000 of 2700 W; 3333 of 3000 VA
    assert Alarm.OUTPUT_OVERLOAD in alarms(model)
    model.set_load_w(900)
    assert Alarm.OUTPUT_OVERLOAD not in alarms(model)
    model.set_overload_fault(True)
    assert Alarm.OUTPUT_OVERLOAD in alarms(model)


def test_failed_battery_means_no_runtime(model: UpsModel) -> None:
    model.set_battery_failed(True)
    r = model.readings()
    assert r.battery_status == BatteryStatus.DEPLETED
    assert r.minutes_remaining == 0
    assert {Alarm.BATTERY_BAD, Alarm.DEPLETED_BATTERY} <= alarms(model)
    model.cut_grid()
    assert model.readings().output_source == OutputSource.NONE  # drops the load at once


def test_self_test_passes_then_fails_with_a_bad_battery(
    model: UpsModel, clock: ManualClock
) -> None:
    model.start_test(SelfTestKind.QUICK_BATTERY_TEST)
    r = model.readings()
    assert r.test_result == SelfTestResult.IN_PROGRESS
    assert Alarm.TEST_IN_PROGRESS in alarms(model)
    with pytest.raises(ModelError, match="already in progress"):
        model.start_test(SelfTestKind.GENERAL_SYSTEMS_TEST)
    clock.advance(10)
    r = model.readings()
    assert r.test_result == SelfTestResult.DONE_PASS
    assert r.test_id == SelfTestKind.QUICK_BATTERY_TEST
    assert r.test_elapsed_ticks == 1000
    assert EventKind.TEST_COMPLETED in [e.kind for e in model.drain_events()]
    model.set_battery_failed(True)
    model.start_test(SelfTestKind.GENERAL_SYSTEMS_TEST)
    clock.advance(10)
    assert model.readings().test_result == SelfTestResult.DONE_ERROR
    assert Alarm.DIAGNOSTIC_TEST_FAILED in alarms(model)


def test_self_test_refused_on_battery_and_aborted_by_a_power_cut(
    model: UpsModel, clock: ManualClock
) -> None:
    model.start_test(SelfTestKind.DEEP_BATTERY_CALIBRATION)
    clock.advance(5)
    model.cut_grid()
    assert model.readings().test_result == SelfTestResult.ABORTED
    with pytest.raises(ModelError, match="not on line power"):
        model.start_test(SelfTestKind.QUICK_BATTERY_TEST)
    with pytest.raises(ModelError, match="no test in progress"):
        model.start_test(SelfTestKind.ABORT_TEST_IN_PROGRESS)


def test_timed_shutdown_on_line_stays_off_until_startup(
    model: UpsModel, clock: ManualClock
) -> None:
    model.shutdown_after(30)
    assert model.readings().shutdown_after_s == 30
    assert Alarm.SHUTDOWN_PENDING in alarms(model)
    clock.advance(26)
    assert model.readings().shutdown_after_s == 4
    assert Alarm.SHUTDOWN_IMMINENT in alarms(model)
    clock.advance(4)
    r = model.readings()
    assert r.output_source == OutputSource.NONE
    assert r.shutdown_after_s == -1
    assert {Alarm.OUTPUT_OFF_AS_REQUESTED, Alarm.UPS_OUTPUT_OFF} <= alarms(model)
    assert Alarm.SHUTDOWN_PENDING not in alarms(model)
    clock.advance(600)
    assert model.readings().output_source == OutputSource.NONE
    model.startup_after(5)
    clock.advance(5)
    assert model.readings().output_source == OutputSource.NORMAL


def test_reboot_with_duration(model: UpsModel, clock: ManualClock) -> None:
    model.reboot_with_duration(20)
    assert model.readings().output_source == OutputSource.NONE
    clock.advance(19)
    assert model.readings().reboot_after_s == 1
    clock.advance(1)
    assert model.readings().output_source == OutputSource.NORMAL


def test_on_battery_reminders(model: UpsModel, clock: ManualClock) -> None:
    model.cut_grid()
    clock.advance(185)
    model.update()
    kinds = [e.kind for e in model.drain_events()]
    assert kinds.count(EventKind.ON_BATTERY) == 1
    assert kinds.count(EventKind.ON_BATTERY_REMINDER) == 3
    assert model.readings().seconds_on_battery == 185
    model.restore_grid()
    assert model.readings().seconds_on_battery == 0


def test_three_phase_splits_the_load() -> None:
    model = UpsModel(UpsParams(phases=3, load_w=2700), ManualClock())
    r = model.readings()
    assert len(r.input_lines) == len(r.output_lines) == len(r.bypass_lines) == 3
    assert [line.power_w for line in r.output_lines] == [900, 900, 900]
    assert [line.percent_load for line in r.output_lines] == [100] * 3


def test_battery_voltage_follows_charge(model: UpsModel, clock: ManualClock) -> None:
    model.cut_grid()
    full = model.readings().battery_voltage_dv
    clock.advance(1800)
    half = model.readings().battery_voltage_dv
    assert half < full
    # 36 cells at 1.95 + 0.2 * soc - 0.15 * load fraction (900 of 2700 W = 1/3)
    soc = model.energy_wh / 900
    assert half == round(36 * (1.95 + 0.2 * soc - 0.15 * (900 / 2700)) * 10)


def test_bad_values_are_refused(model: UpsModel) -> None:
    with pytest.raises(ModelError):
        model.set_charge_pct(101)
    with pytest.raises(ModelError):
        model.set_load_w(-1)
    with pytest.raises(ModelError):
        model.set_transfer_points(low_v=240)
