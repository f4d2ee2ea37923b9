"""The CRAC simulator's room/unit model on a manual clock: physics, control, faults, alarms.

Expected values are worked out here from the parameters (heat balance, hysteresis band,
proportional offset, Magnus humidity), not taken from running the model.
"""

from __future__ import annotations

import pytest

from sim_devices.clock import ManualClock
from sim_devices.crac import (
    DEFAULT_PARAMS,
    CommandRefused,
    CracModel,
    CracParams,
    FaultError,
    RoomParams,
)

P = CracParams()  # pcw1 defaults: 2 x 7.5 kW, fan 60..100 % of 800 W, 1 K stage step
ROOM = RoomParams()  # 400 kJ/K, 50 W/K to 30 °C outdoors


def fan_heat_w(pct: float) -> float:
    return P.fan_power_w * (pct / 100) ** 3


def expected_duty(load_w: float, room_c: float = 24.0) -> float:
    """One compressor cycling: on-time share that balances the heat in.

    Fan at 80 % while it runs and 60 % while it rests, so
    d * cap = load + leakage + d * fan(80) + (1 - d) * fan(60).
    """
    leak = ROOM.leakage_w_per_k * (ROOM.outdoor_c - room_c)
    rest = fan_heat_w(60)
    return (load_w + leak + rest) / (P.compressor_capacity_w - fan_heat_w(80) + rest)


def duty(model: CracModel, clock: ManualClock, seconds: float) -> list[float]:
    before = model.compressor_running_s()
    clock.advance(seconds)
    after = model.compressor_running_s()
    return [(b - a) / seconds for a, b in zip(before, after, strict=True)]


@pytest.fixture
def model(clock: ManualClock) -> CracModel:
    return CracModel(clock=clock)


def test_hysteresis_holds_the_band_and_duty_balances_the_heat(
    model: CracModel, clock: ManualClock
) -> None:
    clock.advance(2 * 3600)
    temps = []
    for _ in range(4 * 60):
        clock.advance(60)
        temps.append(model.room_air_c)
    # stage 1 starts at +0.5 K and stops at -0.5 K (one step of hysteresis);
    # a minute's overshoot past the thresholds is allowed for.
    assert 23.2 < min(temps) < 23.8
    assert 24.2 < max(temps) < 24.8
    shares = duty(model, clock, 4 * 3600)
    assert shares[0] == pytest.approx(expected_duty(6000), abs=0.03)
    assert shares[1] == 0.0  # the second compressor never needed at 6 kW
    assert model.stats()["compressor_starts"][0] > 20  # it cycles, every ~5 min


def test_more_it_load_means_more_compressor_duty(model: CracModel, clock: ManualClock) -> None:
    model.it_load_w = 3000
    clock.advance(3600)
    low = duty(model, clock, 4 * 3600)[0]
    model.it_load_w = 6000
    clock.advance(3600)
    high = duty(model, clock, 4 * 3600)[0]
    assert low == pytest.approx(expected_duty(3000), abs=0.03)
    assert high == pytest.approx(expected_duty(6000), abs=0.03)
    assert high > low + 0.3


def test_gpu_heat_adds_to_it_heat(model: CracModel, clock: ManualClock) -> None:
    model.gpu_load_w = 5000  # 11 kW in all: more than one compressor can take
    assert model.total_load_w == 11_000
    clock.advance(3600)
    shares = duty(model, clock, 3600)
    assert shares[0] > 0.95
    assert 0.2 < shares[1] < 0.8
    assert 23.0 < model.room_air_c < 26.5


def test_compressor_failure_heats_the_room_and_raises_alarms(
    model: CracModel, clock: ManualClock
) -> None:
    clock.advance(3600)
    start = model.room_air_c
    model.set_fault("compressor")
    assert model.compressors_on == (False, False)
    assert {"compressor_1_failure", "compressor_2_failure"} <= model.alarms
    clock.advance(120)
    # C dT/dt = load + leakage + fan heat (80..100 % as the stages are called)
    leak = ROOM.leakage_w_per_k * (ROOM.outdoor_c - start)
    heat_w = 6000 + leak + (fan_heat_w(80) + fan_heat_w(100)) / 2
    expected = heat_w * 120 / ROOM.heat_capacity_j_per_k
    assert model.room_air_c - start == pytest.approx(expected, rel=0.1)
    assert "high_return_temp" not in model.alarms
    for _ in range(30):
        if model.room_air_c >= P.high_return_limit_c:
            break
        clock.advance(30)
    assert model.room_air_c >= P.high_return_limit_c
    assert "high_return_temp" in model.alarms
    assert model.supply_air_c > 25  # no cooling: the supply air is room air


