"""Test-side tools for the camera tests: a broker, condition waits, a numbered clip."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from devices.bus import Subscription
from devices.camera.quality import CameraStatus

WAIT_S = 15.0
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


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = WAIT_S, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {what or predicate}")
        await asyncio.sleep(0.02)


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


class Mosquitto:
    """A real broker on a loopback port of this test's own (never the system one on 1883)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = WAIT_S) -> None:
        """Start it and wait until it accepts TCP connections."""
        assert self.proc is None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                raise RuntimeError(f"mosquitto exited with {code}: {self.log.read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"mosquitto not listening on {self.port}") from None
                time.sleep(0.02)  # polling the listener of a process we started

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; reaps it. Safe twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def publish(
        self, topic: str, payload: bytes | None = None, *, file: Path | None = None
    ) -> None:
        """Publish with mosquitto_pub, the independent peer."""
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic]
        args += ["-f", str(file)] if file is not None else ["-s"]
        subprocess.run(args, input=payload if file is None else None, check=True, timeout=10)
