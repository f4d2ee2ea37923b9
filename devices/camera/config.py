"""Per-camera configuration as plain data, and the floor homography it carries.

A camera's floor homography maps image pixels to floor metres (the store's
floor plan frame). It is given either as the 3x3 matrix itself or as four or
more point pairs measured at commissioning (tape marks on the floor and where
they appear in the snapshot), from which ``cv2.findHomography`` fits it.
What would silently give wrong positions is refused with a message that
says which point or which value: a singular or nearly singular matrix, too
few points, repeated points, points on one line (or, with exactly four,
three of them on one line), and a fit whose reprojection error exceeds the
bound (a mistyped coordinate shows up here).
"""

from __future__ import annotations

import itertools
import math
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

CAMERA_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
"""Camera ids are one MQTT topic level and one file-name part."""

MAX_CONDITION = 1e12
"""Condition number above which a homography counts as singular."""

COLLINEAR_TOLERANCE = 1e-3
"""Triangle area over the squared point spread under which points count as on a line."""

Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
Point = tuple[float, float]
FloatArray = npt.NDArray[np.float64]


class CameraConfigError(ValueError):
    """A camera's configuration is invalid; the message names the key and what was expected."""


class CameraRole(StrEnum):
    """What a camera is for, which decides what the vision core does with it."""

    CEILING = "ceiling"
    SHELF = "shelf"
    ENTRY = "entry"
    ANALYTICS = "analytics"
    """Footfall and heat maps only: the checkout does not need it, so the supervisor
    stops it first when power or cooling runs short."""

    @property
    def checkout_critical(self) -> bool:
        """The checkout needs this camera's view (every role but analytics)."""
        return self is not CameraRole.ANALYTICS


def _matrix3(array: FloatArray) -> Matrix3:
    rows = tuple(tuple(float(v) for v in row) for row in array)
    return rows  # type: ignore[return-value]  # shape checked by the caller