def test_cooling_restored_recovers_and_latched_alarms_wait_for_reset(
    model: CracModel, clock: ManualClock
) -> None:
    model.set_fault("compressor")
    clock.advance(15 * 60)
    assert model.room_air_c > 32
    model.set_fault("none")
    assert model.compressors_on == (True, True)  # far above the setpoint: both stages
    clock.advance(15 * 60)
    assert 23.0 < model.room_air_c < 25.0
    assert "high_return_temp" not in model.alarms  # below 30 - 1 K: cleared by itself
    assert model.alarms == {"compressor_1_failure", "compressor_2_failure"}  # latched
    assert model.reset_alarms() == frozenset()


def test_one_failed_compressor_hands_over_to_the_other(
    model: CracModel, clock: ManualClock
) -> None:
    model.set_fault("compressor_1")
    clock.advance(3600)
    shares = duty(model, clock, 2 * 3600)
    assert shares[0] == 0.0
    assert shares[1] == pytest.approx(expected_duty(6000), abs=0.05)
    assert model.alarms == {"compressor_1_failure"}


def test_fan_failure_stops_cooling_and_supply_meets_return(
    model: CracModel, clock: ManualClock
) -> None:
    clock.advance(3600)
    assert model.room_air_c - model.supply_air_c > 3  # cooling: a real delta T
    model.set_fault("fan")
    clock.advance(180)  # nine supply-sensor time constants
    assert model.fan_pct == 0
    assert model.compressors_on == (False, False)  # airflow safety tripped them
    assert model.cooling_w == 0
    # the lagging sensor trails the warming room by rate x tau
    rate = (6000 + ROOM.leakage_w_per_k * 3) / ROOM.heat_capacity_j_per_k
    lag = model.room_air_c - model.supply_air_c
    assert lag == pytest.approx(rate * P.supply_sensor_tau_s, abs=0.1)
    assert "fan_failure" in model.alarms
    assert model.room_air_c > 25


def test_clogged_filter_costs_capacity(model: CracModel, clock: ManualClock) -> None:
    clock.advance(3600)
    clean = duty(model, clock, 4 * 3600)[0]
    model.set_fault("filter")
    clock.advance(3600)
    clogged = duty(model, clock, 4 * 3600)
    # 80 % fan x 0.6 = 48 % airflow: just under the 50 % full-capacity airflow
    assert clogged[0] + clogged[1] > clean
    assert "filter_clogged" in model.alarms


def test_unit_off_lets_the_room_heat_and_on_recovers(model: CracModel, clock: ManualClock) -> None:
    clock.advance(3600)
    model.set_unit_on(False)
    assert model.fan_pct == 0
    assert not model.running
    clock.advance(600)
    assert model.room_air_c > 30
    assert model.alarms == {"high_return_temp", "high_supply_temp"}  # an off unit has no faults
    model.set_unit_on(True)
    clock.advance(20 * 60)
    assert 23.0 < model.room_air_c < 25.0


def test_power_failure_stops_the_unit_but_keeps_its_on_command(
    model: CracModel, clock: ManualClock
) -> None:
    model.set_fault("power")
    assert model.unit_on is True
    assert model.running is False
    assert model.compressors_on == (False, False)
    assert "power_failure" in model.alarms


