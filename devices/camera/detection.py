"""Person detections, whoever made them: a smart camera's metadata or walkout's own detector.

Both sources produce the same types, so the tracker and the attribution
downstream never care where a box came from. Boxes are image pixels of the
camera that saw them; the floor point of a standing person is the bottom
centre of the box (what a floor homography maps to metres). Keypoints, when
present, are the 17 COCO body points in COCO order; a point with score 0
was not seen and its coordinates mean nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message

COCO_KEYPOINTS = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
LEFT_WRIST = 9
RIGHT_WRIST = 10

Keypoint = tuple[float, float, float]
"""``(x_px, y_px, score)``; score 0..1."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One person in one camera image.

    ``t_mono`` is when the image was taken as far as walkout can tell (frame
    arrival for our own detector, message arrival for smart cameras).
    ``track_id`` is the camera's own track id (only unique per camera), None
    when the detector does not track. ``keypoints`` is None when the
    detector gives no pose. ``embedding`` is the person's re-identification
    vector in this image (only its direction means anything: compared by
    cosine), ``()`` when none was computed; vectors of one store come from
    one model, so they compare across cameras.
    """

    camera_id: str
    t_mono: float
    box: tuple[float, float, float, float]
    score: float
    track_id: int | None = None
    keypoints: tuple[Keypoint, ...] | None = None
    embedding: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.box
        if not all(math.isfinite(c) for c in self.box) or x2 <= x1 or y2 <= y1:
            raise ValueError(f"box must be finite with x2 > x1 and y2 > y1, got {self.box}")
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be within 0..1, got {self.score}")
        if self.keypoints is not None and len(self.keypoints) != len(COCO_KEYPOINTS):
            raise ValueError(f"expected {len(COCO_KEYPOINTS)} COCO keypoints")
        if self.embedding and (
            not all(math.isfinite(v) for v in self.embedding) or not any(self.embedding)
        ):
            raise ValueError("embedding must be finite and not all zeros (it needs a direction)")

    @property
    def foot_point(self) -> tuple[float, float]:
        """Bottom centre of the box: where the person stands, in pixels."""
        x1, _, x2, y2 = self.box
        return (x1 + x2) / 2, y2

    def keypoint(self, index: int, min_score: float = 0.3) -> tuple[float, float] | None:
        """Pixel position of COCO keypoint ``index`` if seen with ``min_score``; else None."""
        if self.keypoints is None:
            return None
        x, y, score = self.keypoints[index]
        return (x, y) if score >= min_score and score > 0 else None

    def wrists(self, min_score: float = 0.3) -> tuple[tuple[float, float] | None, ...]:
        """``(left, right)`` wrist positions, each None when not seen."""
        return self.keypoint(LEFT_WRIST, min_score), self.keypoint(RIGHT_WRIST, min_score)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonDetections(Message):
    """Everyone one camera saw in one image (telemetry: a newer frame supersedes it).

    ``frame`` is the camera's frame number when it sends one, ``source_ts``
    its own clock (seconds, wall time), ``width``/``height`` the image size
    the boxes refer to when known.
    """

    durable: ClassVar[bool] = False
    camera_id: str
    detections: tuple[Detection, ...]
    frame: int | None = None
    source_ts: float | None = None
    width: int | None = None
    height: int | None = None
