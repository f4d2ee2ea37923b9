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


def test_embeddings_follow_their_own_person_through_a_crossing():
    # As test_crossing_walkers_keep_their_ids, each person with their own appearance
    # vector, given in a changing order: ByteTrack's output order is not the input's.
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    look_a = (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    look_b = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    looks_by_id: dict[int, set[tuple[float, ...]]] = {}
    seen = 0
    for k in range(40):
        t = k / FPS
        a = Detection("cam", t, box(100 + 10 * k, 400.0), 0.9, embedding=look_a)
        b = Detection("cam", t, box(500 - 10 * k, 420.0), 0.8, embedding=look_b)
        people = (b, a) if k % 3 else (a, b)
        out = tracker.update(
            PersonDetections(source="cam", t_mono=t, camera_id="cam", detections=people)
        )
        for d in out:
            assert d.embedding == (look_a if d.box[3] == 400.0 else look_b)
            assert d.track_id is not None
            looks_by_id.setdefault(d.track_id, set()).add(d.embedding)
            seen += 1
    assert seen >= 76
    assert len(looks_by_id) == 2  # one id each, never the other's look
    assert sorted(looks_by_id.values(), key=str) == [{look_b}, {look_a}]
    # an image the detector skipped shows nobody's appearance
    assert [d.embedding for d in tracker.predict(40 / FPS)] == [(), ()]


def test_refuses_other_cameras_and_stale_frames():
    tracker = CameraTracker("cam-a")
    with pytest.raises(CameraTrackerError, match="cam-b"):
        tracker.update(frame("cam-b", 1.0, []))
    tracker.update(frame("cam-a", 1.0, [box(100, 400)]))
    with pytest.raises(CameraTrackerError, match="not newer"):
        tracker.update(frame("cam-a", 1.0, [box(100, 400)]))
    with pytest.raises(ValueError, match="lost_track_s"):
        TrackerSettings(lost_track_s=-1.0)


# Detect every 3rd frame, predict in between. Walker A moves right 8 px a frame from
# x = 100 (box x1 = 75 + 8 k); B stands still at x = 500 and appears at frame 9.
EVERY_N = 3
SPEED_PX = 8.0


def walker_a(k: int) -> tuple[float, float, float, float]:
    return box(100.0 + SPEED_PX * k, 400.0)


def test_predict_bridges_skipped_frames_of_a_walker():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    ids_a: set[int] = set()
    ids_b: set[int] = set()
    predicted = 0
    for k in range(30):
        t = k / FPS
        if k % EVERY_N == 0:
            boxes = [walker_a(k)] + ([box(500.0, 420.0)] if k >= 9 else [])
            out = tracker.update(frame("cam", t, boxes))
            # A tentative track is confirmed at its second real detection: A at
            # frame 3, B at frame 12, although predictions came in between.
            assert len(out) == (0 if k == 0 else 1 if k < 12 else 2)
            ids_a |= {d.track_id for d in out if d.box[3] == 400.0}
            ids_b |= {d.track_id for d in out if d.box[3] == 420.0}
            continue
        out = tracker.predict(t)
        if k < EVERY_N:
            assert out == ()  # nobody confirmed yet
            continue
        # B is tentative on frames 10 and 11: only A is predicted then.
        assert len(out) == (1 if k < 12 else 2)
        a = next(d for d in out if d.track_id in ids_a)
        assert a.t_mono == t
        assert a.score == 0.9
        # Between the real boxes of the frames around it, by hand: x1 = 75 + 8 k.
        prev_x1 = walker_a(k - k % EVERY_N)[0]
        next_x1 = prev_x1 + EVERY_N * SPEED_PX
        assert prev_x1 <= a.box[0] <= next_x1
        if k > 2 * EVERY_N:
            # The Kalman velocity has settled after three detections: within 1 px of
            # where the walker really is (holding the last box would be 8 or 16 px off).
            assert a.box == pytest.approx(walker_a(k), abs=1.0)
        else:
            assert a.box[1] == pytest.approx(230.0, abs=1.0)  # no vertical motion
        if k > 12:
            b = next(d for d in out if d.track_id in ids_b)
            assert b.box == pytest.approx(box(500.0, 420.0), abs=1.0)  # standing still
        predicted += 1
    assert predicted == 20 - 2  # every skipped frame after the first confirmation
    assert len(ids_a) == 1
    assert len(ids_b) == 1
    assert ids_a != ids_b


def test_predict_leaves_the_tracks_as_they_were():
    # The same real frames, with and without predictions between them: same answers.
    plain = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    bridged = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    for k in range(0, 30, EVERY_N):
        t = k / FPS
        boxes = [walker_a(k), box(600.0 - 5.0 * k, 420.0)]
        assert plain.update(frame("cam", t, boxes)) == bridged.update(frame("cam", t, boxes))
        bridged.predict((k + 1) / FPS)
        bridged.predict((k + 2) / FPS)


def test_predicted_keypoints_move_with_the_box():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))

    def person(k: int) -> PersonDetections:
        t = k / FPS
        cx = 100.0 + SPEED_PX * k
        keypoints = tuple((cx + i, 250.0 + 5 * i, 0.8) for i in range(17))
        found = Detection("cam", t, walker_a(k), 0.9, keypoints=keypoints)
        return PersonDetections(source="cam", t_mono=t, camera_id="cam", detections=(found,))

    assert tracker.update(person(0)) == ()  # tentative
    for k in (3, 6, 9):
        [last] = tracker.update(person(k))
    [moved] = tracker.predict(10 / FPS)
    assert moved.track_id == last.track_id
    assert last.keypoints is not None
    assert moved.keypoints is not None
    dx = moved.box[0] - last.box[0]
    assert dx == pytest.approx(SPEED_PX, abs=1.0)  # one frame on, box size kept
    for (x0, y0, s0), (x1, y1, s1) in zip(last.keypoints, moved.keypoints, strict=True):
        assert x1 == pytest.approx(x0 + dx, abs=0.2)  # the box's width barely changes
        assert y1 == pytest.approx(y0, abs=0.5)
        assert s1 == s0


