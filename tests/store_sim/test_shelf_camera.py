"""The shelf-camera sensor model: off unless asked, seeded, as accurate as configured."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from sim_devices.store_sim import (
    ShelfCameraRecord,
    ShelfEventTruth,
    StoreScenarioError,
    parse_store_scenario,
    simulate,
)
from sim_devices.store_sim.jsonl import read_stream, write_stream
from sim_devices.store_sim.scenario import ShelfCameraModel
from sim_devices.store_sim.sensors import shelf_camera_records
from sim_devices.store_sim.shoppers import REACH_S

CAMERA = {"shelves": ["A", "B"], "accuracy": 0.9, "miss_rate": 0.1}


def with_camera(doc: dict[str, Any], **camera: Any) -> dict[str, Any]:
    doc["sensors"]["shelf_camera"] = {**CAMERA, **camera}
    return doc


def test_off_by_default(small: dict[str, Any]) -> None:
    scenario = parse_store_scenario(small)
    assert scenario.sensors.shelf_camera is None
    assert not any(isinstance(r, ShelfCameraRecord) for r in simulate(scenario).records)


def test_section_parsed(small: dict[str, Any]) -> None:
    camera = parse_store_scenario(with_camera(small)).sensors.shelf_camera
    assert camera == ShelfCameraModel(("A", "B"), accuracy=0.9, miss_rate=0.1)


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"shelves": ["Z"]}, r"sensors\.shelf_camera\.shelves\[0\]: 'Z' is not a shelf"),
        ({"shelves": ["A", "A"]}, r"shelves\[1\]: 'A' appears twice"),
        ({"shelves": []}, r"sensors\.shelf_camera\.shelves: expected a non-empty list"),
        ({"accuracy": 0}, r"sensors\.shelf_camera\.accuracy: must be > 0"),
        ({"accuracy": 1.2}, r"accuracy: must be <= 1"),
        ({"miss_rate": -0.1}, r"miss_rate: must be >= 0"),
        ({"concentration": 0}, r"concentration: must be > 0"),
        ({"fps": 10}, r"sensors\.shelf_camera\.fps: unknown key"),
    ],
)
def test_bad_section_refused(small: dict[str, Any], camera: dict[str, Any], message: str) -> None:
    with pytest.raises(StoreScenarioError, match=message):
        parse_store_scenario(with_camera(small, **camera))


def test_other_records_identical_with_cameras_on_and_off(small: dict[str, Any]) -> None:
    off = simulate(parse_store_scenario(small))
    on = simulate(parse_store_scenario(with_camera(small)))
    cameras = [r for r in on.records if isinstance(r, ShelfCameraRecord)]
    assert cameras
    assert [r for r in on.records if not isinstance(r, ShelfCameraRecord)] == off.records
    assert on.truth == off.truth
    assert [r.t for r in on.records] == sorted(r.t for r in on.records)


def test_seeded(small: dict[str, Any]) -> None:
    first = simulate(parse_store_scenario(with_camera(small)))
    second = simulate(parse_store_scenario(with_camera(small)))
    assert first.records == second.records
    small["seed"] += 1
    third = simulate(parse_store_scenario(with_camera(small)))
    assert [r for r in third.records if isinstance(r, ShelfCameraRecord)] != [
        r for r in first.records if isinstance(r, ShelfCameraRecord)
    ]


def test_only_the_cameras_shelves_are_seen(small: dict[str, Any]) -> None:
    run = simulate(parse_store_scenario(with_camera(small, shelves=["B"])))
    records = [r for r in run.records if isinstance(r, ShelfCameraRecord)]
    assert records
    assert {r.shelf_id for r in records} == {"B"}
    # B holds crisps only: a take there has nothing to be confused with
    assert {r.sku for r in records if r.kind == "take"} == {"crisps"}


def test_records_round_trip_through_jsonl(small: dict[str, Any], tmp_path: Path) -> None:
    run = simulate(parse_store_scenario(with_camera(small)))
    path = tmp_path / "stream.jsonl"
    write_stream(path, run.records)
    assert list(read_stream(path)) == run.records


def _events(n: int) -> list[ShelfEventTruth]:
    rng = random.Random(3)
    return [
        ShelfEventTruth(
            t=10.0 * k,
            session_ref="S1",
            shopper_id="S1-1",
            kind="take" if k % 3 else "put",
            sku=rng.choice(["cola", "water"]),
            qty=1,
            weight_g=355.0,
            shelf_id="A",
            position_m=0.3,
            home_shelf_id="A",
        )
        for k in range(n)
    ]


def _within(count: int, n: int, p: float) -> None:
    """``count`` of ``n`` Bernoulli(p) trials lies within 4 standard deviations of n * p."""
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= 4 * sd, f"{count} of {n}, expected {n * p:.0f} +- {4 * sd:.0f}"


def test_accuracy_and_misses_as_configured(small: dict[str, Any]) -> None:
    shelf = parse_store_scenario(small).shelf("A")  # cola and water
    model = ShelfCameraModel(("A",), accuracy=0.9, miss_rate=0.1)
    events = _events(4000)
    records = shelf_camera_records(shelf, model, events, 0.0, random.Random(11))
    _within(len(records), len(events), 1 - model.miss_rate)
    by_time: dict[float, ShelfEventTruth] = {}
    right = 0
    for record in records:
        # a take is seen as the hand leaves, a put as it comes in
        event = min(events, key=lambda e: abs(e.t - record.t))
        if event.kind == "take":
            assert event.t <= record.t <= event.t + REACH_S
        else:
            assert event.t - REACH_S <= record.t <= event.t
        assert record.kind == event.kind
        assert 0 < record.confidence <= 1
        by_time[event.t] = event
        right += record.sku == event.sku
    assert len(by_time) == len(records)  # one sighting per event at most
    _within(right, len(records), model.accuracy)
    mean = math.fsum(r.confidence for r in records) / len(records)
    assert mean == pytest.approx(model.accuracy, abs=0.01)  # calibrated on average


def test_confidences_are_calibrated(small: dict[str, Any]) -> None:
    """Sure sightings are right more often than unsure ones, as often as they say."""
    shelf = parse_store_scenario(small).shelf("A")
    model = ShelfCameraModel(("A",), accuracy=0.7, miss_rate=0.0, concentration=4.0)
    events = _events(4000)
    records = shelf_camera_records(shelf, model, events, 0.0, random.Random(5))
    truth = {e.t: e.sku for e in events}
    for low, high in ((0.0, 0.6), (0.8, 1.0)):
        band = [r for r in records if low < r.confidence <= high]
        expected = math.fsum(r.confidence for r in band) / len(band)
        right = sum(r.sku == truth[round(r.t / 10.0) * 10.0] for r in band)
        _within(right, len(band), expected)


def test_a_miss_does_not_reshuffle_the_other_events(small: dict[str, Any]) -> None:
    shelf = parse_store_scenario(small).shelf("A")
    events = _events(200)
    seen = shelf_camera_records(
        shelf, ShelfCameraModel(("A",), miss_rate=0.0), events, 0.0, random.Random(1)
    )
    some = shelf_camera_records(
        shelf, ShelfCameraModel(("A",), miss_rate=0.5), events, 0.0, random.Random(1)
    )
    assert 0 < len(some) < len(seen)
    assert set(some) <= set(seen)
