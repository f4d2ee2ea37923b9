"""Gate entry -> two cameras -> one bound track per shopper -> the take goes to the right one."""

from devices.camera.detection import Detection, PersonDetections
from devices.gate.machine import Entered
from vision_core.inference.attribution import Decision, ShelfLocation, attribute
from vision_core.shelf_events import ShelfChange
from vision_core.tracking.binding import BindingKind, EntryGate, SessionBinder
from vision_core.tracking.camera_tracker import CameraTracker
from vision_core.tracking.floor import CameraGeometry, FloorProjector
from vision_core.tracking.fusion import FloorFusion

from .scenes import affine_homography, box_at_floor

FPS = 15.0
CAMERAS = {"cam-a": (0.01, (0.0, -1.0)), "cam-b": (0.01, (1.5, -1.0))}
SHELF = ShelfLocation("A1", (2.0, 0.0), (3.2, 0.0))  # along y = 0, shoppers at y > 0


def shopper_1(t: float):
    """Enters at t = 0, walks to (2.5, 0.5) by t = 2, reaches into the shelf 3..4 s."""
    x = 0.5 + min(t, 2.0)
    wrist = (2.5, 0.05) if 3.0 <= t <= 4.0 else None
    return (x, 0.5), wrist


def shopper_2(t: float):
    """Enters at t = 2, walks away from the shelves to (0.5, 2.5)."""
    s = min(max(t - 2.0, 0.0), 2.0)
    return (0.5, 0.5 + s), None


def detection(cam: str, t: float, walker_at, scale: float, offset) -> Detection:
    body, wrist = walker_at
    box = box_at_floor(body, scale, offset)
    keypoints = [(0.0, 0.0, 0.0)] * 17
    if wrist is not None:
        keypoints[10] = ((wrist[0] - offset[0]) / scale, (wrist[1] - offset[1]) / scale, 0.9)
    return Detection(cam, t, box, 0.9, keypoints=tuple(keypoints))


def test_two_sessions_through_the_whole_chain():
    projector = FloorProjector(
        {cam: CameraGeometry(affine_homography(s, *off)) for cam, (s, off) in CAMERAS.items()}
    )
    trackers = {cam: CameraTracker(cam) for cam in CAMERAS}
    fusion = FloorFusion()
    binder = SessionBinder([EntryGate("gate-in", (0.5, 0.5))])
    binder.entered(
        Entered(
            source="gate-in", t_mono=0.0, session_id="S1", credential="*", person=1, group_size=1
        )
    )
    entered_s2 = False
    decisions = []
    tracks = []
    for k in range(round(6.5 * FPS)):
        for cam, (scale, offset) in CAMERAS.items():
            t = k / FPS + (0.03 if cam == "cam-b" else 0.0)
            if t >= 2.0 and not entered_s2:
                binder.entered(
                    Entered(
                        source="gate-in",
                        t_mono=2.0,
                        session_id="S2",
                        credential="*",
                        person=1,
                        group_size=1,
                    )
                )
                entered_s2 = True
            people = [detection(cam, t, shopper_1(t), scale, offset)]
            if t >= 2.0:
                people.append(detection(cam, t, shopper_2(t), scale, offset))
            message = PersonDetections(
                source=cam, t_mono=t, camera_id=cam, detections=tuple(people)
            )
            update = fusion.update(projector.project_all(trackers[cam].update(message)))
            for started in update.started:
                tracks.append(started)
                assert binder.track_started(started) == "gate-in"
            decisions += binder.advance(t)
    assert [(d.kind, d.session_id) for d in decisions] == [
        (BindingKind.BOUND, "S1"),
        (BindingKind.BOUND, "S2"),
    ]
    assert len(tracks) == 2
    assert {t.session_id for t in tracks} == {"S1", "S2"}
    take = ShelfChange(
        source="scale-1",
        t_mono=4.0,
        shelf_id="A1",
        kind="take",
        delta_g=-330.0,
        started_mono=3.0,
        position_m=0.5,
    )
    result = attribute(take, SHELF, tracks, now_mono=4.0)
    assert (result.decision, result.session_id) == (Decision.CONFIDENT, "S1")
    bound_s1 = next(t for t in tracks if t.session_id == "S1")
    assert result.track_id == bound_s1.track_id
