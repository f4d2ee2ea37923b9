"""Scripted people on the camera simulator: hands reaching into shelves reach the runtime."""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devices.camera.config import FloorHomography
from devices.camera.detection import LEFT_WRIST, RIGHT_WRIST, Detection
from devices.camera.metadata import MetadataSource, parse_detections
from sim_devices.camera.control import CameraControlServer
from sim_devices.camera.metadata import IDLE_HAND_SIDE_M, MetadataPublisher, MetadataSettings
from sim_devices.camera.scene import PersonState, Scene
from sim_devices.camera.script import Departure, Keyframe, Step, play, steps
from sim_devices.camera.simulator import CameraSimulator
from sim_devices.camera.view import CameraView
from sim_devices.control import ControlClient, ControlError
from vision_core.tracking.floor import CameraGeometry, FloorProjector

HAND_TOLERANCE_M = 0.03
"""Keypoints go out rounded to 0.1 px: a few millimetres on the floor at 640x480."""


def _publisher(view: CameraView, **settings: Any) -> MetadataPublisher:
    # never started: build() makes the payloads without a broker
    return MetadataPublisher(
        view, "cam1", "127.0.0.1", 1, settings=MetadataSettings(**settings), seed=2
    )


def _projector(view: CameraView) -> FloorProjector:
    homography = FloorHomography.from_matrix(view.image_to_floor.tolist())
    return FloorProjector({"cam1": CameraGeometry(homography)})


def _detections(publisher: MetadataPublisher, people: tuple[PersonState, ...]) -> list[Detection]:
    payload, _truth = publisher.build(0, 1767225600.0, people)
    return list(parse_detections("cam1", payload, 1.0).detections)


# --- the scene and the metadata, without a broker --------------------------------------


def test_a_placed_hand_is_carried_until_the_person_is_placed_again_without_one():
    scene = Scene(seed=1)
    scene.add_walkers(2)
    scene.place([(9, 2.0, 1.5, (2.2, 2.05)), (8, 5.0, 1.0)], replace=False)
    by_id = {p.id: p for p in scene.snapshot()}
    assert by_id[9].hand_m == (2.2, 2.05)
    assert by_id[8].hand_m is None
    assert all(by_id[pid].hand_m is None for pid in (1, 2))  # walkers never reach
    scene.step(1.0)
    assert {p.id: p for p in scene.snapshot()}[9] == by_id[9]
    scene.place([(9, 2.1, 1.5)], replace=False)
    assert {p.id: p for p in scene.snapshot()}[9].hand_m is None


@pytest.mark.parametrize("hand", [(1.0, math.nan), (math.inf, 1.0), (1.0,), (1.0, 2.0, 3.0)])
def test_a_bad_hand_is_refused_and_nobody_moves(hand):
    scene = Scene()
    scene.place([(1, 1.0, 1.0)], replace=True)
    with pytest.raises(ValueError, match="person 2: hand must be two finite numbers"):
        scene.place([(1, 3.0, 3.0), (2, 2.0, 1.0, hand)], replace=True)  # type: ignore[list-item]
    assert scene.snapshot() == (PersonState(1, 1.0, 1.0),)


@pytest.mark.parametrize("kind", ["oblique", "topdown"])
def test_the_right_wrist_is_the_hand_point_as_the_runtime_projects_it(kind):
    view = CameraView(Scene(), 640, 480, kind=kind, noise=0)
    projector = _projector(view)
    hands = {1: (2.2, 2.05), 2: (5.0, 4.15), 3: (6.9, 1.3)}
    people = (
        PersonState(1, 2.0, 1.5, hands[1]),
        PersonState(2, 5.2, 3.8, hands[2]),
        PersonState(3, 6.5, 1.0, hands[3]),
    )
    for detection in _detections(_publisher(view), people):
        assert detection.track_id is not None
        observation = projector.project(detection)
        assert observation is not None
        assert len(observation.hands_m) == 2  # left (arm down), right (the reach)
        right = observation.hands_m[-1]
        assert math.dist(right, hands[detection.track_id]) < HAND_TOLERANCE_M, (kind, right)
        assert detection.keypoints is not None
        assert detection.keypoints[RIGHT_WRIST][2] >= 0.9


