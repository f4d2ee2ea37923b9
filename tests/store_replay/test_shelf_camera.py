"""Shelf cameras in the replay: their sightings break the product ties of same-weight SKUs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sim_devices.store_sim import ShelfCameraRecord, parse_store_scenario, simulate
from walkout.store_replay import EngineCheckout, ReplaySettings, StoreReplay, replay_scenario

# One load cell under a board of two 180 g SKUs: no position, so the weight alone
# ties every single take between the two.
CRISPS: dict[str, Any] = {
    "name": "crisps",
    "seed": 4,
    "duration_s": 150,
    "floor": {
        "entry": {"id": "in", "x_m": 1.0, "y_m": 0.0},
        "exit": {"id": "out", "x_m": 5.0, "y_m": 0.0},
        "shelves": [
            {"id": "C", "x_m": 2.0, "y_m": 3.0, "length_m": 1.2, "cells": 1, "products": [
                {"sku": "salt", "unit_weight_g": 180, "weight_sigma_g": 2, "price": "1.80",
                 "span_m": [0.0, 0.6], "stock": 60},
                {"sku": "paprika", "unit_weight_g": 180, "weight_sigma_g": 2, "price": "1.80",
                 "span_m": [0.6, 1.2], "stock": 60}]},
        ],
    },
    "arrivals": {"rate_per_min": 5},
    "behaviour": {"stops": [1, 1], "dwell_s": {"median": 6, "sigma": 0.2}, "take": 0.9,
                  "put_back_same": 0.0},
    "sensors": {"scale": {"sigma_g": 0.5}},
}  # fmt: skip

TIE = "weight change # is tied between products on C"


def _run(camera: dict[str, Any] | None, tmp_path: Path) -> tuple[int, int, int]:
    doc = copy.deepcopy(CRISPS)
    if camera is not None:
        doc["sensors"]["shelf_camera"] = camera
    run = simulate(parse_store_scenario(doc))
    takes = sum(e.kind == "take" for e in run.truth.events)
    result = replay_scenario(run, tmp_path)
    return takes, result.outcome.reviews[TIE], result.breakdown["ok"]


def test_cameras_break_the_ties_of_same_weight_skus(tmp_path: Path) -> None:
    takes, ties_off, ok_off = _run(None, tmp_path / "off")
    assert takes >= 5
    assert ties_off >= takes - 1  # nearly every take is a coin toss for the scale
    camera = {"shelves": ["C"], "accuracy": 0.99, "miss_rate": 0.0}
    takes_on, ties_on, ok_on = _run(camera, tmp_path / "on")
    assert takes_on == takes
    assert ties_on <= 1
    assert ok_on >= ok_off + takes - 2


def test_camera_records_without_hints_are_dropped(tmp_path: Path) -> None:
    doc = copy.deepcopy(CRISPS)
    doc["sensors"]["shelf_camera"] = {"shelves": ["C"]}
    scenario = parse_store_scenario(doc)
    run = simulate(scenario)
    sightings = [r for r in run.records if isinstance(r, ShelfCameraRecord)]
    assert sightings
    checkout = EngineCheckout(scenario, tmp_path / "ledger.sqlite", ReplaySettings().checkout)
    try:
        adapter = StoreReplay(scenario, checkout)
        hints = adapter.camera_hints
        assert hints is not None
        assert hints is checkout.camera_hints
        for record in sightings:
            adapter.feed(record)
        assert len(hints) == len(sightings)
        bare = StoreReplay(scenario, _NoCamera(checkout))
        assert bare.camera_hints is None
        bare.feed(sightings[0])  # no camera path: ignored, not mistaken for a gate record
    finally:
        checkout.close()


class _NoCamera:
    """A checkout with the same inputs and outputs but no camera path (as a baseline)."""

    def __init__(self, inner: EngineCheckout) -> None:
        self.inner = inner

    def feed(self, message: Any) -> list[Any]:
        return self.inner.feed(message)

    def tick(self, t_mono: float) -> list[Any]:
        return self.inner.tick(t_mono)

    def open_carts(self) -> dict[str, tuple[dict[str, int], bool]]:
        return self.inner.open_carts()
