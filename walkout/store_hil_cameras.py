"""The cameras of a hardware-in-the-loop run: smart-camera simulators, their broker, their tracks.

A store is bigger than one camera's view, so the run's floor is covered by
a grid of top-down smart cameras (:func:`camera_layout`), each its own
simulator process (``python -m sim_devices.camera serve``) with its own
camera id, its own part of the floor (``--floor-width-m``,
``--floor-depth-m``) and its own seed, neighbours overlapping by
``overlap_m``. They publish their people's detections (boxes, keypoints,
per-camera track ids) over MQTT to a Mosquitto broker of the run's own, on
a free loopback port.

The store simulator's people are sent to every camera as scripted
keyframes (:func:`camera_script`, shifted onto each camera's floor; one
person per shopper of the simulator's truth, :class:`People`); a
camera detects only the people whose floor point is in its picture, so a
shopper in an overlap is seen by two cameras at once, and one walking
across it is handed from one to the other. Each tracker sample of a track
places that person, with the right hand on the shelf point while reaching.
A person leaves the cameras one frame period after the track's last
sample (taken at the exit passage): a real camera still shows someone who
has just gone through the door, and the exit decision allows for it
(:attr:`CameraSetup.ended_slack_s`, given to the track sessions).

The detections are not clean (:class:`CameraSetup`): box edges and
keypoints jitter by ``box_noise_px`` (3 px is 2 to 4 cm on the floor at
the 75 to 130 px per metre of these views) and a person is missed in a
frame with ``miss_rate``, from each camera's own seed, so runs repeat.
The picture's own sensor noise (``--noise``) never reaches the metadata.

The runtime side is the vision path ``walkout run`` wires for smart
cameras: a :class:`MetadataSource` subscribed to every camera's topic,
:class:`MetadataPassthrough` (score floor), a :class:`CameraTracker` where
a detection has no track id, :class:`FloorProjector` with each camera's
own homography, and :class:`FloorFusion` into one track per shopper
across the cameras: the tracking service's own :class:`ShopperFusion`
behind the score floor (:class:`CameraTracks`). Its samples go to the
replay adapter's :class:`TrackSessions`, which binds them to sessions as
it does records.

Each camera's floor has its origin at a corner; its store placement
(:attr:`CameraPlacement.origin_m`) shifts the store's people onto it, and
the projector gets the camera's homography followed by the opposite shift,
so the runtime sees store coordinates, as cameras calibrated on the
store's floor plan would give them.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import socket
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from devices.camera.config import FloorHomography
from devices.camera.detection import PersonDetections
from sim_devices.camera.script import Departure, Keyframe
from sim_devices.process import SimulatorProcess
from sim_devices.store_sim import Record, TrackRecord, TrackTruth
from sim_devices.store_sim.scenario import StoreScenario
from vision_core.perception.metadata import MetadataPassthrough
from vision_core.tracking.floor import CameraGeometry, FloorProjector
from vision_core.tracking.service import ShopperFusion, ShopperSample
from walkout.store_hil_gates import READY_TIMEOUT_S

CAMERA_FLOOR_M = (8.0, 6.0)
"""The most floor one camera covers, metres: a ceiling camera about 3 m up with a wide lens."""
CAMERA_FPS = 10.0
"""Frames (and metadata messages) per second: the store simulator's tracker runs at 2 Hz."""
CLOCK_SKEW_S = 0.05
"""How far a camera's frame times and the gates' event times may disagree (loopback, one host)."""
OVERLAP_M = 1.0
"""Neighbouring cameras share this much floor: a shopper crossing is seen by both."""
MARGIN_M = 0.25
"""Floor added around the run's extent, so nobody stands on a camera's outermost pixels."""
REACH_M = 0.35
"""A hand farther than this from the body is reaching (idle hands hang about 0.2 m away)."""
BROKER_WAIT_S = 10.0
SPAN_SLACK_S = 1e-6
"""A sample this close before a truth span's start is in it (times are sums of floats)."""

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class CameraSetup:
    """How a run's cameras cover the floor and how well they see.

    ``min_columns`` and ``min_rows`` ask for more cameras than the floor
    needs (a small run on two cameras, to exercise the fusion). The noise
    defaults are a good detector's: 3 px of box and keypoint jitter, one
    person in 50 frames missed.
    """

    max_floor_m: Point = CAMERA_FLOOR_M
    overlap_m: float = OVERLAP_M
    min_columns: int = 1
    min_rows: int = 1
    fps: float = CAMERA_FPS
    box_noise_px: float = 3.0
    miss_rate: float = 0.02
    id_switch_rate: float = 0.0
    """Per person and frame, the chance that a camera gives the person a new track id."""
    seed: int = 0
    """Camera ``i`` draws its errors from ``seed + i``."""

    def __post_init__(self) -> None:
        width, depth = self.max_floor_m
        if not (math.isfinite(self.overlap_m) and self.overlap_m >= 0):
            raise ValueError(f"overlap_m must be a finite number >= 0, got {self.overlap_m}")
        if not (width > self.overlap_m and depth > self.overlap_m):
            raise ValueError(
                f"a camera's floor ({width} x {depth} m) must be wider than the overlap "
                f"({self.overlap_m} m)"
            )
        if self.min_columns < 1 or self.min_rows < 1:
            raise ValueError("min_columns and min_rows must be >= 1")
        if not 0 < self.fps <= 100:
            raise ValueError(f"fps must be within (0, 100], got {self.fps}")
        if self.box_noise_px < 0 or not 0 <= self.miss_rate <= 1:
            raise ValueError("box_noise_px must be >= 0 and miss_rate within 0..1")
        if not 0 <= self.id_switch_rate <= 1:
            raise ValueError(f"id_switch_rate must be within 0..1, got {self.id_switch_rate}")

    @property
    def frame_s(self) -> float:
        """One frame period, seconds."""
        return 1.0 / self.fps

    @property
    def ended_slack_s(self) -> float:
        """The track sessions' exit slack these cameras need: one frame and the clock skew."""
        return self.frame_s + CLOCK_SKEW_S


