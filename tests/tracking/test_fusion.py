import math

import pytest

from vision_core.tracking.camera_tracker import CameraTracker, TrackerSettings
from vision_core.tracking.floor import CameraGeometry, FloorObservation, FloorProjector
from vision_core.tracking.fusion import FloorFusion, FusionSettings

from .scenes import affine_homography, box_at_floor, frame

FPS = 15.0
# camera A sees floor x 0..6 m at 1 cm/px; camera B is shifted 2 m and 1 cm/px too,
# and its calibration is 5 cm off in y (as a real second camera would be).
CAMERAS = {
    "cam-a": (0.01, (0.0, 0.0)),
    "cam-b": (0.01, (2.0, 0.05)),
}


def run_scene(walkers, seconds: float = 3.0):
    """Walkers are functions t -> floor (x, y); both cameras see them all, B 1/30 s later."""
    projector = FloorProjector(
        {cam: CameraGeometry(affine_homography(s, *off)) for cam, (s, off) in CAMERAS.items()}
    )
    trackers = {cam: CameraTracker(cam, TrackerSettings(frame_rate=FPS)) for cam in CAMERAS}
    fusion = FloorFusion()
    started = []
    for k in range(round(seconds * FPS)):
        for cam, (scale, offset) in CAMERAS.items():
            t = k / FPS + (1 / (2 * FPS) if cam == "cam-b" else 0.0)
            # the true floor point; camera B's map puts it 5 cm further in y
            true_offset = (offset[0], offset[1] - (0.05 if cam == "cam-b" else 0.0))
            boxes = [box_at_floor(w(t), scale, true_offset) for w in walkers]
            tracked = trackers[cam].update(frame(cam, t, boxes))
            update = fusion.update(projector.project_all(tracked))
            started += update.started
            assert update.ended == ()
    return fusion, started


def walker(x0: float, y: float, speed: float):
    return lambda t: (x0 + speed * t, y)


def test_two_cameras_one_walker_make_one_track():
    fusion, started = run_scene([walker(1.0, 2.0, 1.0)])
    assert [t.track_id for t in started] == ["shopper-1"]
    (track,) = fusion.active_tracks
    samples = track.between(-math.inf, math.inf)
    # 45 frames per camera, each camera's first frame unconfirmed
    assert len(samples) == 2 * 45 - 2
    # fused body: within the two cameras' 5 cm disagreement of the truth x = 1 + t, y = 2
    for sample in samples[4:]:
        assert sample.body_m[1] == pytest.approx(2.025, abs=0.03)
        assert sample.body_m[0] == pytest.approx(1.0 + sample.t_mono, abs=0.06)
    times = [s.t_mono for s in samples]
    assert times == sorted(times)


def test_two_walkers_make_two_tracks():
    fusion, started = run_scene([walker(1.0, 1.0, 1.0), walker(4.0, 2.5, -0.8)])
    assert len(started) == 2
    tracks = fusion.active_tracks
    assert len(tracks) == 2
    lines = []
    for track in tracks:
        ys = [s.body_m[1] for s in track.between(-math.inf, math.inf)]
        line = 1.0 if ys[0] < 1.75 else 2.5
        # every sample of a track stays on its own walker's line (y = 1 m or 2.5 m)
        assert max(abs(y - line) for y in ys) < 0.06
        lines.append(line)
    assert sorted(lines) == [1.0, 2.5]


def obs(
    cam: str, track_id: int, t: float, x: float, y: float, look: tuple[float, ...] = ()
) -> FloorObservation:
    return FloorObservation(cam, track_id, t, (x, y), appearance=look)


def test_two_cameras_on_one_shopper_give_the_mean_direction_of_their_embeddings():
    fusion = FloorFusion()
    # the same person through two cameras' crops: different directions, different scales
    look_a = (3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    look_b = (0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    first = fusion.update([obs("a", 1, 0.0, 1.0, 1.0, look_a)])
    assert first.appearance == {"shopper-1": (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)}
    both = fusion.update([obs("a", 1, 0.1, 1.0, 1.0, look_a), obs("b", 7, 0.1, 1.1, 1.0, look_b)])
    assert fusion.shopper_of("b", 7) is fusion.shopper_of("a", 1)
    # the normalised sum of unit vectors: each camera counts the same, whatever its scale
    half = math.sqrt(0.5)
    assert both.appearance.keys() == {"shopper-1"}
    assert both.appearance["shopper-1"] == pytest.approx((half, half, 0, 0, 0, 0, 0, 0))
    # one camera without an embedding adds none; none at all gives ()
    one = fusion.update([obs("a", 1, 0.2, 1.0, 1.0), obs("b", 7, 0.2, 1.1, 1.0, look_b)])
    assert one.appearance["shopper-1"] == pytest.approx((0, 1, 0, 0, 0, 0, 0, 0))
    assert fusion.update([obs("a", 1, 0.3, 1.0, 1.0)]).appearance == {"shopper-1": ()}


def test_each_shopper_gets_only_its_own_observations_look():
    fusion = FloorFusion()
    look_1 = (1.0,) + (0.0,) * 7
    look_2 = (0.0,) * 7 + (1.0,)
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0, look_1), obs("a", 2, 0.0, 3.0, 1.0, look_2)])
    update = fusion.update([obs("a", 2, 0.1, 3.0, 1.0, look_2), obs("a", 1, 0.1, 1.0, 1.0)])
    assert update.appearance == {"shopper-1": (), "shopper-2": look_2}