def _points(values: Sequence[Sequence[float]], what: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise CameraConfigError(f"{what}: expected a list of [x, y] pairs") from None
    if array.ndim != 2 or array.shape[1] != 2:
        raise CameraConfigError(f"{what}: expected a list of [x, y] pairs, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise CameraConfigError(f"{what}: every coordinate must be a finite number")
    return array


def _check_geometry(points: FloatArray, what: str) -> None:
    count = len(points)
    if count < 4:
        raise CameraConfigError(f"{what}: need at least 4 points, got {count}")
    spread = float(max(np.linalg.norm(a - b) for a, b in itertools.combinations(points, 2)))
    for (i, a), (j, b) in itertools.combinations(enumerate(points), 2):
        if np.linalg.norm(a - b) <= 1e-9 * max(spread, 1.0):
            raise CameraConfigError(f"{what}: points {i} and {j} are the same point")
    centred = points - points.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular[1] <= COLLINEAR_TOLERANCE * singular[0]:
        raise CameraConfigError(f"{what}: the points lie on one line; they must span an area")
    if count == 4:
        for i, j, k in itertools.combinations(range(4), 3):
            ab, ac = points[j] - points[i], points[k] - points[i]
            area = abs(float(ab[0] * ac[1] - ab[1] * ac[0]))
            if area <= COLLINEAR_TOLERANCE * spread**2:
                raise CameraConfigError(
                    f"{what}: points {i}, {j} and {k} lie on one line; with four points "
                    "no three may (add a fifth point or move one)"
                )


def _check_matrix(array: FloatArray, what: str) -> None:
    if array.shape != (3, 3):
        raise CameraConfigError(f"{what}: expected a 3x3 matrix, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise CameraConfigError(f"{what}: every entry must be a finite number")
    if abs(float(np.linalg.det(array))) == 0.0:
        raise CameraConfigError(f"{what}: the matrix is singular (determinant 0)")
    condition = float(np.linalg.cond(array))
    if not math.isfinite(condition) or condition > MAX_CONDITION:
        raise CameraConfigError(
            f"{what}: the matrix is degenerate (condition number {condition:.3g} "
            f"> {MAX_CONDITION:.0e}): it would crush the floor onto a line"
        )


@dataclass(frozen=True, slots=True)
class FloorHomography:
    """Image pixels -> floor metres, as a 3x3 projective matrix.

    The matrix is scaled so that the homogeneous coordinate is positive for
    image points that see the floor in front of the camera; image points with
    a negative one are above the horizon and have no floor position.
    ``reprojection_error_m`` is the worst fitted point's error (None when the
    matrix was given directly); the point pairs are kept for reports.
    """

    image_to_floor: Matrix3
    reprojection_error_m: float | None = None
    image_points: tuple[Point, ...] = ()
    floor_points: tuple[Point, ...] = ()
    _inverse: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        array = np.asarray(self.image_to_floor, dtype=np.float64)
        _check_matrix(array, "floor homography")
        object.__setattr__(self, "_inverse", np.linalg.inv(array))

    @property
    def matrix(self) -> FloatArray:
        """Image -> floor as a numpy array."""
        return np.asarray(self.image_to_floor, dtype=np.float64)

    @property
    def inverse(self) -> FloatArray:
        """Floor -> image as a numpy array."""
        return self._inverse.copy()

    @classmethod
    def from_matrix(
        cls, matrix: Sequence[Sequence[float]], *, floor_pixel: Point = (0.0, 0.0)
    ) -> FloorHomography:
        """A given image -> floor matrix; ``floor_pixel`` is any pixel that sees the floor."""
        try:
            array = np.asarray(matrix, dtype=np.float64)
        except (TypeError, ValueError):
            raise CameraConfigError("floor homography: expected a 3x3 matrix of numbers") from None
        _check_matrix(array, "floor homography")
        w = float(array[2] @ np.array([floor_pixel[0], floor_pixel[1], 1.0]))
        if w == 0.0:
            raise CameraConfigError(
                f"floor homography: pixel {floor_pixel} is on the horizon; give a floor_pixel"
            )
        array = array / (abs(array[2, 2]) if array[2, 2] != 0 else 1.0)
        if w < 0:
            array = -array
        return cls(_matrix3(array))

    @classmethod
    def from_points(
        cls,
        image_points: Sequence[Sequence[float]],
        floor_points: Sequence[Sequence[float]],
        *,
        max_error_m: float = 0.05,
    ) -> FloorHomography:
        """Fit the homography to measured pairs (least squares over all of them).

        ``max_error_m`` bounds the worst pair's error after fitting: with more
        than four pairs a mistyped coordinate cannot be fitted away and is
        named in the error.
        """
        image = _points(image_points, "image_points")
        floor = _points(floor_points, "floor_points")
        if len(image) != len(floor):
            raise CameraConfigError(
                f"image_points has {len(image)} points but floor_points has {len(floor)}"
            )
        _check_geometry(image, "image_points")
        _check_geometry(floor, "floor_points")
        found, _ = cv2.findHomography(image, floor, 0)
        if found is None:
            raise CameraConfigError("floor homography: no homography fits these points")
        array = np.asarray(found, dtype=np.float64)
        _check_matrix(array, "floor homography")
        centre = np.append(image.mean(axis=0), 1.0)
        if float(array[2] @ centre) < 0:
            array = -array
        homogeneous = np.hstack([image, np.ones((len(image), 1))]) @ array.T
        if np.any(homogeneous[:, 2] <= 0):
            bad = int(np.argmin(homogeneous[:, 2]))
            raise CameraConfigError(
                f"floor homography: image point {bad} {image[bad].tolist()} would lie beyond "
                "the horizon; check the point pairs"
            )
        projected = homogeneous[:, :2] / homogeneous[:, 2:3]
        errors = np.linalg.norm(projected - floor, axis=1)
        worst = int(np.argmax(errors))
        if errors[worst] > max_error_m:
            raise CameraConfigError(
                f"floor homography: point {worst} (image {image[worst].tolist()} -> floor "
                f"{floor[worst].tolist()}) is {errors[worst]:.3f} m off after fitting, more "
                f"than the {max_error_m:g} m allowed: is a coordinate mistyped?"
            )
        return cls(
            _matrix3(array),
            reprojection_error_m=float(errors[worst]),
            image_points=tuple((float(u), float(v)) for u, v in image),
            floor_points=tuple((float(x), float(y)) for x, y in floor),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "floor") -> FloorHomography:
        """From ``{"matrix": [[...]x3]}`` or ``{"image_points", "floor_points", "max_error_m"}``."""
        if not isinstance(data, Mapping):
            raise CameraConfigError(f"{where}: expected a mapping")
        keys = set(data)
        try:
            if "matrix" in keys:
                _only(keys, {"matrix", "floor_pixel"}, where)
                pixel = data.get("floor_pixel", (0.0, 0.0))
                return cls.from_matrix(data["matrix"], floor_pixel=(pixel[0], pixel[1]))
            _only(keys, {"image_points", "floor_points", "max_error_m"}, where)
            if not {"image_points", "floor_points"} <= keys:
                raise CameraConfigError("give either matrix, or image_points and floor_points")
            return cls.from_points(
                data["image_points"],
                data["floor_points"],
                max_error_m=float(data.get("max_error_m", 0.05)),
            )
        except CameraConfigError as exc:
            if str(exc).startswith(where):
                raise
            raise CameraConfigError(f"{where}: {exc}") from None


def _only(keys: set[str], allowed: set[str], where: str) -> None:
    unknown = sorted(keys - allowed)
    if unknown:
        raise CameraConfigError(
            f"{where}: unknown key {unknown[0]!r} (expected one of {', '.join(sorted(allowed))})"
        )


_KINDS = {"http": "mjpeg", "https": "mjpeg", "rtsp": "rtsp", "rtsps": "rtsp", "mqtt": "metadata"}


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """One camera: id, role, where its frames come from, what it sees.

    ``url`` is ``http(s)://`` for MJPEG, ``rtsp(s)://`` for RTSP,
    ``file://`` or a plain path for a video file, ``mqtt://host:port`` for a
    smart camera that sends detections instead of frames. ``fps_cap`` limits
    the frames taken from it; ``shelves`` are the shelf ids in its view.
    """

    id: str
    role: CameraRole
    url: str
    fps_cap: float | None = None
    shelves: tuple[str, ...] = ()
    floor: FloorHomography | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not CAMERA_ID.match(self.id):
            raise CameraConfigError(f"id: {self.id!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
        where = f"camera {self.id}"
        if not isinstance(self.role, CameraRole):
            raise CameraConfigError(f"{where}: role must be a CameraRole, got {self.role!r}")
        if not isinstance(self.url, str) or not self.url.strip():
            raise CameraConfigError(f"{where}: url must be a non-empty string")
        if self.fps_cap is not None and not (
            isinstance(self.fps_cap, int | float)
            and math.isfinite(self.fps_cap)
            and self.fps_cap > 0
        ):
            raise CameraConfigError(f"{where}: fps_cap must be a number > 0, got {self.fps_cap!r}")
        seen: set[str] = set()
        for shelf in self.shelves:
            if not isinstance(shelf, str) or not shelf:
                raise CameraConfigError(f"{where}: shelves must be non-empty strings")
            if shelf in seen:
                raise CameraConfigError(f"{where}: shelf {shelf!r} listed twice")
            seen.add(shelf)

    @property
    def source_kind(self) -> str:
        """``mjpeg``, ``rtsp``, ``file`` or ``metadata``, from the URL's scheme."""
        scheme = urllib.parse.urlsplit(self.url).scheme.lower()
        if scheme in ("", "file") or len(scheme) == 1:  # a path (or a Windows drive letter)
            return "file"
        return _KINDS.get(scheme, "unknown")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CameraConfig:
        """From plain data (a YAML mapping); errors name the camera and the key."""
        if not isinstance(data, Mapping):
            raise CameraConfigError("a camera must be a mapping")
        camera = data.get("id", "?")
        where = f"camera {camera}"
        _only(set(data), {"id", "role", "url", "fps_cap", "shelves", "floor"}, where)
        for key in ("id", "role", "url"):
            if key not in data:
                raise CameraConfigError(f"{where}: missing key {key!r}")
        try:
            role = CameraRole(data["role"])
        except ValueError:
            roles = ", ".join(r.value for r in CameraRole)
            raise CameraConfigError(
                f"{where}: role {data['role']!r} is not one of {roles}"
            ) from None
        shelves = data.get("shelves", ())
        if isinstance(shelves, str) or not isinstance(shelves, Sequence):
            raise CameraConfigError(f"{where}: shelves must be a list of shelf ids")
        floor = data.get("floor")
        return cls(
            id=data["id"],
            role=role,
            url=data["url"],
            fps_cap=data.get("fps_cap"),
            shelves=tuple(shelves),
            floor=None if floor is None else FloorHomography.from_dict(floor, f"{where}: floor"),
        )
