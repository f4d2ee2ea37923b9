"""The vision core from config: cameras, the detector, and shopper tracks bound to sessions.

``open_vision`` starts the detector runner (when there are frame cameras;
loading and hashing the model happens on its worker thread), the camera
fleet under the ``all`` profile, and builds the tracking service that turns
every camera's people into ``TrackSample``s and bound exits for the checkout.
It closes them on every exit path. A store without cameras gets None.

What would silently give an empty checkout is refused when the file is
loaded instead: frame cameras with a ``metadata`` detector (nothing would
look at their frames), and, for a store that checks out, a camera without a
floor homography or a gate without a floor point (no track could be bound).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devices.bus import Bus
from devices.camera.config import CameraConfig
from vision_core.perception.config import MetadataConfig
from vision_core.perception.pipeline import build_pipeline
from vision_core.perception.runner import DetectorRunner
from vision_core.tracking.binding import EntryGate
from vision_core.tracking.floor import CameraGeometry, FloorProjector
from vision_core.tracking.service import ShopperTrackingService
from vision_core.tracking.sessions import ENDED_SLACK_S, TrackSessions, TrackSessionSettings
from walkout.camera_fleet import CameraFleet
from walkout.config import ConfigError, StoreConfig


@dataclass
class VisionWiring:
    """What the vision core runs; ``tracking`` is None for a store without gates."""

    fleet: CameraFleet
    runner: DetectorRunner | None
    tracking: ShopperTrackingService | None


def check_vision(config: StoreConfig) -> list[CameraConfig]:
    """The cameras' driver configs; ConfigError for a setup that would track nobody."""
    cameras = [camera.driver_config() for camera in config.cameras]
    problems: list[tuple[str, str]] = []
    detector = config.vision.perception.detector
    for index, camera in enumerate(cameras):
        where = f"cameras[{index}] (id={camera.id})"
        if isinstance(detector, MetadataConfig) and camera.source_kind != "metadata":
            problems.append(
                (f"{where}.url", "sends frames, but vision.perception.detector is 'metadata'")
            )
        if config.checkout is not None and camera.floor is None:
            problems.append((f"{where}.floor", "the checkout needs every camera on the floor plan"))
    gates = config.gate_list
    if config.checkout is not None and cameras:
        for index, gate in enumerate(gates):
            if gate.floor is None:
                problems.append(
                    (f"gates.gates[{index}] (id={gate.id}).floor", "the checkout binds shoppers to "
                     "sessions at the gates: give the gate's position on the floor plan")
                )  # fmt: skip
        if not any(g.role == "exit" for g in gates) or not any(g.role == "entry" for g in gates):
            problems.append(("gates", "the checkout with cameras needs an entry and an exit gate"))
    if problems:
        raise ConfigError("store.yaml", problems)
    return cameras


def track_sessions(config: StoreConfig) -> TrackSessions | None:
    """The gates' floor points as track binding needs them; None without both kinds of gate.

    A camera shows the person who just went out for up to a frame after the
    door sensed them, so the exit decision's slack is one frame at the
    slowest rate the store runs its cameras at (``vision.low_fps``, the
    supervisor's cap when the checkout is degraded) plus the clocks' skew.
    """
    gates = config.gate_list
    placed = [(g, (g.floor.x_m, g.floor.y_m)) for g in gates if g.floor is not None]
    entries = [EntryGate(g.id, point) for g, point in placed if g.role == "entry"]
    exits = {g.id: point for g, point in placed if g.role == "exit"}
    if not entries or not exits:
        return None
    settings = TrackSessionSettings(ended_slack_s=ENDED_SLACK_S + 1.0 / config.vision.low_fps)
    return TrackSessions(entries, exits, settings)


@contextlib.asynccontextmanager
async def open_vision(config: StoreConfig, bus: Bus) -> AsyncIterator[VisionWiring | None]:
    """The cameras and tracking of store.yaml, running; None for a store without cameras."""
    cameras = check_vision(config)
    if not cameras:
        yield None
        return
    vision = config.vision
    perception = vision.perception
    runner: DetectorRunner | None = None
    if any(c.source_kind != "metadata" for c in cameras):
        runner = DetectorRunner(
            lambda: build_pipeline(perception),
            bus,
            detect_every_n=perception.detect_every_n,
            queue_size=perception.queue_size,
        )
    projector = FloorProjector(
        {c.id: CameraGeometry(c.floor) for c in cameras if c.floor is not None},
        hand_height_m=vision.hand_height_m,
    )
    sessions = track_sessions(config)
    min_score = perception.detector.min_score
    tracking = (
        None
        if sessions is None
        else ShopperTrackingService(bus, projector, sessions, min_score=min_score)
    )
    fleet = CameraFleet(cameras, bus, runner=runner, low_fps=vision.low_fps)
    async with contextlib.AsyncExitStack() as stack:
        if runner is not None:
            await runner.start()
            stack.push_async_callback(runner.close)
        stack.push_async_callback(fleet.close)
        await fleet.start()
        yield VisionWiring(fleet, runner, tracking)
