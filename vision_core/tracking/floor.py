"""A tracked detection's foot point and wrists in floor metres, through its camera's homography.

The floor homography is exact for the feet only: it maps pixels of the
floor plane (height 0). A wrist is above the floor, so its pixel projected
through the same homography lands where the camera ray through it meets the
floor, farther from the camera than the hand is. With the camera's mount
(the floor point under its lens and its height) the hand is pulled back
along that ray to ``hand_height_m``: similar triangles give
``hand = C + (P - C) * (H - h) / H`` for camera floor point C, height H,
hand height h and naive floor point P. Without a mount the naive point is
used; for a ceiling camera 3 m up and hands at 1 m that overshoots by half
the hand's horizontal distance from the camera.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from devices.camera.config import FloorHomography
from devices.camera.detection import Detection
from devices.camera.floor import image_to_floor

Point = tuple[float, float]
"""Floor-plan coordinates, metres."""


class ProjectionError(ValueError):
    """A detection that cannot be put on the floor: unknown camera or no track id."""


@dataclass(frozen=True, slots=True)
class CameraMount:
    """The floor point under a camera's lens and the lens height above the floor, metres."""

    floor_m: Point
    height_m: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(c) for c in self.floor_m):
            raise ValueError(f"camera mount floor_m must be finite, got {self.floor_m}")
        if not (math.isfinite(self.height_m) and self.height_m > 0):
            raise ValueError(f"camera mount height_m must be > 0, got {self.height_m}")


@dataclass(frozen=True, slots=True)
class CameraGeometry:
    """What projection needs to know about one camera."""

    homography: FloorHomography
    mount: CameraMount | None = None


@dataclass(frozen=True, slots=True)
class FloorObservation:
    """One camera's tracked person at one time, on the floor plan.

    ``track_id`` is the camera's own track id; ``hands_m`` holds the wrists
    that were seen (0, 1 or 2 points); ``appearance`` is the detection's
    re-identification embedding, ``()`` when it had none.
    """

    camera_id: str
    track_id: int
    t_mono: float
    body_m: Point
    hands_m: tuple[Point, ...] = ()
    appearance: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class FloorProjector:
    """Projects tracked detections of known cameras onto the floor plan.

    ``hand_height_m`` is the height assumed for a wrist (used only for
    cameras with a mount); ``min_keypoint_score`` the score a wrist needs.
    """

    cameras: Mapping[str, CameraGeometry]
    hand_height_m: float = 1.0
    min_keypoint_score: float = 0.3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.hand_height_m) and self.hand_height_m >= 0):
            raise ValueError(f"hand_height_m must be >= 0, got {self.hand_height_m}")
        for camera_id, geometry in self.cameras.items():
            mount = geometry.mount
            if mount is not None and mount.height_m <= self.hand_height_m:
                raise ValueError(
                    f"camera {camera_id!r}: mount height {mount.height_m} m must be above "
                    f"hand_height_m {self.hand_height_m} m"
                )

    def project(self, detection: Detection) -> FloorObservation | None:
        """The detection on the floor; None when its foot point is above the horizon."""
        geometry = self.cameras.get(detection.camera_id)
        if geometry is None:
            raise ProjectionError(f"no floor homography for camera {detection.camera_id!r}")
        if detection.track_id is None:
            raise ProjectionError(
                f"camera {detection.camera_id!r}: detection at t_mono {detection.t_mono} "
                "has no track id; run it through the camera's tracker first"
            )
        wrists = [w for w in detection.wrists(self.min_keypoint_score) if w is not None]
        pixels = np.array([detection.foot_point, *wrists], dtype=np.float64)
        floor = image_to_floor(geometry.homography, pixels)
        if not np.isfinite(floor[0]).all():
            return None
        hands: list[Point] = []
        for row in floor[1:]:
            if not np.isfinite(row).all():
                continue
            naive = (float(row[0]), float(row[1]))
            hands.append(self._lift(naive, geometry.mount))
        return FloorObservation(
            camera_id=detection.camera_id,
            track_id=detection.track_id,
            t_mono=detection.t_mono,
            body_m=(float(floor[0, 0]), float(floor[0, 1])),
            hands_m=tuple(hands),
            appearance=detection.embedding,
        )

    def project_all(self, detections: Iterable[Detection]) -> tuple[FloorObservation, ...]:
        """Every detection that has a floor position, in input order."""
        out = (self.project(d) for d in detections)
        return tuple(o for o in out if o is not None)

    def _lift(self, naive: Point, mount: CameraMount | None) -> Point:
        if mount is None:
            return naive
        scale = (mount.height_m - self.hand_height_m) / mount.height_m
        cx, cy = mount.floor_m
        return cx + (naive[0] - cx) * scale, cy + (naive[1] - cy) * scale
