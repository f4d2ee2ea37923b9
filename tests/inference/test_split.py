import math

import numpy as np
import pytest

from vision_core.inference.split import is_usable, split_change, why_unusable

# A 1.2 m board on 4 cells at 0, 0.4, 0.8 and 1.2 m: gaps of 0.4 m.
LENGTH_M = 1.2

# 355 g at 0.2 m, midway between cells 0 and 1: 0.2/0.4 of it on each.
LOAD_355_AT_02 = (177.5, 177.5, 0.0, 0.0)
# 520 g at 0.6 m, midway between cells 1 and 2.
LOAD_520_AT_06 = (0.0, 260.0, 260.0, 0.0)
# 300 g at 1.0 m, midway between cells 2 and 3.
LOAD_300_AT_10 = (0.0, 0.0, 150.0, 150.0)
# 300 g at 0.3 m: (0.4 - 0.3)/0.4 = 1/4 on cell 0, 3/4 on cell 1.
LOAD_300_AT_03 = (75.0, 225.0, 0.0, 0.0)
# 200 g at 0.1 m: (0.4 - 0.1)/0.4 = 3/4 on cell 0, 1/4 on cell 1.
LOAD_200_AT_01 = (150.0, 50.0, 0.0, 0.0)
# 355 g at 0.5 m: (0.8 - 0.5)/0.4 = 3/4 on cell 1, 1/4 on cell 2.
LOAD_355_AT_05 = (0.0, 266.25, 88.75, 0.0)
# 120 g at 1.1 m: (1.2 - 1.1)/0.4 = 1/4 on cell 2, 3/4 on cell 3.
LOAD_120_AT_11 = (0.0, 0.0, 30.0, 90.0)


def take(*loads, noise_g=0.0, seed=7):
    """Cell deltas of loads lifted together, plus Gaussian noise per cell."""
    noise = np.random.default_rng(seed).normal(0.0, noise_g, len(loads[0]))
    return tuple(-sum(cell) + n for cell, n in zip(zip(*loads, strict=True), noise, strict=True))


def test_two_hands_recovered_within_a_few_grams():
    deltas = take(LOAD_355_AT_02, LOAD_520_AT_06, noise_g=1.0)
    split = split_change(deltas, LENGTH_M, (0.2, 0.6))
    assert split is not None
    assert split.weights_g == pytest.approx((-355.0, -520.0), abs=3.0)
    assert split.total_g == pytest.approx(-875.0, abs=4.0)
    assert split.residual_rms_g < 2.0
    assert split.spare_cells == 2
    assert why_unusable(split, tolerance_g=3.0, min_g=20.0) is None
    assert is_usable(split, tolerance_g=3.0, min_g=20.0)


def test_hand_order_is_kept():
    split = split_change(take(LOAD_355_AT_02, LOAD_520_AT_06), LENGTH_M, (0.6, 0.2))
    assert split is not None
    assert split.weights_g == pytest.approx((-520.0, -355.0))


def test_hands_at_the_same_position_are_not_separable():
    split = split_change(take(LOAD_355_AT_02, LOAD_520_AT_06), LENGTH_M, (0.3, 0.3))
    assert split is not None
    assert split.min_singular == pytest.approx(0.0, abs=1e-9)
    assert split.condition > 1e6
    assert not is_usable(split, tolerance_g=1e6, min_g=0.0)
    assert "not separable" in (why_unusable(split, tolerance_g=1e6, min_g=0.0) or "")


def test_hands_close_together_are_not_separable():
    # 10 cm apart either side of cell 1 (0.4 m), which carries 7/8 of each hand's load:
    # any mix of the two fits nearly as well
    split = split_change((-30.0, -510.0, -30.0, 0.0), LENGTH_M, (0.35, 0.45))
    assert split is not None
    # columns (1/8, 7/8, 0, 0) and (0, 7/8, 1/8, 0): singular values sqrt(99)/8 and 1/8
    assert split.min_singular == pytest.approx(0.125)
    assert "not separable" in (why_unusable(split, tolerance_g=3.0, min_g=20.0) or "")