def test_predict_carries_keypoints_the_caller_added_after_tracking():
    # As in the detection chain: the tracker sees bare boxes, pose adds keypoints to
    # its output, and predict is told about them.
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    for k in (0, 3):
        out = tracker.update(frame("cam", k / FPS, [walker_a(k), box(500.0, 420.0)]))
    assert all(d.keypoints is None for d in out)
    a = next(d for d in out if d.box[3] == 400.0)
    keypoints = tuple((a.box[0] + 10.0, a.box[1] + 10.0 * i, 0.9) for i in range(17))
    posed = dataclasses.replace(a, keypoints=keypoints)
    unknown = dataclasses.replace(a, track_id=99, keypoints=keypoints)  # ignored
    moved = {d.track_id: d for d in tracker.predict(4 / FPS, [posed, unknown])}
    assert set(moved) == {d.track_id for d in out}
    b = next(d for d in out if d.box[3] == 420.0)
    assert moved[b.track_id].keypoints is None  # nobody gave it keypoints
    moved_a = moved[a.track_id]
    assert moved_a.keypoints is not None
    left, top, right, bottom = moved_a.box
    for i, (x, y, score) in enumerate(moved_a.keypoints):
        # Same place relative to the box: 10 px right of the left edge of a 50 px
        # wide box, 10 i px below the top of a 170 px high one.
        assert (x - left) / (right - left) == pytest.approx(10.0 / 50.0)
        assert (y - top) / (bottom - top) == pytest.approx(10.0 * i / 170.0)
        assert score == 0.9


def test_predict_stops_after_the_lost_track_time_and_keeps_time_order():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS, lost_track_s=0.5))
    assert tracker.predict(0.0) == ()  # nothing tracked yet
    for k in range(1, 4):
        tracker.update(frame("cam", k / FPS, [walker_a(k)]))
    assert len(tracker.predict(4 / FPS)) == 1
    assert len(tracker.predict(3 / FPS + 0.49)) == 1
    assert tracker.predict(3 / FPS + 0.52) == ()  # 0.5 s lost-track budget spent
    with pytest.raises(CameraTrackerError, match="not newer"):
        tracker.predict(3 / FPS + 0.52)
    with pytest.raises(CameraTrackerError, match="not newer"):
        tracker.update(frame("cam", 3 / FPS + 0.5, [walker_a(10)]))
    with pytest.raises(CameraTrackerError, match="not finite"):
        tracker.predict(float("nan"))
    tracker.reset()
    assert tracker.predict(0.0) == ()


def test_a_track_missed_at_the_last_update_is_not_predicted():
    tracker = CameraTracker("cam", TrackerSettings(frame_rate=FPS))
    for k in range(3):
        tracker.update(frame("cam", k / FPS, [walker_a(k), box(500.0, 420.0)]))
    tracker.update(frame("cam", 3 / FPS, [walker_a(3)]))  # B not detected
    assert [d.box[3] for d in tracker.predict(4 / FPS)] == [400.0]
