"""Every camera's people, as one track per shopper bound to its session, on the bus.

``PersonDetections`` (walkout's detector on frames, or smart cameras) go
through, per camera, a :class:`CameraTracker` when the source gives no track
ids, then :class:`FloorProjector`; :class:`FloorFusion` joins the cameras
into one track per shopper, and :class:`TrackSessions` binds each track to
the session that entered and each anonymous exit to the track that left.
Out come ``TrackSample`` (the checkout's evidence of where hands were) and
``Exited`` with the session (the checkout closes that session).

Decisions run on event time: every message moves store time, and a steady
tick (:class:`StoreClock`) lets binding windows and exit decisions come due
while nobody moves. A detection from a camera with no floor homography is
counted and dropped (it cannot be put on the floor), with one log line per
camera, never an exception that would stop the service.

Appearance embeddings (smart cameras' schema v2, or a re-identification
model) ride along with their detection through the tracker, the projector
and the fusion, which gives each shopper sample the mean direction of its
observations' vectors; :class:`TrackSessions` uses it to notice two
shoppers' ids swapped. Without embeddings a swap goes unnoticed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable

from devices.bus import Bus, Message, serve_ticking
from devices.camera.detection import PersonDetections
from devices.gate.machine import Entered, Exited
from vision_core.inference.attribution import FloorSample
from vision_core.store_clock import StoreClock
from vision_core.tracking.binding import BindingError
from vision_core.tracking.camera_tracker import CameraTracker, TrackerSettings
from vision_core.tracking.floor import FloorObservation, FloorProjector, ProjectionError
from vision_core.tracking.fusion import FloorFusion
from vision_core.tracking.sessions import TrackSessions

_LOGGER = logging.getLogger(__name__)

INPUT_TYPES = (PersonDetections, Entered, Exited)


class ShopperTrackingService:
    """Detections and gate events in; shopper ``TrackSample``s and bound ``Exited`` out."""

    def __init__(
        self,
        bus: Bus,
        projector: FloorProjector,
        sessions: TrackSessions,
        *,
        fusion: FloorFusion | None = None,
        tracker_settings: TrackerSettings | None = None,
        min_score: float = 0.0,
        tick_s: float = 0.2,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not tick_s > 0:
            raise ValueError(f"tick_s must be > 0, got {tick_s}")
        self.bus = bus
        self.sessions = sessions
        self.counts: Counter[str] = Counter()
        self.shoppers = ShopperFusion(
            projector,
            fusion=fusion,
            tracker_settings=tracker_settings,
            min_score=min_score,
            counts=self.counts,
        )
        self._clock = StoreClock(clock)
        self._tick_s = tick_s
        self._queue_size = queue_size
        self._lock = asyncio.Lock()
        self.ready = asyncio.Event()  # set once subscribed

    async def run(self) -> None:
        """Serve until cancelled; unsubscribes on every path."""
        subscription = self.bus.subscribe(*INPUT_TYPES, maxsize=self._queue_size, name="tracking")
        await serve_ticking(
            subscription, self.feed, self.tick, self._tick_s, ready=self.ready, name="tracking"
        )

    async def feed(self, message: Message) -> None:
        """One input message; what ``run`` does with each bus message."""
        async with self._lock:
            self._clock.observe(message.t_mono)
            outputs = self.sessions.advance(message.t_mono)
            try:
                outputs.extend(self._handle(message))
            except (BindingError, ProjectionError, ValueError) as exc:
                self.counts["refused"] += 1
                _LOGGER.error("tracking: %s refused: %s", type(message).__name__, exc)
            await self._publish(outputs)

    async def tick(self) -> None:
        """Let store time pass: binding windows close, exits are decided, lost tracks end."""
        async with self._lock:
            now = self._clock.now()
            if now is None:
                return
            self.shoppers.fusion.expire(now)
            await self._publish(self.sessions.advance(now))

    # --- inputs --------------------------------------------------------------------------------

    def _handle(self, message: Message) -> list[Message]:
        if isinstance(message, PersonDetections):
            return self._on_people(message)
        if isinstance(message, Entered):
            self.sessions.entered(message)
            return []
        if isinstance(message, Exited):
            return self.sessions.exited(message)
        return []

    def _on_people(self, message: PersonDetections) -> list[Message]:
        out: list[Message] = []
        for track_id, sample, appearance in self.shoppers.samples(message):
            out.extend(self.sessions.sample(track_id, sample, appearance))
        return out

    # --- outputs -------------------------------------------------------------------------------

    async def _publish(self, outputs: list[Message]) -> None:
        for message in outputs:
            await self.bus.publish(message)


ShopperSample = tuple[str, FloorSample, tuple[float, ...]]
"""A shopper track's id, its newest sample and that sample's appearance (empty if none)."""


class ShopperFusion:
    """One camera message to the newest sample of each shopper it shows, before any binding.

    Per camera a :class:`CameraTracker` where detections come without track
    ids, then :class:`FloorProjector`, then :class:`FloorFusion` across the
    cameras. What the service hands to :class:`TrackSessions`, and what a
    caller with track sessions of its own (the store's hardware-in-the-loop
    run) uses alone. ``counts`` may be shared with the caller's.
    """

    def __init__(
        self,
        projector: FloorProjector,
        *,
        fusion: FloorFusion | None = None,
        tracker_settings: TrackerSettings | None = None,
        min_score: float = 0.0,
        counts: Counter[str] | None = None,
    ) -> None:
        self.projector = projector
        self.fusion = fusion or FloorFusion()
        self.tracker_settings = tracker_settings or TrackerSettings()
        self.min_score = min_score
        self.counts: Counter[str] = Counter() if counts is None else counts
        self._trackers: dict[str, CameraTracker] = {}
        self._unplaced: set[str] = set()

    def samples(self, message: PersonDetections) -> list[ShopperSample]:
        """Each shopper the message shows, once; nothing from a camera with no homography."""
        camera_id = message.camera_id
        if camera_id not in self.projector.cameras:
            self.counts["unknown_camera"] += 1
            if camera_id not in self._unplaced:
                self._unplaced.add(camera_id)
                _LOGGER.warning("tracking: camera %s has no floor homography: ignored", camera_id)
            return []
        people = tuple(d for d in message.detections if d.score >= self.min_score)
        if any(d.track_id is None for d in people):
            tracker = self._tracker(camera_id)
            people = tracker.update(dataclasses.replace(message, detections=people))
        observations = self.projector.project_all(people)
        self.counts["detections"] += len(message.detections)
        self.counts["observations"] += len(observations)
        return self._fuse(observations)

    def _fuse(self, observations: tuple[FloorObservation, ...]) -> list[ShopperSample]:
        update = self.fusion.update(observations)
        self.counts["tracks_started"] += len(update.started)
        self.counts["tracks_ended"] += len(update.ended)
        out: list[ShopperSample] = []
        seen: set[str] = set()
        for obs in observations:
            track = self.fusion.shopper_of(obs.camera_id, obs.track_id)
            if track is None or track.track_id in seen:
                continue
            seen.add(track.track_id)
            latest = track.latest
            assert latest is not None  # fusion just added this observation's sample
            out.append((track.track_id, latest, tuple(update.appearance.get(track.track_id, ()))))
            # the fusion's own state is the shopper's position; the history is the checkout's
            track.drop_before(latest.t_mono)
        return out

    def _tracker(self, camera_id: str) -> CameraTracker:
        tracker = self._trackers.get(camera_id)
        if tracker is None:
            tracker = self._trackers[camera_id] = CameraTracker(camera_id, self.tracker_settings)
        return tracker
