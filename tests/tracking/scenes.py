"""Synthetic people for the tracking tests: boxes of walkers seen by cameras with known maps.

A camera here maps image pixels to floor metres by ``floor = scale * pixel + offset``
(an affine homography), so the pixel of a floor point is computed by hand:
``pixel = (floor - offset) / scale``.
"""

from __future__ import annotations

from devices.camera.config import FloorHomography
from devices.camera.detection import Detection, PersonDetections

BOX_W_PX = 50.0
BOX_H_PX = 170.0


def affine_homography(scale: float, offset_x: float, offset_y: float) -> FloorHomography:
    return FloorHomography.from_matrix(
        [[scale, 0.0, offset_x], [0.0, scale, offset_y], [0.0, 0.0, 1.0]]
    )


def box_at_floor(
    floor_m: tuple[float, float], scale: float, offset: tuple[float, float]
) -> tuple[float, float, float, float]:
    """A person's box whose bottom centre is the pixel of ``floor_m``."""
    u = (floor_m[0] - offset[0]) / scale
    v = (floor_m[1] - offset[1]) / scale
    return (u - BOX_W_PX / 2, v - BOX_H_PX, u + BOX_W_PX / 2, v)


def frame(camera_id: str, t_mono: float, boxes, score: float = 0.9) -> PersonDetections:
    return PersonDetections(
        source=camera_id,
        t_mono=t_mono,
        camera_id=camera_id,
        detections=tuple(Detection(camera_id, t_mono, box, score) for box in boxes),
    )
