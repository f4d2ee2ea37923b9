"""The store's cameras as one fleet, and the supervisor's camera profiles.

Frame cameras (MJPEG, RTSP, files) stream into one :class:`DetectorRunner`,
which publishes :class:`~devices.camera.detection.PersonDetections`; smart
cameras (``mqtt://``) publish their own detections through one
:class:`~devices.camera.metadata.MetadataSource` per broker. Downstream the
tracker sees one stream whatever made it.

The supervisor's ``cameras`` action picks a profile:

- ``all``: every camera at its own ``fps_cap``;
- ``checkout_only``: analytics cameras stopped, the rest as configured;
- ``checkout_low_fps``: as ``checkout_only``, frame cameras capped at
  ``low_fps`` (a camera already capped lower keeps its own cap);
- ``off``: every camera stopped (shutdown: nothing left to decode).

A stopped camera's stream is closed (socket, decoder thread), not merely
ignored: the point of the profile is the CPU, GPU and network it gives
back. A smart camera cannot be told to stop from here; stopping it means
unsubscribing from its detections. Its fps is the camera's own business.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from devices.bus import Bus
from devices.camera.config import CameraConfig
from devices.camera.factory import open_source
from devices.camera.metadata import MetadataSource
from devices.camera.source import FrameSource
from devices.camera.worker import cancel_and_wait
from vision_core.perception.runner import DetectorRunner

_LOGGER = logging.getLogger(__name__)

PROFILES = ("all", "checkout_only", "checkout_low_fps", "off")

SourceFactory = Callable[[CameraConfig, Bus], FrameSource]
MetadataFactory = Callable[[str, int, frozenset[str], Bus], MetadataSource]


class UnknownProfile(ValueError):
    """A camera profile that is not one of :data:`PROFILES`."""


def frame_source(config: CameraConfig, bus: Bus) -> FrameSource:
    """The camera's frame source, reporting its health on ``bus``."""
    return open_source(config, bus=bus)


def metadata_source(host: str, port: int, cameras: frozenset[str], bus: Bus) -> MetadataSource:
    """One broker's smart-camera detections for ``cameras``, published on ``bus``."""
    return MetadataSource(f"cameras@{host}:{port}", host, port, cameras=cameras, bus=bus)