def test_proportional_control_offset_grows_with_load(clock: ManualClock) -> None:
    params = DEFAULT_PARAMS["irc2"]  # 10 kW, P band 4 K on supply air, setpoint 20 °C
    model = CracModel(params, clock=clock, it_load_w=3000)
    clock.advance(3 * 3600)
    low = model.supply_air_c
    model.it_load_w = 8000
    clock.advance(3 * 3600)
    high = model.supply_air_c
    # demand = 0.5 + error / band and demand ~ load / capacity, so 5 kW more on 10 kW
    # moves the supply air by 0.5 x 4 K = 2 K (fan heat and leakage shift it a little)
    assert high - low == pytest.approx(2.0, abs=0.3)
    assert low < params.supply_setpoint_c < high
    # steady state: the coil takes out what comes in
    heat_in = (
        model.total_load_w
        + ROOM.leakage_w_per_k * (ROOM.outdoor_c - model.room_air_c)
        + params.fan_power_w * (model.fan_pct / 100) ** 3
    )
    assert model.cooling_w == pytest.approx(heat_in, rel=0.01)
    assert model.compressors_on == (True,)


def test_reheat_holds_a_cold_empty_room(clock: ManualClock) -> None:
    model = CracModel(clock=clock, it_load_w=0)
    model.outdoor_c = 0.0  # 50 W/K x 24 K = 1.2 kW lost through the walls
    lowest, heater_seen = 99.0, 0
    for _ in range(6 * 60):
        clock.advance(60)
        lowest = min(lowest, model.room_air_c)
        heater_seen = max(heater_seen, model.heater_stages_on)
    # reheat stage 1 starts 2 K below the 24 °C setpoint and stops 1 K below
    assert heater_seen >= 1
    assert lowest > 21.5
    assert model.compressors_on == (False, False)


def test_humidifier_follows_its_setpoint_and_warm_air_is_drier(
    model: CracModel, clock: ManualClock
) -> None:
    clock.advance(600)
    model.set_humidity_setpoint(60.0)  # 45 % now, humidifier band 5 %
    clock.advance(1)
    assert model.humidifier_on
    before = model.humidity_pct
    clock.advance(1800)
    assert model.humidity_pct > before + 5
    model.set_humidity_setpoint(45.0)
    clock.advance(3600)
    assert not model.humidifier_on
    # same moisture at +10 K: RH falls by the ratio of saturation pressures (~1.8 x)
    model.set_fault("compressor")
    rh, temp = model.humidity_pct, model.room_air_c
    clock.advance(600)
    warmer = model.room_air_c - temp
    assert warmer > 8
    assert model.humidity_pct < rh * 0.75


def test_humidity_drifts_but_stays_plausible(model: CracModel, clock: ManualClock) -> None:
    values = []
    for _ in range(12):
        clock.advance(1800)
        values.append(model.humidity_pct)
    assert len({round(v, 3) for v in values}) == len(values)  # it moves
    assert all(30 < v < 60 for v in values)


def test_time_acceleration_and_advance(clock: ManualClock) -> None:
    model = CracModel(clock=clock, speed=10)
    clock.advance(60)
    assert model.sim_time_s == pytest.approx(600)
    model.speed = 2
    clock.advance(10)
    assert model.sim_time_s == pytest.approx(620)
    model.advance(100)
    assert model.sim_time_s == pytest.approx(720)
    with pytest.raises(ValueError, match="speed"):
        model.speed = 0


def test_observing_does_not_change_the_trajectory() -> None:
    clocks = [ManualClock(), ManualClock()]
    watched, unwatched = (CracModel(clock=c) for c in clocks)
    for _ in range(1800):
        clocks[0].advance(1)
        _ = watched.room_air_c
    clocks[1].advance(1800)
    assert watched.state() == unwatched.state()


def test_bad_inputs_are_refused(model: CracModel) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        model.it_load_w = -5
    with pytest.raises(FaultError, match="unknown fault 'boom'"):
        model.set_fault("boom")
    with pytest.raises(FaultError):
        model.set_fault("compressor_3")  # pcw1 has two
    with pytest.raises(CommandRefused, match=r"outside the unit's 18\.\.30 °C"):
        model.set_return_setpoint(31.0, local=True)
    model.local_lock = True
    with pytest.raises(CommandRefused, match="local mode"):
        model.set_return_setpoint(22.0)
    model.set_return_setpoint(22.0, local=True)  # the panel is never locked
    assert model.return_setpoint_c == 22.0
    with pytest.raises(ValueError, match="at least one compressor"):
        CracParams(compressors=0)
