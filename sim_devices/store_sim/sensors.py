"""Sensor models: what the shelf scales and the tracker report about the true run.

Scales reuse the shelf simulator's load-cell physics
(:class:`sim_devices.loadcell.ShelfLoadModel`: lever-rule split, drift,
settling oscillation, Gaussian noise, motion flag), evaluated on a stepped
clock, so the weights here match what the Modbus shelf simulator would serve
for the same takes. Calibration errors are left out: records are calibrated
grams.

Sampling is sparse for replay speed: a shelf is sampled at ``rate_hz`` only
from ``window_before_s`` before to ``window_after_s`` after each load change,
and once every ``idle_every_s`` otherwise, always on the shelf's own
``rate_hz`` grid (random phase per shelf). A tracker samples each person at
``rate_hz`` and at ``reach_rate_hz`` within a second of each reach; both
grids are one grid of ``reach_rate_hz`` (``rate_hz`` is rounded to a divisor
of it). A shelf camera (when the scenario has one) names the product of
each take and put it sees, with a calibrated confidence, while the hand is
at the shelf.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sim_devices.clock import ManualClock
from sim_devices.loadcell import ShelfLoadModel, ShelfParams
from sim_devices.store_sim.records import (
    XY,
    ShelfCameraRecord,
    ShelfEventTruth,
    TrackRecord,
    TrackTruth,
    WeightRecord,
)
from sim_devices.store_sim.scenario import Sensors, ShelfCameraModel, ShelfSpec, TrackerModel
from sim_devices.store_sim.shoppers import REACH_S, Person

REACH_WINDOW_S = 1.0
"""The tracker samples at ``reach_rate_hz`` this long either side of a reach."""

HAND_OFFSET_M = (0.22, 0.1)
"""Where idle hands hang relative to the body point (left: -x, right: +x)."""


@dataclass(frozen=True, slots=True)
class ShelfChangeTruth:
    """A true load change: ``delta_g`` (negative: take) at ``position_m`` at ``t``."""

    t: float
    delta_g: float
    position_m: float


def stock_loads(shelf: ShelfSpec) -> list[tuple[float, float]]:
    """The starting stock as (grams, position) loads, one per facing and cell gap.

    Units sit evenly over their facing at nominal weight. Between two cells
    the lever rule is linear, so the units in one gap act as a single load of
    their total weight at their centroid: the cells see exactly the same, and
    a shelf of hundreds of units costs a few loads per change.
    """
    pitch = shelf.length_m / (shelf.cells - 1) if shelf.cells > 1 else math.inf
    loads = []
    for product in shelf.products:
        width = product.span_m[1] - product.span_m[0]
        gaps: dict[int, list[float]] = {}
        for i in range(product.stock):
            position = product.span_m[0] + (i + 0.5) * width / product.stock
            gap = min(int(position // pitch), shelf.cells - 2) if shelf.cells > 1 else 0
            gaps.setdefault(gap, []).append(position)
        for positions in gaps.values():
            weight = product.unit_weight_g * len(positions)
            loads.append((weight, math.fsum(positions) / len(positions)))
    return loads


def scale_records(
    shelf: ShelfSpec,
    sensors: Sensors,
    changes: Sequence[ShelfChangeTruth],
    end_t: float,
    rng: random.Random,
) -> list[WeightRecord]:
    """Every weight sample of one shelf from opening to ``end_t``."""
    model_spec = sensors.scale
    clock = ManualClock(0.0)
    params = ShelfParams(
        cells=shelf.cells,
        length_m=shelf.length_m,
        sigma_g=model_spec.sigma_g,
        drift_g_per_h=model_spec.drift_g_per_h,
        seed=zlib.crc32(f"{rng.random()}".encode()),
        settle_ratio=model_spec.settle_ratio,
        settle_freq_hz=model_spec.settle_freq_hz,
        settle_tau_s=model_spec.settle_tau_s,
    )
    model = ShelfLoadModel(params, clock)
    for weight_g, position_m in stock_loads(shelf):
        model.put(weight_g, position_m, settled=True)
    rate = model_spec.rate_hz
    phase = rng.uniform(0.0, 1.0 / rate)
    indices = set(
        range(
            0, math.floor((end_t - phase) * rate) + 1, max(1, round(model_spec.idle_every_s * rate))
        )
    )
    for change in changes:
        first = math.ceil((change.t - model_spec.window_before_s - phase) * rate)
        last = math.floor((change.t + model_spec.window_after_s - phase) * rate)
        indices.update(range(max(first, 0), last + 1))
    records: list[WeightRecord] = []
    pending = iter(changes)
    upcoming = next(pending, None)
    jitter = sensors.jitter_s
    for k in sorted(indices):
        t = phase + k / rate
        while upcoming is not None and upcoming.t <= t:
            clock.now = upcoming.t
            if upcoming.delta_g < 0:
                model.take_g(-upcoming.delta_g, upcoming.position_m)
            else:
                model.put(upcoming.delta_g, upcoming.position_m)
            upcoming = next(pending, None)
        clock.now = t
        reading = model.read()
        stamp = t + rng.gauss(0.0, jitter) if jitter > 0 else t
        records.append(WeightRecord(stamp, shelf.shelf_id, reading.weights_g, reading.stable))
    return records


MIN_CONFIDENCE = 1e-3
"""The lowest confidence a sighting reports (a recogniser never says exactly 0)."""


def shelf_camera_records(
    shelf: ShelfSpec,
    model: ShelfCameraModel,
    events: Sequence[ShelfEventTruth],
    jitter_s: float,
    rng: random.Random,
) -> list[ShelfCameraRecord]:
    """The sightings of one shelf's camera for the true takes and puts on it.

    A take is seen as the hand leaves with the item, within ``REACH_S``
    after the weight change; a put as the hand comes in, within ``REACH_S``
    before it. Every event draws the same numbers whether or not it is
    seen, so changing one setting does not reshuffle the other events.
    """
    skus = [p.sku for p in shelf.products]
    records: list[ShelfCameraRecord] = []
    for event in events:
        if event.shelf_id != shelf.shelf_id:
            continue
        missed = rng.random() < model.miss_rate
        if model.accuracy >= 1.0:
            drawn = 1.0
        else:
            k = model.concentration
            drawn = rng.betavariate(model.accuracy * k, (1.0 - model.accuracy) * k)
        confidence = min(max(drawn, MIN_CONFIDENCE), 1.0)
        right = rng.random() < confidence
        others = [sku for sku in skus if sku != event.sku]
        wrong = others[min(int(rng.random() * len(others)), len(others) - 1)] if others else None
        offset = rng.uniform(0.0, REACH_S)
        late = rng.gauss(0.0, jitter_s) if jitter_s > 0 else 0.0
        if missed:
            continue
        t = (event.t + offset if event.kind == "take" else event.t - offset) + late
        sku = event.sku if right or wrong is None else wrong
        records.append(ShelfCameraRecord(t, shelf.shelf_id, sku, confidence, event.kind))
    return records


def _where(person: Person, t: float) -> XY:
    times = [k[0] for k in person.path]
    return (
        float(np.interp(t, times, [k[1] for k in person.path])),
        float(np.interp(t, times, [k[2] for k in person.path])),
    )


def id_timelines(
    people: Sequence[Person], sensors: Sensors, rng: random.Random
) -> tuple[list[tuple[list[float], list[str]]], list[TrackTruth]]:
    """Which track id each person carries from when: (change times, ids) per person.

    Switches are a Poisson process per person (``id_switch_per_min``),
    handled in time order. With ``id_swap_radius_m`` > 0 a switch while
    somebody else is that close swaps the two people's current ids (the
    tracker confuses them); otherwise, or with nobody close, the track
    continues under a fresh id. One id may therefore follow two people in
    turn: the truth has one :class:`TrackTruth` per (id, person, stretch).
    """
    model = sensors.tracker
    per_s = model.id_switch_per_min / 60.0
    timelines: list[tuple[list[float], list[str]]] = []
    switches: list[tuple[float, int]] = []
    for index, person in enumerate(people):
        timelines.append(([person.enter_t], [f"trk-{index + 1}"]))
        at = person.enter_t
        while per_s > 0:
            at += rng.expovariate(per_s)
            if at >= person.exit_t:
                break
            switches.append((at, index))
    switches.sort()
    enter = np.array([p.enter_t for p in people])
    leave = np.array([p.exit_t for p in people])
    next_id = len(people)
    for at, index in switches:
        partner = None
        if model.id_swap_radius_m > 0:
            here = _where(people[index], at)
            best = model.id_swap_radius_m
            for other in np.nonzero((enter <= at) & (leave > at))[0].tolist():
                if other != index and (d := math.dist(here, _where(people[other], at))) <= best:
                    partner, best = other, d
        if partner is None:
            next_id += 1
            timelines[index][0].append(at)
            timelines[index][1].append(f"trk-{next_id}")
            continue
        mine, theirs = timelines[index][1][-1], timelines[partner][1][-1]
        for who, new in ((index, theirs), (partner, mine)):
            timelines[who][0].append(at)
            timelines[who][1].append(new)
    truth = []
    for person, (change_t, ids) in zip(people, timelines, strict=True):
        ends = [*change_t[1:], person.exit_t]
        truth += [
            TrackTruth(track_id, person.shopper_id, person.group.session_ref, lo, hi)
            for track_id, lo, hi in zip(ids, change_t, ends, strict=True)
        ]
    return timelines, truth


def track_records(
    people: Sequence[Person], sensors: Sensors, rng: random.Random, reach_s: float
) -> tuple[list[TrackRecord], list[TrackTruth]]:
    """Tracker samples of every person, with noise, misses and id switches, and their truth.

    Noise is drawn with numpy, one seeded generator per person (seeded from
    ``rng``), so a run stays reproducible and thousands of visits stay quick.
    """
    model = sensors.tracker
    step = max(1, round(model.reach_rate_hz / model.rate_hz))
    dt = 1.0 / model.reach_rate_hz
    timelines, truth = id_timelines(people, sensors, rng)
    records: list[TrackRecord] = []
    for index, person in enumerate(people):
        noise = np.random.default_rng(rng.getrandbits(64))
        start, end = person.enter_t, person.exit_t
        first, last = math.ceil(start / dt), math.floor(end / dt)
        indices = set(range(first + (-first) % step, last + 1, step))
        for t_reach, _ in person.reaches:
            lo = max(first, math.ceil((t_reach - REACH_WINDOW_S) / dt))
            hi = min(last, math.floor((t_reach + REACH_WINDOW_S) / dt))
            indices.update(range(lo, hi + 1))
        t = np.array(sorted(indices), dtype=np.float64) * dt
        change_t, ids = timelines[index]
        segment = np.searchsorted(np.array(change_t), t, side="right") - 1
        n = len(t)
        path = sorted(person.path, key=lambda k: k[0])
        x = np.interp(t, [k[0] for k in path], [k[1] for k in path])
        y = np.interp(t, [k[0] for k in path], [k[2] for k in path])
        body_x = x + noise.normal(0.0, model.position_sigma_m, n)
        body_y = y + noise.normal(0.0, model.position_sigma_m, n)
        left_x, left_y = x - HAND_OFFSET_M[0], y + HAND_OFFSET_M[1]
        right_x, right_y = x + HAND_OFFSET_M[0], y + HAND_OFFSET_M[1]
        if person.reaches:
            reach_t = np.array([r[0] for r in person.reaches])
            j = np.minimum(np.searchsorted(reach_t, t - reach_s), len(reach_t) - 1)
            reaching = np.abs(reach_t[j] - t) <= reach_s
            right_x = np.where(reaching, np.array([r[1][0] for r in person.reaches])[j], right_x)
            right_y = np.where(reaching, np.array([r[1][1] for r in person.reaches])[j], right_y)
        hand_noise = noise.normal(0.0, model.hand_sigma_m, (4, n))
        left_x, left_y = left_x + hand_noise[0], left_y + hand_noise[1]
        right_x, right_y = right_x + hand_noise[2], right_y + hand_noise[3]
        seen = noise.random((2, n)) >= model.wrist_miss_rate
        detected = noise.random(n) >= model.detection_miss_rate
        stamps = t + noise.normal(0.0, sensors.jitter_s, n) if sensors.jitter_s > 0 else t
        looks = appearance_samples(model, noise, n)
        columns = zip(
            stamps.tolist(),
            segment.tolist(),
            body_x.tolist(),
            body_y.tolist(),
            left_x.tolist(),
            left_y.tolist(),
            right_x.tolist(),
            right_y.tolist(),
            seen[0].tolist(),
            seen[1].tolist(),
            detected.tolist(),
            strict=True,
        )
        for k, (stamp, seg, bx, by, lx, ly, rx, ry, see_left, see_right, found) in enumerate(
            columns
        ):
            if not found:
                continue
            hands: tuple[XY, ...]
            if see_left and see_right:
                hands = ((lx, ly), (rx, ry))
            elif see_left:
                hands = ((lx, ly),)
            elif see_right:
                hands = ((rx, ry),)
            else:
                hands = ()
            records.append(TrackRecord(stamp, ids[seg], (bx, by), hands, looks[k]))
    return records, truth


def appearance_samples(
    model: TrackerModel, noise: np.random.Generator, n: int
) -> list[tuple[float, ...]]:
    """``n`` appearance embeddings of one person (empty tuples when the model has none).

    Drawn after every other draw of the person's generator, so turning
    appearance on leaves positions, misses and timing of a seed unchanged.
    Rounded to 3 decimals: a re-identification model's cosine similarities
    do not need more, and the JSONL files stay small.
    """
    if model.appearance_dim == 0:
        return [()] * n
    person = noise.normal(0.0, 1.0, model.appearance_dim)
    person /= np.linalg.norm(person)
    looks = person + noise.normal(0.0, model.appearance_sigma, (n, model.appearance_dim))
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)
    return [tuple(row) for row in np.round(looks, 3).tolist()]
