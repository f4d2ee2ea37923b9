"""One simulated camera: the scene, its renderer, the MJPEG server, optional metadata.

Frames are produced on a fixed schedule at ``fps`` (a late frame is not made
up for), rendered and JPEG-encoded on the simulator's own worker thread so
the event loop keeps serving. Picture faults:

- ``freeze``: the last JPEG is sent again and again, byte for byte;
- ``black``: a covered lens (black, with the timestamp overlay and noise);
- ``corrupt``: parts of random bytes instead of JPEGs;
- ``slow``: the frame rate drops to the fault's ``fps``;
- ``stall``: nothing is sent, the connections stay open;
- ``none``: back to normal.

``loop_frames`` renders that many frames at start and serves them in a
loop instead of rendering each one: a camera that costs the simulator
almost no CPU, for benchmarks of the receiving side.

One-shot actions: ``drop`` (cut every stream) and ``restart`` (the server
goes away and comes back on the same port after ``down_s``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sim_devices.camera.metadata import MetadataPublisher, MetadataSettings
from sim_devices.camera.scene import DEFAULT_FLOOR_M, PersonState, Scene, shelves_on
from sim_devices.camera.server import MjpegServer
from sim_devices.camera.view import CameraView, Image, VideoFrames, encode_jpeg

PICTURE_FAULTS = ("none", "freeze", "black", "corrupt", "slow", "stall")
ACTIONS = ("drop", "restart")


class CameraSimError(ValueError):
    """A request the simulator cannot carry out; the text says why."""


@dataclass
class CameraSimStats:
    """Counters of the frame producer."""

    frames: int = 0
    late_frames: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


class CameraSimulator:
    """A camera on ``host``:``port`` (0 picks a free port)."""

    def __init__(
        self,
        *,
        camera_id: str = "cam1",
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float | None = None,
        width: int = 640,
        height: int = 480,
        quality: int = 80,
        view: str = "oblique",
        walkers: int = 3,
        seed: int = 0,
        noise: float = 2.0,
        video: Path | None = None,
        mqtt_host: str | None = None,
        mqtt_port: int = 1883,
        metadata_fps: float | None = None,
        metadata: MetadataSettings | None = None,
        loop_frames: int = 0,
        floor_m: tuple[float, float] = DEFAULT_FLOOR_M,
    ) -> None:
        """``floor_m``: width and depth of the floor the picture shows, metres.

        The view fits it to the image (``topdown`` keeps its aspect), so a
        camera over a small part of a store has a small floor: more pixels
        per metre. The default shelves that fit on it are drawn.
        """
        if not 1 <= quality <= 100:
            raise CameraSimError("JPEG quality must be within 1..100")
        if loop_frames < 0:
            raise CameraSimError("loop_frames must be >= 0")
        if video is not None and mqtt_host is not None:
            raise CameraSimError("metadata needs the rendered scene's ground truth: not with video")
        self.camera_id = camera_id
        self.quality = quality
        try:
            self.scene = Scene(*floor_m, shelves=shelves_on(*floor_m), seed=seed)
        except ValueError as exc:
            raise CameraSimError(str(exc)) from None
        self.scene.add_walkers(walkers)
        self.video: VideoFrames | None = None
        if video is not None:
            try:
                self.video = VideoFrames(video)
            except ValueError as exc:
                raise CameraSimError(str(exc)) from None
            width, height = self.video.width, self.video.height
        self.view = CameraView(self.scene, width, height, kind=view, noise=noise, seed=seed)
        default_fps = self.video.fps if self.video is not None else 15.0
        self.fps = float(fps if fps is not None else default_fps)
        if not 0 < self.fps <= 1000:
            raise CameraSimError("fps must be within (0, 1000]")
        self.server = MjpegServer(host, port)
        self.publisher: MetadataPublisher | None = None
        if mqtt_host is not None:
            self.publisher = MetadataPublisher(
                self.view, camera_id, mqtt_host, mqtt_port,
                fps=metadata_fps, settings=metadata, seed=seed,
            )  # fmt: skip
        self.loop_frames = loop_frames
        self._loop_jpegs: list[bytes] = []
        self.fault = "none"
        self.slow_fps = 2.0
        self.stats = CameraSimStats()
        self._seq = 0
        self._last_jpeg: bytes | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._producer: asyncio.Task[None] | None = None
        self.first_frame = asyncio.Event()

    async def __aenter__(self) -> CameraSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Serve and start producing frames (and metadata)."""
        self._executor = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix=f"sim-camera-{self.camera_id}"
        )
        try:
            if self.loop_frames:
                self._loop_jpegs = await asyncio.get_running_loop().run_in_executor(
                    self._executor, self._prerender, self.loop_frames
                )
            await self.server.start()
            if self.publisher is not None:
                await self.publisher.start()
        except BaseException:
            await self.stop()
            raise
        self._producer = asyncio.create_task(self._produce(), name=f"sim-camera:{self.camera_id}")

    async def stop(self) -> None:
        """Stop everything; idempotent."""
        task, self._producer = self._producer, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.publisher is not None:
            await self.publisher.stop()
        await self.server.stop()
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if self.video is not None:
            self.video.close()

    # --- control ----------------------------------------------------------------------

    def set_fault(
        self, mode: str, *, fps: float | None = None, down_s: float | None = None
    ) -> dict[str, Any]:
        """Start a picture fault or run a one-shot action; the fault now in force."""
        if mode in ACTIONS:
            if mode == "drop":
                return {"dropped": self.server.drop_connections(), "fault": self.fault}
            try:
                self.server.begin_restart(1.0 if down_s is None else down_s)
            except (ValueError, RuntimeError) as exc:
                raise CameraSimError(str(exc)) from None
            return {"restarting": True, "fault": self.fault}
        if mode not in PICTURE_FAULTS:
            raise CameraSimError(f"unknown fault {mode!r} ({', '.join(PICTURE_FAULTS + ACTIONS)})")
        if mode == "slow":
            if fps is None or not 0 < fps <= 1000:
                raise CameraSimError("slow needs 'fps' within (0, 1000]")
            self.slow_fps = float(fps)
        self.fault = mode
        self.server.stalled = mode == "stall"
        return {"fault": mode, **({"fps": self.slow_fps} if mode == "slow" else {})}

    def state(self) -> dict[str, Any]:
        """Ground truth: people, their hands, boxes and published ids; the fault in force."""
        people = []
        for person in self.scene.snapshot():
            box = self.view.person_box(person.x_m, person.y_m)
            entry = {
                "id": person.id,
                "x_m": person.x_m,
                "y_m": person.y_m,
                "hand_m": None if person.hand_m is None else list(person.hand_m),
                "box": [round(c, 2) for c in box],
                "visible": self.view.visible(box),
            }
            if self.publisher is not None:
                entry["published_id"] = self.publisher.published_id(person.id)
            people.append(entry)
        return {"fault": self.fault, "seq": self._seq, "people": people}

    def all_stats(self) -> dict[str, Any]:
        """Every counter: producer, server, metadata."""
        stats: dict[str, Any] = {
            "producer": self.stats.as_dict(),
            "server": self.server.stats.as_dict(),
        }
        if self.publisher is not None:
            stats["metadata"] = self.publisher.stats.as_dict()
        return stats

    def ready(self) -> dict[str, Any]:
        """What the ready line says about this camera."""
        view = self.view
        info: dict[str, Any] = {
            "camera_id": self.camera_id,
            "url": self.server.url,
            "port": self.server.port,
            "snapshot_url": f"http://{self.server.host}:{self.server.port}/snapshot.jpg",
            "width": view.width,
            "height": view.height,
            "fps": self.fps,
            "view": view.kind,
            "video": str(self.video.path) if self.video is not None else None,
            "floor_m": [self.scene.width_m, self.scene.depth_m],
            "floor_points": [list(p) for p in view.floor_points],
            "image_points": [[round(c, 3) for c in p] for p in view.image_points],
            "floor_to_image": view.floor_to_image.tolist(),
            "image_to_floor": view.image_to_floor.tolist(),
        }
        if self.publisher is not None:
            info["mqtt"] = {
                "host": self.publisher.host,
                "port": self.publisher.port,
                "topic": self.publisher.topic,
                "truth_topic": self.publisher.truth_topic,
            }
        return info

    # --- frames -----------------------------------------------------------------------

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        last_step = time.monotonic()
        while True:
            period = 1.0 / (self.slow_fps if self.fault == "slow" else self.fps)
            now = loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            elif now - due > period:
                self.stats.late_frames += 1
                due = now
            due += period
            mono = time.monotonic()
            self.scene.step(mono - last_step)
            last_step = mono
            if self.fault == "stall":
                continue
            await self._make_frame(loop, mono)

    async def _make_frame(self, loop: asyncio.AbstractEventLoop, mono: float) -> None:
        people = self.scene.snapshot()
        seq, wall = self._seq, time.time()
        self._seq += 1
        fault = self.fault
        if fault == "freeze" and self._last_jpeg is not None:
            jpeg = self._last_jpeg
        elif self._loop_jpegs and fault != "black":
            jpeg = self._loop_jpegs[seq % len(self._loop_jpegs)]
            self._last_jpeg = jpeg
        else:
            jpeg = await loop.run_in_executor(
                self._executor, self._render, people, seq, wall, fault == "black"
            )
            self._last_jpeg = jpeg
        if fault == "corrupt":
            jpeg = os.urandom(len(jpeg))
        self.server.publish(seq, jpeg, wall)
        self.stats.frames += 1
        self.first_frame.set()
        if self.publisher is not None:
            self.publisher.offer(seq, wall, people, mono)

    def _prerender(self, count: int) -> list[bytes]:
        """``count`` frames of the walking scene, 1/fps apart, to be served in a loop."""
        jpegs = []
        for seq in range(count):
            self.scene.step(1.0 / self.fps)
            jpegs.append(self._render(self.scene.snapshot(), seq, time.time(), False))
        return jpegs

    def _render(self, people: tuple[PersonState, ...], seq: int, wall: float, black: bool) -> bytes:
        image: Image
        if self.video is not None:
            image = self.video.next_image()
            if black:
                image = image * 0
        else:
            image = self.view.render(people, seq, wall, black=black)
        return encode_jpeg(image, self.quality)
