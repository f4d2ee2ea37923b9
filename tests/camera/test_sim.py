"""The camera simulator: its model, and the process with curl as an independent client."""

import asyncio
import json
import shutil
import sys

import cv2
import numpy as np
import pytest

from sim_devices.camera.scene import Scene
from sim_devices.camera.simulator import CameraSimulator
from sim_devices.camera.view import CameraView
from sim_devices.control import ControlClient, ControlError

from .camtools import ROOT, vtest_path, wait_until


def test_walkers_stay_on_the_floor_and_placed_people_stay_put():
    scene = Scene(seed=4)
    scene.add_walkers(5)
    scene.place([(99, 1.5, 0.5)], replace=False)
    start = {p.id: (p.x_m, p.y_m) for p in scene.snapshot()}
    for _ in range(600):  # 60 s in 0.1 s steps
        scene.step(0.1)
        for person in scene.snapshot():
            assert 0 <= person.x_m <= scene.width_m
            assert 0 <= person.y_m <= scene.depth_m
    end = {p.id: (p.x_m, p.y_m) for p in scene.snapshot()}
    assert end[99] == start[99] == (1.5, 0.5)
    assert sum(end[pid] != start[pid] for pid in end if pid != 99) == 5


def test_a_persons_box_stands_on_their_floor_point():
    view = CameraView(Scene(), 640, 480, noise=0)
    for x, y in [(1.0, 1.0), (4.0, 3.0), (7.5, 5.5)]:
        x1, y1, x2, y2 = view.person_box(x, y)
        foot = np.array([(x1 + x2) / 2, y2, 1.0])
        back = view.image_to_floor @ foot
        assert back[:2] / back[2] == pytest.approx([x, y], abs=1e-9)
        assert y2 - y1 > x2 - x1  # upright
    near, far = view.person_box(4.0, 0.5), view.person_box(4.0, 5.5)
    assert near[3] - near[1] > far[3] - far[1]  # farther is smaller


