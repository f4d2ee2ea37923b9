import json

import numpy as np
import pytest

from devices.bus import Bus
from devices.camera.config import FloorHomography
from devices.camera.detection import LEFT_WRIST, RIGHT_WRIST, Detection, PersonDetections
from devices.camera.floor import image_to_floor
from devices.camera.metadata import (
    MetadataError,
    MetadataSource,
    QualityLimits,
    parse_detections,
)
from devices.camera.quality import CameraProblem, CameraStatus
from devices.health import HealthState
from sim_devices.camera.metadata import MetadataSettings
from sim_devices.camera.simulator import CameraSimulator

from .camtools import wait_status, wait_until

TOPIC = "walkout/cameras/cam1/detections"


def _keypoints(score=0.9):
    return [[10.0 + i, 20.0 + i, score] for i in range(17)]


def _payload(**overrides):
    data = {
        "v": 1,
        "ts": 1767225600.5,
        "frame": 42,
        "width": 640,
        "height": 480,
        "people": [
            {"id": 7, "box": [100, 50, 140, 170], "score": 0.91, "keypoints": _keypoints()},
            {"id": None, "box": [300.5, 60, 330, 160], "score": 0.5},
        ],
    }
    data.update(overrides)
    return json.dumps(data).encode()


def test_a_valid_payload_is_normalised():
    message = parse_detections("cam1", _payload(), 12.5)
    assert isinstance(message, PersonDetections)
    assert (message.camera_id, message.frame, message.source_ts) == ("cam1", 42, 1767225600.5)
    assert (message.width, message.height, message.t_mono) == (640, 480, 12.5)
    first, second = message.detections
    assert first == Detection(
        "cam1", 12.5, (100.0, 50.0, 140.0, 170.0), 0.91, 7, tuple(tuple(k) for k in _keypoints())
    )
    assert first.foot_point == (120.0, 170.0)
    assert first.wrists() == ((19.0, 29.0), (20.0, 30.0))  # COCO 9 and 10
    assert first.keypoint(LEFT_WRIST) == (19.0, 29.0)
    assert RIGHT_WRIST == 10
    assert second.track_id is None
    assert second.keypoints is None
    assert second.wrists() == (None, None)


def test_unseen_keypoints_give_no_wrists():
    people = [{"id": 1, "box": [0, 0, 10, 10], "score": 1, "keypoints": _keypoints(0.0)}]
    (detection,) = parse_detections("cam1", _payload(people=people), 0).detections
    assert detection.wrists() == (None, None)


def test_an_empty_frame_is_valid():
    assert parse_detections("cam1", _payload(people=[]), 0).detections == ()


