"""DetectionChain on real vtest.avi frames with the real SSD and MoveNet models."""

from __future__ import annotations

import itertools

import pytest

from devices.camera.config import FloorHomography
from devices.camera.detection import Detection
from devices.camera.frame import Frame
from vision_core.perception.chain import ChainError, ChainResult, DetectionChain
from vision_core.perception.movenet import MoveNetPose
from vision_core.perception.ssd import SsdMobilenetDetector
from vision_core.tracking.camera_tracker import CameraTracker, TrackerSettings
from vision_core.tracking.floor import CameraGeometry, FloorProjector

from .conftest import VTEST, read_frames

FRAMES = 5
SETTINGS = TrackerSettings(frame_rate=10.0)  # vtest.avi is 10 fps; frames are 0.1 s apart


@pytest.fixture(scope="module")
def five_frames() -> list[Frame]:
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing: the setup script fetches it from Debian's opencv-doc")
    frames = read_frames(VTEST, FRAMES)
    assert len(frames) == FRAMES
    return frames


def _iou(a: Detection, b: Detection) -> float:
    ax1, ay1, ax2, ay2 = a.box
    bx1, by1, bx2, by2 = b.box
    w = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    h = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union


def _run(chain: DetectionChain, frames: list[Frame]) -> list[ChainResult]:
    return [chain.process(frame) for frame in frames]


def test_same_person_keeps_id_across_frames(
    ssd: SsdMobilenetDetector, movenet: MoveNetPose, five_frames: list[Frame]
) -> None:
    # pixels / 100 = metres: a foot at pixel (u, v) lands at (u / 100, v / 100)
    scale = FloorHomography.from_matrix([[0.01, 0, 0], [0, 0.01, 0], [0, 0, 1]])
    projector = FloorProjector({"cam1": CameraGeometry(scale)})
    chain = DetectionChain(ssd, CameraTracker("cam1", SETTINGS), movenet, projector)
    results = _run(chain, five_frames)

    assert all(r.detected for r in results)
    assert results[0].people == ()  # a track is confirmed on its second frame
    same_person_pairs = 0
    for before, after in itertools.pairwise(results[1:]):
        for person in after.people:
            best = max(before.people, key=lambda p: _iou(p, person), default=None)
            # pedestrians at 10 fps move a few pixels a frame: the same person overlaps
            if best is not None and _iou(best, person) > 0.5:
                assert person.track_id == best.track_id, f"frame {after.seq}: id changed"
                same_person_pairs += 1
    assert same_person_pairs >= 6, f"only {same_person_pairs} people followed"

    for result, frame in zip(results, five_frames, strict=True):
        ids = [p.track_id for p in result.people]
        assert None not in ids
        assert len(set(ids)) == len(ids), f"frame {frame.seq}: duplicate ids {ids}"
        # the tracker hands back the detector's own boxes, not smoothed ones
        [found] = ssd.detect([frame])
        boxes = {d.box for d in found}
        assert all(p.box in boxes for p in result.people)
        assert [o.track_id for o in result.floor] == ids
        for person, seen in zip(result.people, result.floor, strict=True):
            u, v = person.foot_point
            assert seen.body_m == pytest.approx((u / 100, v / 100))
    posed = [p for r in results for p in r.people if p.keypoints is not None]
    assert posed, "no tracked person got keypoints"


def test_skipped_frames_hold_the_last_tracked_people(
    ssd: SsdMobilenetDetector, five_frames: list[Frame]
) -> None:
    chain = DetectionChain(ssd, CameraTracker("cam1", SETTINGS), detect_every_n=3)
    results = _run(chain, five_frames)

    assert [r.detected for r in results] == [True, False, False, True, False]
    # frames 0 and 3 are detected; the tracker bridges the 0.3 s between them
    assert results[3].people, "nobody confirmed on the second detected frame"
    assert results[4].people == results[3].people
    assert results[4].age_s == pytest.approx(0.1)
    assert results[4].times.total_s == 0.0
    assert results[1].people == results[0].people
    assert results[2].age_s == pytest.approx(0.2)


def test_empty_updates_on_skipped_frames_keep_new_people_unconfirmed(
    ssd: SsdMobilenetDetector, five_frames: list[Frame]
) -> None:
    # Why "hold" is the default: an empty update drops every unconfirmed track, so the
    # people of frame 0 start over on frame 3 instead of being confirmed there.
    chain = DetectionChain(
        ssd, CameraTracker("cam1", SETTINGS), detect_every_n=3, on_skipped="empty"
    )
    results = _run(chain, five_frames)
    [found_3] = ssd.detect([five_frames[3]])
    assert found_3, "vtest frame 3 has pedestrians"
    assert results[3].people == ()


def test_bad_input_is_refused(ssd: SsdMobilenetDetector, five_frames: list[Frame]) -> None:
    with pytest.raises(ValueError, match="detect_every_n must be >= 1, got 0"):
        DetectionChain(ssd, CameraTracker("cam1"), detect_every_n=0)
    chain = DetectionChain(ssd, CameraTracker("cam2"))
    with pytest.raises(ChainError, match="chain of camera 'cam2' got frame 0 of camera 'cam1'"):
        chain.process(five_frames[0])