def test_rendered_people_appear_where_their_boxes_say():
    scene = Scene(shelves=())
    scene.place([(1, 4.0, 2.0)], replace=True)
    view = CameraView(scene, 640, 480, noise=0)
    image = view.render(scene.snapshot(), 7, 0.0)
    x1, y1, x2, y2 = (round(c) for c in view.person_box(4.0, 2.0))
    inside = image[(y1 + y2) // 2, (x1 + x2) // 2]
    floor = image[y2 + 10, (x1 + x2) // 2]
    assert np.abs(inside.astype(int) - floor.astype(int)).sum() > 60
    black = view.render(scene.snapshot(), 8, 0.0, black=True)
    assert black[100:].mean() < 2


@pytest.fixture
async def sim_process(tmp_path):
    log = (tmp_path / "sim.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.camera", "serve", "--fps", "10",
        "--width", "320", "--height", "240", "--port", "0", "--control-port", "0",
        "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, stderr=log, cwd=ROOT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            line = await proc.stdout.readline()
        ready = json.loads(line)
        yield proc, ready
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
        log.close()


def _first_part(body: bytes, boundary: bytes) -> bytes:
    start = body.index(b"--" + boundary + b"\r\n")
    head_end = body.index(b"\r\n\r\n", start)
    headers = dict(line.split(b": ", 1) for line in body[start:head_end].split(b"\r\n")[1:])
    length = int(headers[b"Content-Length"])
    jpeg = body[head_end + 4 : head_end + 4 + length]
    assert body[head_end + 4 + length : head_end + 6 + length] == b"\r\n"
    assert float(headers[b"X-Timestamp"]) > 1.7e9
    return jpeg


@pytest.mark.peer
async def test_curl_reads_the_multipart_stream(sim_process, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    _proc, ready = sim_process
    assert ready["ready"] is True
    assert ready["width"] == 320
    assert ready["fps"] == 10.0
    assert len(ready["image_to_floor"]) == 3
    assert len(ready["image_points"]) == 4
    headers, body = tmp_path / "headers", tmp_path / "body"
    curl = await asyncio.create_subprocess_exec(
        "curl", "-s", "--max-time", "1.5", "-D", str(headers), "-o", str(body), ready["url"]
    )
    assert await curl.wait() == 28  # curl's "operation timed out": the stream never ends
    head = headers.read_text()
    assert head.startswith("HTTP/1.1 200")
    assert "Content-Type: multipart/x-mixed-replace; boundary=walkoutframe" in head
    data = body.read_bytes()
    assert data.count(b"--walkoutframe\r\n") >= 5
    jpeg = _first_part(data, b"walkoutframe")
    assert jpeg[:2] == b"\xff\xd8"
    assert jpeg[-2:] == b"\xff\xd9"
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3)
    snapshot = await asyncio.create_subprocess_exec(
        "curl", "-s", "-o", str(tmp_path / "snap.jpg"), "-w", "%{content_type}",
        ready["snapshot_url"], stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    content_type, _ = await snapshot.communicate()
    assert content_type == b"image/jpeg"
    assert (tmp_path / "snap.jpg").read_bytes()[:2] == b"\xff\xd8"


async def test_control_port_state_faults_and_quit(sim_process):
    proc, ready = sim_process
    async with ControlClient(ready["control_port"]) as client:
        state = (await client.request("state"))["state"]
        assert state["fault"] == "none"
        assert len(state["people"]) == 3
        answer = await client.request(
            "people", people=[{"id": 5, "x_m": 2.0, "y_m": 3.0}], replace=True
        )
        assert answer["people"] == 1
        (person,) = (await client.request("state"))["state"]["people"]
        assert (person["id"], person["x_m"], person["y_m"]) == (5, 2.0, 3.0)
        assert (await client.request("fault", mode="slow", fps=2))["fps"] == 2.0
        with pytest.raises(ControlError, match="unknown fault 'melt'"):
            await client.request("fault", mode="melt")
        with pytest.raises(ControlError, match="publishes no metadata"):
            await client.request("metadata", miss_rate=0.5)
        with pytest.raises(ControlError, match="unknown command"):
            await client.request("dance")
        bad = await client.raw(b"{not json\n")
        assert bad["ok"] is False
        assert "bad JSON" in bad["error"]
        assert (await client.request("stats"))["stats"]["producer"]["frames"] > 0
        await client.request("quit")
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_serve_refuses_a_missing_video_file(tmp_path):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.camera", "serve", "--video", str(tmp_path / "no.avi"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"cannot open video file" in err
    assert out == b""


@pytest.mark.slow
async def test_serve_a_real_pedestrian_clip(tmp_path):
    path = vtest_path()
    if path is None:
        pytest.skip("vtest.avi not found (set WALKOUT_VTEST or put it in data/)")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.camera", "serve", "--video", str(path),
        "--log-level", "WARNING", stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        ready = json.loads(await proc.stdout.readline())
        assert (ready["width"], ready["height"], ready["fps"]) == (768, 576, 10.0)
        assert ready["video"] == str(path)
    finally:
        proc.terminate()
        await proc.wait()


async def test_loop_frames_serves_a_fixed_cycle():
    seen: list[bytes] = []
    async with CameraSimulator(fps=20, width=160, height=120, loop_frames=3) as sim:

        def collect() -> bool:
            jpeg = sim.server.latest_jpeg()
            if jpeg is not None and (not seen or seen[-1] != jpeg):
                seen.append(jpeg)
            return len(seen) >= 7

        await wait_until(collect, what="seven frame changes")
    assert len(set(seen)) == 3  # a rendering camera would have shown seven different frames


@pytest.mark.peer
async def test_the_metadata_publisher_of_the_process_reaches_mosquitto_sub(mosquitto, tmp_path):
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto_sub is not installed")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.camera", "serve", "--fps", "10", "--width", "320",
        "--height", "240", "--camera-id", "ceil-1", "--mqtt-host", "127.0.0.1",
        "--mqtt-port", str(mosquitto.port), "--log-level", "WARNING",
        stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        ready = json.loads(await proc.stdout.readline())
        assert ready["mqtt"]["topic"] == "walkout/cameras/ceil-1/detections"
        sub = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-C", "2",
            "-W", "20", "-t", ready["mqtt"]["topic"], "-t", ready["mqtt"]["truth_topic"],
            "-v", stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await sub.communicate()
        assert sub.returncode == 0
        lines = dict(line.split(" ", 1) for line in out.decode().splitlines())
        detections = json.loads(lines[ready["mqtt"]["topic"]])
        assert detections["v"] == 1
        assert (detections["width"], detections["height"]) == (320, 240)
        assert all(len(p["box"]) == 4 and len(p["keypoints"]) == 17 for p in detections["people"])
        truth = json.loads(lines[ready["mqtt"]["truth_topic"]])
        assert {p["id"] for p in truth["people"]} == {1, 2, 3}
        async with ControlClient(ready["control_port"]) as client:
            answer = await client.request("metadata", miss_rate=0.5, mode="silent")
        assert answer["metadata"]["miss_rate"] == 0.5
        assert answer["metadata"]["mode"] == "silent"
    finally:
        proc.terminate()
        await proc.wait()