def test_hands_20_cm_apart_either_side_of_a_cell_are_separable():
    deltas = take(LOAD_300_AT_03, LOAD_355_AT_05, noise_g=1.0)
    split = split_change(deltas, LENGTH_M, (0.3, 0.5))
    assert split is not None
    # columns (1/4, 3/4, 0, 0) and (0, 3/4, 1/4, 0): singular values sqrt(19)/4 and 1/4
    assert split.min_singular == pytest.approx(0.25)
    assert split.weights_g == pytest.approx((-300.0, -355.0), abs=5.0)
    assert is_usable(split, tolerance_g=3.0, min_g=20.0)


def test_a_hidden_third_load_leaves_a_residual_and_is_refused():
    deltas = take(LOAD_355_AT_02, LOAD_520_AT_06, LOAD_300_AT_10, noise_g=1.0)
    split = split_change(deltas, LENGTH_M, (0.2, 0.6))
    assert split is not None
    assert split.residual_rms_g > 30.0
    reason = why_unusable(split, tolerance_g=3.0, min_g=20.0)
    assert reason is not None
    assert reason.startswith("residual")


def test_single_cell_board_cannot_be_split():
    assert split_change((-250.0,), 0.4, (0.1, 0.3)) is None


def test_a_hand_moving_the_other_way_is_refused():
    # one hand lifts 355 g at 0.2 m while another puts 120 g back at 0.6 m
    deltas = tuple(
        -a + 120.0 / 520.0 * b for a, b in zip(LOAD_355_AT_02, LOAD_520_AT_06, strict=True)
    )
    split = split_change(deltas, LENGTH_M, (0.2, 0.6))
    assert split is not None
    assert split.total_g == pytest.approx(-235.0)
    assert split.weights_g == pytest.approx((-355.0, 120.0))
    reason = why_unusable(split, tolerance_g=3.0, min_g=20.0)
    assert reason is not None
    assert reason.startswith("hand 1")


def test_a_hand_that_moved_nothing_is_refused():
    split = split_change(take(LOAD_355_AT_02, noise_g=1.0), LENGTH_M, (0.2, 0.6))
    assert split is not None
    assert split.weights_g[0] == pytest.approx(-355.0, abs=3.0)
    assert abs(split.weights_g[1]) < 5.0
    assert (why_unusable(split, tolerance_g=3.0, min_g=20.0) or "").startswith("hand 1")


def test_three_hands_in_three_gaps_are_recovered():
    deltas = take(LOAD_200_AT_01, LOAD_355_AT_05, LOAD_120_AT_11, noise_g=1.0, seed=11)
    split = split_change(deltas, LENGTH_M, (0.1, 0.5, 1.1))
    assert split is not None
    assert split.weights_g == pytest.approx((-200.0, -355.0, -120.0), abs=4.0)
    assert split.spare_cells == 1
    assert is_usable(split, tolerance_g=3.0, min_g=20.0)


def test_positions_off_the_board_are_clamped_to_its_ends():
    # a hand seen 10 cm past either end rests its item over the end cell
    split = split_change((-100.0, 0.0, 0.0, -40.0), LENGTH_M, (-0.1, 1.3))
    assert split is not None
    assert split.weights_g == pytest.approx((-100.0, -40.0))
    assert split.residual_rms_g == pytest.approx(0.0, abs=1e-9)


def test_more_hands_than_cells_are_not_separable():
    split = split_change((-100.0, -100.0), 1.0, (0.1, 0.5, 0.9))
    assert split is not None
    assert split.min_singular == 0.0
    assert math.isinf(split.condition)
    assert not is_usable(split, tolerance_g=3.0, min_g=0.0)


def test_no_hands_is_a_caller_error():
    with pytest.raises(ValueError, match="no hands"):
        split_change((-100.0, -100.0), 1.0, ())
