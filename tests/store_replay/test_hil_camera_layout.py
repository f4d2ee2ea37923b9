"""The cameras of a hardware-in-the-loop run: the grid over the floor and each camera's script."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sim_devices.camera.script import Departure, Keyframe
from sim_devices.store_sim import TrackRecord, TrackTruth
from walkout.store_hil_cameras import (
    MARGIN_M,
    CameraSetup,
    Extent,
    People,
    camera_layout,
    camera_script,
    run_extent,
    store_homography,
)

from .tiny import tiny_run


def _covered(extent: Extent, setup: CameraSetup) -> None:
    """Every point of the extent (and its margin) is on some camera's floor."""
    grid = camera_layout(extent, setup)
    xs = np.linspace(extent.min_x - MARGIN_M, extent.max_x + MARGIN_M, 41)
    ys = np.linspace(extent.min_y - MARGIN_M, extent.max_y + MARGIN_M, 41)
    for x, y in itertools.product(xs, ys):
        assert any(c.covers((float(x), float(y))) for c in grid), (x, y)


def test_a_store_bigger_than_one_view_gets_a_grid_of_overlapping_cameras() -> None:
    extent = Extent(0.5, 0.0, 12.5, 8.0)  # the busy store's 12 x 8 m
    setup = CameraSetup(max_floor_m=(8.0, 6.0), overlap_m=1.0)
    grid = camera_layout(extent, setup)
    assert [c.camera_id for c in grid] == ["cam-0-0", "cam-0-1", "cam-1-0", "cam-1-1"]
    for camera in grid:
        assert camera.floor_m[0] <= 8.0
        assert camera.floor_m[1] <= 6.0
    left, right = grid[0], grid[1]
    assert left.origin_m[0] + left.floor_m[0] - right.origin_m[0] == pytest.approx(1.0)
    near, far = grid[0], grid[2]
    assert near.origin_m[1] + near.floor_m[1] - far.origin_m[1] == pytest.approx(1.0)
    _covered(extent, setup)


def test_a_small_store_has_one_camera_unless_more_are_asked_for() -> None:
    extent = Extent(1.0, 0.0, 6.0, 3.0)
    assert [c.camera_id for c in camera_layout(extent)] == ["cam-0-0"]
    setup = CameraSetup(min_columns=3)
    grid = camera_layout(extent, setup)
    assert [c.camera_id for c in grid] == ["cam-0-0", "cam-0-1", "cam-0-2"]
    _covered(extent, setup)


def test_a_camera_floor_no_wider_than_the_overlap_is_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        CameraSetup(max_floor_m=(1.0, 6.0), overlap_m=1.0)


def test_the_hand_made_run_needs_two_cameras_sharing_a_metre_between_its_shelves() -> None:
    run = tiny_run()
    grid = camera_layout(run_extent(run.scenario, run.records))
    assert len(grid) == 2
    left, right = grid
    overlap = (right.origin_m[0], left.origin_m[0] + left.floor_m[0])
    assert overlap[1] - overlap[0] == pytest.approx(1.0)
    assert 3.2 < overlap[0] < overlap[1] < 6.0  # between shelf A's right end and shelf B


def test_each_camera_gets_every_person_on_its_floor_and_they_leave_a_frame_after_the_exit() -> None:
    run = tiny_run()
    origin = (4.5, -0.25)
    script = camera_script(
        run.records, origin, People.of(run.records, run.truth.tracks), linger_s=0.1
    )
    tracks = [r for r in run.records if isinstance(r, TrackRecord)]
    keyframes = [e for e in script if isinstance(e, Keyframe)]
    assert len(keyframes) == len(tracks)  # every sample, even those outside this camera's view
    first = keyframes[0]
    assert (first.x_m, first.y_m) == pytest.approx(
        (tracks[0].body_xy[0] - 4.5, tracks[0].body_xy[1] + 0.25)
    )
    departures = {e.person_id: e.t for e in script if isinstance(e, Departure)}
    last = {1: 40.0, 2: 45.0}  # the tracks' last samples, at their exit passages
    assert departures == pytest.approx({p: t + 0.1 for p, t in last.items()})
    with pytest.raises(ValueError, match="linger_s"):
        camera_script(run.records, origin, People.of(run.records), linger_s=-0.1)


def test_the_runtimes_homography_puts_a_camera_floor_point_back_on_the_store_plan() -> None:
    image_to_floor = [[0.01, 0.0, 0.0], [0.0, 0.01, 0.0], [0.0, 0.0, 1.0]]  # 100 px per metre
    homography = store_homography(image_to_floor, (4.5, -0.25))
    matrix = np.asarray(homography.matrix)
    x, y, w = matrix @ np.array([150.0, 200.0, 1.0])
    assert (x / w, y / w) == pytest.approx((6.0, 1.75))


def test_the_cameras_exit_slack_is_one_frame_and_the_clock_skew() -> None:
    assert CameraSetup(fps=10.0).ended_slack_s == pytest.approx(0.15)
    assert CameraSetup(fps=20.0).ended_slack_s == pytest.approx(0.10)


def _sample(track_id: str, t: float) -> TrackRecord:
    return TrackRecord(t, track_id, (1.0, 1.0), ())


def test_the_cameras_see_people_not_the_simulated_trackers_ids() -> None:
    """The tracker swapped trk-1 and trk-2 at t=10 and switched trk-2 to trk-3 at t=20."""
    truth = [
        TrackTruth("trk-1", "ann", "S1", 0.0, 10.0),
        TrackTruth("trk-2", "bob", "S2", 0.0, 10.0),
        TrackTruth("trk-1", "bob", "S2", 10.0, 30.0),
        TrackTruth("trk-2", "ann", "S1", 10.0, 20.0),
        TrackTruth("trk-3", "ann", "S1", 20.0, 30.0),
    ]
    records = [
        _sample("trk-1", 0.0),
        _sample("trk-2", 0.0),
        _sample("trk-1", 10.0),
        _sample("trk-2", 15.0),
        _sample("trk-3", 25.0),
        _sample("trk-3", 20.0 - 1e-9),  # a rounding error before its span: still ann
        _sample("trk-9", 26.0),  # a track the truth does not know: a person of its own
    ]
    people = People.of(records, truth)
    assert [people.person(r) for r in records] == [1, 2, 2, 1, 1, 1, 3]
