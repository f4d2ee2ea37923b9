"""The cameras of a hardware-in-the-loop run: a smart-camera simulator, its broker, its tracks.

One smart-camera simulator (``python -m sim_devices.camera serve``, its own
process) looks straight down at the store floor and publishes its people's
detections (boxes, keypoints, track ids) over MQTT to a Mosquitto broker of
the run's own, on a free loopback port. The store simulator's people are
sent to it as scripted keyframes (:func:`camera_script`): each tracker
sample of a track places that person, with the right hand on the shelf
point while reaching, and the person leaves the camera's floor at the
track's last sample.

The runtime side is the vision path ``walkout run`` wires for smart
cameras: a :class:`MetadataSource` subscribed to the camera's topic,
:class:`MetadataPassthrough` (score floor), a :class:`CameraTracker` where
a detection has no track id, :class:`FloorProjector` with the camera's own
homography, and :class:`FloorFusion` into one track per shopper: the
tracking service's own :class:`ShopperFusion` behind the score floor
(:class:`CameraTracks`). Its samples go to the replay adapter's
:class:`TrackSessions`, which binds them to sessions as it does records.

The simulated camera's floor is 8 x 6 m with its origin at a corner; the
store floor is placed on it with a fixed offset (:func:`floor_offset`: the
smallest x and y the run uses), and the projector gets the camera's
homography followed by that offset, so the runtime sees store coordinates,
as a camera calibrated on the store's floor plan would give them.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devices.camera.config import FloorHomography
from devices.camera.detection import PersonDetections
from sim_devices.camera.script import Departure, Keyframe
from sim_devices.process import SimulatorProcess
from sim_devices.store_sim import Record, TrackRecord
from sim_devices.store_sim.scenario import StoreScenario
from vision_core.perception.metadata import MetadataPassthrough
from vision_core.tracking.floor import CameraGeometry, FloorProjector
from vision_core.tracking.service import ShopperFusion, ShopperSample
from walkout.store_hil_gates import READY_TIMEOUT_S

CAMERA_ID = "hil-cam"
CAMERA_FLOOR_M = (8.0, 6.0)
"""The camera simulator's floor (its scene's default size), metres."""
CAMERA_FPS = 10.0
"""Frames (and metadata messages) per second: the store simulator's tracker runs at 2 Hz."""
REACH_M = 0.35
"""A hand farther than this from the body is reaching (idle hands hang about 0.2 m away)."""
BROKER_WAIT_S = 10.0


Point = tuple[float, float]


def floor_offset(scenario: StoreScenario, records: Iterable[Record]) -> Point:
    """Store point of the camera floor's origin; ValueError when the run does not fit on it.

    The run's extent is its gates, its shelves' front edges and every body
    point and reaching hand of its tracks (idle hands are the camera's own).
    """
    floor = scenario.floor
    xs = [floor.entry.x_m, floor.exit.x_m]
    ys = [floor.entry.y_m, floor.exit.y_m]
    for shelf in floor.shelves:
        xs += [shelf.x_m, shelf.x_m + shelf.length_m]
        ys.append(shelf.y_m)
    for record in records:
        if isinstance(record, TrackRecord):
            reach = _reach(record)
            for x, y in (record.body_xy,) if reach is None else (record.body_xy, reach):
                xs.append(x)
                ys.append(y)
    width, depth = max(xs) - min(xs), max(ys) - min(ys)
    if width > CAMERA_FLOOR_M[0] or depth > CAMERA_FLOOR_M[1]:
        raise ValueError(
            f"the run spans {width:.2f} x {depth:.2f} m; the camera sees "
            f"{CAMERA_FLOOR_M[0]} x {CAMERA_FLOOR_M[1]} m"
        )
    return min(xs), min(ys)


def _reach(record: TrackRecord) -> Point | None:
    """The hand farthest from the body when it is reaching, else None."""
    bx, by = record.body_xy
    far = max(record.hands_xy, key=lambda h: (h[0] - bx) ** 2 + (h[1] - by) ** 2, default=None)
    if far is None or (far[0] - bx) ** 2 + (far[1] - by) ** 2 <= REACH_M**2:
        return None
    return far


