"""Which session a new shopper track belongs to: the one that just entered at the gate.

The gate says *that* a person of a session went in (``Entered``, one per
person of a group, ``source`` = the gate id) but not who on camera; the
cameras see a new shopper track appear just inside that gate. A track that
starts within ``radius_m`` of an entry gate's floor point is a candidate
for the entries at that gate from ``lead_s`` before its start (cameras may
see the person before the passage sensor fires) to ``window_s`` after.

Decisions are taken when an entry's window has closed (:meth:`advance`),
so every track that could compete for it has been seen. One with more
tracks than entries waits ``lead_s`` longer, until every later entry that
could claim one of those tracks has been sensed (the next person's track
may start before their own passage, and the beam is read a poll later
still). Later entries count only for the tracks their own window covers:
a tailgater stays a tailgater however soon the next group comes.

- ``bound``: no more candidates than entries that could claim them; people
  pass a gate one by one, so the earliest candidate gets the earliest
  entry's session. A group of N is N entries of one session and so N
  tracks bound to that session.
- ``ambiguous``: more candidates than entries (a tailgater, a staff member,
  a person the cameras split in two). Nobody can tell which track paid, so
  none of them is bound: every session involved gets one decision that
  lists all the candidate tracks. Unbound tracks send their takes to
  review in attribution; :meth:`SessionBinder.resolve` binds one later
  (an operator, or a rule with more evidence).
- ``no_track``: an entry with no candidate (the cameras missed the person);
  the session has nobody to attribute takes to until resolved.
- ``no_entry``: a candidate that no entry can claim any more (someone came
  in without admission, or through the exit).

Tracks that start away from every entry gate are none of this module's
business: they stay unbound.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from devices.gate.machine import Entered
from vision_core.inference.attribution import ShopperTrack
from vision_core.tracking.floor import Point

_LOGGER = logging.getLogger(__name__)


class BindingError(ValueError):
    """An entry at a gate the binder does not know, or a track it cannot use."""


@dataclass(frozen=True, slots=True)
class EntryGate:
    """An entry gate's id (the ``source`` of its ``Entered`` events) and floor point.

    ``position_m`` is where a person stands on the floor plan just after
    passing it (the first floor point cameras see them at).
    """

    gate_id: str
    position_m: Point


@dataclass(frozen=True, slots=True)
class BindingSettings:
    """How near the gate and how soon after the entry a track must start; metres, seconds."""

    radius_m: float = 1.5
    window_s: float = 4.0
    lead_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("radius_m", "window_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if not (math.isfinite(self.lead_s) and self.lead_s >= 0):
            raise ValueError(f"lead_s must be >= 0, got {self.lead_s}")


class BindingKind(enum.StrEnum):
    """The outcome for an entry or a candidate track."""

    BOUND = "bound"
    AMBIGUOUS = "ambiguous"
    NO_TRACK = "no_track"
    NO_ENTRY = "no_entry"


@dataclass(frozen=True, slots=True)
class BindingDecision:
    """One decision, with the tracks it is about.

    ``bound``: one track, given ``session_id``. ``ambiguous``: the candidate
    tracks, none bound. ``no_track``: no tracks. ``no_entry``: one track,
    ``session_id`` None. ``t_mono`` is the entry's time (the track's start
    for ``no_entry`` and for a resolved one, whose ``gate_id`` is "" unless
    the track was still a candidate there).
    """

    kind: BindingKind
    gate_id: str
    session_id: str | None
    track_ids: tuple[str, ...]
    t_mono: float
    reason: str


@dataclass(frozen=True, slots=True)
class _Entry:
    session_id: str
    t_mono: float


@dataclass(frozen=True, slots=True)
class _Candidate:
    track: ShopperTrack
    start_mono: float


class SessionBinder:
    """Binds shopper tracks that appear at an entry gate to the sessions that entered there."""

    def __init__(self, gates: Sequence[EntryGate], settings: BindingSettings | None = None) -> None:
        if not gates:
            raise BindingError("at least one entry gate is needed")
        self.settings = settings or BindingSettings()
        self._gates = {g.gate_id: g for g in gates}
        if len(self._gates) != len(gates):
            raise BindingError("entry gate ids must be unique")
        self._entries: dict[str, list[_Entry]] = {g: [] for g in self._gates}
        self._candidates: dict[str, list[_Candidate]] = {g: [] for g in self._gates}

    def entered(self, event: Entered) -> None:
        """Note one person of a session passing an entry gate."""
        if event.source not in self._gates:
            raise BindingError(
                f"Entered from gate {event.source!r}, which is not a configured entry gate "
                f"(known: {sorted(self._gates)})"
            )
        entries = self._entries[event.source]
        entries.append(_Entry(event.session_id, event.t_mono))
        entries.sort(key=lambda e: e.t_mono)

    def track_started(self, track: ShopperTrack) -> str | None:
        """Note a new shopper track; the entry gate it started at, or None (not a candidate)."""
        samples = track.between(-math.inf, math.inf)
        if not samples:
            raise BindingError(f"track {track.track_id} has no samples; give it once it has one")
        first = samples[0]
        best: tuple[float, str] | None = None
        for gate in self._gates.values():
            distance = math.dist(first.body_m, gate.position_m)
            if distance <= self.settings.radius_m and (best is None or distance < best[0]):
                best = (distance, gate.gate_id)
        if best is None:
            return None
        candidates = self._candidates[best[1]]
        candidates.append(_Candidate(track, first.t_mono))
        candidates.sort(key=lambda c: c.start_mono)
        return best[1]

    def withdraw(self, track_id: str) -> bool:
        """Stop treating a track as a new person (it continues another one); whether it was."""
        for gate_id, candidates in self._candidates.items():
            kept = [c for c in candidates if c.track.track_id != track_id]
            if len(kept) != len(candidates):
                self._candidates[gate_id] = kept
                return True
        return False

    def is_candidate(self, track_id: str) -> bool:
        """Whether the track waits for an entry to claim it."""
        return any(c.track.track_id == track_id for cs in self._candidates.values() for c in cs)

    def advance(self, now_mono: float) -> tuple[BindingDecision, ...]:
        """Decide every entry whose window has closed by ``now_mono``, and orphaned tracks."""
        decisions: list[BindingDecision] = []
        for gate_id in self._gates:
            decisions.extend(self._advance_gate(gate_id, now_mono))
        for decision in decisions:
            log = _LOGGER.info if decision.kind is BindingKind.BOUND else _LOGGER.warning
            log(
                "binding at gate %s: %s session=%s tracks=%s (%s)",
                decision.gate_id,
                decision.kind,
                decision.session_id,
                ",".join(decision.track_ids),
                decision.reason,
            )
        return tuple(decisions)

    def resolve(self, track: ShopperTrack, session_id: str) -> BindingDecision:
        """Bind a track by outside knowledge (review of an ambiguous entry); ends its candidacy."""
        at_gate = ""
        for gate_id, candidates in self._candidates.items():
            if any(c.track is track for c in candidates):
                at_gate = gate_id
                self._candidates[gate_id] = [c for c in candidates if c.track is not track]
        track.session_id = session_id
        samples = track.between(-math.inf, math.inf)
        return BindingDecision(
            kind=BindingKind.BOUND,
            gate_id=at_gate,
            session_id=session_id,
            track_ids=(track.track_id,),
            t_mono=samples[0].t_mono if samples else math.nan,
            reason="resolved",
        )

    def _advance_gate(self, gate_id: str, now_mono: float) -> list[BindingDecision]:
        s = self.settings
        entries = self._entries[gate_id]
        candidates = self._candidates[gate_id]
        decisions: list[BindingDecision] = []
        while entries and entries[0].t_mono + s.window_s <= now_mono:
            entry = entries[0]
            lo, hi = entry.t_mono - s.lead_s, entry.t_mono + s.window_s
            in_window = [c for c in candidates if lo <= c.start_mono <= hi]
            rivals = [
                e
                for e in entries[1:]
                if any(
                    e.t_mono - s.lead_s <= c.start_mono <= e.t_mono + s.window_s for c in in_window
                )
            ]
            if not in_window:
                entries.pop(0)
                decisions.append(
                    BindingDecision(
                        BindingKind.NO_TRACK,
                        gate_id,
                        entry.session_id,
                        (),
                        entry.t_mono,
                        f"no track started within {s.radius_m} m of the gate "
                        f"from {s.lead_s} s before to {s.window_s} s after the entry",
                    )
                )
                continue
            if len(in_window) <= 1 + len(rivals):
                chosen = in_window[0]
                entries.pop(0)
                candidates.remove(chosen)
                chosen.track.session_id = entry.session_id
                decisions.append(
                    BindingDecision(
                        BindingKind.BOUND,
                        gate_id,
                        entry.session_id,
                        (chosen.track.track_id,),
                        entry.t_mono,
                        f"earliest of {len(in_window)} track(s) for {1 + len(rivals)} entr(ies)",
                    )
                )
                continue
            if now_mono < hi + s.lead_s:
                break  # one track too many: wait for an entry sensed late to claim it
            involved = [entry, *rivals]
            for e in involved:
                entries.remove(e)
            for c in in_window:
                candidates.remove(c)
            track_ids = tuple(c.track.track_id for c in in_window)
            sessions: dict[str, float] = {}
            for e in involved:
                sessions.setdefault(e.session_id, e.t_mono)
            reason = (
                f"{len(in_window)} tracks started at the gate for {len(involved)} entr(ies); "
                "cannot tell which track is whose"
            )
            decisions.extend(
                BindingDecision(BindingKind.AMBIGUOUS, gate_id, session, track_ids, t_mono, reason)
                for session, t_mono in sessions.items()
            )
        orphans = [
            c
            for c in candidates
            if c.start_mono + s.lead_s < now_mono
            and not any(
                e.t_mono - s.lead_s <= c.start_mono <= e.t_mono + s.window_s for e in entries
            )
        ]
        for c in orphans:
            candidates.remove(c)
            decisions.append(
                BindingDecision(
                    BindingKind.NO_ENTRY,
                    gate_id,
                    None,
                    (c.track.track_id,),
                    c.start_mono,
                    "track started at the gate with no entry to claim it",
                )
            )
        return decisions
