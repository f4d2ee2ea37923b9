"""Whose session a floor track is, and whose session an exit passage closes, on event time.

The gates say *that* a person of a session went in or out, never who on
camera; the tracker says where people are, never whose they are. This
module joins the two, driven only by the messages' own ``t_mono`` (no wall
clock, no event loop), so the replay and the live vision service run the
same decisions on the same inputs:

- a new track near an entry gate right after an entry gets that entry's
  session from :class:`~vision_core.tracking.binding.SessionBinder`;
- a track that starts where another ended just before (the tracker switched
  ids) continues it (``continue_tracks``): it takes its session, or, when
  the ended track still waits for the binder (a person who just came in),
  it is no new person at the gate but gets that track's session when the
  binder gives it one. A track that starts away from every entry gate and
  continues nothing stays unbound;
- an id that swaps between two people is found by appearance, when samples
  carry an embedding (:mod:`vision_core.tracking.reid`): the track takes the
  session of the person it follows now, and is published under a new id
  from then on (``"<track_id>~<n>"``), so that the evidence gathered before
  the swap stays with the session it belongs to. Without embeddings a swap
  goes unnoticed: positions alone do not tell it;
- an anonymous ``Exited`` is bound to the session of the bound track that
  ended at that exit gate, decided ``exit_delay_s`` after the passage, when a
  track that is still in the store would have shown another sample.

Every decision comes back as the bus messages it means: a ``TrackSample``
with the session filled in (the checkout then gives the track's evidence so
far to that session) or an ``Exited`` with the session. The anonymous
``Exited`` itself is the gate's message and is not repeated.

Usage, one driver feeding messages in event-time order::

    sessions = TrackSessions(
        entries=[EntryGate("gate-in", (1.0, 0.5))],
        exits={"gate-out": (9.0, 0.0)},
    )
    publish(sessions.advance(message.t_mono))  # decisions due before this message
    sessions.entered(entered)  # an Entered from the gate machine
    publish(sessions.sample("trk-7", FloorSample(t, (1.2, 0.9))))
    publish(sessions.exited(exited))  # anonymous: decided exit_delay_s later
    # while the store is quiet: at sessions.next_due(), and on a steady tick for the binder
    publish(sessions.advance(now))
"""

from __future__ import annotations

import dataclasses
import heapq
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from devices.bus import Message
from devices.gate.machine import Entered, Exited
from vision_core.checkout.messages import TrackRelabelled, TrackSample
from vision_core.inference.attribution import FloorSample, ShopperTrack
from vision_core.tracking.binding import (
    BindingDecision,
    BindingError,
    BindingKind,
    BindingSettings,
    EntryGate,
    SessionBinder,
)
from vision_core.tracking.floor import Point
from vision_core.tracking.reid import AppearanceTracker, Embedding, ReidSettings

_LOGGER = logging.getLogger(__name__)

EXIT_LOOKS = 3
"""An exit that several bound tracks seem to have taken is looked at up to this many times,
``exit_delay_s`` apart: a person still waiting there whose sample the cameras missed
shows again, and is no longer taken for the one who left."""

ENDED_SLACK_S = 0.05
"""Clock skew: the default of :attr:`TrackSessionSettings.ended_slack_s`, and the slack
of a track's continuation (two ids of one tracker, :meth:`TrackSessions._continue_track`)."""

FORGET_AFTER_S = 60.0
"""A track silent this long is forgotten. Exit and continuation decisions look back
seconds (``exit_delay_s`` + ``exit_lookback_s``) and the binder decides within its
window, so no decision can pick it any more; forgetting keeps a store that runs for
weeks from growing with every shopper who ever walked through."""