def test_idle_hands_hang_beside_the_feet_and_a_reach_moves_only_the_right_wrist():
    view = CameraView(Scene(), 640, 480, noise=0)
    plain = (PersonState(1, 2.0, 1.5), PersonState(2, 5.0, 3.0))
    before = _detections(_publisher(view), plain)
    # read back through the homography, each idle wrist is on the floor beside the feet,
    # not half a metre beyond them where it would reach into any shelf in front
    for detection, person in zip(before, plain, strict=True):
        for index, side in ((LEFT_WRIST, -IDLE_HAND_SIDE_M), (RIGHT_WRIST, IDLE_HAND_SIDE_M)):
            wrist = detection.keypoint(index)
            assert wrist is not None
            floor = view.unproject(*wrist)
            assert math.dist(floor, (person.x_m + side, person.y_m)) < HAND_TOLERANCE_M
    # the other keypoints are fixed fractions of the box, as they always were
    box = view.person_box(2.0, 1.5)
    x1, y1, x2, y2 = (round(c, 1) for c in box)
    assert before[0].keypoint(0) == pytest.approx(
        (x1 + 0.50 * (x2 - x1), y1 + 0.08 * (y2 - y1)), abs=0.06
    )
    explicit = (PersonState(1, 2.0, 1.5, None), PersonState(2, 5.0, 3.0, None))
    assert _publisher(view).build(0, 0.0, explicit) == _publisher(view).build(0, 0.0, plain)
    reaching = (PersonState(1, 2.0, 1.5, (2.2, 2.05)), PersonState(2, 5.0, 3.0))
    after = _detections(_publisher(view), reaching)
    assert after[1] == before[1]
    assert after[0].box == before[0].box
    old_points, new_points = before[0].keypoints, after[0].keypoints
    assert old_points is not None
    assert new_points is not None
    changed = [
        i for i, pair in enumerate(zip(old_points, new_points, strict=True)) if pair[0] != pair[1]
    ]
    assert changed == [RIGHT_WRIST]
    assert after[0].keypoint(LEFT_WRIST) == before[0].keypoint(LEFT_WRIST)


def test_a_hand_the_camera_cannot_see_is_sent_unseen_and_the_truth_keeps_it():
    view = CameraView(Scene(), 320, 240, noise=0)
    publisher = _publisher(view)
    people = (PersonState(1, 2.0, 1.5, (2.0, -3.0)), PersonState(2, 4.0, 2.0, (4.0, 1e6)))
    payload, truth = publisher.build(0, 0.0, people)
    for detection in parse_detections("cam1", payload, 0.0).detections:
        assert detection.keypoint(RIGHT_WRIST) is None  # score 0: not seen
        assert detection.keypoint(LEFT_WRIST) is not None
    assert [p["hand_m"] for p in json.loads(truth)["people"]] == [[2.0, -3.0], [4.0, 1e6]]


def test_box_noise_jitters_the_wrist_too():
    view = CameraView(Scene(), 640, 480, noise=0)
    publisher = _publisher(view, box_noise_px=2.0)
    hand = (2.2, 2.05)
    exact = view.project(*hand)
    offsets = []
    for seq in range(40):
        payload, _ = publisher.build(seq, 0.0, (PersonState(1, 2.0, 1.5, hand),))
        (detection,) = parse_detections("cam1", payload, 0.0).detections
        wrist = detection.keypoint(RIGHT_WRIST)
        assert wrist is not None
        offsets.append(math.dist(wrist, exact))
    assert 0.5 < sum(offsets) / len(offsets) < 6.0  # about 2.5 px on average for sigma 2


# --- the control port -------------------------------------------------------------------


