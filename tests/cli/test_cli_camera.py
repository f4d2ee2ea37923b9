"""``walkout camera check`` as a child process against the MJPEG camera simulator.

The homography comes from the simulator's own view (its floor and image points); the
snapshot is checked for the grid colour where the simulator's floor lies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from sim_devices.camera.simulator import CameraSimulator

from .clitools import store_yaml, walkout

FPS = 10.0


@pytest.fixture
async def camera() -> AsyncIterator[CameraSimulator]:
    async with CameraSimulator(fps=FPS, width=640, height=480) as sim:
        yield sim


def camera_store(tmp_path: Path, sim: CameraSimulator, **extra: object) -> None:
    ready = sim.ready()
    cam = {
        "id": "cam-1",
        "role": "ceiling",
        "url": ready["url"],
        "floor": {"image_points": ready["image_points"], "floor_points": ready["floor_points"]},
        **extra,
    }
    store_yaml(tmp_path / "store.yaml", tcp_port=1502, extra={"cameras": [cam]})


async def test_check_reports_rate_size_and_saves_a_gridded_snapshot(
    tmp_path: Path, camera: CameraSimulator
) -> None:
    camera_store(tmp_path, camera)
    result = await walkout("camera", "check", "cam-1", "--seconds", "2", cwd=tmp_path)
    assert result.code == 0, result.stdout + result.stderr
    assert "cam-1: 640x480" in result.stdout
    fps = float(result.stdout.split("640x480, ")[1].split(" frames/s")[0])
    assert FPS * 0.5 <= fps <= FPS * 1.5
    snap = cv2.imread(str(tmp_path / "cam-1-check.jpg"))
    assert snap is not None
    assert snap.shape == (480, 640, 3)
    # The grid is drawn in yellow (BGR 0,255,255): some pixels must be clearly yellow.
    yellow = (snap[:, :, 0] < 80) & (snap[:, :, 1] > 180) & (snap[:, :, 2] > 180)
    assert int(np.count_nonzero(yellow)) > 200
    assert "image checks: ok" in result.stdout


async def test_a_black_camera_fails_the_check(tmp_path: Path, camera: CameraSimulator) -> None:
    camera_store(tmp_path, camera)
    camera.set_fault("black")
    result = await walkout("camera", "check", "cam-1", "--seconds", "3", cwd=tmp_path)
    assert result.code == 1, result.stdout + result.stderr
    assert "black" in result.stdout


async def test_collinear_floor_points_are_refused_at_load(
    tmp_path: Path, camera: CameraSimulator
) -> None:
    camera_store(
        tmp_path,
        camera,
        floor={
            "image_points": [[0, 0], [10, 10], [20, 20], [30, 30]],
            "floor_points": [[0, 0], [1, 1], [2, 2], [3, 3]],
        },
    )
    result = await walkout("camera", "check", "cam-1", cwd=tmp_path)
    assert result.code == 2
    assert "cameras[0] (id=cam-1)" in result.stderr
    assert "lie on one line" in result.stderr