@pytest.mark.parametrize(
    ("payload", "kind", "message"),
    [
        (b'{"v": 1, "people": [', "bad_json", "Invalid JSON"),
        (b"\xff\xfe", "bad_json", "Invalid JSON"),
        (_payload(v=3), "bad_schema", "v: Input should be 1 or 2, got 3"),
        (_payload(v="1"), "bad_schema", 'v: Input should be 1 or 2, got "1"'),
        (json.dumps({"people": []}).encode(), "bad_schema", "v: Field required"),
        (json.dumps({"v": 1}).encode(), "bad_schema", "people: Field required"),
        (
            _payload(people=[{"box": [10, 10, 5, 20], "score": 0.5}]),
            "bad_schema",
            "x2 > x1",
        ),
        (
            _payload(people=[{"box": [0, 0, 1, 1], "score": 1.5}]),
            "bad_schema",
            "people.0.score",
        ),
        (
            _payload(people=[{"box": [0, 0, 1, 1], "score": 1, "keypoints": _keypoints()[:16]}]),
            "bad_schema",
            "people.0.keypoints",
        ),
        (_payload(colour="red"), "bad_schema", "colour: Extra inputs are not permitted"),
        (_payload(frame=-1), "bad_schema", "frame"),
        (b'{"v": 1, "people": [], "ts": NaN}', "bad_schema", "ts: Input should be a finite"),
        (b"x" * 300_000, "oversize", "300000 bytes refused"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(payload, kind, message):
    with pytest.raises(MetadataError, match=message) as caught:
        parse_detections("cam1", payload, 0)
    assert caught.value.kind == kind


EMBEDDING = [0.5, -0.25, 0.0, 1.0, 2.0, -3.0, 0.125, 1e-3]


def _person(**extra):
    return {"id": 3, "box": [10, 20, 50, 140], "score": 0.8, **extra}


def test_a_v2_payload_carries_each_persons_embedding_as_given():
    other = [float(i) for i in range(1, 129)]
    people = [
        _person(embedding=EMBEDDING),
        {"id": None, "box": [300, 60, 330, 160], "score": 0.5},  # none for this one
        _person(id=4, embedding=other, keypoints=_keypoints()),
    ]
    first, second, third = parse_detections("cam1", _payload(v=2, people=people), 1.0).detections
    assert first.embedding == tuple(EMBEDDING)  # unscaled: only its direction matters
    assert second.embedding == ()
    assert (third.track_id, third.embedding) == (4, tuple(other))
    assert third.keypoints is not None
    # version 1 is read as before, with no embeddings
    assert all(d.embedding == () for d in parse_detections("cam1", _payload(), 1.0).detections)


@pytest.mark.parametrize(
    ("person", "message"),
    [
        (_person(embedding=[0.1] * 7), "people.0.embedding: .*at least 8 items"),
        (_person(embedding=[0.1] * 513), "people.0.embedding: .*at most 512 items"),
        (_person(embedding=[0.0] * 16), "people.0.embedding: .*all zeros"),
        (_person(embedding=None), "people.0.embedding: Input should be a valid array"),
        (_person(embedding=["x"] * 8), "people.0.embedding.0: Input should be a valid number"),
        (_person(embedding=[[1.0]] * 8), "people.0.embedding.0: Input should be a valid number"),
        (_person(embedding=1.0), "people.0.embedding: Input should be a valid array"),
    ],
)
def test_bad_embeddings_are_refused_with_the_reason(person, message):
    with pytest.raises(MetadataError, match=message) as caught:
        parse_detections("cam1", _payload(v=2, people=[person]), 0)
    assert caught.value.kind == "bad_schema"


def test_a_non_finite_embedding_is_refused():
    raw = b'{"v": 2, "people": [{"box": [0, 0, 1, 1], "score": 1, "embedding": '
    raw += b"[1, 2, 3, 4, 5, 6, 7, Infinity]}]}"
    with pytest.raises(MetadataError, match=r"people\.0\.embedding\.7: .*finite") as caught:
        parse_detections("cam1", raw, 0)
    assert caught.value.kind == "bad_schema"


def test_version_1_has_no_embedding_key_the_schema_is_closed():
    people = [_person(), _person(id=5, embedding=EMBEDDING)]
    with pytest.raises(MetadataError, match=r"people\.1\.embedding: Extra inputs") as caught:
        parse_detections("cam1", _payload(v=1, people=people), 0)
    assert caught.value.kind == "bad_schema"


def test_an_embedding_on_a_detection_needs_a_direction():
    assert Detection("cam1", 0.0, (0, 0, 1, 1), 0.5, embedding=(0.0, 2.0)).embedding == (0.0, 2.0)
    for bad in ((0.0, 0.0), (1.0, float("nan"))):
        with pytest.raises(ValueError, match="embedding"):
            Detection("cam1", 0.0, (0, 0, 1, 1), 0.5, embedding=bad)


async def test_embeddings_from_mosquitto_pub_are_carried_and_bad_ones_counted(mosquitto, caplog):
    async with MetadataSource("meta", "127.0.0.1", mosquitto.port, cameras=["cam1"]) as src:
        await src.wait_connected(10)
        mosquitto.publish(TOPIC, _payload(v=2, people=[_person(embedding=EMBEDDING)]))
        (person,) = (await src.read()).detections
        assert person.embedding == tuple(EMBEDDING)
        mosquitto.publish(TOPIC, _payload(v=1, people=[_person(embedding=EMBEDDING)]))
        mosquitto.publish(TOPIC, _payload(v=2, people=[_person(embedding=[0] * 8)]))
        mosquitto.publish(TOPIC, _payload(v=2, frame=43, people=[_person()]))
        after = await src.read()  # the refused ones did not end the subscription
        assert (after.frame, after.detections[0].embedding) == (43, ())
    assert (src.stats.accepted, src.stats.bad_schema, src.stats.messages) == (2, 2, 4)
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1  # once per camera and kind
    assert "people.0.embedding: Extra inputs are not permitted" in warnings[0]


async def test_the_source_normalises_messages_from_mosquitto_pub_and_counts_bad_ones(
    mosquitto, tmp_path, caplog
):
    bus = Bus()
    sub = bus.subscribe(PersonDetections)
    async with MetadataSource(
        "meta", "127.0.0.1", mosquitto.port, cameras=["cam1"], bus=bus
    ) as src:
        await src.wait_connected(10)
        mosquitto.publish(TOPIC, _payload())
        message = await src.read()
        assert [d.track_id for d in message.detections] == [7, None]
        assert sub.get_nowait() == message
        mosquitto.publish(TOPIC, b"{not json")
        mosquitto.publish(TOPIC, b"{not json either")
        mosquitto.publish(TOPIC, _payload(v=3))
        big = tmp_path / "big.json"
        big.write_bytes(b'{"v": 1, "pad": "' + b"x" * 300_000 + b'"}')
        mosquitto.publish(TOPIC, file=big)
        mosquitto.publish("walkout/cameras/cam2/detections", _payload())  # not subscribed
        mosquitto.publish(TOPIC, _payload(frame=43))
        after = await src.read()  # still subscribed: the bad ones changed nothing
        assert after.frame == 43
    stats = src.stats
    assert (stats.bad_json, stats.bad_schema, stats.oversize, stats.unknown_camera) == (2, 1, 1, 0)
    assert stats.accepted == 2
    assert stats.messages == 6
    warnings = [r.message for r in caplog.records if "refused" in r.message]
    assert len(warnings) == 3  # once per camera and kind, not per message


def test_messages_from_unknown_cameras_and_topics_are_refused():
    source = MetadataSource("meta", "127.0.0.1", 1, cameras=["cam1"])
    assert source.handle("walkout/cameras/cam2/detections", _payload()) is None
    assert source.handle("walkout/cameras/a/b/detections", _payload()) is None
    assert source.handle("elsewhere/cam1/detections", _payload()) is None
    assert source.stats.unknown_camera == 3
    accepted = source.handle(TOPIC, bytearray(_payload()))
    assert accepted is not None
    assert accepted.camera_id == "cam1"
    assert source.status("cam1").problems == (CameraProblem.DISCONNECTED,)  # no broker yet
    any_camera = MetadataSource("meta", "127.0.0.1", 1)
    assert any_camera.handle("walkout/cameras/cam7/detections", _payload()).camera_id == "cam7"
    assert any_camera.status("cam7") is not None
    with pytest.raises(ValueError, match="topic level"):
        MetadataSource("meta", "127.0.0.1", 1, cameras=["a/b"])


async def test_a_silent_camera_is_stalled_and_a_lost_broker_is_reconnected(mosquitto):
    bus = Bus()
    sub = bus.subscribe(CameraStatus)
    limits = QualityLimits(stall_after_s=0.5, black_luma=None, frozen_diff=None)
    source = MetadataSource(
        "meta", "127.0.0.1", mosquitto.port, cameras=["cam1"], bus=bus, limits=limits
    )
    async with source:
        await source.wait_connected(10)
        mosquitto.publish(TOPIC, _payload())
        await wait_status(sub, lambda s: s.problems == (), what="cam1 online")
        status = await wait_status(sub, lambda s: CameraProblem.STALLED in s.problems)
        assert status.camera_id == "cam1"
        assert status.health.state is HealthState.OFFLINE
        mosquitto.stop()
        await wait_until(lambda: not source.connected, what="disconnected")
        assert source.health.state is HealthState.OFFLINE
        await wait_status(sub, lambda s: CameraProblem.DISCONNECTED in s.problems)
        mosquitto.start()
        await source.wait_connected(15)
        mosquitto.publish(TOPIC, _payload())
        await wait_status(sub, lambda s: s.problems == (), what="cam1 back")
    assert source.stats.reconnects == 1
    assert source.stats.disconnects == 1


async def test_simulated_smart_camera_boxes_land_on_the_true_floor_positions(mosquitto):
    truth = {1: (2.0, 1.0), 2: (5.5, 3.5), 3: (7.0, 5.0)}
    sim = CameraSimulator(
        fps=10, width=640, height=480, walkers=0, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port
    )
    sim.scene.place([(pid, x, y) for pid, (x, y) in truth.items()], replace=True)
    source = MetadataSource("meta", "127.0.0.1", mosquitto.port, cameras=["cam1"])
    async with source, sim:
        ready = sim.ready()
        message = await source.read()
    floor_from_matrix = FloorHomography.from_matrix(ready["image_to_floor"])
    floor_from_points = FloorHomography.from_points(ready["image_points"], ready["floor_points"])
    assert floor_from_points.reprojection_error_m < 0.01
    by_id = {d.track_id: d for d in message.detections}
    assert set(by_id) == set(truth)
    for pid, detection in by_id.items():
        assert detection.keypoints is not None
        for floor in (floor_from_matrix, floor_from_points):
            (position,) = image_to_floor(floor, [detection.foot_point])
            assert np.allclose(position, truth[pid], atol=0.02), (pid, position)


async def test_simulated_detector_errors_show_up(mosquitto):
    settings = MetadataSettings(box_noise_px=2.0, miss_rate=0.3, id_switch_rate=0.05)
    sim = CameraSimulator(
        fps=30, width=320, height=240, walkers=0, mqtt_host="127.0.0.1",
        mqtt_port=mosquitto.port, metadata=settings, seed=3,
    )  # fmt: skip
    sim.scene.place([(1, 2.0, 1.0), (2, 6.0, 1.0)], replace=True)
    source = MetadataSource("meta", "127.0.0.1", mosquitto.port, cameras=["cam1"])
    async with source, sim:
        messages = [await source.read() for _ in range(60)]
        stats = sim.publisher.stats
    seen = sum(len(m.detections) for m in messages)
    assert 60 <= seen <= 105  # 120 people-frames, 30 % missed
    ids = {d.track_id for m in messages for d in m.detections}
    assert any(i >= 1001 for i in ids)  # switched ids are new ones
    assert stats.misses > 0
    assert stats.id_switches > 0
    xs = [d.box[0] for m in messages for d in m.detections if d.box[0] < 160]
    assert np.std(xs) > 0.5  # jitter


async def test_simulated_link_faults_are_refused_and_counted(mosquitto):
    sim = CameraSimulator(
        fps=20, width=320, height=240, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port
    )
    source = MetadataSource("meta", "127.0.0.1", mosquitto.port, cameras=["cam1"])
    async with source, sim:
        await source.read()
        sim.publisher.settings.mode = "garbage"
        await wait_until(lambda: source.stats.bad_json >= 3, what="garbage counted")
        sim.publisher.settings.mode = "oversize"
        await wait_until(lambda: source.stats.oversize >= 3, what="oversize counted")
        sim.publisher.settings.mode = "normal"
        accepted = source.stats.accepted
        await wait_until(lambda: source.stats.accepted > accepted + 3, what="accepted again")
    assert source.stats.bad_schema == 0
