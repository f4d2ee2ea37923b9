"""Image pixels <-> floor metres through a camera's homography, and the floor-grid overlay.

The grid overlay is what ``walkout camera check`` draws on a snapshot: 1 m
lines of the floor plan drawn back into the image through the inverse
homography. A correct calibration puts them on the floor's tile seams and
shelf edges; a wrong one is visible at a glance. Lines are clipped before
the horizon (where a projective map sends them to infinity) and to the
image, so any camera, however tilted, can be drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from devices.camera.config import FloatArray, FloorHomography
from devices.camera.frame import Image

MAX_EXTENT_M = 100.0
"""Grid lines are drawn at most this far from the origin (far floor near the horizon)."""

_HORIZON_MARGIN = 1e-3
"""Segments are clipped where the homogeneous coordinate falls below this share of its
largest value on the segment: near the horizon one pixel covers kilometres."""


def _apply(matrix: FloatArray, points: Sequence[Sequence[float]] | FloatArray) -> FloatArray:
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homogeneous = np.hstack([array, np.ones((len(array), 1))]) @ matrix.T
    w = homogeneous[:, 2:3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = homogeneous[:, :2] / w
    out[(w[:, 0] <= 0) | ~np.isfinite(out).all(axis=1)] = np.nan
    return np.asarray(out, dtype=np.float64)


def image_to_floor(
    homography: FloorHomography, points: Sequence[Sequence[float]] | FloatArray
) -> FloatArray:
    """Floor metres ``(N, 2)`` of image pixels; NaN rows for pixels above the horizon."""
    return _apply(homography.matrix, points)


def floor_to_image(
    homography: FloorHomography, points: Sequence[Sequence[float]] | FloatArray
) -> FloatArray:
    """Image pixels ``(N, 2)`` of floor points; NaN rows for points behind the camera."""
    return _apply(homography.inverse, points)


def visible_floor_extent(
    homography: FloorHomography, width: int, height: int
) -> tuple[float, float, float, float] | None:
    """``(x_min, y_min, x_max, y_max)`` of the floor the image shows, capped at MAX_EXTENT_M."""
    steps = 32
    border = [(width * i / steps, 0.0) for i in range(steps + 1)]
    border += [(width * i / steps, float(height)) for i in range(steps + 1)]
    border += [(0.0, height * i / steps) for i in range(steps + 1)]
    border += [(float(width), height * i / steps) for i in range(steps + 1)]
    floor = image_to_floor(homography, border)
    floor = floor[np.isfinite(floor).all(axis=1)]
    if len(floor) == 0:
        return None
    floor = np.clip(floor, -MAX_EXTENT_M, MAX_EXTENT_M)
    x0, y0 = floor.min(axis=0)
    x1, y1 = floor.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def draw_floor_grid(
    image: Image,
    homography: FloorHomography,
    *,
    spacing_m: float = 1.0,
    extent_m: tuple[float, float, float, float] | None = None,
    colour: tuple[int, int, int] = (0, 255, 255),
    axis_colour: tuple[int, int, int] | None = (0, 0, 255),
    thickness: int = 1,
) -> int:
    """Draw floor lines every ``spacing_m`` onto ``image`` (in place); the segments drawn.

    ``extent_m`` (x_min, y_min, x_max, y_max) limits the grid; by default it
    is the floor the image shows. The lines x = 0 and y = 0 are drawn in
    ``axis_colour`` (None: like the others) so the floor plan's orientation
    can be checked too.
    """
    if not (math.isfinite(spacing_m) and spacing_m > 0):
        raise ValueError("spacing_m must be > 0")
    height, width = image.shape[:2]
    extent = extent_m or visible_floor_extent(homography, width, height)
    if extent is None:
        return 0
    x0, y0, x1, y1 = extent
    inverse = homography.inverse
    drawn = 0
    lines: list[tuple[tuple[float, float], tuple[float, float], bool]] = []
    for i in range(math.ceil(x0 / spacing_m), math.floor(x1 / spacing_m) + 1):
        x = i * spacing_m
        lines.append(((x, y0), (x, y1), i == 0))
    for j in range(math.ceil(y0 / spacing_m), math.floor(y1 / spacing_m) + 1):
        y = j * spacing_m
        lines.append(((x0, y), (x1, y), j == 0))
    lines.sort(key=lambda line: line[2])  # the axes last, on top of the crossings
    for start, end, is_axis in lines:
        segment = _project_segment(inverse, start, end, width, height)
        if segment is None:
            continue
        line_colour = axis_colour if is_axis and axis_colour is not None else colour
        cv2.line(image, segment[0], segment[1], line_colour, thickness, cv2.LINE_8)
        drawn += 1
    return drawn


def _project_segment(
    inverse: FloatArray,
    start: tuple[float, float],
    end: tuple[float, float],
    width: int,
    height: int,
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    a = np.array([start[0], start[1], 1.0])
    b = np.array([end[0], end[1], 1.0])
    wa, wb = float(inverse[2] @ a), float(inverse[2] @ b)
    limit = _HORIZON_MARGIN * max(wa, wb)
    if limit <= 0:
        return None
    t0, t1 = 0.0, 1.0
    if wa < limit:  # w(t) = wa + t (wb - wa) >= limit
        t0 = (limit - wa) / (wb - wa)
    if wb < limit:
        t1 = (limit - wa) / (wb - wa)
    if t0 >= t1:
        return None
    pa, pb = a + t0 * (b - a), a + t1 * (b - a)
    ha, hb = inverse @ pa, inverse @ pb
    clipped = _clip(
        (ha[0] / ha[2], ha[1] / ha[2]), (hb[0] / hb[2], hb[1] / hb[2]), width - 1, height - 1
    )
    if clipped is None:
        return None
    (u0, v0), (u1, v1) = clipped
    return (round(u0), round(v0)), (round(u1), round(v1))


def _clip(
    p: tuple[float, float], q: tuple[float, float], x_max: float, y_max: float
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Liang-Barsky clipping of segment p-q to [0, x_max] x [0, y_max]."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for edge_p, edge_q in ((-dx, p[0]), (dx, x_max - p[0]), (-dy, p[1]), (dy, y_max - p[1])):
        if edge_p == 0:
            if edge_q < 0:
                return None
            continue
        t = edge_q / edge_p
        if edge_p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return None
    return (p[0] + t0 * dx, p[1] + t0 * dy), (p[0] + t1 * dx, p[1] + t1 * dy)
