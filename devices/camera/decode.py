"""JPEG decoding and the small grey probe the quality checks compare.

Both run on a worker thread (``cv2.imdecode`` and ``cv2.resize`` release the
GIL), never on the event loop.
"""

from __future__ import annotations

import cv2
import numpy as np

from devices.camera.frame import Image

PROBE_WIDTH = 160
"""Width of the quality probe. Nearest-neighbour sampling (not area averaging)
keeps each probe pixel a real sensor pixel, so a live camera's noise makes
consecutive probes differ while a frozen decoder's repeated image does not."""

REDUCE_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}
"""libjpeg can decode at 1/2, 1/4 or 1/8 scale for a fraction of the cost."""


def make_probe(image: Image) -> Image:
    """Small grey copy of ``image`` for the black and frozen checks."""
    height, width = image.shape[:2]
    probe_h = max(1, round(PROBE_WIDTH * height / width))
    small = cv2.resize(image, (PROBE_WIDTH, probe_h), interpolation=cv2.INTER_NEAREST)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return np.asarray(small, dtype=np.uint8)


def decode_jpeg(data: bytes, reduce: int = 1) -> tuple[Image, Image] | None:
    """Decoded BGR image and its probe; None when ``data`` is not a decodable JPEG."""
    flag = REDUCE_FLAGS.get(reduce)
    if flag is None:
        raise ValueError(f"reduce must be one of {sorted(REDUCE_FLAGS)}, got {reduce}")
    if len(data) < 4 or data[:2] != b"\xff\xd8":
        return None
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if decoded is None:
        return None
    image = np.asarray(decoded, dtype=np.uint8)
    return image, make_probe(image)


def mean_luma(probe: Image) -> float:
    """Mean grey level of a probe, 0..255."""
    return float(probe.mean())


def probe_difference(a: Image, b: Image) -> float:
    """Mean absolute grey-level difference of two probes (inf when their sizes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float(cv2.absdiff(a, b).mean())