@pytest.fixture
async def control(camera_sim: CameraSimulator) -> AsyncIterator[ControlClient]:
    server = CameraControlServer(camera_sim)
    await server.start()
    try:
        async with ControlClient(server.port) as client:
            yield client
    finally:
        await server.stop()


async def test_the_people_command_takes_a_hand_and_old_requests_still_work(control):
    answer = await control.request(
        "people",
        people=[
            {"id": 5, "x_m": 2.0, "y_m": 1.5, "hand": [2.2, 2.05]},
            {"id": 6, "x_m": 4, "y_m": 1},
        ],
        replace=True,
    )
    assert answer["people"] == 2
    state = (await control.request("state"))["state"]
    assert [(p["id"], p["hand_m"]) for p in state["people"]] == [(5, [2.2, 2.05]), (6, None)]
    await control.request("people", people=[{"id": 5, "x_m": 2.1, "y_m": 1.5, "hand": None}])
    (five, six) = (await control.request("state"))["state"]["people"]
    assert (five["x_m"], five["hand_m"], six["id"]) == (2.1, None, 6)


@pytest.mark.parametrize(
    "hand",
    [[1.0], [1.0, 2.0, 3.0], [1.0, "2"], [True, 1.0], 5, "1,2", {"x": 1, "y": 2}, [[1], [2]]],
)
async def test_a_bad_hand_gets_a_clear_error_and_the_connection_stays_usable(control, hand):
    await control.request("people", people=[{"id": 1, "x_m": 1.0, "y_m": 1.0}], replace=True)
    people = [{"id": 2, "x_m": 2.0, "y_m": 2.0}, {"id": 3, "x_m": 2.0, "y_m": 2.0, "hand": hand}]
    with pytest.raises(ControlError, match=r"person 3: 'hand' must be \[x_m, y_m\], two finite"):
        await control.request("people", people=people, replace=True)
    state = (await control.request("state"))["state"]
    assert [p["id"] for p in state["people"]] == [1]  # the refused request changed nothing


async def test_a_non_finite_hand_gets_a_clear_error(control):
    for raw in (b"NaN", b"Infinity", b"-Infinity"):
        line = b'{"cmd": "people", "people": [{"id": 4, "x_m": 1, "y_m": 1, "hand": [1, '
        answer = await control.raw(line + raw + b"]}]}\n")
        assert answer["ok"] is False
        assert "person 4: 'hand' must be [x_m, y_m], two finite numbers" in answer["error"]
    assert (await control.request("people", people=[{"id": 4, "x_m": 1, "y_m": 1}]))["ok"]


# --- scripted playback ------------------------------------------------------------------


