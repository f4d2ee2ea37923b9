"""Re-identification: a track that now shows somebody else's appearance follows that person.

Trackers swap ids between people who pass close to each other (an
occlusion, two people crossing at a shelf), and nothing in the positions
tells a swap apart: both tracks go on smoothly, each on the other person.
The checkout would then charge one group for the other's takes. An
appearance embedding per sample (from a re-identification model on the
person's crop, or from a smart camera that sends one) does tell it apart.

An *identity* is one person since the entry: the id of the track that
person was first seen under (a track continued after an id switch keeps the
identity). Each identity's template is the mean of its first
``template_samples`` embeddings, frozen then: updating it later would let a
swap that went unnoticed teach the template the wrong person.

Each track's last ``window_samples`` embeddings are compared with its
identity's template. While they match (cosine similarity of their mean at
least ``min_similarity``) nothing else is looked at, so the common case
costs one dot product per sample. When they stop matching, the identities
last *confirmed* (seen by a track whose window matched them) within
``recent_s`` and near enough are candidates: within ``radius_m`` plus
``speed_m_s`` for every second since (the person walked on, under another
id, since the last look). Confirmed, not merely reported: after a swap the
identity's old track goes on with the other person, and its positions say
nothing about where the identity is. The best
one wins if it matches by ``margin`` more than the track's own and is not
*taken*, that is, held by another track that still looks like it (two
people in similar clothes are not a swap). In a real swap both tracks flip:
the first to be looked at moves to the other identity, and the other then
finds its identity free and moves to the first one.

Two people who look somewhat alike defeat that: after their swap each
track still resembles its own identity above ``min_similarity``, and each
holds the identity the other would move to. So a track that matches its
identity less than ``sure_similarity`` is compared pairwise: when it
resembles another track's identity by ``margin`` more than its own, and
that other track resembles *its* identity by ``margin`` more than its own,
the two swapped, and both move (the other at its next sample).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]
Embedding = Sequence[float]


@dataclass(frozen=True, slots=True)
class ReidSettings:
    """When a track is taken to have moved to another person; see the module docstring."""

    template_samples: int = 6
    window_samples: int = 3
    min_similarity: float = 0.6
    sure_similarity: float = 0.8
    margin: float = 0.2
    radius_m: float = 1.5
    recent_s: float = 6.0
    speed_m_s: float = 1.5

    def __post_init__(self) -> None:
        for name in ("template_samples", "window_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not -1.0 < self.min_similarity <= self.sure_similarity < 1.0:
            raise ValueError(
                "need -1 < min_similarity <= sure_similarity < 1, got "
                f"{self.min_similarity}, {self.sure_similarity}"
            )
        for name in ("margin", "radius_m", "recent_s", "speed_m_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")


def unit_vector(vector: Sequence[float]) -> tuple[float, ...] | None:
    """``vector`` scaled to length 1; None for a zero vector.

    ``math.hypot`` neither underflows nor overflows on the way; only a norm
    past the float range (finite components near 1e308) needs scaling first.
    """
    norm = math.hypot(*vector)
    if norm == 0.0:
        return None
    if math.isinf(norm):
        largest = max(abs(v) for v in vector)
        vector = [v / largest for v in vector]
        norm = math.hypot(*vector)
    return tuple(v / norm for v in vector)


def mean_direction(vectors: Sequence[Sequence[float]]) -> tuple[float, ...]:
    """The normalised sum of the vectors' unit vectors (all of one length); ``()`` if none.

    Also ``()`` when they cancel out (opposite directions): no direction to give.
    """
    units = [u for u in (unit_vector(v) for v in vectors) if u is not None]
    if len(units) <= 1:
        return units[0] if units else ()
    total = [math.fsum(column) for column in zip(*units, strict=True)]
    return unit_vector(total) or ()


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine of two vectors, ``b`` of unit length."""
    norm = math.sqrt(math.fsum(v * v for v in a))
    return 0.0 if norm == 0 else math.fsum(x * y for x, y in zip(a, b, strict=True)) / norm