def test_embeddings_of_another_length_are_ignored_and_logged_once(caplog):
    fusion = FloorFusion()
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0, (1.0,) * 8)])
    for k in range(3):  # camera c runs another model
        update = fusion.update(
            [
                obs("a", 1, 0.1 * k + 0.1, 1.0, 1.0, (1.0,) * 8),
                obs("c", 4, 0.1 * k + 0.1, 1.0, 1.0, (1.0,) * 16),
            ]
        )
        assert update.appearance["shopper-1"] == pytest.approx((math.sqrt(1 / 8),) * 8)
    assert fusion.ignored_embeddings == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "camera c" in warnings[0]
    assert "length 16, not 8" in warnings[0]


def test_opposite_embeddings_have_no_mean_direction():
    fusion = FloorFusion()
    look = (1.0, -2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0)
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0, look)])
    opposite = tuple(-v for v in look)
    both = fusion.update([obs("a", 1, 0.1, 1.0, 1.0, look), obs("b", 2, 0.1, 1.0, 1.0, opposite)])
    assert both.appearance == {"shopper-1": ()}


def test_track_ends_after_its_lifetime_and_is_not_revived():
    fusion = FloorFusion(FusionSettings(lifetime_s=1.0))
    first = fusion.update([obs("a", 1, 0.0, 1.0, 1.0)]).started
    assert fusion.update([obs("a", 1, 0.9, 1.0, 1.0)]).started == ()
    update = fusion.update([obs("a", 2, 2.0, 1.0, 1.0)])  # unseen 1.1 s > 1.0 s
    assert update.ended == first
    assert [t.track_id for t in update.started] == ["shopper-2"]


def test_same_camera_never_puts_two_people_on_one_track():
    fusion = FloorFusion()
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0)])
    # a second person 0.3 m away, inside the gate, in the same image as the first
    update = fusion.update([obs("a", 1, 0.1, 1.0, 1.0), obs("a", 2, 0.1, 1.3, 1.0)])
    assert len(update.started) == 1
    assert len(fusion.active_tracks) == 2


def test_per_camera_id_switch_rejoins_the_same_shopper():
    fusion = FloorFusion()
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0)])
    fusion.update([obs("a", 1, 0.1, 1.1, 1.0)])
    update = fusion.update([obs("a", 9, 0.3, 1.3, 1.0)])  # camera lost and re-found him
    assert update.started == ()
    assert fusion.shopper_of("a", 9) is fusion.shopper_of("a", 1)


def test_an_id_switch_rejoins_the_shopper_its_camera_just_lost_not_the_nearest_one():
    fusion = FloorFusion()
    # A walks east towards B, who stands still; camera a sees both at first, camera b B
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0), obs("a", 3, 0.0, 1.6, 1.0)])
    fusion.update([obs("b", 7, 0.0, 1.6, 1.0)])
    shopper_a, shopper_b = fusion.shopper_of("a", 1), fusion.shopper_of("b", 7)
    assert shopper_a is not None
    assert shopper_b is not None
    assert shopper_a is not shopper_b
    for t, x in ((0.1, 1.1), (0.2, 1.15)):  # B is behind a shelf for camera a now
        fusion.update([obs("a", 1, t, x, 1.0)])
        fusion.update([obs("b", 7, t, 1.6, 1.0)])
    # camera a gives A a new id, where B is nearer than A's last position
    update = fusion.update([obs("a", 2, 0.3, 1.4, 1.0)])
    assert update.started == ()
    assert fusion.shopper_of("a", 2) is shopper_a


def test_disagreeing_younger_link_is_broken_and_older_keeps_the_id():
    fusion = FloorFusion(FusionSettings(link_break_m=1.0))
    fusion.update([obs("a", 1, 0.0, 1.0, 1.0)])
    fusion.update([obs("b", 5, 0.05, 1.1, 1.0)])  # b joins shopper-1 (0.1 m away)
    assert fusion.shopper_of("b", 5) is fusion.shopper_of("a", 1)
    fusion.update([obs("a", 1, 0.1, 1.0, 1.0)])
    # b's track drifts 1.5 m away from what a sees: it was someone else (or b switched ids)
    update = fusion.update([obs("b", 5, 0.15, 2.5, 1.0)])
    assert [t.track_id for t in update.started] == ["shopper-2"]
    shopper_1 = fusion.shopper_of("a", 1)
    assert shopper_1 is not None
    assert shopper_1.track_id == "shopper-1"
    assert fusion.shopper_of("b", 5) is not shopper_1


def test_refuses_non_finite_positions():
    with pytest.raises(ValueError, match="non-finite"):
        FloorFusion().update([obs("a", 1, 0.0, math.nan, 1.0)])
