"""The camera simulator: its model, and the process with curl as an independent client."""

import asyncio
import json
import shutil
import sys

import cv2
import numpy as np
import pytest

from devices.camera.metadata import parse_detections
from sim_devices.camera import cli
from sim_devices.camera.metadata import MetadataPublisher, MetadataSettings
from sim_devices.camera.scene import PersonState, Scene
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
            with pytest.raises(ControlError, match="embedding_dim must be 0"):
                await client.request("metadata", embedding_dim=4)
            with pytest.raises(ControlError, match="'embedding_dim' has the wrong type"):
                await client.request("metadata", embedding_dim=16.5)
            v2 = await client.request("metadata", embedding_dim=16, embedding_noise=0.2)
        assert answer["metadata"]["miss_rate"] == 0.5
        assert answer["metadata"]["mode"] == "silent"
        assert answer["metadata"]["embedding_dim"] == 0
        assert (v2["metadata"]["embedding_dim"], v2["metadata"]["embedding_noise"]) == (16, 0.2)
        assert v2["metadata"]["miss_rate"] == 0.5  # the other settings are kept
    finally:
        proc.terminate()
        await proc.wait()


# --- metadata schema version 2: re-identification vectors ----------------------------

PEOPLE = (PersonState(1, 2.0, 1.0), PersonState(2, 5.5, 3.5), PersonState(3, 7.0, 5.0))
"""Three people every frame, all in view of a 640x480 oblique camera."""


def _publisher(seed: int = 5, **settings) -> MetadataPublisher:
    view = CameraView(Scene(shelves=()), 640, 480, noise=0)
    # never started: build() makes the payloads without a broker
    return MetadataPublisher(
        view, "cam1", "127.0.0.1", 1883, settings=MetadataSettings(**settings), seed=seed
    )


def _frames(publisher: MetadataPublisher, count: int, start: int = 0) -> list[dict]:
    return [
        json.loads(publisher.build(seq, 1767225600.0 + seq / 10, PEOPLE)[0])
        for seq in range(start, start + count)
    ]


