"""Checkout inference benchmarks: product inferences/s and attributions/s.

    .venv/bin/python benchmarks/bench_inference.py [--events 5000] [--json FILE]

1. products: a shelf of 10 facings, up to 6 units per event (8,007
   combinations), takes of 1..6 random units with weights and positions
   within tolerance. ``ShelfInferrer.infer`` (combinations enumerated once,
   sorted by weight, only the window around the change scored) against a
   baseline that enumerates and scores every combination per event.
   Also: one-off cost of building the shelf's table, and the recovery rate.
2. attribution: 20 shoppers, each 60 s of 15 Hz floor samples with hands,
   ``attribute`` per shelf event against a baseline that scans every sample
   of every track instead of bisecting to the event window.

Figures are printed (and written as JSON with ``--json``), never asserted.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Any

from vision_core.inference.attribution import (
    AttributionSettings,
    FloorSample,
    ShelfLocation,
    ShopperTrack,
    attribute,
)
from vision_core.inference.planogram import ShelfPlan, parse_planogram
from vision_core.inference.products import ShelfInferrer
from vision_core.inference.weights import combined_bounds, counts_up_to, gaussian_log_density
from vision_core.shelf_events import ShelfChange

FACINGS = 10
MAX_ITEMS = 6
SHOPPERS = 20


def shelf_plan() -> ShelfPlan:
    rng = random.Random(7)
    facings = []
    for i in range(FACINGS):
        weight = round(rng.uniform(80, 1500), 1)
        facings.append(
            {
                "sku": f"sku-{i:02d}",
                "unit_weight_g": weight,
                "tolerance_g": round(max(2.0, weight * 0.01), 1),
                "span_m": [0.12 * i, 0.12 * (i + 1)],
                "price": "1.00",
            }
        )
    data = {"shelves": {"S1": {"length_m": 1.2, "max_items": MAX_ITEMS, "facings": facings}}}
    return parse_planogram(data, "bench").shelf("S1")


def events(plan: ShelfPlan, n: int) -> list[tuple[ShelfChange, dict[str, int]]]:
    rng = random.Random(11)
    out = []
    for k in range(n):
        units = rng.randint(1, MAX_ITEMS)
        total = moment = 0.0
        truth: dict[str, int] = {}
        for _ in range(units):
            f = plan.facings[rng.randrange(FACINGS)]
            tol = f.unit_tolerance_g
            actual = f.unit_weight_g + max(-tol, min(tol, rng.gauss(0, tol / 2)))
            total += actual
            moment += actual * rng.uniform(*f.span_m)
            truth[f.sku] = truth.get(f.sku, 0) + 1
        position = min(max(moment / total + rng.gauss(0, 0.05), 0.0), 1.2)
        change = ShelfChange(
            source="bench",
            t_mono=float(k),
            shelf_id="S1",
            kind="take",
            delta_g=-total,
            started_mono=k - 0.5,
            position_m=position,
        )
        out.append((change, truth))
    return out


def naive_best(plan: ShelfPlan, change: ShelfChange) -> tuple[tuple[str, int], ...]:
    """Baseline: enumerate and score every combination for every event (weight only)."""
    weights = [f.unit_weight_g for f in plan.facings]
    tols = [f.unit_tolerance_g for f in plan.facings]
    target = abs(change.delta_g)
    best: tuple[float, tuple[int, ...]] | None = None
    for counts in counts_up_to(FACINGS, MAX_ITEMS):
        total, accept, sigma = combined_bounds(counts, weights, tols, 0.0)
        residual = target - total
        if abs(residual) <= accept:
            score = gaussian_log_density(residual, sigma)
            if best is None or score > best[0]:
                best = (score, counts)
    if best is None:
        return ()
    return tuple(sorted((f.sku, c) for c, f in zip(best[1], plan.facings, strict=True) if c))


def bench_products(n: int) -> dict[str, Any]:
    plan = shelf_plan()
    t0 = time.perf_counter()
    inferrer = ShelfInferrer("S1", plan)
    build_s = time.perf_counter() - t0
    cases = events(plan, n)
    t0 = time.perf_counter()
    results = [inferrer.infer(change) for change, _ in cases]
    fast_s = time.perf_counter() - t0
    base_n = max(20, n // 100)
    t0 = time.perf_counter()
    for change, _ in cases[:base_n]:
        naive_best(plan, change)
    base_s = time.perf_counter() - t0
    hits = [dict(r.items) == truth for r, (_, truth) in zip(results, cases, strict=True)]
    recovered = sum(hits)
    by_units: dict[int, list[bool]] = {}
    for hit, (_, truth) in zip(hits, cases, strict=True):
        by_units.setdefault(sum(truth.values()), []).append(hit)
    confident = [r.confidence >= 0.9 for r in results]
    right_when_confident = [h for h, c in zip(hits, confident, strict=True) if c]
    scored = [len(r.candidates) for r in results]
    fast_rate = n / fast_s
    base_rate = base_n / base_s
    return {
        "combinations": inferrer.combinations,
        "table_build_ms": build_s * 1e3,
        "events": n,
        "inferences_per_s": fast_rate,
        "us_per_inference": 1e6 / fast_rate,
        "baseline_full_scan_per_s": base_rate,
        "speedup_vs_full_scan": fast_rate / base_rate,
        "recovered_rate": recovered / n,
        "recovered_by_units": {u: round(sum(v) / len(v), 3) for u, v in sorted(by_units.items())},
        "share_confidence_ge_0.9": sum(confident) / n,
        "recovered_when_confidence_ge_0.9": sum(right_when_confident)
        / max(len(right_when_confident), 1),
        "unknown_rate": sum(r.unknown for r in results) / n,
        "mean_candidates_kept": sum(scored) / n,
    }


def make_tracks(rng: random.Random) -> list[ShopperTrack]:
    tracks = []
    hz, seconds = 15, 60
    for s in range(SHOPPERS):
        x0, y0 = rng.uniform(0, 10), rng.uniform(0.45, 1.5)
        samples = []
        for k in range(hz * seconds):
            t = k / hz
            x = x0 + 0.5 * math.sin(t / 7 + s)
            y = y0 + 0.3 * math.cos(t / 5 + s)
            hand = (x + 0.1, max(y - 0.6, 0.0))
            samples.append(FloorSample(t, (x, y), (hand,)))
        tracks.append(ShopperTrack(f"t{s}", f"s{s // 2}", samples))
    return tracks


def naive_attribute_scores(
    change: ShelfChange, shelf: ShelfLocation, tracks: list[ShopperTrack]
) -> list[float]:
    """Baseline: score every sample of every track (no time bisection)."""
    settings = AttributionSettings()
    out = []
    for track in tracks:
        best = 0.0
        for sample in track.between(-math.inf, math.inf):
            outside = max(change.started_mono - sample.t_mono, 0.0, sample.t_mono - change.t_mono)
            if outside > settings.time_pad_s:
                continue
            d = min(shelf.distance_m(h, change.position_m) for h in sample.hands_m)
            best = max(
                best,
                math.exp(-0.5 * (outside / settings.time_sigma_s) ** 2)
                * math.exp(-0.5 * (d / settings.hand_sigma_m) ** 2),
            )
        out.append(best)
    return out


def bench_attribution(n: int) -> dict[str, Any]:
    rng = random.Random(3)
    tracks = make_tracks(rng)
    shelf = ShelfLocation("S1", (0.0, 0.0), (10.0, 0.0))
    changes = []
    for _ in range(n):
        # Someone reaches into the shelf: the event is where a random shopper's hand is.
        while True:
            who = tracks[rng.randrange(SHOPPERS)]
            start = rng.uniform(2, 55)
            hand = who.between(start, start + 1.0)[0].hands_m[0]
            if hand[1] < 0.1:  # that hand is in the shelf
                break
        changes.append(
            ShelfChange(
                source="bench",
                t_mono=start + 1.0,
                shelf_id="S1",
                kind="take",
                delta_g=-330.0,
                started_mono=start,
                position_m=min(max(hand[0], 0.0), 10.0),
            )
        )
    t0 = time.perf_counter()
    decisions: dict[str, int] = {}
    for change in changes:
        result = attribute(change, shelf, tracks)
        decisions[result.decision.value] = decisions.get(result.decision.value, 0) + 1
    fast_s = time.perf_counter() - t0
    base_n = max(10, n // 50)
    t0 = time.perf_counter()
    for change in changes[:base_n]:
        naive_attribute_scores(change, shelf, tracks)
    base_s = time.perf_counter() - t0
    return {
        "shoppers": SHOPPERS,
        "samples_per_track": len(tracks[0]),
        "events": n,
        "attributions_per_s": n / fast_s,
        "us_per_attribution": 1e6 * fast_s / n,
        "baseline_full_scan_per_s": base_n / base_s,
        "speedup_vs_full_scan": (n / fast_s) / (base_n / base_s),
        "decisions": decisions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    figures = {
        "products": bench_products(args.events),
        "attribution": bench_attribution(max(args.events // 5, 100)),
    }
    for section, values in figures.items():
        print(f"[{section}]")
        for key, value in values.items():
            shown = f"{value:,.3f}" if isinstance(value, float) else value
            print(f"  {key:28s} {shown}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
