import dataclasses

import pytest

from devices.camera.detection import Detection, PersonDetections
from vision_core.tracking.camera_tracker import CameraTracker, CameraTrackerError, TrackerSettings

from .scenes import frame

FPS = 15.0


def box(cx: float, bottom: float, w: float = 50.0, h: float = 170.0):
    return (cx - w / 2, bottom - h, cx + w / 2, bottom)


def ids_by_bottom(out, bottom: float) -> set[int]:
    return {d.track_id for d in out if d.box[3] == bottom}


def test_crossing_walkers_keep_their_ids():
    # A walks right along bottom 400 px, B walks left along bottom 420 px: their boxes
    # overlap (IoU up to ~0.8) for several frames around the crossing at x = 300.
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    ids_a: list[int] = []
    ids_b: list[int] = []
    for k in range(40):
        t = k / FPS
        a, b = box(100 + 10 * k, 400.0), box(500 - 10 * k, 420.0)
        out = tracker.update(frame("cam", t, [a, b]))
        ids_a += ids_by_bottom(out, 400.0)
        ids_b += ids_by_bottom(out, 420.0)
    assert len(ids_a) >= 38  # confirmed from the second frame on
    assert len(ids_b) >= 38
    assert len(set(ids_a)) == 1
    assert len(set(ids_b)) == 1
    assert set(ids_a) != set(ids_b)


def test_id_survives_a_short_miss_and_an_occluded_low_score_frame():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS, lost_track_s=1.0))
    seen: list[int] = []
    for k in range(30):
        t = k / FPS
        boxes = [] if 10 <= k < 15 else [box(100 + 8 * k, 400.0)]  # 5 frames (0.33 s) unseen
        score = 0.3 if k == 20 else 0.9  # half hidden: a low-score box (second ByteTrack stage)
        out = tracker.update(frame("cam", t, boxes, score))
        if 10 <= k < 15:
            assert out == ()
        seen += [d.track_id for d in out]
    assert len(seen) == 29 - 5  # every frame but the first and the five missed
    assert len(set(seen)) == 1


def test_long_absence_gives_a_new_id():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS, lost_track_s=0.5))
    first = [
        d.track_id for k in range(3) for d in tracker.update(frame("cam", k / FPS, [box(100, 400)]))
    ]
    later = [
        d.track_id
        for k in range(30, 33)  # 1.8 s later, same place
        for d in tracker.update(frame("cam", k / FPS, [box(100, 400)]))
    ]
    assert first
    assert later
    assert set(first).isdisjoint(later)


def test_single_frame_false_positive_gets_no_id():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    out = []
    for k in range(10):
        boxes = [box(100, 400)] + ([box(600, 300)] if k == 5 else [])
        out += tracker.update(frame("cam", k / FPS, boxes))
    assert {d.box for d in out} == {box(100, 400)}


def test_keypoints_and_scores_follow_their_own_box():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))

    def person(t: float, cx: float, marker: float, score: float) -> Detection:
        keypoints = tuple((cx, 300.0 + i, marker) for i in range(17))
        return Detection("cam", t, box(cx, 400.0), score, keypoints=keypoints)

    for k in range(3):
        t = k / FPS
        # given in a different order every frame: ByteTrack reorders its output too
        people = [person(t, 100.0, 0.7, 0.91), person(t, 400.0, 0.2, 0.95)]
        if k % 2:
            people.reverse()
        out = tracker.update(
            PersonDetections(source="cam", t_mono=t, camera_id="cam", detections=tuple(people))
        )
    assert len(out) == 2
    by_box = {d.box[0]: d for d in out}
    left, right = by_box[75.0], by_box[375.0]
    assert left.keypoints is not None
    assert left.keypoints[9] == (100.0, 309.0, 0.7)
    assert right.keypoints is not None
    assert right.keypoints[9] == (400.0, 309.0, 0.2)
    assert (left.score, right.score) == (0.91, 0.95)
    assert dataclasses.replace(left, track_id=None) == person(2 / FPS, 100.0, 0.7, 0.91)
    assert left.track_id != right.track_id


def test_refuses_other_cameras_and_stale_frames():
    tracker = CameraTracker("cam-a")
    with pytest.raises(CameraTrackerError, match="cam-b"):
        tracker.update(frame("cam-b", 1.0, []))
    tracker.update(frame("cam-a", 1.0, [box(100, 400)]))
    with pytest.raises(CameraTrackerError, match="not newer"):
        tracker.update(frame("cam-a", 1.0, [box(100, 400)]))
    with pytest.raises(ValueError, match="lost_track_s"):
        TrackerSettings(lost_track_s=-1.0)