@dataclass(frozen=True, slots=True)
class TrackSessionSettings:
    """How tracks get sessions and exits get bound; seconds and metres of store time and floor.

    ``exit_delay_s`` is how long after a passage (or a track's start) the
    decision waits: longer than one tracker period, so a person still inside
    has shown a newer sample and is not taken for the one who left.
    ``exit_lookback_s``: a track whose last sample is older than this before
    the passage ended somewhere else, earlier (lost, not gone out).
    """

    binding: BindingSettings = field(default_factory=BindingSettings)
    exit_delay_s: float = 0.6
    exit_radius_m: float = 1.2
    exit_lookback_s: float = 1.5
    continue_tracks: bool = True
    """A track that starts away from the entry takes the session of a bound track that
    ended within ``continue_radius_m`` of its first point just before (a tracker id switch)."""
    continue_radius_m: float = 0.8
    reid: ReidSettings = field(default_factory=ReidSettings)
    """When a track is taken to follow another person (samples with embeddings only)."""
    ended_slack_s: float = ENDED_SLACK_S
    """A track whose last sample comes this long after an exit passage still ended at it.

    A camera still shows a person who has just gone through the door, for up
    to one frame, and its clock and the gate's differ a little: set it to one
    camera frame period plus the clock skew (0.1 + 0.05 s for cameras at 10
    fps). The default, 0.05 s, is skew alone: tracks whose last sample is
    taken at the passage. Too wide, and a person waiting at the door who was
    seen just after someone else left could be taken for the one who left."""

    def __post_init__(self) -> None:
        for name in ("exit_delay_s", "exit_radius_m", "exit_lookback_s", "continue_radius_m"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value}")
        if not (math.isfinite(self.ended_slack_s) and self.ended_slack_s >= 0):
            raise ValueError(
                f"ended_slack_s must be a finite number >= 0, got {self.ended_slack_s}"
            )


@dataclass(frozen=True, slots=True)
class _ExitPassage:
    gate_id: str
    position_m: Point
    t_mono: float
    evacuation: bool
    looks: int = 1  # decisions put off while several tracks seemed to end there


@dataclass(frozen=True, slots=True)
class _TrackStart:
    track_id: str
    t_mono: float


