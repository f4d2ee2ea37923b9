"""SSD-MobileNet-v2 COCO person detector on ``cv2.dnn``: the offline CPU default.

The frozen graph carries its own input normalisation, so the blob is the raw 0..255
RGB image resized to ``input_size`` squared. ``cv2.dnn``'s DetectionOutput layer
gives rows ``[image, class, score, x1, y1, x2, y2]`` with coordinates as fractions of
the image, for every image of a batch together; COCO class 1 is a person. About
45-90 ms per 768x576 frame on one or two CPU cores.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from devices.camera.detection import Detection
from devices.camera.frame import Frame
from vision_core.perception.backend import check_batch, person_in_frame
from vision_core.perception.config import SsdMobilenetConfig
from vision_core.perception.errors import BackendError
from vision_core.perception.models import SSD_MOBILENET_CONFIG, SSD_MOBILENET_GRAPH, locate

PERSON_CLASS = 1
"""COCO label id of a person in this model's label map (0 is background)."""


class SsdMobilenetDetector:
    """People in frames, from the bundled SSD-MobileNet-v2; model files verified at load."""

    name = "ssd_mobilenet"

    def __init__(self, config: SsdMobilenetConfig | None = None) -> None:
        self.config = config or SsdMobilenetConfig()
        graph = locate(SSD_MOBILENET_GRAPH, self.config.model_dir)
        text = locate(SSD_MOBILENET_CONFIG, self.config.model_dir)
        try:
            self._net: cv2.dnn.Net | None = cv2.dnn.readNetFromTensorflow(str(graph), str(text))
        except cv2.error as exc:
            raise BackendError(f"cv2.dnn cannot load {graph}: {exc}") from exc

    @property
    def max_batch(self) -> int:
        """Frames per forward pass, from the config."""
        return self.config.batch_size

    def detect(self, frames: Sequence[Frame]) -> list[tuple[Detection, ...]]:
        """People with score >= ``min_score`` in each frame."""
        if self._net is None:
            raise BackendError("ssd_mobilenet: detector is closed")
        check_batch(frames, self.max_batch, self.name)
        size = self.config.input_size
        blob = cv2.dnn.blobFromImages(
            [frame.image for frame in frames], size=(size, size), swapRB=True, crop=False
        )
        self._net.setInput(blob)
        rows = np.asarray(self._net.forward(), dtype=np.float32).reshape(-1, 7)
        keep = (rows[:, 1] == PERSON_CLASS) & (rows[:, 2] >= self.config.min_score)
        found: list[list[Detection]] = [[] for _ in frames]
        for image, _, score, x1, y1, x2, y2 in rows[keep].tolist():
            index = int(image)
            if not 0 <= index < len(frames):
                continue
            frame = frames[index]
            w, h = frame.width, frame.height
            detection = person_in_frame(frame, x1 * w, y1 * h, x2 * w, y2 * h, score)
            if detection is not None:
                found[index].append(detection)
        return [tuple(sorted(people, key=lambda d: -d.score)) for people in found]

    def close(self) -> None:
        """Drop the network."""
        self._net = None
