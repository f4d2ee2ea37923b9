"""The vision core as ``walkout run`` wires it, on a smart-camera simulator over Mosquitto.

A shopper passes the entry gate, walks across the camera's view to the exit
and leaves: their track must be bound to their session, and the gate's
anonymous exit to that session, with nothing but the camera's detections and
the gates' messages to go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.mosquitto import Mosquitto, running_broker
from peers.waiting import next_message

from devices.bus import Bus
from devices.gate.machine import Entered, Exited
from sim_devices.camera.simulator import CameraSimulator
from vision_core.checkout.messages import TrackSample
from walkout.config import ConfigError, parse_config
from walkout.vision_wiring import check_vision, open_vision, track_sessions

WAIT_S = 10.0


def store(camera: dict[str, Any], entry_m: list[float], exit_m: list[float]) -> dict[str, Any]:
    dio = {"type": "dio", "bus": "io"}
    return {
        "store": {"id": "vision"},
        "modbus": {"buses": [{"id": "io", "type": "tcp", "host": "127.0.0.1", "port": 1}]},
        "gates": {
            "check": {"type": "allow_list", "path": "allow.yaml"},
            "gates": [
                {
                    "id": "entry", "role": "entry", "floor": {"x_m": entry_m[0], "y_m": entry_m[1]},
                    "controller": {**dio, "wiring": {"lock_coil": 0, "passage_input": 0}},
                },
                {
                    "id": "exit", "role": "exit", "floor": {"x_m": exit_m[0], "y_m": exit_m[1]},
                    "controller": {**dio, "wiring": {"lock_coil": 1, "passage_input": 1}},
                },
            ],
        },
        "cameras": [camera],
    }  # fmt: skip


@pytest.fixture
def broker(tmp_path: Path, free_tcp_port: int) -> Iterator[Mosquitto]:
    with running_broker(free_tcp_port, tmp_path) as mosquitto:
        yield mosquitto


@pytest.fixture
async def camera(broker: Mosquitto) -> AsyncIterator[CameraSimulator]:
    async with CameraSimulator(
        camera_id="ceiling", fps=15, width=320, height=240, view="topdown", walkers=0,
        mqtt_host="127.0.0.1", mqtt_port=broker.port, metadata_fps=15,
    ) as sim:  # fmt: skip
        yield sim


def camera_entry(sim: CameraSimulator, broker: Mosquitto) -> dict[str, Any]:
    ready = sim.ready()
    return {
        "id": "ceiling",
        "role": "ceiling",
        "url": f"mqtt://127.0.0.1:{broker.port}",
        "floor": {"image_points": ready["image_points"], "floor_points": ready["floor_points"]},
    }


async def test_a_shopper_is_tracked_from_the_entry_to_the_exit(tmp_path, broker, camera) -> None:
    corners = camera.ready()["floor_points"]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    entry_m = [min(xs) + 0.5, (min(ys) + max(ys)) / 2]
    exit_m = [max(xs) - 0.5, (min(ys) + max(ys)) / 2]
    config = parse_config(store(camera_entry(camera, broker), entry_m, exit_m), "t", tmp_path)
    bus = Bus()
    out = bus.subscribe(TrackSample, Exited, maxsize=100_000)
    async with open_vision(config, bus) as vision:
        assert vision is not None
        assert vision.runner is None  # a smart camera only: no model is loaded
        assert vision.tracking is not None
        task = asyncio.create_task(vision.tracking.run())
        try:
            await asyncio.wait_for(vision.tracking.ready.wait(), WAIT_S)
            await bus.publish(
                Entered(
                    source="entry", t_mono=time.monotonic(), session_id="s-1", credential="c",
                    person=1, group_size=1,
                )
            )  # fmt: skip
            steps = 40
            for i in range(steps + 1):  # the shopper's walk at about 2 m/s
                x = entry_m[0] + (exit_m[0] - entry_m[0]) * i / steps
                camera.scene.place([(1, x, entry_m[1])], replace=True)
                await asyncio.sleep(0.05)
            bound = await next_message(out, TrackSample, lambda m: m.session_id == "s-1", WAIT_S)
            # bound when the entry's window closed: the newest sample by then carries the session
            assert bound.track_id.startswith("shopper-")
            camera.scene.remove(1)
            await bus.publish(Exited(source="exit", t_mono=time.monotonic()))
            exited = await next_message(out, Exited, lambda m: m.session_id is not None, WAIT_S)
            assert exited.session_id == "s-1"
            assert vision.tracking.sessions.counts["bound"] == 1
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            out.close()
    assert vision.fleet.profile is None  # closed with the context


def test_a_store_that_would_track_nobody_is_refused(tmp_path) -> None:
    camera = {"id": "c1", "role": "ceiling", "url": "http://127.0.0.1:9/stream.mjpg"}
    data = store(camera, [1.0, 1.0], [5.0, 1.0])
    data["vision"] = {"perception": {"detector": {"type": "metadata"}}}
    data["checkout"] = {"planogram": "planogram.yaml"}
    del data["gates"]["gates"][1]["floor"]
    config = parse_config(data, "t", tmp_path)
    with pytest.raises(ConfigError) as caught:
        check_vision(config)
    text = str(caught.value)
    assert (
        "cameras[0] (id=c1).url: sends frames, but vision.perception.detector is 'metadata'" in text
    )
    assert "cameras[0] (id=c1).floor: the checkout needs every camera on the floor plan" in text
    assert "gates.gates[1] (id=exit).floor" in text


@pytest.mark.parametrize(("low_fps", "slack_s"), [(5.0, 0.25), (10.0, 0.15)])
def test_the_exit_slack_is_a_frame_at_the_slowest_camera_rate(
    tmp_path: Path, low_fps: float, slack_s: float
) -> None:
    camera = {
        "id": "ceiling",
        "role": "ceiling",
        "url": "mqtt://127.0.0.1:1883",
        "floor": {
            "image_points": [[0, 0], [320, 0], [320, 240], [0, 240]],
            "floor_points": [[0, 0], [8, 0], [8, 6], [0, 6]],
        },
    }
    data = store(camera, [1.0, 3.0], [7.0, 3.0]) | {"vision": {"low_fps": low_fps}}
    sessions = track_sessions(parse_config(data, "t", tmp_path))
    assert sessions is not None
    assert sessions.settings.ended_slack_s == pytest.approx(slack_s)