def broker_of(config: CameraConfig) -> tuple[str, int]:
    """``(host, port)`` of a smart camera's ``mqtt://host:port`` URL."""
    parts = urllib.parse.urlsplit(config.url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


@dataclass
class _Streaming:
    source: FrameSource
    pump: asyncio.Task[None]


def wanted(cameras: Sequence[CameraConfig], profile: str) -> frozenset[str]:
    """The cameras that run under ``profile``."""
    if profile not in PROFILES:
        raise UnknownProfile(f"camera profile {profile!r} is not one of {', '.join(PROFILES)}")
    if profile == "off":
        return frozenset()
    if profile == "all":
        return frozenset(c.id for c in cameras)
    return frozenset(c.id for c in cameras if c.role.checkout_critical)


def fps_cap_under(config: CameraConfig, profile: str, low_fps: float) -> float | None:
    """A frame camera's fps cap under ``profile``: its own, or ``low_fps`` if lower."""
    if profile != "checkout_low_fps":
        return config.fps_cap
    return low_fps if config.fps_cap is None else min(config.fps_cap, low_fps)


class CameraFleet:
    """Starts, stops and throttles the store's cameras; the supervisor's camera control.

    ``runner`` gets the frame cameras' frames (it must be started by the
    caller); a store whose cameras are all smart cameras needs none.
    """

    def __init__(
        self,
        cameras: Sequence[CameraConfig],
        bus: Bus,
        *,
        runner: DetectorRunner | None,
        low_fps: float = 5.0,
        source_factory: SourceFactory = frame_source,
        metadata_factory: MetadataFactory = metadata_source,
    ) -> None:
        if not low_fps > 0:
            raise ValueError(f"low_fps must be > 0, got {low_fps}")
        frames = [c for c in cameras if c.source_kind != "metadata"]
        if frames and runner is None:
            names = ", ".join(c.id for c in frames)
            raise ValueError(f"cameras {names} send frames: the fleet needs a detector runner")
        self.cameras: Mapping[str, CameraConfig] = {c.id: c for c in cameras}
        self.bus = bus
        self.runner = runner
        self.low_fps = low_fps
        self._source_factory = source_factory
        self._metadata_factory = metadata_factory
        self._streaming: dict[str, _Streaming] = {}
        self._brokers: dict[tuple[str, int], MetadataSource] = {}
        self._profile: str | None = None
        self._lock = asyncio.Lock()

    @property
    def profile(self) -> str | None:
        """The profile in force; None before :meth:`start` and after :meth:`close`."""
        return self._profile

    @property
    def running(self) -> frozenset[str]:
        """The cameras streaming (frame cameras) or subscribed to (smart cameras) now."""
        smart = {c for source in self._brokers.values() for c in source.cameras or ()}
        return frozenset(self._streaming) | frozenset(smart)

    def source(self, camera_id: str) -> FrameSource | None:
        """A running frame camera's source (its health, stats and fps cap)."""
        streaming = self._streaming.get(camera_id)
        return None if streaming is None else streaming.source

    async def start(self, profile: str = "all") -> None:
        """Start the cameras ``profile`` asks for."""
        await self.set_profile(profile)

    async def set_profile(self, profile: str) -> str | None:
        """Switch to ``profile``; returns the profile in force afterwards.

        A camera that fails to start is logged and left to its own reconnect
        (sources connect in the background); the profile is still in force.
        """
        run = wanted(tuple(self.cameras.values()), profile)
        async with self._lock:
            for camera_id in sorted(set(self._streaming) - run):
                await self._stop(camera_id)
            for camera_id in sorted(run):
                config = self.cameras[camera_id]
                if config.source_kind == "metadata":
                    continue
                cap = fps_cap_under(config, profile, self.low_fps)
                streaming = self._streaming.get(camera_id)
                if streaming is None:
                    await self._start(config, cap)
                elif streaming.source.gate.fps_cap != cap:
                    streaming.source.set_fps_cap(cap)
            await self._subscribe(run)
            self._profile = profile
            _LOGGER.info("camera profile %s: %d camera(s) running", profile, len(self.running))
            return profile

    async def close(self) -> None:
        """Stop every camera; safe twice."""
        async with self._lock:
            for camera_id in sorted(self._streaming):
                await self._stop(camera_id)
            await self._subscribe(frozenset())
            self._profile = None

    # --- frame cameras -------------------------------------------------------------------------

    async def _start(self, config: CameraConfig, fps_cap: float | None) -> None:
        source = self._source_factory(config, self.bus)
        source.set_fps_cap(fps_cap)
        try:
            await source.connect()
        except Exception as exc:  # a camera that cannot start must not stop the store
            _LOGGER.error("camera %s did not start: %s", config.id, exc)
            await source.close()
            return
        pump = asyncio.create_task(self._pump(source), name=f"camera:{config.id}:pump")
        self._streaming[config.id] = _Streaming(source, pump)

    async def _pump(self, source: FrameSource) -> None:
        runner = self.runner
        assert runner is not None  # checked in __init__ for every frame camera
        try:
            async for frame in source:
                runner.submit(frame)
        except Exception:  # the camera stops feeding; the rest of the store goes on
            _LOGGER.exception("camera %s: frames no longer reach the detector", source.camera_id)
            return
        if source.ended:
            _LOGGER.warning("camera %s: end of stream", source.camera_id)

    async def _stop(self, camera_id: str) -> None:
        streaming = self._streaming.pop(camera_id)
        with contextlib.suppress(Exception):  # closing must go on whatever the pump died of
            await cancel_and_wait(streaming.pump)
        await streaming.source.close()

    # --- smart cameras -------------------------------------------------------------------------

    async def _subscribe(self, run: frozenset[str]) -> None:
        """One metadata source per broker, subscribed to exactly the smart cameras in ``run``."""
        by_broker: dict[tuple[str, int], frozenset[str]] = {}
        for camera_id in run:
            config = self.cameras[camera_id]
            if config.source_kind == "metadata":
                broker = broker_of(config)
                by_broker[broker] = by_broker.get(broker, frozenset()) | {camera_id}
        for broker in sorted(set(self._brokers) | set(by_broker)):
            source = self._brokers.get(broker)
            cameras = by_broker.get(broker, frozenset())
            if source is not None and source.cameras == cameras:
                continue
            if source is not None:
                del self._brokers[broker]
                await source.close()
            if cameras:
                source = self._metadata_factory(*broker, cameras, self.bus)
                await source.connect()
                self._brokers[broker] = source
