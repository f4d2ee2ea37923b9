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
def ten_frames() -> list[Frame]:
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing: the setup script fetches it from Debian's opencv-doc")
    frames = read_frames(VTEST, 2 * FRAMES)
    assert len(frames) == 2 * FRAMES
    return frames


@pytest.fixture(scope="module")
def five_frames(ten_frames: list[Frame]) -> list[Frame]:
    return ten_frames[:FRAMES]


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
    chain = DetectionChain(
        ssd, CameraTracker("cam1", SETTINGS), detect_every_n=3, on_skipped="hold"
    )
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
    # Why "empty" is not the default: an empty update drops every unconfirmed track, so the
    # people of frame 0 start over on frame 3 instead of being confirmed there.
    chain = DetectionChain(
        ssd, CameraTracker("cam1", SETTINGS), detect_every_n=3, on_skipped="empty"
    )
    results = _run(chain, five_frames)
    [found_3] = ssd.detect([five_frames[3]])
    assert found_3, "vtest frame 3 has pedestrians"
    assert results[3].people == ()


def test_predicted_people_keep_their_ids_across_skipped_frames(
    ssd: SsdMobilenetDetector, movenet: MoveNetPose, ten_frames: list[Frame]
) -> None:
    # Detected on frames 0, 3, 6, 9; frames 4, 5, 7, 8 get the tracks' Kalman predictions.
    chain = DetectionChain(ssd, CameraTracker("cam1", SETTINGS), movenet, detect_every_n=3)
    assert chain.on_skipped == "predict"
    results = _run(chain, ten_frames)

    assert [r.detected for r in results] == [k % 3 == 0 for k in range(10)]
    assert results[1].people == results[2].people == ()  # nobody confirmed before frame 3
    assert results[3].people, "the people of frame 0 are confirmed on frame 3"
    held = _run(
        DetectionChain(ssd, CameraTracker("cam1", SETTINGS), detect_every_n=3, on_skipped="hold"),
        ten_frames,
    )
    predicted_iou: list[float] = []
    held_iou: list[float] = []
    for k in (4, 5, 7, 8):
        result, detected = results[k], results[k - k % 3]
        assert result.people, f"frame {k}: nobody predicted"
        assert result.age_s == pytest.approx(0.1 * (k % 3))
        assert [p.track_id for p in result.people] == [p.track_id for p in detected.people]
        assert all(p.t_mono == pytest.approx(k / 10.0) for p in result.people)
        # MoveNet ran on the detected frame only; its keypoints move with the box.
        for person, source in zip(result.people, detected.people, strict=True):
            assert source.keypoints is not None
            assert person.keypoints is not None
            (nx1, ny1, nx2, ny2), (ox1, oy1, ox2, oy2) = person.box, source.box
            for (x, y, s), (x0, y0, s0) in zip(person.keypoints, source.keypoints, strict=True):
                assert (x - nx1) / (nx2 - nx1) == pytest.approx((x0 - ox1) / (ox2 - ox1))
                assert (y - ny1) / (ny2 - ny1) == pytest.approx((y0 - oy1) / (oy2 - oy1))
                assert s == s0
        # Each predicted person is the same person, by IoU, as the one with its id in
        # the frame before and the frame after (pedestrians at 10 fps move a few pixels
        # a frame): detected -> predicted -> predicted -> detected keeps the id.
        for person in result.people:
            for other in (results[k - 1], results[k + 1]):
                best = max(other.people, key=lambda p: _iou(p, person))
                assert _iou(best, person) > 0.5, f"frame {k}: {person.track_id} lost"
                assert best.track_id == person.track_id, f"frame {k}: id changed"
        # Moved boxes land closer to where the detector finds people in that very frame
        # than the last detected frame's boxes held still.
        [found] = ssd.detect([ten_frames[k]])
        assert found, f"vtest frame {k} has pedestrians"
        predicted_iou += [max(_iou(p, d) for d in found) for p in result.people]
        held_iou += [max(_iou(p, d) for d in found) for p in held[k].people]
    assert len(predicted_iou) == len(held_iou) >= 4
    assert min(predicted_iou) > 0.5
    assert sum(predicted_iou) > sum(held_iou)


def test_bad_input_is_refused(ssd: SsdMobilenetDetector, five_frames: list[Frame]) -> None:
    with pytest.raises(ValueError, match="detect_every_n must be >= 1, got 0"):
        DetectionChain(ssd, CameraTracker("cam1"), detect_every_n=0)
    with pytest.raises(ValueError, match="on_skipped must be one of 'predict', 'hold'"):
        DetectionChain(ssd, CameraTracker("cam1"), on_skipped="guess")  # type: ignore[arg-type]
    chain = DetectionChain(ssd, CameraTracker("cam2"))
    with pytest.raises(ChainError, match="chain of camera 'cam2' got frame 0 of camera 'cam1'"):
        chain.process(five_frames[0])