@dataclass(frozen=True, slots=True)
class CameraPlacement:
    """One camera of the grid: its id and the store rectangle its floor is."""

    camera_id: str
    origin_m: Point
    """Store point of the camera floor's (0, 0) corner."""
    floor_m: Point
    """Width and depth of its floor, metres."""

    def covers(self, point: Point) -> bool:
        """Whether a store point is on this camera's floor."""
        x, y = point[0] - self.origin_m[0], point[1] - self.origin_m[1]
        return 0.0 <= x <= self.floor_m[0] and 0.0 <= y <= self.floor_m[1]


@dataclass(frozen=True, slots=True)
class Extent:
    """The store rectangle a run uses, metres."""

    min_x: float
    min_y: float
    max_x: float
    max_y: float


def run_extent(scenario: StoreScenario, records: Iterable[Record]) -> Extent:
    """Where the run happens: its gates, its shelves' front edges, every body and reaching hand.

    Idle hands are the cameras' own (fixed fractions of the box), not the run's.
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
    return Extent(min(xs), min(ys), max(xs), max(ys))


def camera_layout(extent: Extent, setup: CameraSetup | None = None) -> list[CameraPlacement]:
    """Cameras in a grid over the extent (plus :data:`MARGIN_M`), neighbours overlapping.

    As few columns and rows as cover it with floors no bigger than
    ``max_floor_m`` (at least ``min_columns`` x ``min_rows``); the floor is
    shared out evenly, so every camera has the same size. Ids are
    ``cam-<row>-<column>`` from the store's origin corner.
    """
    setup = setup or CameraSetup()
    overlap = setup.overlap_m
    x0, y0 = extent.min_x - MARGIN_M, extent.min_y - MARGIN_M
    width = extent.max_x - extent.min_x + 2 * MARGIN_M
    depth = extent.max_y - extent.min_y + 2 * MARGIN_M
    columns = max(setup.min_columns, _cells(width, setup.max_floor_m[0], overlap))
    rows = max(setup.min_rows, _cells(depth, setup.max_floor_m[1], overlap))
    cam_w = (width + (columns - 1) * overlap) / columns
    cam_d = (depth + (rows - 1) * overlap) / rows
    return [
        CameraPlacement(
            f"cam-{row}-{column}",
            (x0 + column * (cam_w - overlap), y0 + row * (cam_d - overlap)),
            (cam_w, cam_d),
        )
        for row in range(rows)
        for column in range(columns)
    ]


def _cells(length_m: float, most_m: float, overlap_m: float) -> int:
    """How many floors of at most ``most_m``, overlapping by ``overlap_m``, span ``length_m``."""
    if length_m <= most_m:
        return 1
    return math.ceil((length_m - overlap_m) / (most_m - overlap_m) - 1e-9)


def _reach(record: TrackRecord) -> Point | None:
    """The hand farthest from the body when it is reaching, else None."""
    bx, by = record.body_xy
    far = max(record.hands_xy, key=lambda h: (h[0] - bx) ** 2 + (h[1] - by) ** 2, default=None)
    if far is None or (far[0] - bx) ** 2 + (far[1] - by) ** 2 <= REACH_M**2:
        return None
    return far


@dataclass(frozen=True)
class People:
    """Which person each tracker sample shows, as the cameras number them (from 1).

    The store simulator's tracker switches and swaps ids (its truth says
    who each id followed, and when); a camera sees the people themselves,
    so its person ids follow the truth's shoppers, in order of first
    appearance. A track the truth does not know is a person of its own.
    The cameras' own id errors are theirs to make (``--id-switch-rate``).
    """

    spans: Mapping[str, Sequence[TrackTruth]]
    ids: Mapping[str, int]

    @classmethod
    def of(cls, records: Iterable[Record], tracks: Iterable[TrackTruth] = ()) -> People:
        spans: dict[str, list[TrackTruth]] = {}
        for span in tracks:
            spans.setdefault(span.track_id, []).append(span)
        for track_spans in spans.values():
            track_spans.sort(key=lambda span: span.t_start)
        people = cls(spans, {})
        ids: dict[str, int] = {}
        for record in records:
            if isinstance(record, TrackRecord):
                ids.setdefault(people.shopper(record), len(ids) + 1)
        return cls(spans, ids)

    def shopper(self, record: TrackRecord) -> str:
        """Whom the sample shows: the truth's shopper then, else the track itself.

        A sample a rounding error before its track's first span is that span's.
        """
        spans = self.spans.get(record.track_id, ())
        if not spans:
            return record.track_id
        found = spans[0].shopper_id
        for span in spans:
            if span.t_start <= record.t + SPAN_SLACK_S:
                found = span.shopper_id
        return found

    def person(self, record: TrackRecord) -> int:
        """The cameras' person id of the one a sample shows."""
        return self.ids[self.shopper(record)]


