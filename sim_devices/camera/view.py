"""How the simulated camera sees the floor: a homography, and the rendered picture.

The camera is a plane-to-plane homography from floor metres to image pixels,
fixed by where the floor's four corners appear in the image: ``oblique`` (a
ceiling camera tilted down at the store from the near wall, the far edge
narrower) or ``topdown`` (straight down, aspect kept). The matrix and the
four point pairs are printed in the simulator's ready line, so a driver can
be configured from them and its projections checked against ground truth.

People are drawn as upright ellipses standing on their floor position: the
box's bottom centre is the person's floor point, exactly (the same contract
smart cameras' boxes follow). Their apparent height is 1.7 m times the
local horizontal scale times a tilt factor: a sprite, not a 3D camera model.

Every rendered frame gets a timestamp overlay and sensor noise (Gaussian,
``noise`` grey levels, cycling through four precomputed fields to keep the
cost at two saturating adds), like a real camera: consecutive frames of a
still scene differ a little, so only a truly frozen stream repeats itself.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from sim_devices.camera.scene import PersonState, Scene

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]

PERSON_WIDTH_M = 0.5
PERSON_HEIGHT_M = 1.7
_TILT = {"oblique": 0.55, "topdown": 0.3}
_NOISE_FRAMES = 4


class CameraView:
    """One camera looking at ``scene``: projection, boxes and rendering."""

    def __init__(
        self,
        scene: Scene,
        width_px: int = 640,
        height_px: int = 480,
        *,
        kind: str = "oblique",
        noise: float = 2.0,
        seed: int = 0,
    ) -> None:
        if kind not in _TILT:
            raise ValueError(f"view must be one of {sorted(_TILT)}, got {kind!r}")
        if not (16 <= width_px <= 7680 and 16 <= height_px <= 4320):
            raise ValueError(f"resolution {width_px}x{height_px} out of range")
        self.scene = scene
        self.width = width_px
        self.height = height_px
        self.kind = kind
        w, h, fw, fd = width_px, height_px, scene.width_m, scene.depth_m
        self.floor_points = ((0.0, 0.0), (fw, 0.0), (fw, fd), (0.0, fd))
        if kind == "oblique":
            self.image_points = (
                (0.03 * w, 0.97 * h),
                (0.97 * w, 0.97 * h),
                (0.78 * w, 0.10 * h),
                (0.22 * w, 0.10 * h),
            )
        else:
            scale = min(0.94 * w / fw, 0.94 * h / fd)
            x0, y1 = (w - fw * scale) / 2, (h + fd * scale) / 2
            self.image_points = (
                (x0, y1),
                (x0 + fw * scale, y1),
                (x0 + fw * scale, y1 - fd * scale),
                (x0, y1 - fd * scale),
            )
        self.floor_to_image: Matrix = np.asarray(
            cv2.getPerspectiveTransform(
                np.array(self.floor_points, np.float32), np.array(self.image_points, np.float32)
            ),
            dtype=np.float64,
        )
        self.image_to_floor: Matrix = np.asarray(np.linalg.inv(self.floor_to_image), np.float64)
        self._tilt = _TILT[kind]
        self._background = self._draw_background()
        self._noise = self._make_noise(noise, seed)
        self._noise_index = 0

    def project(self, x_m: float, y_m: float) -> tuple[float, float]:
        """Image pixel of a floor point."""
        m = self.floor_to_image
        u = m[0, 0] * x_m + m[0, 1] * y_m + m[0, 2]
        v = m[1, 0] * x_m + m[1, 1] * y_m + m[1, 2]
        w = m[2, 0] * x_m + m[2, 1] * y_m + m[2, 2]
        return float(u / w), float(v / w)

    def seen_at(self, x_m: float, y_m: float) -> tuple[float, float] | None:
        """Image pixel of a floor point the camera sees; None when off the image or behind it.

        A point behind the camera has a negative homogeneous coordinate, and
        :meth:`project` would mirror it into the picture.
        """
        m = self.floor_to_image
        w = m[2, 0] * x_m + m[2, 1] * y_m + m[2, 2]
        if not w > 0:
            return None
        u, v = self.project(x_m, y_m)
        if not (0 <= u < self.width and 0 <= v < self.height):
            return None
        return u, v

    def unproject(self, u: float, v: float) -> tuple[float, float]:
        """Floor point of an image pixel."""
        m = self.image_to_floor
        x = m[0, 0] * u + m[0, 1] * v + m[0, 2]
        y = m[1, 0] * u + m[1, 1] * v + m[1, 2]
        w = m[2, 0] * u + m[2, 1] * v + m[2, 2]
        return float(x / w), float(y / w)

    def px_per_m(self, x_m: float, y_m: float) -> float:
        """Horizontal image scale at a floor point."""
        half = PERSON_WIDTH_M / 2
        ua, va = self.project(x_m - half, y_m)
        ub, vb = self.project(x_m + half, y_m)
        return math.hypot(ub - ua, vb - va) / PERSON_WIDTH_M

    def person_box(self, x_m: float, y_m: float) -> tuple[float, float, float, float]:
        """Pixel box ``(x1, y1, x2, y2)`` of a person standing at a floor point."""
        u, v = self.project(x_m, y_m)
        scale = self.px_per_m(x_m, y_m)
        half_w = PERSON_WIDTH_M * scale / 2
        height = PERSON_HEIGHT_M * scale * self._tilt
        return u - half_w, v - height, u + half_w, v

    def visible(self, box: Sequence[float]) -> bool:
        """Whether a box's floor point lies inside the image."""
        u = (box[0] + box[2]) / 2
        return 0 <= u < self.width and 0 <= box[3] < self.height

    def render(
        self, people: Sequence[PersonState], seq: int, wall_ts: float, *, black: bool = False
    ) -> Image:
        """The picture at one moment (``black``: a covered lens, overlay and noise only)."""
        image: Image
        if black:
            image = np.zeros((self.height, self.width, 3), np.uint8)
        else:
            image = self._background.copy()
            boxes = [(self.person_box(p.x_m, p.y_m), p.id) for p in people]
            for (x1, y1, x2, y2), pid in sorted(boxes, key=lambda item: item[0][3]):
                centre = (round((x1 + x2) / 2), round((y1 + y2) / 2))
                axes = (max(1, round((x2 - x1) / 2)), max(1, round((y2 - y1) / 2)))
                colour = _colour(pid)
                cv2.ellipse(image, centre, axes, 0, 0, 360, colour, -1)
                head = (centre[0], round(y1 + (x2 - x1) * 0.3))
                cv2.circle(image, head, max(1, round((x2 - x1) * 0.25)), _dark(colour), -1)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall_ts))
        text = f"{stamp}.{int(wall_ts * 1000) % 1000:03d}  #{seq}"
        scale = max(0.3, self.width / 1600)
        cv2.putText(
            image, text, (6, round(18 * scale * 2)), cv2.FONT_HERSHEY_SIMPLEX, scale,
            (255, 255, 255), 1, cv2.LINE_AA,
        )  # fmt: skip
        self._add_noise(image)
        return image

    def _draw_background(self) -> Image:
        image = np.full((self.height, self.width, 3), 40, np.uint8)
        floor = np.array([self.project(x, y) for x, y in self.floor_points], np.int32)
        cv2.fillPoly(image, [floor], (170, 175, 180))
        scene = self.scene
        for i in range(math.floor(scene.width_m) + 1):
            a, b = self.project(i, 0), self.project(i, scene.depth_m)
            cv2.line(image, _pt(a), _pt(b), (140, 145, 150), 1)
        for j in range(math.floor(scene.depth_m) + 1):
            a, b = self.project(0, j), self.project(scene.width_m, j)
            cv2.line(image, _pt(a), _pt(b), (140, 145, 150), 1)
        for shelf in scene.shelves:
            corners = (
                (shelf.x_m, shelf.y_m),
                (shelf.x_m + shelf.width_m, shelf.y_m),
                (shelf.x_m + shelf.width_m, shelf.y_m + shelf.depth_m),
                (shelf.x_m, shelf.y_m + shelf.depth_m),
            )
            poly = np.array([self.project(x, y) for x, y in corners], np.int32)
            cv2.fillPoly(image, [poly], (120, 70, 30))
            cx, cy = self.project(shelf.x_m + shelf.width_m / 2, shelf.y_m + shelf.depth_m / 2)
            cv2.putText(
                image, shelf.name, (round(cx) - 5, round(cy) + 5), cv2.FONT_HERSHEY_SIMPLEX,
                0.5, (255, 255, 255), 1, cv2.LINE_AA,
            )  # fmt: skip
        return image

    def _make_noise(self, sigma: float, seed: int) -> list[tuple[Image, Image]]:
        if sigma <= 0:
            return []
        rng = np.random.default_rng(seed)
        frames = []
        for _ in range(_NOISE_FRAMES):
            noise = rng.normal(0.0, sigma, (self.height, self.width)).round()
            up = np.clip(noise, 0, 255).astype(np.uint8)
            down = np.clip(-noise, 0, 255).astype(np.uint8)
            frames.append((np.dstack([up] * 3), np.dstack([down] * 3)))
        return frames

    def _add_noise(self, image: Image) -> None:
        if not self._noise:
            return
        up, down = self._noise[self._noise_index]
        self._noise_index = (self._noise_index + 1) % len(self._noise)
        cv2.add(image, up, dst=image)
        cv2.subtract(image, down, dst=image)


class VideoFrames:
    """Frames of a video file, looping at its end (the real-footage mode)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._capture = cv2.VideoCapture(str(path))
        if not self._capture.isOpened():
            raise ValueError(f"cannot open video file {path}")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and fps > 0 else 10.0
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.loops = 0

    def next_image(self) -> Image:
        """The next frame, starting over after the last one."""
        ok, image = self._capture.read()
        if not ok:
            self.loops += 1
            self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))
            ok, image = self._capture.read()
            if not ok:
                raise ValueError(f"video file {self.path} has no readable frame")
        return np.asarray(image, dtype=np.uint8)

    def close(self) -> None:
        """Release the file."""
        self._capture.release()


def encode_jpeg(image: Image, quality: int) -> bytes:
    """JPEG bytes of an image."""
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data.tobytes())


def _pt(point: tuple[float, float]) -> tuple[int, int]:
    return round(point[0]), round(point[1])


def _colour(pid: int) -> tuple[int, int, int]:
    hue = (pid * 47) % 180
    hsv = np.array([[[hue, 200, 230]]], np.uint8)
    b, g, r = (int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])
    return b, g, r


def _dark(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return colour[0] // 2, colour[1] // 2, colour[2] // 2
