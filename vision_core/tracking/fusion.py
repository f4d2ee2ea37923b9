"""One track per shopper from the per-camera tracks of every camera that sees them.

Cameras overlap, so one shopper is several per-camera tracks at once. A
per-camera track is linked to a shopper track the first time it is seen,
to the nearest active shopper within the gate (``gate_m``, widened by
``max_speed_m_s`` for every second that shopper went unseen), else it
starts a new shopper. Afterwards the link decides, not the distance, so two
shoppers passing close keep their ids as long as the cameras do.

Rules that keep it honest:

- one camera image shows a person once: two tracks of one camera are never
  put on one shopper in the same update;
- a link is checked against the other cameras' fresh positions of the same
  shopper; one more than ``link_break_m`` away is broken (a per-camera id
  switch, or two people joined by mistake) and the younger link loses, so
  the shopper keeps the id it had;
- a shopper unseen by every camera for ``lifetime_s`` ends: the track is
  handed back and never extended again (a returning person is a new track;
  binding decides who it is).

Each observation adds one ``FloorSample``: the body is the mean of the
shopper's fresh positions over all cameras (``fresh_s``), the hands are the
ones this camera saw. Frames of different cameras arrive interleaved; a
sample older than the shopper's last one is stamped with that last time
(the skew is at most the cameras' frame spacing), since a ``ShopperTrack``
only grows forward in time.

Appearance: each update gives every shopper it added samples to the mean
direction of their observations' embeddings in that update (the normalised
sum of the unit vectors, since only directions compare), or ``()`` when
none had one. Vectors compare only within one model, so the first
embedding seen fixes the length; one of another length (a camera with
another model) is ignored, counted in ``ignored_embeddings`` and logged
once per camera, rather than fail the re-identification downstream.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from vision_core.inference.attribution import FloorSample, ShopperTrack
from vision_core.tracking.floor import FloorObservation, Point
from vision_core.tracking.reid import mean_direction

_LOGGER = logging.getLogger(__name__)

LinkKey = tuple[str, int]
"""``(camera_id, per-camera track_id)``."""


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """Gating and lifetime of shopper tracks; metres and seconds."""

    gate_m: float = 0.8
    max_speed_m_s: float = 2.0
    lifetime_s: float = 2.0
    fresh_s: float = 0.25
    link_break_m: float = 1.2

    def __post_init__(self) -> None:
        for name in ("gate_m", "lifetime_s", "fresh_s", "link_break_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if not (math.isfinite(self.max_speed_m_s) and self.max_speed_m_s >= 0):
            raise ValueError(f"max_speed_m_s must be >= 0, got {self.max_speed_m_s}")


@dataclass(frozen=True, slots=True)
class FusionUpdate:
    """What one update changed: shopper tracks started and ended.

    ``appearance``: shopper track id -> mean embedding direction (unit
    length) of that shopper's observations in this update, ``()`` when none
    had one; one entry for every shopper the update added samples to.
    """

    started: tuple[ShopperTrack, ...] = ()
    ended: tuple[ShopperTrack, ...] = ()
    appearance: Mapping[str, tuple[float, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class _Link:
    shopper_id: str
    since_mono: float


@dataclass(slots=True)
class _Shopper:
    track: ShopperTrack
    position_m: Point
    last_mono: float
    last_sample_mono: float = -math.inf
    latest: dict[str, FloorObservation] = field(default_factory=dict)


def _mean(points: Sequence[Point]) -> Point:
    return (
        sum(p[0] for p in points) / len(points),
        sum(p[1] for p in points) / len(points),
    )


class FloorFusion:
    """Shopper tracks on the floor plan from every camera's floor observations."""

    def __init__(
        self, settings: FusionSettings | None = None, *, id_prefix: str = "shopper-"
    ) -> None:
        self.settings = settings or FusionSettings()
        self._id_prefix = id_prefix
        self._next_id = 1
        self._active: dict[str, _Shopper] = {}
        self._links: dict[LinkKey, _Link] = {}
        self._embedding_len: int | None = None  # fixed by the first embedding seen
        self._odd_cameras: set[str] = set()
        self.ignored_embeddings = 0
        """Embeddings dropped for a length other than the store's (another model)."""

    @property
    def active_tracks(self) -> tuple[ShopperTrack, ...]:
        """Shopper tracks that have not ended, oldest first."""
        return tuple(s.track for s in self._active.values())

    def shopper_of(self, camera_id: str, track_id: int) -> ShopperTrack | None:
        """The active shopper track a camera's track is linked to, if any."""
        link = self._links.get((camera_id, track_id))
        shopper = self._active.get(link.shopper_id) if link else None
        return shopper.track if shopper else None

    def expire(self, now_mono: float) -> tuple[ShopperTrack, ...]:
        """End the shoppers unseen since ``now_mono - lifetime_s``; the ended tracks."""
        horizon = now_mono - self.settings.lifetime_s
        ended = [sid for sid, s in self._active.items() if s.last_mono < horizon]
        if not ended:
            return ()
        gone = set(ended)
        self._links = {k: v for k, v in self._links.items() if v.shopper_id not in gone}
        tracks = tuple(self._active.pop(sid).track for sid in ended)
        for track in tracks:
            _LOGGER.debug("shopper track %s ended after %d samples", track.track_id, len(track))
        return tracks

    def update(self, observations: Sequence[FloorObservation]) -> FusionUpdate:
        """Fuse a batch of observations (typically one camera image's)."""
        if not observations:
            return FusionUpdate()
        for obs in observations:
            if not (math.isfinite(obs.t_mono) and all(math.isfinite(c) for c in obs.body_m)):
                raise ValueError(
                    f"camera {obs.camera_id!r} track {obs.track_id}: "
                    f"non-finite time or position {obs.t_mono}, {obs.body_m}"
                )
        ended = self.expire(max(o.t_mono for o in observations))
        claimed: set[tuple[str, str]] = set()
        assigned: dict[int, str] = {}
        unlinked: list[int] = []
        for i, obs in enumerate(observations):
            key = (obs.camera_id, obs.track_id)
            link = self._links.get(key)
            shopper = self._active.get(link.shopper_id) if link else None
            if link is None or shopper is None or (obs.camera_id, link.shopper_id) in claimed:
                self._links.pop(key, None)
                unlinked.append(i)
                continue
            if not self._keeps_link(shopper, obs, link):
                # not this shopper, by this camera, in this update: no re-link by distance
                self._links.pop(key, None)
                claimed.add((obs.camera_id, link.shopper_id))
                unlinked.append(i)
                continue
            claimed.add((obs.camera_id, link.shopper_id))
            assigned[i] = link.shopper_id
        self._associate(observations, unlinked, assigned, claimed)
        started: list[ShopperTrack] = []
        for i in unlinked:
            if i in assigned:
                continue
            obs = observations[i]
            shopper_id = self._start(obs)
            assigned[i] = shopper_id
            started.append(self._active[shopper_id].track)
        looks: dict[str, list[tuple[float, ...]]] = {}
        for i in sorted(assigned, key=lambda j: observations[j].t_mono):
            shopper_id = assigned[i]
            self._observe(self._active[shopper_id], observations[i])
            shopper_looks = looks.setdefault(shopper_id, [])
            if self._comparable(observations[i]):
                shopper_looks.append(observations[i].appearance)
        appearance = {sid: mean_direction(vectors) for sid, vectors in looks.items()}
        return FusionUpdate(started=tuple(started), ended=ended, appearance=appearance)

    def _comparable(self, obs: FloorObservation) -> bool:
        """Whether the observation has an embedding of the store's length (the first seen)."""
        if not obs.appearance:
            return False
        if self._embedding_len is None:
            self._embedding_len = len(obs.appearance)
        if len(obs.appearance) == self._embedding_len:
            return True
        self.ignored_embeddings += 1
        if obs.camera_id not in self._odd_cameras:
            self._odd_cameras.add(obs.camera_id)
            _LOGGER.warning(
                "camera %s sends embeddings of length %d, not %d as the others: ignored "
                "(every camera of a store must use the same re-identification model)",
                obs.camera_id,
                len(obs.appearance),
                self._embedding_len,
            )
        return False

    def _associate(
        self,
        observations: Sequence[FloorObservation],
        unlinked: Sequence[int],
        assigned: dict[int, str],
        claimed: set[tuple[str, str]],
    ) -> None:
        """Greedy nearest-first matching of unlinked observations to gated shoppers.

        A shopper the observation's own camera saw a moment ago (``fresh_s``)
        and does not see now under its old id comes first: that camera
        switched the person's id, and the new id is them, even where another
        shopper, seen by other cameras, stands nearer.
        """
        s = self.settings
        pairs: list[tuple[bool, float, int, str]] = []
        for i in unlinked:
            obs = observations[i]
            for shopper_id, shopper in self._active.items():
                if (obs.camera_id, shopper_id) in claimed:
                    continue
                gap_s = max(0.0, obs.t_mono - shopper.last_mono)
                distance = math.dist(obs.body_m, shopper.position_m)
                if distance <= s.gate_m + s.max_speed_m_s * gap_s:
                    seen = shopper.latest.get(obs.camera_id)
                    lost = seen is not None and obs.t_mono - seen.t_mono <= s.fresh_s
                    pairs.append((not lost, distance, i, shopper_id))
        pairs.sort()
        for _, _, i, shopper_id in pairs:
            obs = observations[i]
            if i in assigned or (obs.camera_id, shopper_id) in claimed:
                continue
            assigned[i] = shopper_id
            claimed.add((obs.camera_id, shopper_id))
            self._links[(obs.camera_id, obs.track_id)] = _Link(shopper_id, obs.t_mono)

    def _keeps_link(self, shopper: _Shopper, obs: FloorObservation, link: _Link) -> bool:
        """Whether a linked observation agrees with the other cameras' view of its shopper.

        On disagreement the younger link is broken: this one (False), or the
        other cameras' links (dropped here, True), so the shopper's id stays
        with whoever held it first.
        """
        s = self.settings
        others = {
            camera: o
            for camera, o in shopper.latest.items()
            if camera != obs.camera_id and abs(o.t_mono - obs.t_mono) <= s.fresh_s
        }
        if not others:
            return True
        consensus = _mean([o.body_m for o in others.values()])
        if math.dist(obs.body_m, consensus) <= s.link_break_m:
            return True
        other_links = {
            (o.camera_id, o.track_id): self._links.get((o.camera_id, o.track_id))
            for o in others.values()
        }
        if all(
            other is None or other.since_mono > link.since_mono for other in other_links.values()
        ):
            for key in other_links:
                self._links.pop(key, None)
                shopper.latest.pop(key[0], None)
            _LOGGER.info(
                "shopper %s: cameras %s disagree with %s by more than %.1f m; unlinked them",
                shopper.track.track_id,
                sorted(k[0] for k in other_links),
                obs.camera_id,
                s.link_break_m,
            )
            return True
        shopper.latest.pop(obs.camera_id, None)
        _LOGGER.info(
            "shopper %s: camera %s track %d is %.1f m from the other cameras; unlinked it",
            shopper.track.track_id,
            obs.camera_id,
            obs.track_id,
            math.dist(obs.body_m, consensus),
        )
        return False

    def _start(self, obs: FloorObservation) -> str:
        shopper_id = f"{self._id_prefix}{self._next_id}"
        self._next_id += 1
        self._active[shopper_id] = _Shopper(
            track=ShopperTrack(shopper_id, None),
            position_m=obs.body_m,
            last_mono=obs.t_mono,
        )
        self._links[(obs.camera_id, obs.track_id)] = _Link(shopper_id, obs.t_mono)
        _LOGGER.debug(
            "shopper track %s started at %s by camera %s", shopper_id, obs.body_m, obs.camera_id
        )
        return shopper_id

    def _observe(self, shopper: _Shopper, obs: FloorObservation) -> None:
        shopper.latest[obs.camera_id] = obs
        shopper.last_mono = max(shopper.last_mono, obs.t_mono)
        fresh = [
            o.body_m
            for o in shopper.latest.values()
            if abs(o.t_mono - obs.t_mono) <= self.settings.fresh_s
        ]
        shopper.position_m = _mean(fresh)
        t_mono = max(obs.t_mono, shopper.last_sample_mono)
        shopper.last_sample_mono = t_mono
        shopper.track.append(FloorSample(t_mono, shopper.position_m, obs.hands_m))