def camera_script(
    records: Sequence[Record], origin_m: Point, people: People, *, linger_s: float
) -> list[Keyframe | Departure]:
    """The run's tracks as one camera's script, on its floor (every person, seen or not).

    Each track sample is a keyframe of the person it shows; a person leaves
    ``linger_s`` after their last sample (taken at the exit passage): one
    frame period, as long as a real camera still shows someone who has just
    gone through the door.
    """
    if not (math.isfinite(linger_s) and linger_s >= 0):
        raise ValueError(f"linger_s must be a finite number >= 0, got {linger_s}")
    ox, oy = origin_m
    script: list[Keyframe | Departure] = []
    last: dict[int, float] = {}
    for record in records:
        if not isinstance(record, TrackRecord):
            continue
        person = people.person(record)
        hand = _reach(record)
        script.append(
            Keyframe(
                record.t,
                person,
                record.body_xy[0] - ox,
                record.body_xy[1] - oy,
                None if hand is None else (hand[0] - ox, hand[1] - oy),
            )
        )
        last[person] = max(last.get(person, -math.inf), record.t)
    script += [Departure(t + linger_s, person) for person, t in last.items()]
    return script


def store_homography(image_to_floor: Sequence[Sequence[float]], origin_m: Point) -> FloorHomography:
    """The camera's image -> camera-floor matrix, then the shift onto the store's floor plan."""
    shift = np.array([[1.0, 0.0, origin_m[0]], [0.0, 1.0, origin_m[1]], [0.0, 0.0, 1.0]])
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