def _window_sum(window: Iterable[Sequence[float]]) -> list[float]:
    """A track's recent embeddings summed (their direction is their mean's)."""
    return [math.fsum(column) for column in zip(*window, strict=True)]


@dataclass(slots=True)
class _Identity:
    total: list[float]
    count: int = 0
    template: tuple[float, ...] | None = None
    last_t: float = -math.inf
    last_body: Point = (math.nan, math.nan)


@dataclass(slots=True)
class _Track:
    identity: str
    window: deque[tuple[float, ...]] = field(default_factory=deque)
    times: deque[float] = field(default_factory=deque)  # of the window's samples
    moved_since: float = math.nan  # the last move's first sample of the new person
    swapped_to: str | None = None  # the other half of a swap found from its partner


class AppearanceTracker:
    """Which identity each track follows, from the appearance of its samples.

    Driven in event-time order by one owner (:class:`TrackSessions`): tracks
    are started with the identity they begin with, then every sample with
    an embedding goes through :meth:`observe`.
    """

    def __init__(self, settings: ReidSettings | None = None) -> None:
        self.settings = settings or ReidSettings()
        self._identities: dict[str, _Identity] = {}
        self._tracks: dict[str, _Track] = {}

    def start(self, track_id: str, identity: str) -> None:
        """A new track, following ``identity`` (a new one when it is not known yet)."""
        size = self.settings.window_samples
        self._tracks[track_id] = _Track(identity, deque(maxlen=size), deque(maxlen=size))

    def moved_since(self, track_id: str) -> float:
        """When the person a track moved to (its last move) was first seen on it.

        The earliest sample of the window that decided the move from which on
        every sample looks more like the new person than the old one: the
        samples since then were the new person's already.
        """
        return self._tracks[track_id].moved_since

    def identity_of(self, track_id: str) -> str | None:
        """The identity a track follows now; None for a track never started."""
        track = self._tracks.get(track_id)
        return None if track is None else track.identity

    def holders(self, identity: str) -> list[str]:
        """The tracks that follow ``identity`` now, in the order they started."""
        return [track_id for track_id, track in self._tracks.items() if track.identity == identity]

    @property
    def identities(self) -> frozenset[str]:
        """Identities known now (held by a track, or left by a swap and not pruned yet)."""
        return frozenset(self._identities) | {t.identity for t in self._tracks.values()}

    def forget(self, track_id: str) -> None:
        """Drop a track; identities nobody holds any more go when their last track goes."""
        track = self._tracks.pop(track_id, None)
        if track is None:
            return
        if all(t.identity != track.identity for t in self._tracks.values()):
            self._identities.pop(track.identity, None)

    def prune(self, before_mono: float) -> None:
        """Drop identities no track holds that were last seen before ``before_mono``.

        The identity a swapped track left behind waits for the other track of
        the swap; when that never comes (it ended first), nothing else frees it.
        """
        held = {track.identity for track in self._tracks.values()}
        for name in [
            n for n, i in self._identities.items() if n not in held and i.last_t < before_mono
        ]:
            del self._identities[name]

    def observe(
        self, track_id: str, t_mono: float, body_m: Point, appearance: Embedding
    ) -> str | None:
        """One sample's embedding; the identity the track moved to, or None if it did not."""
        track = self._tracks[track_id]
        look = unit_vector(appearance)
        identity = self._identities.get(track.identity)
        if identity is None:
            identity = self._identities[track.identity] = _Identity([0.0] * len(appearance))
        if look is None:
            return None
        if identity.template is None:
            identity.last_t, identity.last_body = t_mono, body_m
            identity.total = [a + b for a, b in zip(identity.total, look, strict=True)]
            identity.count += 1
            if identity.count >= self.settings.template_samples:
                identity.template = unit_vector(identity.total)
            return None
        track.window.append(look)
        track.times.append(t_mono)
        if len(track.window) < self.settings.window_samples:
            return None
        recent = _window_sum(track.window)
        own = _cosine(recent, identity.template)
        moved = track.swapped_to
        track.swapped_to = None
        if moved is None and own >= self.settings.min_similarity:
            if own < self.settings.sure_similarity:
                moved = self._swap_partner(track_id, recent, own, t_mono, body_m)
            if moved is None:
                identity.last_t, identity.last_body = t_mono, body_m
                return None
        elif moved is None:
            moved = self._better_identity(track_id, recent, own, t_mono, body_m)
        if moved is None:
            return None
        track.moved_since = self._first_of(track, identity.template, moved)
        track.identity = moved
        track.window.clear()
        track.times.clear()
        self._identities[moved].last_t, self._identities[moved].last_body = t_mono, body_m
        return moved

    def _first_of(self, track: _Track, old: tuple[float, ...], new_identity: str) -> float:
        """The time of the window's first sample of the run that looks like ``new_identity``."""
        new = self._identities[new_identity].template
        assert new is not None  # a move goes to a templated identity only
        since = track.times[-1]
        for look, t in zip(reversed(track.window), reversed(track.times), strict=True):
            if _cosine(look, new) <= _cosine(look, old):
                break
            since = t
        return since

    def _better_identity(
        self, track_id: str, recent: Sequence[float], own: float, t_mono: float, body_m: Point
    ) -> str | None:
        settings = self.settings
        current = self._tracks[track_id].identity
        best: tuple[float, str] | None = None
        for name, identity in self._identities.items():
            if name == current or identity.template is None:
                continue
            if not self._within_reach(identity, t_mono, body_m):
                continue
            similarity = _cosine(recent, identity.template)
            if similarity < settings.min_similarity or similarity < own + settings.margin:
                continue
            if (best is None or similarity > best[0]) and not self._taken(name, track_id, t_mono):
                best = (similarity, name)
        return None if best is None else best[1]

    def _swap_partner(
        self, track_id: str, recent: Sequence[float], own: float, t_mono: float, body_m: Point
    ) -> str | None:
        """The identity of a track this one swapped with, both being look-alikes; see module.

        The partner is told to move to this track's identity at its next sample.
        """
        settings = self.settings
        mine = self._tracks[track_id].identity
        my_template = self._identities[mine].template
        assert my_template is not None  # only a templated identity has a similarity
        best: tuple[float, str] | None = None
        for other_id, other in self._tracks.items():
            theirs = self._identities.get(other.identity)
            if other_id == track_id or other.identity == mine or not other.window:
                continue
            if t_mono - other.times[-1] > settings.recent_s:
                continue  # ended: it swaps with nobody
            if theirs is None or theirs.template is None or other.swapped_to is not None:
                continue
            if not self._within_reach(theirs, t_mono, body_m):
                continue
            to_theirs = _cosine(recent, theirs.template)
            window = _window_sum(other.window)
            to_mine = _cosine(window, my_template)
            if to_theirs < own + settings.margin:
                continue
            if to_mine < _cosine(window, theirs.template) + settings.margin:
                continue
            if best is None or to_theirs + to_mine > best[0]:
                best = (to_theirs + to_mine, other_id)
        if best is None:
            return None
        partner = self._tracks[best[1]]
        partner.swapped_to = mine
        return partner.identity

    def _within_reach(self, identity: _Identity, t_mono: float, body_m: Point) -> bool:
        """Confirmed within ``recent_s``, near enough to have walked to ``body_m`` since."""
        since = t_mono - identity.last_t
        if since > self.settings.recent_s:
            return False
        reach_m = self.settings.radius_m + self.settings.speed_m_s * since
        return math.dist(identity.last_body, body_m) <= reach_m

    def _taken(self, name: str, asking: str, t_mono: float) -> bool:
        """Whether another track holds ``name`` and still looks like it.

        Only a track seen within ``recent_s`` holds anything: one that ended
        (its person left, or goes on under another id) keeps its last window,
        and would otherwise block the identity for as long as it is kept.
        """
        template = self._identities[name].template
        assert template is not None  # only templated identities are candidates
        for track_id, track in self._tracks.items():
            if track_id == asking or track.identity != name or not track.window:
                continue
            if t_mono - track.times[-1] > self.settings.recent_s:
                continue
            if _cosine(_window_sum(track.window), template) >= self.settings.min_similarity:
                return True
        return False
