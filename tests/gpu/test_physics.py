"""The fake NVML's physical model, checked against the model's equations worked by hand.

Board ROUND (conftest): P = 20 W + 80 W * u, capped at 90 W; T_ss = T_air + 0.5 K/W * P;
tau = 40 s; max operating 80 degC, slowdown 90 degC, shutdown 95 degC.
"""

from __future__ import annotations

import math

import pynvml
import pytest
from peers.gpu_boards import ROUND

from sim_devices.clock import ManualClock
from sim_devices.fake_nvml import T4, AcceleratedClock, FakeNvml, GpuPhysics

SW_POWER_CAP = 0x4
HW_SLOWDOWN = 0x8
SW_THERMAL = 0x20
HW_THERMAL = 0x40
GPU_IDLE = 0x1


def test_power_follows_utilisation_and_the_cap(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    assert fake.state(0).power_w == pytest.approx(20.0)
    assert fake.state(0).reasons == GPU_IDLE
    fake.set_load(0, 50)
    assert fake.state(0).power_w == pytest.approx(60.0)
    assert fake.state(0).reasons == 0
    fake.set_load(0, 100)
    state = fake.state(0)
    assert state.uncapped_w == pytest.approx(100.0)
    assert state.power_w == pytest.approx(90.0)
    assert state.reasons & SW_POWER_CAP
    fake.set_load(0, 80)  # 84 W: under the cap again
    assert fake.state(0).power_w == pytest.approx(84.0)
    assert not fake.state(0).reasons & SW_POWER_CAP


def test_temperature_is_first_order_with_time_constant_tau(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock, inlet_c=25.0)
    start = fake.state(0).temperature_c
    assert start == pytest.approx(35.0)  # idle steady state: 25 + 0.5 * 20
    fake.set_load(0, 50)  # 60 W -> steady state 55 degC
    clock.advance(40.0)  # one tau: 63.2 % of the way
    assert fake.state(0).temperature_c == pytest.approx(55.0 - 20.0 / math.e, abs=1e-9)
    clock.advance(40.0)
    assert fake.state(0).temperature_c == pytest.approx(55.0 - 20.0 / math.e**2, abs=1e-9)
    clock.advance(8 * 40.0)
    assert fake.state(0).temperature_c == pytest.approx(55.0, abs=0.01)


def test_many_small_steps_give_the_same_temperature_as_one_big_one() -> None:
    one = GpuPhysics(ROUND, utilisation=0.5)
    many = GpuPhysics(ROUND, utilisation=0.5)
    one.advance(37.0)
    for _ in range(370):
        many.advance(0.1)
    assert many.temperature_c == pytest.approx(one.temperature_c, abs=1e-9)


def test_hotter_inlet_air_makes_a_hotter_gpu(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND, ROUND], clock=clock)
    for index in (0, 1):
        fake.set_load(index, 50)
    fake.set_inlet_air(35.0, index=1)
    clock.advance(600.0)
    cool, warm = fake.state(0), fake.state(1)
    assert cool.temperature_c == pytest.approx(55.0, abs=0.01)
    assert warm.temperature_c == pytest.approx(65.0, abs=0.01)
    assert warm.power_w == pytest.approx(cool.power_w)


