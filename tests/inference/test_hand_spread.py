"""The hand width is learnt from sure cases: their distances' Rayleigh 99th percentile."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision_core.inference.attribution import TrackScore
from vision_core.inference.hand_spread import HandSpreadLearner


def hand(track: str, distance_m: float, *, by_hand: bool = True) -> TrackScore:
    return TrackScore(track, "s", 0.9, distance_m, 10.0, by_hand)


def camera_errors(sigma_m: float, n: int, seed: int = 3) -> list[float]:
    """Distances of wrists a camera places with N(0, sigma) error on each floor axis."""
    xy = np.random.default_rng(seed).normal(0.0, sigma_m, (n, 2))
    return [float(d) for d in np.hypot(xy[:, 0], xy[:, 1])]


@pytest.mark.parametrize("sigma_m", [0.02, 0.04, 0.07])
def test_the_width_is_the_99th_percentile_of_the_cameras_error(sigma_m: float) -> None:
    learner = HandSpreadLearner(0.15)
    for d in camera_errors(sigma_m, 400):
        assert learner.observe([hand("t1", d), hand("t2", 0.9)])
    # the 99th percentile of a Rayleigh of scale sigma: sigma * sqrt(2 ln 100) = 3.03 sigma;
    # 400 draws put the median within about 5 % (2 standard errors)
    assert learner.hand_sigma_m == pytest.approx(sigma_m * math.sqrt(2 * math.log(100)), rel=0.08)
    assert learner.cases == 400


def test_the_configured_width_holds_until_enough_sure_cases() -> None:
    learner = HandSpreadLearner(0.15, need=50)
    for d in camera_errors(0.03, 49):
        learner.observe([hand("t1", d)])
    assert learner.hand_sigma_m == 0.15
    learner.observe([hand("t1", 0.03)])
    assert learner.hand_sigma_m < 0.12


def test_only_a_lone_hand_in_reach_is_a_sure_case() -> None:
    learner = HandSpreadLearner(0.15, alone_m=0.5)
    assert not learner.observe([hand("t1", 0.02), hand("t2", 0.3)])  # a neighbour in reach
    assert not learner.observe([hand("t1", 0.02, by_hand=False)])  # a body, no wrist seen
    assert not learner.observe([hand("t1", 0.6)])  # nobody's hand in reach
    assert not learner.observe([])
    assert learner.observe([hand("t1", 0.02), hand("t2", 0.02, by_hand=False)])
    assert learner.cases == 1


def test_the_width_is_kept_between_the_floor_and_twice_the_configured() -> None:
    sharp = HandSpreadLearner(0.15, need=10, floor_m=0.02)
    blurred = HandSpreadLearner(0.05, need=10)
    for _ in range(10):
        sharp.observe([hand("t1", 0.001)])
        blurred.observe([hand("t1", 0.4)])
    assert sharp.hand_sigma_m == 0.02
    assert blurred.hand_sigma_m == pytest.approx(0.10)


def test_the_oldest_cases_age_out() -> None:
    learner = HandSpreadLearner(0.15, keep=100, need=50)
    for d in camera_errors(0.08, 100):
        learner.observe([hand("t1", d)])
    wide = learner.hand_sigma_m
    for d in camera_errors(0.02, 100, seed=4):  # the cameras were recalibrated
        learner.observe([hand("t1", d)])
    assert learner.hand_sigma_m < wide / 3


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"configured_m": 0.0}, "configured_m"),
        ({"configured_m": math.nan}, "configured_m"),
        ({"configured_m": 0.1, "alone_m": 0.0}, "alone_m"),
        ({"configured_m": 0.1, "need": 0}, "need"),
        ({"configured_m": 0.1, "need": 500, "keep": 400}, "need"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs: dict[str, float], word: str) -> None:
    with pytest.raises(ValueError, match=word):
        HandSpreadLearner(**kwargs)  # type: ignore[arg-type]
