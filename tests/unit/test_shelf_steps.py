"""Lifts a second apart on one ringing board are told apart; one lift's ringing is one step.

The board is the shelf simulator's load-cell model (lever rule, damped
ringing after each change, noise), read at 10 Hz like the scales.
"""

import math
import random

import numpy as np
import pytest

import vision_core.shelf_steps as shelf_steps
from devices.scale import ShelfWeights
from sim_devices.clock import ManualClock
from sim_devices.loadcell import ShelfLoadModel, ShelfParams
from vision_core.shelf_events import ShelfChangeDetector
from vision_core.shelf_ringing import Ringing
from vision_core.shelf_steps import StepSettings, split_steps

RATE_HZ = 10.0
STOCK = ((1400.0, 0.2), (2600.0, 0.6), (1800.0, 1.0))  # grams at metres along a 1.2 m board


def board(seed: int = 1, **ringing: float) -> tuple[ShelfLoadModel, ManualClock]:
    clock = ManualClock(0.0)
    params = ShelfParams(cells=4, length_m=1.2, sigma_g=0.8, seed=seed, **ringing)  # type: ignore[arg-type]
    model = ShelfLoadModel(params, clock)
    for grams, position in STOCK:
        model.put(grams, position, settled=True)
    return model, clock


def run_board(
    model: ShelfLoadModel,
    clock: ManualClock,
    actions: list[tuple[float, float, float]],
    end_s: float,
    jitter_s: float = 0.0,
) -> list[ShelfWeights]:
    """(time, grams (negative: lift), position) actions; samples every 0.1 s until ``end_s``.

    ``jitter_s``: each sample is stamped off its real time by that much (one sigma).
    """
    pending = sorted(actions)
    samples = []
    stamps = random.Random(7)
    for k in range(round(end_s * RATE_HZ) + 1):
        t = k / RATE_HZ
        while pending and pending[0][0] <= t:
            at, grams, position = pending.pop(0)
            clock.now = at
            if grams < 0:
                model.take_g(-grams, position)
            else:
                model.put(grams, position)
        clock.now = t
        reading = model.read()
        samples.append(
            ShelfWeights(
                source="scale-A1",
                t_mono=t + stamps.gauss(0.0, jitter_s) if jitter_s else t,
                shelf_id="A1",
                weights_g=reading.weights_g,
                stable=reading.stable,
                overload=(False,) * 4,
            )
        )
    return samples


def changes_of(actions: list[tuple[float, float, float]], end_s: float = 6.0, **kw: float):
    model, clock = board(**kw)
    detector = ShelfChangeDetector("A1", 1.2)
    return [c for s in run_board(model, clock, actions, end_s) for c in detector.feed(s)]


def test_two_lifts_before_the_board_settles_are_two_takes_each_from_its_own_start():
    # 355 g at 0.3 m, then 0.7 s later 520 g at 0.9 m: one unstable stretch of ~2 s
    found = changes_of([(1.02, -355.0, 0.3), (1.72, -520.0, 0.9)])
    assert [c.kind for c in found] == ["take", "take"]
    first, second = found
    assert first.delta_g == pytest.approx(-355.0, abs=0.05 * 355)
    assert second.delta_g == pytest.approx(-520.0, abs=0.05 * 355)
    assert first.delta_g + second.delta_g == pytest.approx(-875.0, abs=5.0)  # nothing lost
    assert first.position_m == pytest.approx(0.3, abs=0.08)
    assert second.position_m == pytest.approx(0.9, abs=0.08)
    assert first.started_mono == pytest.approx(1.1)  # first sample after each lift
    assert second.started_mono == pytest.approx(1.8, abs=0.101)
    assert first.t_mono == second.started_mono < second.t_mono  # distinct item ids


def test_a_take_then_a_put_back_of_the_same_weight_are_both_reported():
    # net zero: without steps nothing at all would be reported
    found = changes_of([(1.02, -180.0, 0.5), (1.82, 180.0, 0.5)])
    assert [(c.kind, round(c.delta_g / 180.0)) for c in found] == [("take", -1), ("put", 1)]


def test_three_lifts_are_three_takes():
    found = changes_of([(1.02, -540.0, 0.1), (1.62, -540.0, 0.15), (2.32, -180.0, 0.55)])
    assert [round(-c.delta_g / 180.0) for c in found] == [3, 3, 1]


