"""A board's ringing is learned from its lone lifts, and a model of it weighs steps in a swing.

The board is the shelf simulator's load-cell model; the frequencies, decay
times and stamp jitter expected are the ones the simulator was given.
"""

import math
import random

import numpy as np
import pytest

from sim_devices.clock import ManualClock
from sim_devices.loadcell import ShelfLoadModel, ShelfParams
from vision_core.shelf_ringing import Ringing, RingingLearner, estimate_ringing, fit_steps

RATE_HZ = 10.0
BEFORE_G = 4000.0  # the board's load before each lift


def lift_samples(
    grams: float,
    *,
    freq_hz: float = 2.5,
    tau_s: float = 0.35,
    ratio: float = 0.3,
    jitter_s: float = 0.0,
    seed: int = 0,
    lifts: tuple[tuple[float, float], ...] = (),
) -> tuple[list[float], list[float]]:
    """(stamps, totals) from the first sample after a lift at 0.03 s until the board is still.

    ``lifts``: further (time, grams) lifts after the first.
    """
    clock = ManualClock(0.0)
    params = ShelfParams(
        cells=2,
        length_m=1.0,
        sigma_g=0.5,
        seed=seed,
        settle_freq_hz=freq_hz,
        settle_tau_s=tau_s,
        settle_ratio=ratio,
    )
    model = ShelfLoadModel(params, clock)
    model.put(BEFORE_G, 0.5, settled=True)
    pending = sorted([(0.03, grams), *lifts])
    stamps = random.Random(seed + 1)
    times, totals = [], []
    for k in range(1, round(3.0 * RATE_HZ)):
        t = k / RATE_HZ
        while pending and pending[0][0] <= t:
            clock.now, size = pending.pop(0)
            model.take_g(size, 0.4)
        clock.now = t
        reading = model.read()
        times.append(t + stamps.gauss(0.0, jitter_s) if jitter_s else t)
        totals.append(math.fsum(reading.weights_g))
        if all(reading.stable) and not pending and t > 1.0:
            break
    return times, totals


@pytest.mark.parametrize(("freq_hz", "tau_s"), [(2.0, 0.3), (2.5, 0.35), (3.5, 0.5), (4.5, 0.25)])
def test_a_lone_lift_gives_the_boards_frequency_and_decay(freq_hz: float, tau_s: float):
    times, totals = lift_samples(600.0, freq_hz=freq_hz, tau_s=tau_s)
    fitted = estimate_ringing(times, totals, BEFORE_G)
    assert fitted is not None
    assert fitted.freq_hz == pytest.approx(freq_hz, rel=0.03)
    assert fitted.tau_s == pytest.approx(tau_s, rel=0.15)
    assert fitted.noise_g < 3.0  # two cells of 0.5 g, and what the fit leaves
    # the model swings by 0.3 of the step from the lift (0.03 s), decayed to the first sample
    assert fitted.swing_ratio == pytest.approx(0.3 * math.exp(-0.07 / tau_s), rel=0.1)


def test_stamp_jitter_is_learned_from_the_intervals():
    fits = [
        estimate_ringing(*lift_samples(800.0, jitter_s=0.01, seed=seed), BEFORE_G)
        for seed in range(15)
    ]
    learner = RingingLearner()
    for seed in range(15):
        learner.observe(*lift_samples(800.0, jitter_s=0.01, seed=seed), BEFORE_G)
    assert all(f is not None for f in fits)
    assert learner.ringing is not None
    assert learner.ringing.jitter_s == pytest.approx(0.01, rel=0.35)
    assert learner.ringing.freq_hz == pytest.approx(2.5, rel=0.03)


def test_a_board_that_does_not_ring_yields_no_fit():
    assert estimate_ringing(*lift_samples(600.0, ratio=0.0), BEFORE_G) is None
    assert estimate_ringing([0.0, 0.1, 0.2], [3400.0, 3400.0, 3400.0], BEFORE_G) is None  # too few


def test_the_learner_answers_only_after_enough_lifts():
    learner = RingingLearner(need=3)
    for seed in range(2):
        learner.observe(*lift_samples(500.0, seed=seed), BEFORE_G)
    assert learner.ringing is None
    learner.observe(*lift_samples(500.0, seed=5), BEFORE_G)
    assert learner.ringing is not None
    learner.observe(*lift_samples(500.0, ratio=0.0), BEFORE_G)  # teaches nothing, changes nothing
    assert learner.ringing.freq_hz == pytest.approx(2.5, rel=0.03)
    with pytest.raises(ValueError, match="need"):
        RingingLearner(keep=2, need=3)
    with pytest.raises(ValueError, match="every"):
        RingingLearner(every=0)
    with pytest.raises(ValueError, match="freq_hz"):
        Ringing(0.0, 0.3)


def test_fitting_the_swing_weighs_two_lifts_that_the_side_means_cannot():
    # 900 g, then 60 g 0.4 s later, in the middle of a 270 g swing
    times, totals = lift_samples(900.0, lifts=((0.43, 60.0),))
    t = np.asarray(times) - times[0]
    y = np.asarray(totals)[:, None]
    before = np.asarray([4000.0])
    second = next(i for i, stamp in enumerate(times) if stamp >= 0.43)
    fit = fit_steps(t, y, before, [0.0, t[second]], Ringing(2.5, 0.35))
    assert fit is not None
    assert fit.deltas_g[:, 0] == pytest.approx([-900.0, -60.0], abs=3.0)
    assert np.all(fit.stderr_g < 3.0)
    side = float(np.mean(y[1:second, 0])) - 4000.0  # what averaging the first side gives
    assert abs(side + 900.0) > 20.0
    assert fit_steps(t[:4], y[:4], before, [0.0, t[1]], Ringing(2.5, 0.35)) is None  # too few