class TrackSessions:
    """Gives shopper tracks and anonymous exits their sessions; returns what to publish.

    Give it messages in event-time order and call :meth:`advance` up to a
    message's time before giving it that message (a decision must not see
    samples from after it was due). Decisions wait on store time: timers
    fire when :meth:`advance` passes :meth:`next_due`, and the binder decides
    entries whose window has closed whenever :meth:`advance` runs it, so a
    live driver calls it on a steady tick as well.

    ``counts``: binding decisions by kind (``bound``, ``ambiguous``,
    ``no_track``, ``no_entry``), plus ``track_continued``,
    ``track_not_continued``, ``exit_unbound`` and ``reid_moved`` (a track
    found following another person by appearance).
    """

    def __init__(
        self,
        entries: Sequence[EntryGate],
        exits: Mapping[str, Point],
        settings: TrackSessionSettings | None = None,
        *,
        source: str = "tracker",
    ) -> None:
        """``exits``: exit gate id (the ``source`` of its ``Exited``) -> floor point just inside.

        ``source``: the ``source`` of the ``TrackSample``s given back (the tracker's name).
        """
        if not exits:
            raise BindingError("at least one exit gate is needed")
        self.settings = settings or TrackSessionSettings()
        self._binder = SessionBinder(entries, self.settings.binding)
        # an evacuation leaves through any gate: an entry gate's point serves as its exit point
        self._gates: dict[str, Point] = {g.gate_id: g.position_m for g in entries}
        self._gates.update(exits)
        self._source = source
        self._tracks: dict[str, ShopperTrack] = {}  # first sample only: all binding needs
        self._last: dict[str, FloorSample] = {}
        self._exited_tracks: set[str] = set()  # out, or continued under another id
        self._followers: dict[str, list[str]] = {}  # unbound ended track -> tracks continuing it
        # exits put off while tracks of several sessions seemed to end there, by those tracks;
        # a passage is decided once (at a candidate's next sample or its next look)
        self._awaiting_exit: dict[str, list[_ExitPassage]] = {}
        self._decided_exits: set[tuple[str, float]] = set()
        # a track counted out while others of its group seemed to leave too -> the passage's
        # time and those others
        self._exit_alternatives: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._appearance = AppearanceTracker(self.settings.reid)
        self._session_of_identity: dict[str, str] = {}
        # the person (identity) each track began with: binding gives its session to that person
        self._person_of: dict[str, str] = {}
        self._moves: Counter[str] = Counter()  # re-identifications per track: its published id
        self._timers: list[tuple[float, int, _ExitPassage | _TrackStart]] = []  # (due, seq, what)
        self._seq = 0
        self._next_forget = -math.inf
        self.counts: Counter[str] = Counter()

    # --- inputs --------------------------------------------------------------------------------

    def entered(self, event: Entered) -> None:
        """One person of a session passed an entry gate (:class:`BindingError` if not one)."""
        self._binder.entered(event)

    def sample(
        self, track_id: str, sample: FloorSample, appearance: Embedding = ()
    ) -> list[Message]:
        """A track's newest position: its ``TrackSample``, with the session when known.

        A track's first sample decides whether it is a binding candidate at an
        entry gate or, elsewhere, a track to continue ``exit_delay_s`` later.
        ``appearance``: the person's embedding in this sample, if the camera
        or a re-identification model gives one.
        """
        track = self._tracks.get(track_id)
        if track is None:
            track = ShopperTrack(track_id, None, (sample,))
            self._tracks[track_id] = track
            self._appearance.start(track_id, track_id)
            self._person_of[track_id] = track_id
            self._binder.track_started(track)
            if self.settings.continue_tracks:
                self._later(sample.t_mono, _TrackStart(track_id, sample.t_mono))
        self._last[track_id] = sample
        out: list[Message] = []
        for passage in self._awaiting_exit.pop(track_id, ()):
            # seen again: not the one who left; decide the exit among the others now
            out.extend(self._decide_exit(passage, recheck=True))
        mistaken = self._exit_alternatives.pop(track_id, None)
        if mistaken is not None:
            self._exit_mistaken(track_id, *mistaken)
        if appearance:
            moved = self._appearance.observe(track_id, sample.t_mono, sample.body_m, appearance)
            if moved is not None:
                since = self._appearance.moved_since(track_id)
                out.append(self._moved(track, moved, since_mono=since))
        out.append(self._track_sample(track_id, track.session_id, sample))
        return out

    def _moved(self, track: ShopperTrack, identity: str, *, since_mono: float) -> TrackRelabelled:
        """The track follows the person ``identity`` now: their session, a new published id.

        The samples from ``since_mono`` (the first that showed the other
        person) go with it: the checkout moves them to the new id.
        """
        before = track.session_id
        old_id = self._published_id(track.track_id)
        track.session_id = self._session_of_identity.get(identity)
        self._moves[track.track_id] += 1
        self.counts["reid_moved"] += 1
        _LOGGER.info(
            "track %s looks like the person first seen as %s now: session %s (was %s)",
            track.track_id,
            identity,
            track.session_id,
            before,
        )
        return TrackRelabelled(
            source=self._source,
            t_mono=since_mono,
            track_id=old_id,
            new_track_id=self._published_id(track.track_id),
            since_mono=since_mono,
            session_id=track.session_id,
        )

    def exited(self, event: Exited) -> list[Message]:
        """A passage out. An anonymous one is decided ``exit_delay_s`` later (:meth:`advance`).

        An ``Exited`` that already names its session needs nothing. Returns
        no message now; a list so that every input is driven the same way.
        """
        if event.session_id is not None:
            return []
        position = self._gates.get(event.source)
        if position is None:
            raise BindingError(
                f"Exited from gate {event.source!r}, which is not a configured gate "
                f"(known: {sorted(self._gates)})"
            )
        self._later(
            event.t_mono, _ExitPassage(event.source, position, event.t_mono, event.evacuation)
        )
        return []

    # --- time ----------------------------------------------------------------------------------

    def next_due(self) -> float:
        """Store time of the next exit or continuation decision; ``math.inf`` if none waits.

        The binder's decisions are not in it (see :meth:`advance`).
        """
        return self._timers[0][0] if self._timers else math.inf

    def advance(self, t_mono: float, *, bind: bool = True) -> list[Message]:
        """Take every decision due by ``t_mono``, in time order; the messages they give.

        Each timer runs after the binder has decided up to its due time, and
        the binder last at ``t_mono``. ``bind=False`` runs the timers only,
        for a driver that runs the binder on its own cadence (the replay
        binds on its checkout ticks, so that its figures do not depend on
        where the timers fall).
        """
        out: list[Message] = []
        while self._timers and self._timers[0][0] <= t_mono:
            due, _, what = heapq.heappop(self._timers)
            if bind:
                out.extend(self._bound(self._binder.advance(due)))
            if isinstance(what, _ExitPassage):
                out.extend(self._decide_exit(what))
            else:
                out.extend(self._continue_track(what))
        if bind:
            out.extend(self._bound(self._binder.advance(t_mono)))
        self._forget(t_mono)
        return out

    @property
    def known_tracks(self) -> int:
        """Tracks remembered now (recently seen ones)."""
        return len(self._tracks)

    def _forget(self, t_mono: float) -> None:
        if t_mono < self._next_forget:
            return
        self._next_forget = t_mono + FORGET_AFTER_S / 4
        horizon = t_mono - FORGET_AFTER_S
        for track_id in [k for k, last in self._last.items() if last.t_mono < horizon]:
            del self._last[track_id]
            del self._tracks[track_id]
            self._exited_tracks.discard(track_id)
            self._followers.pop(track_id, None)
            self._awaiting_exit.pop(track_id, None)
            self._exit_alternatives.pop(track_id, None)
            self._appearance.forget(track_id)
            self._person_of.pop(track_id, None)
            self._moves.pop(track_id, None)
        self._decided_exits = {k for k in self._decided_exits if k[1] >= horizon}
        self._appearance.prune(horizon)
        live = self._appearance.identities
        for name in [n for n in self._session_of_identity if n not in live]:
            del self._session_of_identity[name]

    # --- decisions -----------------------------------------------------------------------------

    def _later(self, event_t: float, what: _ExitPassage | _TrackStart, looks: int = 1) -> None:
        """Decide ``what`` once a track that is still there would have been seen again.

        ``looks``: the how-manieth look this is (each ``exit_delay_s`` later).
        """
        self._seq += 1
        due = event_t + looks * self.settings.exit_delay_s
        heapq.heappush(self._timers, (due, self._seq, what))

    def _all_ended(
        self,
        end_t: float,
        near: Point,
        radius_m: float,
        *,
        waiting: bool = False,
        slack_s: float | None = None,
    ) -> list[str]:
        """The bound tracks, not yet out, whose samples stopped near ``near`` by ``end_t``.

        ``waiting``: a track the binder has not decided yet counts as well.
        ``slack_s``: how long after ``end_t`` a last sample may come
        (default ``ended_slack_s``, the exit's).

        A track still in the store shows a sample within one tracker period
        (``exit_delay_s`` covers it), so a track seen after ``end_t`` did not end.
        Nearest first; equal distances go to the smaller track id, so the
        answer does not depend on the order tracks arrived in.
        """
        lookback_s = self.settings.exit_lookback_s
        if slack_s is None:
            slack_s = self.settings.ended_slack_s
        found: list[tuple[float, str]] = []
        for track_id, last in self._last.items():
            track = self._tracks[track_id]
            if track_id in self._exited_tracks:
                continue
            if track.session_id is None and not (waiting and self._waits_for_binder(track_id)):
                continue
            if not end_t - lookback_s <= last.t_mono <= end_t + slack_s:
                continue
            d = math.dist(last.body_m, near)
            if d <= radius_m:
                found.append((d, track_id))
        return [track_id for _, track_id in sorted(found)]

    def _continue_track(self, start: _TrackStart) -> list[Message]:
        """A new track continues one that just ended where it started (a tracker id switch).

        At an entry gate a new track is a binder candidate too: when it
        continues a track the binder still waits on, it is withdrawn (one
        person, one candidate) and follows that track's binding.
        """
        track = self._tracks[start.track_id]
        if track.session_id is not None:
            return []
        first = track.between(-math.inf, math.inf)[0]
        # the ended track's last sample must come before the new one's first (the clock
        # skew both ways). Both ids are one tracker's, so the exit's slack for a camera
        # frame after the door has no part here: a switch between two frames is 0.1 s
        candidates = self._all_ended(
            start.t_mono - 2 * ENDED_SLACK_S,
            first.body_m,
            self.settings.continue_radius_m,
            waiting=True,
            slack_s=ENDED_SLACK_S,
        )
        if not candidates:
            if not self._binder.is_candidate(start.track_id):
                self.counts["track_not_continued"] += 1
                _LOGGER.debug("track %s started away from the entry: stays unbound", start.track_id)
            return []
        ended = candidates[0]
        self._binder.withdraw(start.track_id)
        self.counts["track_continued"] += 1
        self._exited_tracks.add(ended)  # its person goes on under the new id
        identity = self._appearance.identity_of(ended)
        if identity is not None:
            self._appearance.start(start.track_id, identity)
            self._person_of[start.track_id] = identity
        session_id = self._tracks[ended].session_id
        if session_id is None:
            self._followers.setdefault(ended, []).append(start.track_id)
            _LOGGER.info("track %s continues track %s, not bound yet", start.track_id, ended)
            return []
        track.session_id = session_id
        _LOGGER.info("track %s continues track %s: session %s", start.track_id, ended, session_id)
        return [self._track_sample(start.track_id, session_id, self._last[start.track_id])]

    def _bound(self, decisions: Iterable[BindingDecision]) -> list[Message]:
        """Count the binder's decisions; a bound track's latest sample, now with its session."""
        out: list[Message] = []
        for decision in decisions:
            self.counts[str(decision.kind)] += 1
            if decision.kind is not BindingKind.BOUND:
                continue
            # tell the checkout now: the track's evidence so far becomes its session's
            out.extend(self._bind_people(decision.track_ids, decision.session_id))
        return out

    def _bind_people(self, track_ids: Iterable[str], session_id: str | None) -> list[Message]:
        """The session goes to the people who came in on ``track_ids``, wherever they are now.

        That person is the identity the track began with. Usually the track
        still follows them. When re-identification has already moved it (an
        id switch between the door and the binding), it keeps the session of
        the person it follows now, and the track that follows the newcomer
        gets the new session: otherwise that track would stay bound to no
        session and its takes would have nobody to go to.
        A track continued under another id before it was bound still gets
        it: its samples so far are this session's evidence too.
        """
        holders: dict[str, None] = {}  # ordered, each once: followers share their person
        for track_id in self._with_followers(track_ids):
            person = self._person_of.get(track_id, track_id)
            if session_id is not None:
                self._session_of_identity[person] = session_id
            followed_by = self._appearance.holders(person)
            holders.update(dict.fromkeys(followed_by))
            known = self._tracks.get(track_id)
            if track_id in followed_by or known is None:
                continue
            _LOGGER.info(
                "track %s is bound to session %s but follows another person now; %s take it",
                track_id,
                session_id,
                followed_by,
            )
            # the binder gave it the session; it keeps the one of the person it follows now
            now = self._appearance.identity_of(track_id)
            known.session_id = None if now is None else self._session_of_identity.get(now)
        out: list[Message] = []
        for holder in holders:
            if (known := self._tracks.get(holder)) is not None:
                known.session_id = session_id
            last = self._last.get(holder)
            if last is not None:
                out.append(self._track_sample(holder, session_id, last))
        return out

    def _waits_for_binder(self, track_id: str) -> bool:
        """Whether the binder may still give the track a session (itself or one it continues)."""
        if self._binder.is_candidate(track_id):
            return True
        return any(track_id in followers for followers in self._followers.values())

    def _with_followers(self, track_ids: Iterable[str]) -> list[str]:
        """The tracks and, in turn, every track that continued one of them."""
        out: list[str] = []
        todo = list(track_ids)
        while todo:
            track_id = todo.pop(0)
            out.append(track_id)
            todo.extend(self._followers.pop(track_id, ()))
        return out

    def _decide_exit(self, passage: _ExitPassage, *, recheck: bool = False) -> list[Message]:
        """Bind one exit passage to the session of the bound track that ended at its gate.

        When tracks of several sessions seem to have ended there (people
        waiting at the exit, one of them missed by the cameras for a frame),
        the decision waits for the next look (up to :data:`EXIT_LOOKS`): the
        one still inside shows again. Tracks of one group need no wait: any
        of them counts the same person of the same session out; should the
        one counted out show again, another of them is marked out instead
        (:meth:`_exit_mistaken`). So only a crowded exit's decision is later.
        ``recheck``: a candidate showed again; decide if the others allow,
        without using up a look.
        """
        key = (passage.gate_id, passage.t_mono)
        if key in self._decided_exits:
            return []
        ended = self._all_ended(passage.t_mono, passage.position_m, self.settings.exit_radius_m)
        sessions = {self._tracks[candidate].session_id for candidate in ended}
        if len(sessions) > 1 and passage.looks < EXIT_LOOKS:
            if not recheck:
                looks = passage.looks + 1
                self._later(passage.t_mono, dataclasses.replace(passage, looks=looks), looks)
            for candidate in ended:
                waiting = self._awaiting_exit.setdefault(candidate, [])
                if all((p.gate_id, p.t_mono) != key for p in waiting):
                    waiting.append(passage)
            return []
        self._decided_exits.add(key)
        for candidate in ended:
            waiting = [
                p for p in self._awaiting_exit.pop(candidate, ()) if (p.gate_id, p.t_mono) != key
            ]
            if waiting:
                self._awaiting_exit[candidate] = waiting
        track_id = ended[0] if ended else None
        if track_id is None:
            # nobody bound ended there (a track the binder never bound): a guess would
            # close somebody else's session while they are still shopping
            self.counts["exit_unbound"] += 1
            _LOGGER.warning(
                "exit at gate %s at %.3f: no bound track ended there; no session closed",
                passage.gate_id,
                passage.t_mono,
            )
            return []
        session_id = self._tracks[track_id].session_id
        assert session_id is not None  # _all_ended returns bound tracks only
        self._exited_tracks.add(track_id)
        siblings = tuple(t for t in ended[1:] if self._tracks[t].session_id == session_id)
        if siblings:
            self._exit_alternatives[track_id] = (passage.t_mono, siblings)
        _LOGGER.info(
            "exit at gate %s at %.3f: track %s, session %s",
            passage.gate_id,
            passage.t_mono,
            track_id,
            session_id,
        )
        return [
            Exited(
                source=passage.gate_id,
                t_mono=passage.t_mono,
                session_id=session_id,
                evacuation=passage.evacuation,
            )
        ]

    def _exit_mistaken(self, track_id: str, passage_t: float, others: tuple[str, ...]) -> None:
        """A track counted out shows again: one of its group's others left in its place.

        The session's count was right (same session); only which track is
        gone was not, and the next member's passage must find this one, not
        take the one that really left for still inside. An other seen after
        the passage is still inside too, and is left alone.
        """
        self._exited_tracks.discard(track_id)
        for other in others:
            last = self._last.get(other)
            if (
                other not in self._exited_tracks
                and last is not None
                and last.t_mono <= passage_t + self.settings.ended_slack_s
            ):
                self._exited_tracks.add(other)
                _LOGGER.info("track %s is still inside: %s left in its place", track_id, other)
                return

    def _published_id(self, track_id: str) -> str:
        """The id a track's samples go out under: ``"<id>~<n>"`` after its n-th move."""
        moves = self._moves.get(track_id, 0)
        return f"{track_id}~{moves}" if moves else track_id

    def _track_sample(
        self, track_id: str, session_id: str | None, sample: FloorSample
    ) -> TrackSample:
        return TrackSample(
            source=self._source,
            t_mono=sample.t_mono,
            track_id=self._published_id(track_id),
            session_id=session_id,
            sample=sample,
        )
