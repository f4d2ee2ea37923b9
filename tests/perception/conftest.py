"""Real frames of the vtest.avi pedestrian clip, and the real bundled models, loaded once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from devices.camera.frame import Frame
from vision_core.perception.config import PoseConfig, SsdMobilenetConfig
from vision_core.perception.movenet import MoveNetPose
from vision_core.perception.ssd import SsdMobilenetDetector

VTEST = Path(__file__).resolve().parents[2] / "data" / "vtest.avi"
FRAMES = 3


def read_frames(path: Path, count: int, camera_id: str = "cam1") -> list[Frame]:
    capture = cv2.VideoCapture(str(path))
    try:
        frames = []
        for seq in range(count):
            ok, image = capture.read()
            if not ok:
                break
            frames.append(Frame(camera_id, image, t_mono=seq / 10.0, seq=seq))
        return frames
    finally:
        capture.release()


@pytest.fixture(scope="module")
def vtest_frames() -> list[Frame]:
    """The first frames of vtest.avi (768x576, pedestrians in every frame)."""
    if not VTEST.is_file():
        pytest.skip(f"{VTEST} is missing: the setup script fetches it from Debian's opencv-doc")
    frames = read_frames(VTEST, FRAMES)
    assert len(frames) == FRAMES, f"{VTEST} gave {len(frames)} frames"
    return frames


@pytest.fixture(scope="module")
def ssd() -> Iterator[SsdMobilenetDetector]:
    detector = SsdMobilenetDetector(SsdMobilenetConfig(batch_size=4))
    yield detector
    detector.close()


@pytest.fixture(scope="module")
def movenet() -> Iterator[MoveNetPose]:
    pose = MoveNetPose(PoseConfig(num_threads=1))
    yield pose
    pose.close()
