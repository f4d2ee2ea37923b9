"""Whose hand: the shopper at the shelf when its weight changed.

Each track on the floor plan is scored by how close its nearest hand came to
where the change happened on the shelf during the event window: one sample's
evidence is a Gaussian of that distance (``hand_sigma_m``), times a timing
weight that is 1 inside the window and falls off outside it
(``time_sigma_s``: tracks and scales have separate clocks and latencies).
A track's score is its best sample, 0..1.

A change one hand made (the detector found it to be one lift, a put, or a
single unit) is scored ``at_onset``: the weight starts to change the moment
the item leaves the board or touches it, so that hand was at the spot
then, give or take ``onset_slack_s``, with ``onset_sigma_s`` falling off
beyond. A second shopper reaching into the same facing while the board
still settles is then no contender, where the whole window would have made
the two a tie. A change that may be several hands' work (several units,
not known to be one lift) keeps the window: a hand that came in halfway
may have moved part of it.

A track whose wrists the cameras never saw in the (padded) window is scored
by its body instead: a Gaussian of the body's distance less an arm's reach
(``body_sigma_m``), scaled by ``body_weight`` (< 1, default 0.6). A body
next to the shelf is weaker evidence than a hand in it: its hands may be in
the shelf or in its pockets. So body-only evidence never exceeds
``body_weight``, below a hand within ~15 cm of the spot (``hand_sigma_m``
x sqrt(-2 ln 0.6)), and a body 1 m from the spot (0.30) is no contender
against a hand 5 cm from it (0.95). A track whose wrists *were* seen near
the window is scored by those wrists only: it stood near, but its hands
were elsewhere, and its body position does not rescue it.

The decision is explicit, never a silent guess:

- ``confident``: one contender (every other track scores below
  ``contender_ratio`` of the best) and it is bound to a session;
- ``session``: several contenders, all in the same session (a group that
  pays one bill): the session is charged, the hand does not matter;
- ``wait``: contenders from different sessions, while fresh evidence may
  still come (until ``wait_s`` after the event);
- ``review``: still tied after that, nobody near enough, or a winner whose
  track is bound to no session.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vision_core.shelf_events import ShelfChange

Point = tuple[float, float]
"""Floor-plan coordinates, metres."""


@dataclass(frozen=True, slots=True)
class FloorSample:
    """Where a shopper was at one time: body (foot point) and the hands seen, floor metres."""

    t_mono: float
    body_m: Point
    hands_m: tuple[Point, ...] = ()


class ShopperTrack:
    """One shopper's path on the floor plan, samples in time order.

    ``session_id`` is None while the track is not bound to a session.
    """

    def __init__(
        self, track_id: str, session_id: str | None, samples: Iterable[FloorSample] = ()
    ) -> None:
        self.track_id = track_id
        self.session_id = session_id
        self._times: list[float] = []
        self._samples: list[FloorSample] = []
        for sample in samples:
            self.append(sample)

    def append(self, sample: FloorSample) -> None:
        """Add the newest sample; older samples are refused (bisection needs time order)."""
        if self._times and sample.t_mono < self._times[-1]:
            raise ValueError(
                f"track {self.track_id}: sample at {sample.t_mono} is older than "
                f"the last one at {self._times[-1]}"
            )
        self._times.append(sample.t_mono)
        self._samples.append(sample)

    def between(self, start_mono: float, end_mono: float) -> Sequence[FloorSample]:
        """Samples with ``start_mono <= t <= end_mono``."""
        lo = bisect.bisect_left(self._times, start_mono)
        hi = bisect.bisect_right(self._times, end_mono)
        return self._samples[lo:hi]

    @property
    def latest(self) -> FloorSample | None:
        """The newest sample; None for a track without samples."""
        return self._samples[-1] if self._samples else None

    def take_from(self, t_mono: float) -> list[FloorSample]:
        """Remove and return the samples with ``t >= t_mono`` (they were somebody else's)."""
        cut = bisect.bisect_left(self._times, t_mono)
        taken = self._samples[cut:]
        del self._times[cut:]
        del self._samples[cut:]
        return taken

    def drop_before(self, t_mono: float) -> int:
        """Forget samples older than ``t_mono`` in place; how many were dropped."""
        cut = bisect.bisect_left(self._times, t_mono)
        if cut:
            del self._times[:cut]
            del self._samples[:cut]
        return cut

    def __len__(self) -> int:
        return len(self._samples)


@dataclass(frozen=True, slots=True)
class ShelfLocation:
    """A shelf's front edge on the floor plan: position 0 m at ``start_m``."""

    shelf_id: str
    start_m: Point
    end_m: Point

    @property
    def length_m(self) -> float:
        """Length of the front edge."""
        return math.dist(self.start_m, self.end_m)

    def point_at(self, position_m: float) -> Point:
        """Floor point ``position_m`` along the shelf (clamped to the shelf)."""
        length = self.length_m
        f = min(max(position_m / length, 0.0), 1.0) if length > 0 else 0.0
        (x0, y0), (x1, y1) = self.start_m, self.end_m
        return x0 + f * (x1 - x0), y0 + f * (y1 - y0)

    def position_of(self, point: Point) -> float:
        """How far along the shelf ``point`` is (its projection on the front edge, clamped)."""
        (x0, y0), (x1, y1) = self.start_m, self.end_m
        dx, dy = x1 - x0, y1 - y0
        span2 = dx * dx + dy * dy
        if span2 == 0:
            return 0.0
        f = ((point[0] - x0) * dx + (point[1] - y0) * dy) / span2
        return min(max(f, 0.0), 1.0) * math.sqrt(span2)

    def distance_m(self, point: Point, position_m: float | None) -> float:
        """Distance from ``point`` to the event spot, or to the whole shelf when unknown.

        One closed form rather than ``position_of`` then ``point_at``: this runs
        for every shelf on every track sample (dwell), and for every sample
        near a change.
        """
        (x0, y0), (x1, y1) = self.start_m, self.end_m
        dx, dy = x1 - x0, y1 - y0
        span2 = dx * dx + dy * dy
        if span2 == 0:
            f = 0.0
        elif position_m is None:
            f = ((point[0] - x0) * dx + (point[1] - y0) * dy) / span2
        else:
            f = position_m / math.sqrt(span2)
        f = 0.0 if f < 0.0 else 1.0 if f > 1.0 else f
        return math.hypot(point[0] - x0 - f * dx, point[1] - y0 - f * dy)


class Decision(enum.StrEnum):
    """What the checkout does with an attribution."""

    CONFIDENT = "confident"
    SESSION = "session"
    WAIT = "wait"
    REVIEW = "review"


@dataclass(frozen=True, slots=True)
class TrackScore:
    """One track's evidence: its best sample's score, distance and time.

    ``point_m``: the hand (or, by body, the body point) that scored, on the
    floor plan; where along the shelf this track reached, when a change is
    to be split between hands.
    """

    track_id: str
    session_id: str | None
    score: float
    distance_m: float
    t_mono: float
    by_hand: bool
    point_m: Point | None = None


@dataclass(frozen=True, slots=True)
class Attribution:
    """The decision for one shelf change, with every track's evidence, best first.

    ``session_id`` is set for ``confident`` and ``session``; ``track_id``
    for ``confident`` only; ``wait_until_mono`` for ``wait``.
    """

    shelf_id: str
    decision: Decision
    session_id: str | None
    track_id: str | None
    reason: str
    candidates: tuple[TrackScore, ...]
    wait_until_mono: float | None = None


@dataclass(frozen=True, slots=True)
class AttributionSettings:
    """Tuning of the scores and the decision (defaults for a hand-tracked store).

    ``body_weight`` scales body-only evidence (0 < w < 1): the most a track
    with no wrist seen can score. Keep it above ``min_score`` or a lone
    shopper whose wrists the cameras miss goes to review.
    """

    hand_sigma_m: float = 0.15
    body_sigma_m: float = 0.30
    reach_m: float = 0.65
    body_weight: float = 0.6
    time_sigma_s: float = 0.5
    time_pad_s: float = 1.5
    min_score: float = 0.3
    contender_ratio: float = 0.5
    wait_s: float = 10.0
    onset_slack_s: float = 0.15
    onset_sigma_s: float = 0.15

    def __post_init__(self) -> None:
        if not (self.onset_slack_s >= 0 and self.onset_sigma_s > 0):
            raise ValueError(
                f"onset_slack_s must be >= 0 and onset_sigma_s > 0, got "
                f"{self.onset_slack_s} and {self.onset_sigma_s}"
            )
        if not 0.0 < self.body_weight < 1.0:
            raise ValueError(
                f"body_weight must be within 0..1 (exclusive: body evidence is weaker "
                f"than a hand's), got {self.body_weight}"
            )


def score_track(
    track: ShopperTrack,
    shelf: ShelfLocation,
    change: ShelfChange,
    settings: AttributionSettings,
    *,
    at_onset: bool = False,
) -> TrackScore | None:
    """The track's best sample near the event, or None when it has no sample in the window.

    ``at_onset``: time is scored around the change's onset, not over its window.
    """
    if at_onset:
        start = change.started_mono - settings.onset_slack_s
        end = change.started_mono + settings.onset_slack_s
        time_sigma_s = settings.onset_sigma_s
    else:
        start, end, time_sigma_s = change.started_mono, change.t_mono, settings.time_sigma_s
    if change.position_m is not None:
        spot = shelf.point_at(change.position_m)

        def distance(point: Point) -> float:
            return math.hypot(point[0] - spot[0], point[1] - spot[1])

    else:

        def distance(point: Point) -> float:
            return shelf.distance_m(point, None)

    samples = track.between(start - settings.time_pad_s, end + settings.time_pad_s)
    hands_seen = any(sample.hands_m for sample in samples)
    best: TrackScore | None = None
    best_score = -1.0
    for sample in samples:
        if hands_seen and not sample.hands_m:
            continue  # the wrists were seen elsewhere: the body does not rescue the track
        outside = max(start - sample.t_mono, 0.0, sample.t_mono - end)
        t = outside / time_sigma_s
        if sample.hands_m:
            point = min(sample.hands_m, key=distance)
            d = distance(point)
            z = d / settings.hand_sigma_m
            score = math.exp(-0.5 * (z * z + t * t))
        else:
            point = sample.body_m
            d = distance(point)
            z = max(d - settings.reach_m, 0.0) / settings.body_sigma_m
            score = settings.body_weight * math.exp(-0.5 * (z * z + t * t))
        if score > best_score:
            best_score = score
            best = TrackScore(
                track.track_id,
                track.session_id,
                score,
                d,
                sample.t_mono,
                bool(sample.hands_m),
                point,
            )
    return best


def attribute(
    change: ShelfChange,
    shelf: ShelfLocation,
    tracks: Iterable[ShopperTrack],
    *,
    now_mono: float | None = None,
    settings: AttributionSettings | None = None,
    at_onset: bool = False,
) -> Attribution:
    """Decide whose hand moved the weight; ``now_mono`` (default: event end) bounds the wait.

    ``at_onset``: one hand made the change (see the module docstring).
    """
    settings = settings or AttributionSettings()
    if change.shelf_id != shelf.shelf_id:
        raise ValueError(f"change is for shelf {change.shelf_id!r}, not {shelf.shelf_id!r}")
    scored = (score_track(t, shelf, change, settings, at_onset=at_onset) for t in tracks)
    scores = [s for s in scored if s]
    scores.sort(key=lambda s: (-s.score, s.distance_m, s.track_id))
    ranked = tuple(scores)
    now = change.t_mono if now_mono is None else now_mono

    def decide(
        decision: Decision,
        reason: str,
        session: str | None = None,
        track: str | None = None,
        wait: float | None = None,
    ) -> Attribution:
        return Attribution(shelf.shelf_id, decision, session, track, reason, ranked, wait)

    if not ranked or ranked[0].score < settings.min_score:
        nearest = f" (best {ranked[0].track_id}: {ranked[0].score:.2f})" if ranked else ""
        return decide(Decision.REVIEW, f"nobody near the shelf in the event window{nearest}")
    best = ranked[0]
    contenders = [s for s in ranked if s.score >= best.score * settings.contender_ratio]
    sessions = {s.session_id for s in contenders}
    if None in sessions:
        unbound = ", ".join(s.track_id for s in contenders if s.session_id is None)
        return decide(Decision.REVIEW, f"contender track(s) {unbound} bound to no session")
    if len(contenders) == 1:
        return decide(
            Decision.CONFIDENT,
            f"only {best.track_id} near the shelf (score {best.score:.2f})",
            best.session_id,
            best.track_id,
        )
    names = ", ".join(f"{s.track_id}={s.score:.2f}" for s in contenders)
    if len(sessions) == 1:
        return decide(Decision.SESSION, f"same session at the shelf: {names}", best.session_id)
    deadline = change.t_mono + settings.wait_s
    if now < deadline:
        return decide(Decision.WAIT, f"tie between sessions: {names}", wait=deadline)
    return decide(Decision.REVIEW, f"tie between sessions unresolved after wait: {names}")
