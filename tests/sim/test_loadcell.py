import math

import pytest

from sim_devices.clock import ManualClock
from sim_devices.loadcell import ShelfLoadModel, ShelfParams


def quiet(**overrides: object) -> ShelfParams:
    values: dict[str, object] = {"cells": 4, "length_m": 1.2, "sigma_g": 0.0}
    values.update(overrides)
    return ShelfParams(**values)  # type: ignore[arg-type]


def test_lever_rule_splits_between_neighbours(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(), clock)  # cells at 0, 0.4, 0.8, 1.2 m
    assert shelf.split(350.0, 0.5) == pytest.approx([0.0, 262.5, 87.5, 0.0])
    assert shelf.split(100.0, 0.4) == pytest.approx([0.0, 100.0, 0.0, 0.0])
    assert shelf.split(100.0, -0.3) == pytest.approx([100.0, 0.0, 0.0, 0.0])
    assert shelf.split(100.0, 1.2) == pytest.approx([0.0, 0.0, 0.0, 100.0])
    assert shelf.split(100.0, 9.0) == pytest.approx([0.0, 0.0, 0.0, 100.0])
    single = ShelfLoadModel(quiet(cells=1), clock)
    assert single.split(100.0, 0.7) == [100.0]


def test_true_loads_dead_load_and_items(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(dead_load_g=2000.0), clock)
    item = shelf.put(350.0, 0.5, label="cola")
    assert shelf.true_loads() == pytest.approx([500.0, 762.5, 587.5, 500.0])
    assert shelf.take(item).label == "cola"
    assert shelf.true_loads() == pytest.approx([500.0] * 4)


def test_take_by_label_weight_position_and_take_g(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(), clock)
    first = shelf.put(355.0, 0.1, label="can")
    shelf.put(355.0, 0.2, label="can")
    shelf.put(500.0, 0.9)
    assert shelf.take("can").item_id == first  # oldest first
    assert shelf.take((500.0, 0.9)).weight_g == 500.0
    with pytest.raises(KeyError):
        shelf.take((500.0, 0.9))
    shelf.take_g(100.0, 0.2)
    assert sum(shelf.true_loads()) == pytest.approx(255.0)


def test_gain_offset_and_drift_apply_to_raw_reading(clock: ManualClock) -> None:
    params = quiet(
        dead_load_g=400.0,
        gain_errors=(0.02, -0.01, 0.0, 0.0),
        offsets_g=(10.0, -5.0, 0.0, 0.0),
        drift_g_per_h=4.0,
    )
    shelf = ShelfLoadModel(params, clock)
    reading = shelf.read()
    assert reading.weights_g[:2] == pytest.approx((100 * 1.02 + 10, 100 * 0.99 - 5))
    clock.advance(1800.0)
    assert shelf.read().weights_g[2] == pytest.approx(100.0 + 2.0)


def test_noise_is_reproducible_per_seed(clock: ManualClock) -> None:
    a = ShelfLoadModel(quiet(sigma_g=1.0, seed=7), clock)
    b = ShelfLoadModel(quiet(sigma_g=1.0, seed=7), clock)
    c = ShelfLoadModel(quiet(sigma_g=1.0, seed=8), clock)
    series_a = [a.read().weights_g for _ in range(5)]
    assert series_a == [b.read().weights_g for _ in range(5)]
    assert series_a != [c.read().weights_g for _ in range(5)]
    spread = [w for r in series_a for w in r]
    assert max(abs(w) for w in spread) < 6.0


def test_settling_unstable_then_stable(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(sigma_g=0.5), clock)
    assert all(shelf.read().stable)
    shelf.put(500.0, 0.0)  # all on cell 0
    first = shelf.read()
    assert first.stable == (False, True, True, True)
    # cos-shaped ringing: starts with a 30 % overshoot of the change
    assert first.weights_g[0] == pytest.approx(650.0, abs=3.0)
    # envelope 150 g * exp(-t / 0.35 s) falls under the 2 g band after ~1.5 s
    clock.advance(1.0)
    assert not shelf.read().stable[0]
    clock.advance(0.6)
    settled = shelf.read()
    assert settled.stable[0]
    assert settled.weights_g[0] == pytest.approx(500.0, abs=4.0)


def test_oscillation_is_a_damped_sinusoid(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(cells=1), clock)
    shelf.put(1000.0, 0.0)
    half_period = 1 / (2 * 2.5)
    clock.advance(half_period)
    expected = 1000.0 - 300.0 * math.exp(-half_period / 0.35)
    assert shelf.read().weights_g[0] == pytest.approx(expected)


def test_zero_and_tare(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(dead_load_g=2000.0, offsets_g=(30.0, 0, 0, 0)), clock)
    shelf.zero(0b0001)
    reading = shelf.read().weights_g
    assert reading[0] == pytest.approx(0.0)
    assert reading[1] == pytest.approx(500.0)
    shelf.put(400.0, 0.4, label="x")  # all on cell 1
    clock.advance(5.0)
    shelf.tare(0b0010)
    assert shelf.read().weights_g[1] == pytest.approx(0.0)
    shelf.take("x")
    clock.advance(5.0)
    assert shelf.read().weights_g[1] == pytest.approx(-400.0)


def test_zero_refused_beyond_twenty_percent_of_capacity(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(capacity_g=10000.0), clock)
    shelf.put(8400.0, 0.4)  # all on cell 1, beyond the 2000 g zero range
    clock.advance(5.0)
    assert shelf.zero(0b0011) == [1]
    reading = shelf.read().weights_g
    assert reading[0] == pytest.approx(0.0)
    assert reading[1] == pytest.approx(8400.0)


def test_overload_flag(clock: ManualClock) -> None:
    shelf = ShelfLoadModel(quiet(capacity_g=1000.0), clock)
    shelf.put(1500.0, 1.2)
    clock.advance(5.0)
    assert shelf.read().overload == (False, False, False, True)


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="gain_errors"):
        ShelfParams(cells=2, gain_errors=(0.1,))
    with pytest.raises(ValueError, match="cells"):
        ShelfParams(cells=0)
