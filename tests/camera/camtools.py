"""Test-side tools for the camera tests: status waits, a numbered clip."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from peers.waiting import WAIT_S, wait_until

from devices.bus import Subscription
from devices.camera.quality import CameraStatus

__all__ = [
    "WAIT_S",
    "read_number",
    "vtest_path",
    "wait_status",
    "wait_until",
    "write_numbered_clip",
]

ROOT = Path(__file__).resolve().parents[2]
BITS = 8
"""A numbered clip encodes each frame's index in BITS black/white blocks."""


def vtest_path() -> Path | None:
    """Debian opencv-doc's vtest.avi, from $WALKOUT_VTEST or data/vtest.avi; None if absent."""
    candidates = [os.environ.get("WALKOUT_VTEST", ""), str(ROOT / "data" / "vtest.avi")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def write_numbered_clip(path: Path, frames: int, fps: float = 25.0, size=(160, 120)) -> None:
    """An MJPG .avi whose frame i shows i in binary: block k white when bit k is set."""
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    block = width // BITS
    try:
        for index in range(frames):
            image = np.zeros((height, width, 3), np.uint8)
            image[:, :, 2] = 60  # a red tint, so the frame is not black
            for bit in range(BITS):
                if index >> bit & 1:
                    image[:, bit * block : (bit + 1) * block] = 255
            writer.write(image)
    finally:
        writer.release()


def read_number(image: np.ndarray) -> int:
    """The index a numbered clip's frame shows (centre pixel of each block, thresholded)."""
    height, width = image.shape[:2]
    block = width // BITS
    value = 0
    for bit in range(BITS):
        grey = int(image[height // 2, bit * block + block // 2].mean())
        if grey > 160:
            value |= 1 << bit
    return value


async def wait_status(
    sub: Subscription,
    predicate: Callable[[CameraStatus], bool],
    timeout_s: float = WAIT_S,
    what: str = "",
) -> CameraStatus:
    """The first CameraStatus on ``sub`` that satisfies ``predicate``."""
    seen: list[tuple[str, ...]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await sub.get()
                if isinstance(message, CameraStatus):
                    seen.append(tuple(message.problems))
                    if predicate(message):
                        return message
    except TimeoutError:
        raise AssertionError(f"no status {what} within {timeout_s:g} s; saw {seen}") from None
