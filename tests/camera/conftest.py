"""Fixtures for the camera tests: the camera simulator in-process, and a real broker."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sim_devices.camera.simulator import CameraSimulator

from .camtools import Mosquitto

SIM_FPS = 20.0


@pytest.fixture
async def camera_sim() -> AsyncIterator[CameraSimulator]:
    """A 320x240 camera at 20 fps with three walkers, on a free loopback port."""
    async with CameraSimulator(fps=SIM_FPS, width=320, height=240, walkers=3, seed=1) as sim:
        yield sim


@pytest.fixture
def mosquitto(tmp_path: Path, free_tcp_port: int) -> Iterator[Mosquitto]:
    """A broker of this test's own."""
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(free_tcp_port, tmp_path)
    broker.start()
    yield broker
    broker.stop()
