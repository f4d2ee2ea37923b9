"""Fixtures for the camera tests: the camera simulator in-process, and a real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from peers.mosquitto import Mosquitto, running_broker

from sim_devices.camera.simulator import CameraSimulator

SIM_FPS = 20.0


@pytest.fixture
async def camera_sim() -> AsyncIterator[CameraSimulator]:
    """A 320x240 camera at 20 fps with three walkers, on a free loopback port."""
    async with CameraSimulator(fps=SIM_FPS, width=320, height=240, walkers=3, seed=1) as sim:
        yield sim


@pytest.fixture
def mosquitto(tmp_path: Path, free_tcp_port: int) -> Iterator[Mosquitto]:
    """A broker of this test's own."""
    with running_broker(free_tcp_port, tmp_path) as broker:
        yield broker
