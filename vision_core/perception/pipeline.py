"""Frames in, :class:`~devices.camera.detection.PersonDetections` out: detector, then pose.

Blocking; :class:`~vision_core.perception.runner.DetectorRunner` calls it from its
worker thread. :func:`build_pipeline` turns a validated config into one.
"""

from __future__ import annotations

from collections.abc import Sequence

from devices.camera.detection import PersonDetections
from devices.camera.frame import Frame
from vision_core.perception.backend import FrameDetector
from vision_core.perception.config import (
    MetadataConfig,
    OnnxConfig,
    PerceptionConfig,
    SsdMobilenetConfig,
)
from vision_core.perception.movenet import MoveNetPose


class FramePipeline:
    """A frame detector with optional top-down keypoints; owns and closes both."""

    def __init__(self, detector: FrameDetector, pose: MoveNetPose | None = None) -> None:
        self.detector = detector
        self.pose = pose

    @property
    def max_batch(self) -> int:
        """Frames per :meth:`process` call (the detector's batch limit)."""
        return self.detector.max_batch

    def process(self, frames: Sequence[Frame]) -> list[PersonDetections]:
        """One message per frame, in order; ``source`` is the camera id."""
        found = self.detector.detect(frames)
        messages = []
        for frame, people in zip(frames, found, strict=True):
            if self.pose is not None and people:
                people = self.pose.add_keypoints(frame, people)
            messages.append(
                PersonDetections(
                    source=frame.camera_id,
                    t_mono=frame.t_mono,
                    camera_id=frame.camera_id,
                    detections=people,
                    frame=frame.seq,
                    source_ts=frame.source_ts,
                    width=frame.width,
                    height=frame.height,
                )
            )
        return messages

    def close(self) -> None:
        """Release the models."""
        self.detector.close()
        if self.pose is not None:
            self.pose.close()


def build_detector(config: SsdMobilenetConfig | OnnxConfig) -> FrameDetector:
    """The frame detector a config names (loads and verifies its model: blocking)."""
    if isinstance(config, SsdMobilenetConfig):
        from vision_core.perception.ssd import SsdMobilenetDetector

        return SsdMobilenetDetector(config)
    from vision_core.perception.onnx_backend import OnnxDetector

    return OnnxDetector(config)


def build_pipeline(config: PerceptionConfig) -> FramePipeline:
    """Detector and pose estimator for ``config`` (blocking: loads and hashes the models).

    A ``metadata`` detector has no frames to run on: use
    :class:`~vision_core.perception.metadata.MetadataPassthrough` instead.
    """
    detector_config = config.detector
    if isinstance(detector_config, MetadataConfig):
        raise ValueError(
            "detector type 'metadata' runs no model on frames: "
            "use MetadataPassthrough for smart cameras"
        )
    detector = build_detector(detector_config)
    try:
        pose = MoveNetPose(config.pose) if config.pose.enabled else None
    except BaseException:
        detector.close()
        raise
    return FramePipeline(detector, pose)