@pytest.mark.parametrize("freq_hz", [2.0, 2.5, 3.0, 4.0])
def test_one_lift_is_one_take_whatever_its_weight_and_the_ringing(freq_hz: float):
    # 40 single lifts, 28 g .. 3 kg, anywhere on the board, boards ringing at 2-4 Hz (at
    # 1-1.5 Hz a side's mean no longer averages the ringing out, and at 8 Hz it aliases
    # at 10 Hz sampling: some lifts then split in two; see vision_core.shelf_steps)
    rng = random.Random(int(freq_hz * 10))
    for i in range(40):
        grams = math.exp(rng.uniform(math.log(28.0), math.log(3000.0)))
        tau = rng.uniform(0.25, 0.45)
        ratio = rng.uniform(0.2, 0.4)
        found = changes_of(
            [(1.0 + rng.uniform(0.0, 0.1), -grams, rng.uniform(0.05, 1.15))],
            seed=i,
            settle_freq_hz=freq_hz,
            settle_tau_s=tau,
            settle_ratio=ratio,
        )
        assert len(found) == 1, (grams, tau, ratio, [c.delta_g for c in found])
        # settled means each cell rings within its motion band (2.4 g): 4 cells, 10 g
        assert found[0].delta_g == pytest.approx(-grams, abs=10.0)


def test_without_step_splitting_the_two_lifts_stay_one_change():
    model, clock = board()
    detector = ShelfChangeDetector("A1", 1.2, steps=None)
    samples = run_board(model, clock, [(1.02, -355.0, 0.3), (1.72, -520.0, 0.9)], 6.0)
    found = [c for s in samples for c in detector.feed(s)]
    assert [round(c.delta_g) for c in found] == [pytest.approx(-875, abs=5)]


def test_split_steps_on_plain_levels():
    # a board that does not ring: levels 0, -100 (from t=1), -250 (from t=2)
    times = [i / 10 for i in range(10, 31)]
    cells = [((-100.0 if t < 2.0 else -250.0), 0.0) for t in times]
    steps = split_steps(times, cells, (0.0, 0.0), (-250.0, 0.0))
    assert [(s.started_mono, s.cell_deltas_g) for s in steps] == [
        (1.0, pytest.approx((-100.0, 0.0))),
        (2.0, pytest.approx((-150.0, 0.0))),
    ]
    assert steps[-1].ended_mono == 3.0


def test_split_steps_checks_its_input_and_settings():
    with pytest.raises(ValueError, match="one cell reading per time"):
        split_steps([1.0, 2.0], [(1.0,)], (0.0,), (1.0,))
    with pytest.raises(ValueError, match="min_samples"):
        StepSettings(min_samples=1)
    with pytest.raises(ValueError, match="factor"):
        StepSettings(factor=0.0)


def test_changes_say_whether_they_were_found_to_be_one_lift():
    single = changes_of([(1.02, -355.0, 0.3)])
    split = changes_of([(1.02, -355.0, 0.3), (1.72, -520.0, 0.9)])
    assert [c.one_lift for c in single] == [True]
    assert [c.one_lift for c in split] == [True, True]
    model, clock = board()
    detector = ShelfChangeDetector("A1", 1.2, steps=None)  # nobody looked
    samples = run_board(model, clock, [(1.02, -355.0, 0.3)], 6.0)
    assert [c.one_lift for s in samples for c in detector.feed(s)] == [False]


# --- once the board's ringing is learned ------------------------------------------------


