"""A hand-made store run: two shoppers, three takes, one put-back on the wrong shelf.

Every record is written here from a script, not by the simulator, so the
true receipts are known by construction:

- shopper 1 (card-000001, S000001) takes a cola at shelf A (t=10), a
  chocolate bar at shelf B (t=25), and leaves the cola on shelf B (t=30):
  pays for one chocolate bar;
- shopper 2 (card-000002, S000002) takes a water at shelf A (t=18): pays
  for one water.

Floor (metres): entry at (1, 0), exit at (9, 0); shelf A's front edge from
(2, 3) to (3.2, 3), shelf B's from (6, 3) to (7.2, 3), two load cells each
(one per end). A shopper stands 0.45 m in front of a board; the hand is on
the board at the event's position for 0.4 s either side of it, else the
hands hang 0.2 m left and right of the body. The tracker samples every
0.5 s, the scales every 0.1 s; a board moves for 0.5 s after a change.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from sim_devices.store_sim import (
    GateRecord,
    Record,
    SessionTruth,
    ShelfEventTruth,
    ShopperTruth,
    SimulationResult,
    StoreTruth,
    TrackRecord,
    TrackTruth,
    WeightRecord,
    parse_store_scenario,
)

SCENARIO: dict[str, Any] = {
    "name": "tiny",
    "seed": 1,
    "duration_s": 60,
    "floor": {
        "entry": {"id": "in", "x_m": 1.0, "y_m": 0.0},
        "exit": {"id": "out", "x_m": 9.0, "y_m": 0.0},
        "shelves": [
            {"id": "A", "x_m": 2.0, "y_m": 3.0, "length_m": 1.2, "cells": 2, "products": [
                {"sku": "cola", "unit_weight_g": 355, "weight_sigma_g": 2, "price": "1.20",
                 "span_m": [0.0, 0.6], "stock": 10},
                {"sku": "water", "unit_weight_g": 520, "weight_sigma_g": 3, "price": "0.90",
                 "span_m": [0.6, 1.2], "stock": 10}]},
            {"id": "B", "x_m": 6.0, "y_m": 3.0, "length_m": 1.2, "cells": 2, "products": [
                {"sku": "crisps", "unit_weight_g": 180, "weight_sigma_g": 3, "price": "1.80",
                 "span_m": [0.0, 0.6], "stock": 10},
                {"sku": "choc", "unit_weight_g": 52, "weight_sigma_g": 1, "price": "0.95",
                 "span_m": [0.6, 1.2], "stock": 10}]},
        ],
    },
}  # fmt: skip

LENGTH_M = 1.2
SHELF_X = {"A": 2.0, "B": 6.0}
SHELF_Y = 3.0
STAND_Y = SHELF_Y - 0.45
EXIT_WAIT = (9.0, 0.5)

# (t, shelf, kind, sku, grams, position along the board, shopper)
EVENTS: list[tuple[float, str, Literal["take", "put"], str, float, float, int]] = [
    (10.0, "A", "take", "cola", 355.0, 0.3, 1),
    (18.0, "A", "take", "water", 520.0, 1.0, 2),
    (25.0, "B", "take", "choc", 52.0, 0.9, 1),
    (30.0, "B", "put", "cola", 355.0, 0.3, 1),
]
# per shopper: admit time, enter time, exit time, path keyframes (t, x, y)
PEOPLE = {
    1: (0.2, 1.0, 40.0, [(1.0, 1.0, 0.0), (1.5, 1.0, 0.5), (6.0, 2.3, STAND_Y),
                        (13.0, 2.3, STAND_Y), (20.0, 6.9, STAND_Y), (26.0, 6.9, STAND_Y),
                        (28.0, 6.3, STAND_Y), (33.0, 6.3, STAND_Y), (39.75, *EXIT_WAIT),
                        (40.0, 9.0, 0.0)]),
    2: (4.2, 5.0, 45.0, [(5.0, 1.0, 0.0), (5.5, 1.0, 0.5), (15.0, 3.0, STAND_Y),
                        (21.0, 3.0, STAND_Y), (44.75, *EXIT_WAIT), (45.0, 9.0, 0.0)]),
}  # fmt: skip
TRUE_RECEIPTS = {"S000001": {"choc": 1}, "S000002": {"water": 1}}
STOCK_G = {"A": [(355.0 * 10, 0.3), (520.0 * 10, 0.9)], "B": [(180.0 * 10, 0.3), (52.0 * 10, 0.9)]}


def _cells(loads: list[tuple[float, float]]) -> tuple[float, float]:
    """Lever rule: a load at p metres puts p/L of it on the right cell."""
    right = sum(w * p / LENGTH_M for w, p in loads)
    return (sum(w for w, _ in loads) - right, right)


def _weights() -> list[WeightRecord]:
    records = []
    for shelf in ("A", "B"):
        loads = list(STOCK_G[shelf])
        changes = [e for e in EVENTS if e[1] == shelf]
        for k in range(0, 500):
            t = k * 0.1
            for change in changes:
                if abs(change[0] - t) < 1e-9:
                    sign = -1.0 if change[2] == "take" else 1.0
                    loads.append((sign * change[4], change[5]))
            moving = any(0 <= t - c[0] < 0.5 for c in changes)
            records.append(WeightRecord(t, shelf, _cells(loads), (not moving, not moving)))
    return records


def _tracks() -> list[TrackRecord]:
    records = []
    for person, (_, enter_t, exit_t, path) in PEOPLE.items():
        times = [k[0] for k in path]
        for t in np.arange(enter_t, exit_t + 1e-9, 0.5):
            x = float(np.interp(t, times, [k[1] for k in path]))
            y = float(np.interp(t, times, [k[2] for k in path]))
            hands: tuple[tuple[float, float], ...] = ((x - 0.2, y), (x + 0.2, y))
            for event_t, shelf, _, _, _, position, who in EVENTS:
                if who == person and abs(t - event_t) <= 0.4:
                    hands = ((x - 0.2, y), (SHELF_X[shelf] + position, SHELF_Y))
            records.append(TrackRecord(float(t), f"trk-{person}", (x, y), hands))
    return records


def _gates() -> list[GateRecord]:
    records = []
    for person, (admit_t, enter_t, exit_t, _) in PEOPLE.items():
        card, ref = f"card-{person:06d}", f"S{person:06d}"
        records.append(GateRecord(admit_t, "admit", "in", card, ref, 0, 1))
        records.append(GateRecord(enter_t, "enter", "in", card, ref, 1, 1))
        records.append(GateRecord(exit_t, "exit", "out", None, None, 0, 1))
    return records


def tiny_run() -> SimulationResult:
    """The scripted run with its truth."""
    records: list[Record] = [*_gates(), *_weights(), *_tracks()]
    records.sort(key=lambda r: r.t)
    sessions = tuple(
        SessionTruth(f"S{p:06d}", f"card-{p:06d}", 1, 0, a, x, TRUE_RECEIPTS[f"S{p:06d}"])
        for p, (a, _, x, _) in PEOPLE.items()
    )
    events = tuple(
        ShelfEventTruth(t, f"S{who:06d}", f"S{who:06d}-1", kind, sku, 1, grams, shelf, pos, home)
        for t, shelf, kind, sku, grams, pos, who in EVENTS
        for home in ["A" if sku in ("cola", "water") else "B"]
    )
    shoppers = tuple(
        ShopperTruth(f"S{p:06d}-1", f"S{p:06d}", False, e, x) for p, (_, e, x, _) in PEOPLE.items()
    )
    tracks = tuple(
        TrackTruth(f"trk-{p}", f"S{p:06d}-1", f"S{p:06d}", e, x)
        for p, (_, e, x, _) in PEOPLE.items()
    )
    occupancy = ((1.0, 1), (5.0, 2), (40.0, 1), (45.0, 0))
    truth = StoreTruth(sessions, events, shoppers, tracks, 2, 0, occupancy)
    return SimulationResult(parse_store_scenario(SCENARIO), records, truth)