def test_energy_counter_integrates_power(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    clock.advance(100.0)
    assert fake.state(0).energy_j == pytest.approx(2000.0)  # 20 W idle
    fake.set_load(0, 50)
    clock.advance(100.0)
    assert fake.state(0).energy_j == pytest.approx(8000.0)  # + 60 W * 100 s


def test_software_thermal_slowdown_settles_where_the_model_says(clock: ManualClock) -> None:
    # Inlet 40 degC at full load: above 80 degC the dynamic power shrinks by 0.5 * (T-80)/10.
    # Equilibrium T = 40 + 0.5 * (20 + 80 * (1 - (T - 80) / 20)) -> T = 250/3, P = 260/3.
    fake = FakeNvml([ROUND], clock=clock, inlet_c=40.0)
    fake.set_load(0, 100)
    clock.advance(1200.0)
    state = fake.state(0)
    assert state.temperature_c == pytest.approx(250 / 3, abs=0.01)
    assert state.power_w == pytest.approx(260 / 3, abs=0.02)
    assert state.reasons & SW_THERMAL
    assert not state.reasons & SW_POWER_CAP  # the heat, not the cap, holds it back
    assert state.sm_clock_mhz < ROUND.max_sm_clock_mhz


def test_throttle_reasons_appear_past_thresholds_and_clear_when_back(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock, inlet_c=25.0)
    fake.set_load(0, 100)
    clock.advance(600.0)
    assert fake.state(0).reasons == SW_POWER_CAP
    assert fake.state(0).temperature_c == pytest.approx(70.0, abs=0.01)

    # At 65 degC inlet even the software slowdown's equilibrium (T = 275/3 = 91.7 degC, same
    # equation as above) is past the 90 degC slowdown threshold: the hardware slowdown engages.
    fake.set_inlet_air(65.0)
    seen = 0
    hottest = 0.0
    for _ in range(600):
        clock.advance(1.0)
        state = fake.state(0)
        seen |= state.reasons
        hottest = max(hottest, state.temperature_c)
        assert not state.lost
    assert seen & HW_THERMAL
    assert seen & HW_SLOWDOWN
    assert seen & SW_THERMAL
    assert 89.0 < hottest < 91.0  # the hardware slowdown catches it at the threshold

    fake.set_inlet_air(25.0)
    clock.advance(600.0)
    assert fake.state(0).reasons == SW_POWER_CAP
    assert fake.state(0).temperature_c == pytest.approx(70.0, abs=0.01)


def test_past_shutdown_the_gpu_is_lost_until_reset(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock, inlet_c=80.0)
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    fake.set_load(0, 100)
    for _ in range(600):
        clock.advance(1.0)
        if fake.state(0).lost:
            break
    assert fake.state(0).lost
    assert fake.state(0).power_w == 0.0
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetPowerUsage(handle)
    with pytest.raises(pynvml.NVMLError_GpuIsLost):
        fake.nvmlDeviceGetHandleByIndex(0)
    fake.set_inlet_air(25.0)
    fake.set_load(0, 0)
    clock.advance(600.0)
    fake.reset(0)
    assert fake.nvmlDeviceGetPowerUsage(fake.nvmlDeviceGetHandleByIndex(0)) == 20000
    fake.nvmlShutdown()


def test_capping_power_lowers_the_steady_state_temperature(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock, inlet_c=25.0)
    fake.nvmlInit()
    fake.set_load(0, 100)
    clock.advance(600.0)
    assert fake.state(0).temperature_c == pytest.approx(70.0, abs=0.01)  # 90 W cap
    fake.nvmlDeviceSetPowerManagementLimit(fake.nvmlDeviceGetHandleByIndex(0), 50000)
    clock.advance(600.0)
    state = fake.state(0)
    assert state.power_w == pytest.approx(50.0)
    assert state.temperature_c == pytest.approx(50.0, abs=0.01)  # 25 + 0.5 * 50
    assert state.sm_clock_mhz < 1500 * (50 - 20) / (100 - 20) + 1
    fake.nvmlShutdown()


def test_accelerated_clock_runs_factor_times_faster() -> None:
    base = ManualClock(start=500.0)
    fast = AcceleratedClock(60.0, base=base, start=0.0)
    assert fast() == 0.0
    base.advance(2.0)
    assert fast() == pytest.approx(120.0)
    with pytest.raises(ValueError, match="factor"):
        AcceleratedClock(0.0)


def test_t4_at_full_load_runs_into_its_70_w_cap(clock: ManualClock) -> None:
    fake = FakeNvml([T4], clock=clock)
    fake.set_load(0, 100)
    state = fake.state(0)
    assert state.name == "Tesla T4"
    assert state.power_w == pytest.approx(70.0)
    assert state.reasons & SW_POWER_CAP