def camera_script(
    records: Sequence[Record], offset: Point
) -> tuple[list[Keyframe | Departure], dict[str, int]]:
    """The run's tracks as the camera's script, on its floor; and the person id of each track.

    People are numbered from 1 in order of first appearance. A track's last
    sample (at the exit gate, at the passage) becomes the person's departure:
    the exit decision counts only a track whose last sample came no later
    than just after the passage, and a camera shows a person until it is
    told otherwise, so leaving a frame later would be too late. The track
    then ends at its previous sample, one tracker period before, near the gate.
    """
    ox, oy = offset
    ids: dict[str, int] = {}
    frames: dict[str, list[Keyframe]] = {}
    for record in records:
        if not isinstance(record, TrackRecord):
            continue
        person = ids.setdefault(record.track_id, len(ids) + 1)
        hand = _reach(record)
        frames.setdefault(record.track_id, []).append(
            Keyframe(
                record.t,
                person,
                record.body_xy[0] - ox,
                record.body_xy[1] - oy,
                None if hand is None else (hand[0] - ox, hand[1] - oy),
            )
        )
    script: list[Keyframe | Departure] = []
    for keyframes in frames.values():
        last = max(keyframes, key=lambda k: k.t)
        script += [k for k in keyframes if k.t < last.t]
        script.append(Departure(last.t, last.person_id))
    return script, ids


def store_homography(image_to_floor: Sequence[Sequence[float]], offset: Point) -> FloorHomography:
    """The camera's image -> camera-floor matrix, then the shift onto the store's floor plan."""
    shift = np.array([[1.0, 0.0, offset[0]], [0.0, 1.0, offset[1]], [0.0, 0.0, 1.0]])
    matrix = shift @ np.asarray(image_to_floor, dtype=np.float64)
    return FloorHomography.from_matrix(matrix.tolist())


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def mosquitto(workdir: Path, *, wait_s: float = BROKER_WAIT_S) -> AsyncIterator[int]:
    """A Mosquitto broker on a free loopback port for the block (its port); stopped on every path.

    Anonymous clients, no persistence: the run's own broker, nothing kept.
    """
    binary = shutil.which("mosquitto")
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    with (workdir / "mosquitto.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(binary, "-c", str(conf), stdout=log, stderr=log)
    try:
        async with asyncio.timeout(wait_s):
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"mosquitto exited with {proc.returncode}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)  # polling the listener of a process we started
                    continue
                writer.close()
                await writer.wait_closed()
                break
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(5.0):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


def camera_process(mqtt_port: int, *, fps: float = CAMERA_FPS) -> SimulatorProcess:
    """``python -m sim_devices.camera serve``: one top-down smart camera, no walkers, on MQTT."""
    return SimulatorProcess(
        command=("sim_devices.camera", "serve"),
        args=(
            "--camera-id",
            CAMERA_ID,
            "--view",
            "topdown",
            "--walkers",
            "0",
            "--fps",
            str(fps),
            "--noise",
            "0",
            "--mqtt-host",
            "127.0.0.1",
            "--mqtt-port",
            str(mqtt_port),
        ),
        ready_timeout_s=READY_TIMEOUT_S,
    )


@dataclass
class CameraTracks:
    """Smart-camera detections to shopper samples: the runtime's smart-camera tracking path.

    The score floor of :class:`MetadataPassthrough`, then the tracking
    service's own :class:`ShopperFusion` (what it does before binding, which
    the replay adapter's own track sessions do here).
    """

    shoppers: ShopperFusion
    passthrough: MetadataPassthrough = field(default_factory=MetadataPassthrough)

    @property
    def counts(self) -> Counter[str]:
        """Messages and samples, with the fusion's own counts (detections, tracks started...)."""
        return self.shoppers.counts

    @classmethod
    def for_camera(cls, camera_id: str, homography: FloorHomography) -> CameraTracks:
        return cls(ShopperFusion(FloorProjector({camera_id: CameraGeometry(homography)})))

    def feed(self, message: PersonDetections) -> list[ShopperSample]:
        """One camera message: (shopper track, its newest sample, appearance) per shopper seen."""
        self.counts["messages"] += 1
        self.shoppers.fusion.expire(message.t_mono)
        accepted = self.passthrough.accept(message)
        if accepted is None:
            return []
        out = self.shoppers.samples(accepted)
        self.counts["samples"] += len(out)
        return out
