"""The camera fleet against simulated cameras: MJPEG over HTTP and smart cameras over MQTT.

The detector here only records which camera each frame came from: what is
under test is which streams run, at what cap, under each supervisor profile.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from peers.mosquitto import Mosquitto, running_broker
from peers.waiting import wait_until

from devices.bus import Bus
from devices.camera.config import CameraConfig, CameraRole
from devices.camera.detection import Detection, PersonDetections
from devices.camera.frame import Frame
from facility.actuation import Actuator
from facility.actuation.outcome import ActionOutcome
from facility.supervisor import SetCameras, StoreMode
from sim_devices.camera.simulator import CameraSimulator
from vision_core.perception.pipeline import FramePipeline
from vision_core.perception.runner import DetectorRunner
from walkout.camera_fleet import CameraFleet, UnknownProfile, fps_cap_under, wanted


class FramesSeen:
    """A detector that finds nobody and counts the frames of each camera."""

    name = "frames-seen"
    max_batch = 4

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def detect(self, frames: Sequence[Frame]) -> list[tuple[Detection, ...]]:
        with self._lock:
            self.counts.update(f.camera_id for f in frames)
        return [() for _ in frames]

    def close(self) -> None:
        pass


@pytest.fixture
async def cameras() -> AsyncIterator[tuple[CameraSimulator, CameraSimulator]]:
    async with (
        CameraSimulator(camera_id="ceiling", fps=20, width=160, height=120, seed=1) as ceiling,
        CameraSimulator(camera_id="footfall", fps=20, width=160, height=120, seed=2) as footfall,
    ):
        yield ceiling, footfall


@pytest.fixture
def broker(tmp_path: Path, free_tcp_port: int) -> AsyncIterator[Mosquitto]:
    with running_broker(free_tcp_port, tmp_path) as mosquitto:
        yield mosquitto


def _configs(ceiling: CameraSimulator, footfall: CameraSimulator) -> list[CameraConfig]:
    return [
        CameraConfig("ceiling", CameraRole.CEILING, ceiling.ready()["url"], fps_cap=15.0),
        CameraConfig("footfall", CameraRole.ANALYTICS, footfall.ready()["url"]),
    ]


def test_profiles_choose_cameras_and_caps() -> None:
    configs = [
        CameraConfig("a", CameraRole.CEILING, "http://h/a", fps_cap=3.0),
        CameraConfig("b", CameraRole.SHELF, "http://h/b"),
        CameraConfig("c", CameraRole.ANALYTICS, "http://h/c", fps_cap=30.0),
    ]
    assert wanted(configs, "all") == {"a", "b", "c"}
    assert wanted(configs, "checkout_only") == {"a", "b"}
    assert wanted(configs, "checkout_low_fps") == {"a", "b"}
    assert wanted(configs, "off") == set()
    assert fps_cap_under(configs[0], "checkout_low_fps", 5.0) == 3.0  # already lower
    assert fps_cap_under(configs[1], "checkout_low_fps", 5.0) == 5.0
    assert fps_cap_under(configs[1], "checkout_only", 5.0) is None
    with pytest.raises(UnknownProfile, match="'dimmed' is not one of all, checkout_only"):
        wanted(configs, "dimmed")


def test_frame_cameras_need_a_runner() -> None:
    config = CameraConfig("a", CameraRole.CEILING, "http://h/a")
    with pytest.raises(ValueError, match="cameras a send frames"):
        CameraFleet([config], Bus(), runner=None)


async def test_profiles_stop_start_and_throttle_frame_cameras(cameras) -> None:
    ceiling, footfall = cameras
    bus = Bus()
    detector = FramesSeen()
    async with DetectorRunner(FramePipeline(detector), bus, name="fleet-test") as runner:
        fleet = CameraFleet(_configs(ceiling, footfall), bus, runner=runner, low_fps=4.0)
        try:
            await fleet.start()
            assert fleet.profile == "all"
            await wait_until(
                lambda: detector.counts["ceiling"] >= 3 and detector.counts["footfall"] >= 3,
                what="frames of both cameras reach the detector",
            )

            assert await fleet.set_profile("checkout_only") == "checkout_only"
            assert fleet.running == {"ceiling"}
            await wait_until(
                lambda: footfall.server.stats.active == 0, what="the analytics stream is closed"
            )
            assert ceiling.server.stats.active == 1
            source = fleet.source("ceiling")
            assert source is not None
            assert source.gate.fps_cap == 15.0

            assert await fleet.set_profile("checkout_low_fps") == "checkout_low_fps"
            assert fleet.source("ceiling") is source  # throttled in place, not reconnected
            assert source.gate.fps_cap == 4.0
            assert ceiling.server.stats.connections == 1

            assert await fleet.set_profile("off") == "off"
            assert fleet.running == set()
            await wait_until(lambda: ceiling.server.stats.active == 0, what="every stream closed")

            await fleet.set_profile("all")
            before = detector.counts["footfall"]
            await wait_until(
                lambda: detector.counts["footfall"] > before, what="the analytics camera is back"
            )
            restarted = fleet.source("ceiling")
            assert restarted is not None
            assert restarted.gate.fps_cap == 15.0
        finally:
            await fleet.close()
    assert fleet.profile is None
    assert fleet.running == set()
    await wait_until(lambda: ceiling.server.stats.active == 0, what="closed on close()")


async def test_a_camera_that_is_down_does_not_stop_the_others(cameras, free_tcp_port) -> None:
    ceiling, _ = cameras
    bus = Bus()
    detector = FramesSeen()
    configs = [
        CameraConfig("ceiling", CameraRole.CEILING, ceiling.ready()["url"]),
        CameraConfig("gone", CameraRole.SHELF, f"http://127.0.0.1:{free_tcp_port}/stream.mjpg"),
    ]
    async with DetectorRunner(FramePipeline(detector), bus, name="fleet-test") as runner:
        fleet = CameraFleet(configs, bus, runner=runner)
        try:
            await fleet.start()
            await wait_until(lambda: detector.counts["ceiling"] >= 3, what="the live camera runs")
            assert detector.counts["gone"] == 0
            assert fleet.running == {"ceiling", "gone"}  # still trying to reconnect
        finally:
            await fleet.close()


async def test_smart_cameras_are_subscribed_per_profile(broker: Mosquitto) -> None:
    bus = Bus()
    seen = bus.subscribe(PersonDetections, maxsize=1000)
    url = f"mqtt://127.0.0.1:{broker.port}"
    configs = [
        CameraConfig("smart-ceiling", CameraRole.CEILING, url),
        CameraConfig("smart-footfall", CameraRole.ANALYTICS, url),
    ]
    async with (
        CameraSimulator(
            camera_id="smart-ceiling", fps=10, width=160, height=120, mqtt_host="127.0.0.1",
            mqtt_port=broker.port, metadata_fps=10,
        ) as _ceiling,
        CameraSimulator(
            camera_id="smart-footfall", fps=10, width=160, height=120, mqtt_host="127.0.0.1",
            mqtt_port=broker.port, metadata_fps=10, seed=3,
        ) as _footfall,
    ):  # fmt: skip
        fleet = CameraFleet(configs, bus, runner=None)
        try:
            await fleet.start()
            cameras_seen: set[str] = set()
            while cameras_seen != {"smart-ceiling", "smart-footfall"}:
                cameras_seen.add((await seen.get()).camera_id)

            await fleet.set_profile("checkout_only")
            assert fleet.running == {"smart-ceiling"}
            # after the resubscription only the checkout camera is heard
            after: Counter[str] = Counter()
            while after["smart-ceiling"] < 20:
                after[(await seen.get()).camera_id] += 1
            assert after["smart-footfall"] <= 2  # at most what was in flight at the switch
        finally:
            await fleet.close()
            seen.close()


async def test_the_supervisors_camera_action_drives_the_fleet_and_reads_it_back(cameras) -> None:
    ceiling, footfall = cameras
    bus = Bus()
    outcomes = bus.subscribe(ActionOutcome, maxsize=100)
    async with DetectorRunner(FramePipeline(FramesSeen()), bus, name="fleet-test") as runner:
        fleet = CameraFleet(_configs(ceiling, footfall), bus, runner=runner)
        actuator = Actuator(bus, cameras=fleet, timeout_s=5.0)
        task = asyncio.create_task(actuator.run())
        try:
            await fleet.start()
            await asyncio.wait_for(actuator.ready.wait(), 5.0)
            await bus.publish(
                SetCameras(
                    source="supervisor", t_mono=0.0, mode=StoreMode.CONSERVE,
                    profile="checkout_only",
                )
            )  # fmt: skip
            async with asyncio.timeout(10):
                outcome = await outcomes.get()
            assert isinstance(outcome, ActionOutcome)
            assert (outcome.kind, outcome.ok, outcome.verified) == ("set_cameras", True, True)
            assert fleet.running == {"ceiling"}
            await wait_until(lambda: footfall.server.stats.active == 0, what="analytics stopped")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await fleet.close()
            outcomes.close()
