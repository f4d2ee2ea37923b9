"""SSD-MobileNet-v2 and MoveNet on real frames of vtest.avi (pedestrians in every frame)."""

from __future__ import annotations

import numpy as np
import pytest

from devices.camera.detection import LEFT_WRIST, RIGHT_WRIST, Detection
from devices.camera.frame import Frame
from vision_core.perception.movenet import CROP_MARGIN, MoveNetPose, square_crop
from vision_core.perception.pipeline import FramePipeline
from vision_core.perception.ssd import SsdMobilenetDetector


def _inside(det: Detection, frame: Frame) -> bool:
    x1, y1, x2, y2 = det.box
    return 0 <= x1 < x2 <= frame.width and 0 <= y1 < y2 <= frame.height


def test_people_found_in_every_frame(ssd: SsdMobilenetDetector, vtest_frames: list[Frame]) -> None:
    for frame in vtest_frames:
        [people] = ssd.detect([frame])
        assert any(d.score > 0.5 for d in people), f"nobody in frame {frame.seq}"
        for det in people:
            assert det.score >= ssd.config.min_score
            assert _inside(det, frame)
            assert det.camera_id == frame.camera_id
            assert det.t_mono == frame.t_mono
            # a standing pedestrian seen from above-front: taller than wide, not frame-sized
            x1, y1, x2, y2 = det.box
            assert (y2 - y1) > (x2 - x1)
            assert (y2 - y1) < frame.height / 2


def test_batch_gives_what_single_frames_give(
    ssd: SsdMobilenetDetector, vtest_frames: list[Frame]
) -> None:
    single = [ssd.detect([frame])[0] for frame in vtest_frames]
    batched = ssd.detect(vtest_frames)
    assert len(batched) == len(vtest_frames)
    for one, many in zip(single, batched, strict=True):
        assert len(one) == len(many)
        for a, b in zip(one, many, strict=True):
            assert np.allclose(a.box, b.box, atol=1.0)


def test_empty_scene_gives_nobody(ssd: SsdMobilenetDetector) -> None:
    frame = Frame("cam1", np.full((576, 768, 3), 128, dtype=np.uint8), t_mono=0.0, seq=0)
    assert ssd.detect([frame]) == [()]


def test_bad_batches_are_refused(ssd: SsdMobilenetDetector) -> None:
    grey = Frame("cam1", np.zeros((48, 64), dtype=np.uint8), t_mono=0.0, seq=7)
    with pytest.raises(ValueError, match=r"frame 7 of camera cam1 has shape \(48, 64\)"):
        ssd.detect([grey])
    with pytest.raises(ValueError, match="batch of 0 frames"):
        ssd.detect([])


def test_square_crop_pads_outside_the_image() -> None:
    image = np.arange(10 * 10 * 3, dtype=np.uint8).reshape(10, 10, 3)
    # box 4 wide, 6 tall at the left edge: side 6 * 1.5 = 9, centred on (1, 5)
    crop, left, top, side = square_crop(image, (-1.0, 2.0, 3.0, 8.0), margin=0.5)
    assert crop.shape == (9, 9, 3)
    assert (left, top, side) == (-4.0, 0.0, 9.0)  # round(1 - 4.5) = -4 (round half to even)
    assert not crop[:, :4].any()  # columns -4..-1 are padding
    assert np.array_equal(crop[:, 4:], image[0:9, 0:5])


def test_wrists_for_large_people(
    ssd: SsdMobilenetDetector, movenet: MoveNetPose, vtest_frames: list[Frame]
) -> None:
    pipeline_people = 0
    with_wrist = 0
    for frame in vtest_frames:
        [people] = ssd.detect([frame])
        posed = movenet.add_keypoints(frame, people)
        assert len(posed) == len(people)
        for before, after in zip(people, posed, strict=True):
            assert after.box == before.box
            height = before.box[3] - before.box[1]
            if height < movenet.config.min_box_height_px:
                assert after.keypoints is None
                continue
            pipeline_people += 1
            assert after.keypoints is not None
            wrists = [w for w in after.wrists() if w is not None]
            if wrists:
                with_wrist += 1
            x1, y1, x2, y2 = before.box
            reach = max(x2 - x1, y2 - y1) * (1 + CROP_MARGIN) / 2
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            for x, y in wrists:  # wrists lie within the crop MoveNet saw
                assert abs(x - cx) <= reach + 1
                assert abs(y - cy) <= reach + 1
            # people stand upright: a seen wrist is below a seen nose
            nose = after.keypoint(0)
            for wrist in wrists:
                if nose is not None:
                    assert wrist[1] > nose[1]
    assert pipeline_people >= 3
    assert with_wrist >= pipeline_people // 2, f"{with_wrist} of {pipeline_people} with a wrist"
    assert (LEFT_WRIST, RIGHT_WRIST) == (9, 10)


def test_keypoints_move_with_the_person(movenet: MoveNetPose, vtest_frames: list[Frame]) -> None:
    frame = vtest_frames[0]
    box = (240.0, 210.0, 300.0, 310.0)
    shifted = np.zeros_like(frame.image)
    dx, dy = 37, 21
    shifted[dy:, dx:] = frame.image[:-dy, :-dx]
    original = movenet.keypoints(frame.image, box)
    moved = movenet.keypoints(shifted, (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy))
    for (x, y, s), (mx, my, ms) in zip(original, moved, strict=True):
        assert mx == pytest.approx(x + dx, abs=1e-3)
        assert my == pytest.approx(y + dy, abs=1e-3)
        assert ms == pytest.approx(s, abs=1e-6)


def test_pipeline_messages(
    ssd: SsdMobilenetDetector, movenet: MoveNetPose, vtest_frames: list[Frame]
) -> None:
    pipeline = FramePipeline(ssd, movenet)  # not closed: the fixtures own the models
    messages = pipeline.process(vtest_frames[:2])
    assert [m.frame for m in messages] == [0, 1]
    for message, frame in zip(messages, vtest_frames[:2], strict=True):
        assert (message.width, message.height) == (768, 576)
        assert message.camera_id == message.source == "cam1"
        assert message.t_mono == frame.t_mono
        assert any(d.keypoints is not None for d in message.detections)