class _Recorder:
    """A control client that notes each request and the fake clock's time."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sent: list[tuple[float, str, dict[str, Any]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds * 2.0  # speed 2: the scenario clock runs twice as fast

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self.sent.append((self.now, cmd, fields))
        return {"ok": True}


def test_steps_group_the_script_by_time_and_refuse_nonsense():
    script = [
        Keyframe(0.5, 2, 3.0, 1.0),
        Keyframe(0.0, 1, 1.0, 1.0, (1.2, 2.0)),
        Departure(0.5, 1),
        Keyframe(0.0, 1, 1.1, 1.0),  # the later keyframe of one time wins
    ]
    assert steps(script) == [
        Step(0.0, (Keyframe(0.0, 1, 1.1, 1.0),), ()),
        Step(0.5, (Keyframe(0.5, 2, 3.0, 1.0),), (1,)),
    ]
    with pytest.raises(ValueError, match="person 1 both moves and leaves at t=1"):
        steps([Keyframe(1.0, 1, 1.0, 1.0), Departure(1.0, 1)])
    with pytest.raises(ValueError, match="finite number >= 0"):
        steps([Keyframe(-1.0, 1, 1.0, 1.0)])
    with pytest.raises(ValueError, match="finite number >= 0"):
        steps([Keyframe(math.nan, 1, 1.0, 1.0)])


async def test_play_sends_each_step_at_its_time():
    client = _Recorder()
    script = [
        Keyframe(0.0, 1, 1.0, 1.0),
        Keyframe(1.0, 1, 1.5, 1.2, (1.6, 2.05)),
        Keyframe(1.0, 2, 6.0, 1.0),
        Departure(2.5, 1),
    ]
    count = await play(client, script, clock=client.clock, sleep=client.sleep, speed=2.0)
    assert count == 3
    assert client.sent == [
        (100.0, "people", {"people": [], "replace": True}),
        (100.0, "people", {"people": [{"id": 1, "x_m": 1.0, "y_m": 1.0, "hand": None}]}),
        (
            101.0,
            "people",
            {
                "people": [
                    {"id": 1, "x_m": 1.5, "y_m": 1.2, "hand": [1.6, 2.05]},
                    {"id": 2, "x_m": 6.0, "y_m": 1.0, "hand": None},
                ]
            },
        ),
        (102.5, "remove", {"id": 1}),
    ]
    with pytest.raises(ValueError, match="speed"):
        await play(client, script, clock=client.clock, speed=0.0)


async def test_play_drives_the_simulators_control_port(control):
    script = [Keyframe(0.0, 3, 2.0, 1.5, (2.2, 2.05)), Keyframe(0.0, 4, 5.0, 1.0)]
    assert await play(control, script, clock=time.monotonic) == 1
    state = (await control.request("state"))["state"]  # the three walkers were cleared
    assert [(p["id"], p["hand_m"]) for p in state["people"]] == [(3, [2.2, 2.05]), (4, None)]
    assert await play(control, [Departure(0.0, 4)], clock=time.monotonic, clear=False) == 1
    assert [p["id"] for p in (await control.request("state"))["state"]["people"]] == [3]


# --- end to end: control port -> MQTT -> the runtime's parser and floor projection -----


async def _next_of(
    source: MetadataSource, track_id: int, foot_near: tuple[float, float], projector: FloorProjector
) -> tuple[Detection, Any]:
    """The first message that shows ``track_id`` standing at ``foot_near`` (the new step)."""
    while True:
        message = await source.read()
        for detection in message.detections:
            if detection.track_id != track_id:
                continue
            observation = projector.project(detection)
            if observation is not None and math.dist(observation.body_m, foot_near) < 0.05:
                return detection, observation


async def test_a_scripted_reach_reaches_the_runtime_over_mqtt(mosquitto):
    sim = CameraSimulator(
        fps=20, width=640, height=480, walkers=3, mqtt_host="127.0.0.1", mqtt_port=mosquitto.port
    )
    source = MetadataSource("meta", "127.0.0.1", mosquitto.port, cameras=["cam1"])
    server = CameraControlServer(sim)
    async with source, sim:
        await server.start()
        try:
            await source.wait_connected(10)
            projector = _projector(sim.view)
            hand = (2.2, 2.05)  # over shelf A's front edge
            async with ControlClient(server.port) as client:
                await play(client, [Keyframe(0.0, 7, 2.0, 1.5, hand)], clock=time.monotonic)
                reaching, seen = await _next_of(source, 7, (2.0, 1.5), projector)
                await play(client, [Keyframe(0.0, 7, 2.3, 1.5)], clock=time.monotonic, clear=False)
                resting, rest = await _next_of(source, 7, (2.3, 1.5), projector)
        finally:
            await server.stop()
    assert math.dist(seen.hands_m[-1], hand) < HAND_TOLERANCE_M
    assert reaching.keypoints is not None
    assert reaching.keypoints[RIGHT_WRIST][2] >= 0.9
    # Arms down again: the right wrist hangs beside the feet, off the shelf.
    assert resting.keypoints is not None
    assert math.dist(rest.hands_m[-1], (2.3 + IDLE_HAND_SIDE_M, 1.5)) < HAND_TOLERANCE_M
    assert math.dist(rest.hands_m[-1], hand) > 0.2
