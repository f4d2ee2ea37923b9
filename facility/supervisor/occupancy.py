"""Who is inside, from the gates: the runtime budget's "time to empty the store".

The gates count people in (``Entered``, one per person of a session) and
out (``Exited``). The gate cannot tell who walked out: its ``Exited`` is
taken from the session that has been inside longest, which is the
likeliest to leave and, for the budget, the cautious choice: the sessions
left inside are the newest, with the most of their visit still ahead.
When vision later names the session of that passage (an ``Exited`` with
``session_id``, a moment after the gate's), the count moves from the
guessed session to the named one instead of counting the passage twice.
The checkout can close a session outright (``close``) once its receipt is
settled.

Each open session is expected to need ``typical_visit_s`` in all, and never
less than ``min_remaining_s`` more: a shopper past the typical visit is
still inside and still needs time to walk out.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.bus import Message
from devices.gate.machine import Entered, Exited
from facility.supervisor.budget import OpenSession, StoreOccupancy

GUESS_KEPT_S = 60.0
"""How long a guessed exit may still be corrected by vision naming its session."""


@dataclass
class _Inside:
    entered_t: float
    people: int


class OccupancyTracker:
    """Folds gate events into ``StoreOccupancy`` messages."""

    def __init__(
        self,
        *,
        source: str = "occupancy",
        typical_visit_s: float = 600.0,
        min_remaining_s: float = 60.0,
        settlement_s: float = 10.0,
    ) -> None:
        if typical_visit_s <= 0 or min_remaining_s < 0 or settlement_s < 0:
            raise ValueError("typical_visit_s must be > 0; min_remaining_s, settlement_s >= 0")
        self._source = source
        self._typical_visit_s = typical_visit_s
        self._min_remaining_s = min_remaining_s
        self._settlement_s = settlement_s
        self._inside: dict[str, _Inside] = {}
        self._unmatched_exits = 0
        # anonymous passages (gate, t_mono) -> the session counted out for it, and its entry time
        self._guessed: dict[tuple[str, float], tuple[str, float]] = {}

    @property
    def people(self) -> int:
        """People inside now, as the gates counted them."""
        return sum(s.people for s in self._inside.values())

    @property
    def unmatched_exits(self) -> int:
        """Exits counted while nobody was known to be inside (a missed entry)."""
        return self._unmatched_exits

    def feed(self, message: Message) -> StoreOccupancy | None:
        """Apply a gate event; the new occupancy, or None when the message changes nothing."""
        if isinstance(message, Entered):
            inside = self._inside.get(message.session_id)
            if inside is None:
                self._inside[message.session_id] = _Inside(message.t_mono, 1)
            else:
                inside.people += 1
            return self.snapshot(message.t_mono)
        if isinstance(message, Exited):
            passage = (message.source, message.t_mono)
            if message.session_id is not None and passage in self._guessed:
                return self._named(passage, message.session_id)
            session_id = message.session_id
            if session_id is None or session_id not in self._inside:
                session_id = self._longest_inside()
            if session_id is None:
                self._unmatched_exits += 1
                return None
            if message.session_id is None:
                self._forget_guesses(message.t_mono - GUESS_KEPT_S)
                self._guessed[passage] = (session_id, self._inside[session_id].entered_t)
            self._count_out(session_id)
            return self.snapshot(message.t_mono)
        return None

    def _named(self, passage: tuple[str, float], session_id: str) -> StoreOccupancy | None:
        """Vision named the session of a passage the gate could not bind."""
        guessed, entered_t = self._guessed.pop(passage)
        if guessed == session_id:
            return None  # the guess was right: counted already
        inside = self._inside.setdefault(guessed, _Inside(entered_t, 0))
        inside.people += 1
        if session_id in self._inside:
            self._count_out(session_id)
        return self.snapshot(passage[1])

    def _forget_guesses(self, before_t: float) -> None:
        """Vision names a passage within seconds; older guesses stay as they are."""
        for passage in [p for p in self._guessed if p[1] < before_t]:
            del self._guessed[passage]

    def _count_out(self, session_id: str) -> None:
        inside = self._inside[session_id]
        inside.people -= 1
        if inside.people <= 0:
            del self._inside[session_id]

    def close(self, session_id: str, t_mono: float) -> StoreOccupancy | None:
        """The checkout closed ``session_id`` (everyone out, receipt settled)."""
        for passage in [p for p, (guess, _) in self._guessed.items() if guess == session_id]:
            del self._guessed[passage]  # a settled session is not brought back by a correction
        if self._inside.pop(session_id, None) is None:
            return None
        return self.snapshot(t_mono)

    def snapshot(self, t_mono: float) -> StoreOccupancy:
        """Occupancy at ``t_mono``, each session's remaining visit aged to that time."""
        sessions = tuple(
            OpenSession(
                session_id,
                max(self._typical_visit_s - (t_mono - s.entered_t), self._min_remaining_s),
            )
            for session_id, s in sorted(self._inside.items())
        )
        return StoreOccupancy(
            source=self._source,
            t_mono=t_mono,
            sessions=sessions,
            settlement_s=self._settlement_s,
            typical_visit_s=self._typical_visit_s,
        )

    def _longest_inside(self) -> str | None:
        if not self._inside:
            return None
        return min(self._inside.items(), key=lambda item: item[1].entered_t)[0]