def _cosines(a, b) -> np.ndarray:
    """Cosine of every row of ``a`` with every row of ``b``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"embedding_dim": 4}, "embedding_dim must be 0 .* within 8..512, got 4"),
        ({"embedding_dim": 7}, "within 8..512, got 7"),
        ({"embedding_dim": 513}, "within 8..512, got 513"),
        ({"embedding_dim": -1}, "within 8..512, got -1"),
        ({"embedding_dim": 16.0}, "an integer within 8..512, got 16.0"),
        ({"embedding_dim": True}, "an integer within 8..512, got True"),
        ({"embedding_noise": -0.1}, "embedding_noise must be a finite number >= 0, got -0.1"),
        ({"embedding_noise": float("nan")}, "embedding_noise must be a finite number"),
        ({"embedding_noise": float("inf")}, "embedding_noise must be a finite number"),
    ],
)
def test_embedding_settings_out_of_range_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        MetadataSettings(**settings).validate()
    with pytest.raises(ValueError, match=message):
        _publisher(**settings)


@pytest.mark.parametrize("dim", [0, 8, 512])
def test_embedding_settings_in_range_are_accepted(dim):
    MetadataSettings(embedding_dim=dim, embedding_noise=0.0).validate()
    assert MetadataSettings().embedding_dim == 0  # version 1 by default
    assert MetadataSettings().embedding_noise == 0.1


def test_without_an_embedding_dim_the_payload_is_version_1_as_before():
    frames = _frames(_publisher(box_noise_px=2.0, id_switch_rate=0.1), 20)
    assert all(frame["v"] == 1 for frame in frames)
    people = [p for frame in frames for p in frame["people"]]
    assert len(people) == 60
    assert all(set(p) == {"id", "box", "score", "keypoints"} for p in people)
    # and turning embeddings on changes nothing else of a seed's frames
    settings = {"box_noise_px": 2.0, "id_switch_rate": 0.1, "miss_rate": 0.1}
    plain = _frames(_publisher(**settings), 20)
    with_vectors = _frames(_publisher(**settings, embedding_dim=16), 20)
    for frame in with_vectors:
        assert frame.pop("v") == 2
        for person in frame["people"]:
            assert len(person.pop("embedding")) == 16
    assert [{k: v for k, v in f.items() if k != "v"} for f in plain] == with_vectors


def test_each_person_carries_a_unit_vector_that_follows_them():
    frames = _frames(_publisher(embedding_dim=16), 50)
    assert all(frame["v"] == 2 for frame in frames)
    by_person: dict[int, list[list[float]]] = {1: [], 2: [], 3: []}
    for frame in frames:
        for person in frame["people"]:
            vector = person["embedding"]
            assert len(vector) == 16
            assert all(isinstance(c, float) and round(c, 4) == c for c in vector)
            assert np.linalg.norm(vector) == pytest.approx(1.0, abs=16 * 5e-5)
            by_person[person["id"]].append(vector)
    assert all(len(vectors) == 50 for vectors in by_person.values())
    means = {pid: np.mean(vectors, axis=0) for pid, vectors in by_person.items()}
    for pid, vectors in by_person.items():
        # noise 0.1 per dimension: about 0.93 to the person's direction
        assert _cosines(vectors, [means[pid]]).mean() > 0.9
        for other in by_person.keys() - {pid}:
            assert _cosines(vectors, by_person[other]).mean() < 0.5
    # frame to frame the cosine is about 1 / (1 + dim * noise**2): 0.86 at 0.1, 0.96 at 0.05
    quiet = _frames(_publisher(embedding_dim=16, embedding_noise=0.05), 50)
    first = [next(p["embedding"] for p in f["people"] if p["id"] == 1) for f in quiet]
    pairs = _cosines(first, first)[np.triu_indices(50, 1)]
    assert pairs.mean() > 0.9
    assert pairs.min() > 0.8
    # the direction depends on the person alone: another camera (seed) sees them alike
    other_camera = _frames(_publisher(seed=99, embedding_dim=16), 50)
    seen_there = [next(p["embedding"] for p in f["people"] if p["id"] == 1) for f in other_camera]
    assert _cosines(seen_there, [means[1]]).mean() > 0.9


def test_after_an_id_switch_the_embedding_stays_the_persons():
    publisher = _publisher(embedding_dim=16)
    before = _frames(publisher, 20)
    publisher.settings.id_switch_rate = 1.0  # every person gets a new track id
    (switched,) = _frames(publisher, 1, start=20)
    assert publisher.stats.id_switches == 3
    new_ids = {publisher.published_id(pid): pid for pid in (1, 2, 3)}
    assert set(new_ids) == {p["id"] for p in switched["people"]}
    assert not set(new_ids) & {1, 2, 3}
    for person in switched["people"]:
        pid = new_ids[person["id"]]
        own = [p["embedding"] for f in before for p in f["people"] if p["id"] == pid]
        others = [p["embedding"] for f in before for p in f["people"] if p["id"] != pid]
        assert _cosines([person["embedding"]], own).mean() > 0.8
        assert _cosines([person["embedding"]], others).mean() < 0.5


def test_the_drivers_parser_accepts_the_simulators_version_2_payload():
    publisher = _publisher(embedding_dim=16, box_noise_px=1.0)
    payload, _truth = publisher.build(7, 1767225600.7, PEOPLE)
    message = parse_detections("cam1", payload, 3.0)
    assert message.frame == 7
    assert [d.track_id for d in message.detections] == [1, 2, 3]
    sent = json.loads(payload)["people"]
    for detection, person in zip(message.detections, sent, strict=True):
        assert len(detection.embedding) == 16
        assert detection.embedding == tuple(person["embedding"])
        assert detection.keypoints is not None
    # the longest vector the schema allows fits as well
    longest = _publisher(embedding_dim=512).build(8, 1767225600.8, PEOPLE)[0]
    assert all(len(d.embedding) == 512 for d in parse_detections("cam1", longest, 3.1).detections)


def test_serve_takes_the_embedding_options(capsys):
    def settings(*options: str) -> MetadataSettings:
        args = cli._parser().parse_args(["serve", "--mqtt-host", "127.0.0.1", *options])
        publisher = cli._build(args).publisher  # built, never started
        assert publisher is not None
        return publisher.settings

    chosen = settings("--embedding-dim", "16", "--embedding-noise", "0.2")
    assert (chosen.embedding_dim, chosen.embedding_noise) == (16, 0.2)
    assert (settings().embedding_dim, settings().embedding_noise) == (0, 0.1)
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    assert "--embedding-dim N" in capsys.readouterr().out


async def test_serve_refuses_an_embedding_length_outside_the_schema():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.camera", "serve", "--mqtt-host", "127.0.0.1",
        "--embedding-dim", "4", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"embedding_dim must be 0 (schema version 1) or an integer within 8..512" in err
    assert out == b""