def camera_process(
    mqtt_port: int, placement: CameraPlacement, setup: CameraSetup, index: int
) -> SimulatorProcess:
    """``python -m sim_devices.camera serve``: one top-down smart camera over its floor, on MQTT.

    No walkers (the script places everyone). ``index`` picks the camera's
    seed, so cameras miss and jitter independently.
    """
    return SimulatorProcess(
        command=("sim_devices.camera", "serve"),
        args=(
            "--camera-id",
            placement.camera_id,
            "--view",
            "topdown",
            "--floor-width-m",
            f"{placement.floor_m[0]:.4f}",
            "--floor-depth-m",
            f"{placement.floor_m[1]:.4f}",
            "--walkers",
            "0",
            "--fps",
            str(setup.fps),
            "--seed",
            str(setup.seed + index),
            "--box-noise-px",
            str(setup.box_noise_px),
            "--miss-rate",
            str(setup.miss_rate),
            "--id-switch-rate",
            str(setup.id_switch_rate),
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

    Besides the fusion's counts it keeps ``messages`` per camera
    (:attr:`messages`) and how often fusion joined cameras: ``merges`` (a
    camera's track linked to a shopper another camera had already started)
    and ``merged_shoppers`` (shopper tracks seen by two cameras or more).
    """

    shoppers: ShopperFusion
    passthrough: MetadataPassthrough = field(default_factory=MetadataPassthrough)
    messages: Counter[str] = field(default_factory=Counter)
    _cameras_of: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)

    @property
    def counts(self) -> Counter[str]:
        """Messages and samples, with the fusion's own counts (detections, tracks started...)."""
        return self.shoppers.counts

    @classmethod
    def for_cameras(cls, homographies: Mapping[str, FloorHomography]) -> CameraTracks:
        """One fusion over every camera, each placed on the floor plan by its homography."""
        geometry = {camera: CameraGeometry(h) for camera, h in homographies.items()}
        return cls(ShopperFusion(FloorProjector(geometry)))

    def feed(self, message: PersonDetections) -> list[ShopperSample]:
        """One camera message: (shopper track, its newest sample, appearance) per shopper seen."""
        self.counts["messages"] += 1
        self.messages[message.camera_id] += 1
        self.shoppers.fusion.expire(message.t_mono)
        accepted = self.passthrough.accept(message)
        if accepted is None:
            return []
        out = self.shoppers.samples(accepted)
        self.counts["samples"] += len(out)
        self._count_merges(accepted)
        return out

    def _count_merges(self, message: PersonDetections) -> None:
        fusion = self.shoppers.fusion
        active = {track.track_id for track in fusion.active_tracks}
        for gone in self._cameras_of.keys() - active:
            del self._cameras_of[gone]
        for detection in message.detections:
            if detection.track_id is None:
                continue
            shopper = fusion.shopper_of(message.camera_id, detection.track_id)
            if shopper is None:
                continue
            cameras = self._cameras_of.setdefault(shopper.track_id, set())
            if message.camera_id in cameras:
                continue
            cameras.add(message.camera_id)
            if len(cameras) > 1:
                self.counts["merges"] += 1
            if len(cameras) == 2:
                self.counts["merged_shoppers"] += 1
