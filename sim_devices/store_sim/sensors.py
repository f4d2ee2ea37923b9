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
of it).
"""

from __future__ import annotations

import bisect
import math
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from sim_devices.clock import ManualClock
from sim_devices.loadcell import ShelfLoadModel, ShelfParams
from sim_devices.store_sim.records import XY, TrackRecord, TrackTruth, WeightRecord
from sim_devices.store_sim.scenario import Sensors, ShelfSpec
from sim_devices.store_sim.shoppers import Person

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
    for product in shelf.products:
        width = product.span_m[1] - product.span_m[0]
        for i in range(product.stock):
            position = product.span_m[0] + (i + 0.5) * width / product.stock
            model.put(product.unit_weight_g, position, settled=True)
    rate = model_spec.rate_hz
    phase = rng.uniform(0.0, 1.0 / rate)
    indices = set(range(0, math.floor((end_t - phase) * rate) + 1, max(1, round(model_spec.idle_every_s * rate))))
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


def _position(path: list[tuple[float, float, float]], times: list[float], t: float) -> XY:
    """Where the path is at ``t`` (linear between keyframes, held beyond the ends)."""
    i = bisect.bisect_right(times, t)
    if i == 0:
        return (path[0][1], path[0][2])
    if i >= len(path):
        return (path[-1][1], path[-1][2])
    t0, x0, y0 = path[i - 1]
    t1, x1, y1 = path[i]
    if t1 <= t0:
        return (x1, y1)
    f = (t - t0) / (t1 - t0)
    return (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)


def track_records(
    people: Sequence[Person], sensors: Sensors, rng: random.Random, reach_s: float
) -> tuple[list[TrackRecord], list[TrackTruth]]:
    """Tracker samples of every person, with noise, misses and id switches, and their truth."""
    model = sensors.tracker
    step = max(1, round(model.reach_rate_hz / model.rate_hz))
    dt = 1.0 / model.reach_rate_hz
    sigma, hand_sigma = model.position_sigma_m, model.hand_sigma_m
    switch_per_s = model.id_switch_per_min / 60.0
    records: list[TrackRecord] = []
    truth: list[TrackTruth] = []
    next_id = 0
    for person in people:
        path = sorted(person.path, key=lambda k: k[0])
        times = [k[0] for k in path]
        start, end = person.enter_t, person.exit_t
        first, last = math.ceil(start / dt), math.floor(end / dt)
        indices = {k for k in range(first, last + 1) if k % step == 0}
        for t_reach, _ in person.reaches:
            lo = max(first, math.ceil((t_reach - REACH_WINDOW_S) / dt))
            hi = min(last, math.floor((t_reach + REACH_WINDOW_S) / dt))
            indices.update(range(lo, hi + 1))
        reach_times = [r[0] for r in person.reaches]
        next_id += 1
        track_id, segment_start = f"trk-{next_id}", start
        switch_at = start + rng.expovariate(switch_per_s) if switch_per_s > 0 else math.inf
        for k in sorted(indices):
            t = k * dt
            while t >= switch_at:
                ref = person.group.session_ref
                truth.append(TrackTruth(track_id, person.shopper_id, ref, segment_start, switch_at))
                next_id += 1
                track_id, segment_start = f"trk-{next_id}", switch_at
                switch_at += rng.expovariate(switch_per_s)
            if model.detection_miss_rate and rng.random() < model.detection_miss_rate:
                continue
            x, y = _position(path, times, t)
            body = (x + rng.gauss(0.0, sigma), y + rng.gauss(0.0, sigma))
            hands = [(x - HAND_OFFSET_M[0], y + HAND_OFFSET_M[1]), (x + HAND_OFFSET_M[0], y + HAND_OFFSET_M[1])]
            j = bisect.bisect_left(reach_times, t - reach_s)
            if j < len(reach_times) and reach_times[j] <= t + reach_s:
                hands[1] = person.reaches[j][1]
            seen = tuple(
                (hx + rng.gauss(0.0, hand_sigma), hy + rng.gauss(0.0, hand_sigma))
                for hx, hy in hands
                if not (model.wrist_miss_rate and rng.random() < model.wrist_miss_rate)
            )
            stamp = t + rng.gauss(0.0, sensors.jitter_s) if sensors.jitter_s > 0 else t
            records.append(TrackRecord(stamp, track_id, body, seen))
        truth.append(TrackTruth(track_id, person.shopper_id, person.group.session_ref, segment_start, end))
    return records, truth
