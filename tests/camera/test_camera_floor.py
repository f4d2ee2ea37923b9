"""A camera over part of a store: its own floor size, and only the people in its view."""

from __future__ import annotations

import json

import pytest

from devices.camera.config import FloorHomography
from devices.camera.metadata import parse_detections
from sim_devices.camera import cli
from sim_devices.camera.metadata import MetadataPublisher, MetadataSettings
from sim_devices.camera.scene import DEFAULT_SHELVES, PersonState, shelves_on
from sim_devices.camera.simulator import CameraSimError, CameraSimulator
from vision_core.tracking.floor import CameraGeometry, FloorProjector


def _serve_args(*extra: str) -> list[str]:
    return ["serve", "--view", "topdown", "--walkers", "0", *extra]


async def test_the_floor_size_comes_from_the_command_line_and_reaches_the_ready_line() -> None:
    sim = cli._build(
        cli._parser().parse_args(_serve_args("--floor-width-m", "4.5", "--floor-depth-m", "3.5"))
    )
    async with sim:
        ready = sim.ready()
    assert ready["floor_m"] == [4.5, 3.5]
    assert ready["floor_points"] == [[0.0, 0.0], [4.5, 0.0], [4.5, 3.5], [0.0, 3.5]]
    assert [s.name for s in sim.scene.shelves] == ["A"]
    # the default stays the 8 x 6 m floor with every default shelf
    default = cli._build(cli._parser().parse_args(_serve_args()))
    assert (default.scene.width_m, default.scene.depth_m) == (8.0, 6.0)
    assert tuple(default.scene.shelves) == DEFAULT_SHELVES


def test_only_the_default_shelves_that_fit_are_on_a_smaller_floor() -> None:
    assert [s.name for s in shelves_on(4.5, 3.5)] == ["A"]  # B and C would stick out
    assert shelves_on(8.0, 6.0) == DEFAULT_SHELVES
    assert shelves_on(1.0, 1.0) == ()


@pytest.mark.parametrize("floor_m", [(0.0, 3.0), (4.0, -1.0), (float("nan"), 3.0)])
def test_a_floor_without_a_finite_positive_size_is_refused(floor_m: tuple[float, float]) -> None:
    with pytest.raises(CameraSimError, match="width and depth"):
        CameraSimulator(view="topdown", walkers=0, floor_m=floor_m)


def test_a_person_outside_the_cameras_view_is_not_detected_and_one_inside_is_placed_right() -> None:
    sim = CameraSimulator(view="topdown", walkers=0, floor_m=(4.0, 3.0))
    publisher = MetadataPublisher(sim.view, "cam1", "127.0.0.1", 1, settings=MetadataSettings())
    people = (
        PersonState(1, 2.0, 1.5),  # on the floor
        PersonState(2, 6.0, 1.5),  # 2 m past its right edge: another camera's
        PersonState(3, 2.0, -0.8),  # behind its near edge
    )
    payload, truth = publisher.build(0, 1767225600.0, people)
    detections = parse_detections("cam1", payload, 1.0).detections
    assert [d.track_id for d in detections] == [1]
    assert {p["id"]: p["visible"] for p in json.loads(truth)["people"]} == {
        1: True,
        2: False,
        3: False,
    }
    # the runtime reads it back through the camera's homography to its floor point
    homography = FloorHomography.from_matrix(sim.view.image_to_floor.tolist())
    observation = FloorProjector({"cam1": CameraGeometry(homography)}).project(detections[0])
    assert observation is not None
    assert observation.body_m == pytest.approx((2.0, 1.5), abs=0.01)


def test_misses_are_drawn_from_the_seed_and_repeat() -> None:
    def misses(seed: int) -> list[int]:
        sim = CameraSimulator(view="topdown", walkers=0, floor_m=(4.0, 3.0), seed=seed)
        settings = MetadataSettings(box_noise_px=3.0, miss_rate=0.2)
        publisher = MetadataPublisher(
            sim.view, "cam1", "127.0.0.1", 1, settings=settings, seed=seed
        )
        out = []
        for frame in range(200):
            payload, _ = publisher.build(frame, 1767225600.0, (PersonState(1, 2.0, 1.5),))
            out.append(len(json.loads(payload)["people"]))
        return out

    first = misses(3)
    assert first == misses(3)
    assert first != misses(4)
    assert 20 <= first.count(0) <= 60  # about one frame in five