def learned_board_changes(
    actions: list[tuple[float, float, float]], *, jitter_s: float = 0.01, **ringing: float
) -> list[list[float]]:
    """Five lone lifts teach the detector the board; then ``actions`` (times from 0).

    Returns the grams of the changes each action's stretch gave (one list per
    5 s slot: the actions of a slot share it).
    """
    model, clock = board(**ringing)
    lessons = [(1.0 + 5.0 * i + 0.03 * i, -(300.0 + 110.0 * i), 0.2 + 0.15 * i) for i in range(5)]
    offset = 26.0
    shifted = [(offset + t, g, x) for t, g, x in actions]
    end_s = offset + max(t for t, _, _ in actions) + 5.0
    detector = ShelfChangeDetector("A1", 1.2)
    found = [
        c
        for s in run_board(model, clock, lessons + shifted, end_s, jitter_s)
        for c in detector.feed(s)
    ]
    assert detector.ringing_learner.ringing is not None
    slots: dict[int, list[float]] = {}
    for change in found:
        if change.started_mono > offset:
            slots.setdefault(int((change.started_mono - offset) // 5.0), []).append(change.delta_g)
    return [slots.get(k, []) for k in range(int((end_s - offset) // 5.0))]


@pytest.mark.parametrize("gap_s", [0.35, 0.5, 0.8])
def test_a_learned_board_tells_lifts_a_few_tenths_apart_with_their_grams(gap_s: float):
    # a 520 g lift and a 180 g one gap_s later, then the other way round: the side means
    # cannot weigh these (the first side holds a few samples of a 150 g swing)
    slots = learned_board_changes(
        [
            (1.02, -520.0, 0.3),
            (1.02 + gap_s, -180.0, 0.9),
            (6.02, -180.0, 0.9),
            (6.02 + gap_s, -520.0, 0.3),
        ]
    )
    assert slots[0] == [pytest.approx(-520.0, abs=6.0), pytest.approx(-180.0, abs=6.0)]
    assert slots[1] == [pytest.approx(-180.0, abs=6.0), pytest.approx(-520.0, abs=6.0)]


def test_lifts_two_samples_apart_may_merge_but_keep_their_grams():
    # 0.25 s at 10 Hz: the first lift's level and swing rest on two samples
    slots = learned_board_changes([(1.02, -520.0, 0.3), (1.27, -180.0, 0.9)])
    assert math.fsum(slots[0]) == pytest.approx(-700.0, abs=5.0)


def test_lifts_a_sample_apart_are_not_split_where_neither_happened():
    # 176 g just before a sample, 540 g just before the next: the data cannot place the
    # second onset, and a step fitted later would need a swing bigger than any lift makes
    slots = learned_board_changes([(1.08, -176.0, 0.3), (1.14, -540.0, 0.9)])
    if len(slots[0]) == 1:
        assert slots[0] == [pytest.approx(-716.0, abs=5.0)]
    else:
        assert slots[0] == [pytest.approx(-176.0, abs=6.0), pytest.approx(-540.0, abs=6.0)]


@pytest.mark.parametrize("freq_hz", [2.0, 2.5, 3.5])
def test_a_learned_board_keeps_one_lift_one_take_with_jittered_stamps(freq_hz: float):
    # 30 lone lifts of 28 g .. 3 kg on one board after it learned its ringing: the model must
    # not take the swing's first samples, off by 10 ms of stamp, for a second hand
    rng = random.Random(int(freq_hz * 100))
    lifts = [
        (
            5.0 * i + 1.0 + rng.uniform(0.0, 0.1),
            -math.exp(rng.uniform(math.log(28.0), math.log(3000.0))),
            rng.uniform(0.05, 1.15),
        )
        for i in range(30)
    ]
    slots = learned_board_changes(lifts, settle_freq_hz=freq_hz, settle_tau_s=0.35)
    for (_, grams, _), found in zip(lifts, slots, strict=False):
        assert found == [pytest.approx(grams, abs=10.0)]


def test_two_hands_a_sample_apart_at_two_places_are_not_called_one_lift():
    # 355 g at 0.1 m just before the 1.1 s sample, 520 g at 1.1 m just after it: too close
    # to split, but the first sample holds the first item alone, at its own place
    merged = changes_of([(1.08, -355.0, 0.1), (1.12, -520.0, 1.1)])
    assert [(round(c.delta_g), c.one_lift) for c in merged] == [(pytest.approx(-875, abs=5), False)]
    # the same two a sample apart at one place: whoever's hand it was, it was that spot
    same_spot = changes_of([(1.08, -355.0, 0.6), (1.12, -520.0, 0.6)])
    assert [c.one_lift for c in same_spot] == [True]


def test_a_ringing_fit_that_fails_falls_back_to_the_side_means(monkeypatch: pytest.MonkeyPatch):
    # numpy refusing a degenerate stretch must not lose the change: the side means weigh it
    def broken(*_: object, **__: object) -> None:
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(shelf_steps, "fit_steps", broken)
    model, clock = board()
    samples = run_board(model, clock, [(1.02, -355.0, 0.3), (1.72, -520.0, 0.9)], 6.0)
    stretch = [s for s in samples if not s.all_stable]
    before = samples[0].weights_g
    after = samples[-1].weights_g
    steps = split_steps(
        [s.t_mono for s in stretch],
        [s.weights_g for s in stretch],
        before,
        after,
        ringing=Ringing(2.5, 0.35, noise_g=1.6, jitter_s=0.0, swing_ratio=0.4),
    )
    assert sum(sum(s.cell_deltas_g) for s in steps) == pytest.approx(-875.0, abs=5.0)
    assert len(steps) == 2  # the means still split these two


def test_a_take_while_the_scale_was_not_read_is_still_reported():
    # the link is down from 2 s to 8 s; a 355 g lift at 3 s has settled when polling resumes:
    # every sample read is stable, and the level jumped between two of them
    model, clock = board()
    samples = run_board(model, clock, [(3.0, -355.0, 0.3)], 12.0)
    read = [s for s in samples if not 2.0 < s.t_mono < 8.0]
    assert all(s.all_stable for s in read)
    detector = ShelfChangeDetector("A1", 1.2)
    found = [c for s in read for c in detector.feed(s)]
    assert [(c.kind, c.one_lift, c.t_mono) for c in found] == [("take", False, 8.0)]
    assert found[0].delta_g == pytest.approx(-355.0, abs=5.0)
    assert found[0].position_m == pytest.approx(0.3, abs=0.05)


def test_noise_at_rest_reports_nothing():
    model, clock = board(seed=5)
    detector = ShelfChangeDetector("A1", 1.2)
    samples = run_board(model, clock, [], 600.0)  # ten minutes at 10 Hz, nothing moves
    assert [c for s in samples for c in detector.feed(s)] == []
