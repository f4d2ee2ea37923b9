"""Who is inside, from the gates: the runtime budget's "time to empty the store".

The gates count people in (``Entered``, one per person of a session) and
out (``Exited``). An exit bound to a session by vision names it; an
unbound one (the gate cannot tell who walked out) is taken from the
session that has been inside longest, which is the likeliest to leave and,
for the budget, the cautious choice: the sessions left inside are the
newest, with the most of their visit still ahead. The checkout can close a
session outright (``close``) once its receipt is settled.

Each open session is expected to need ``typical_visit_s`` in all, and never
less than ``min_remaining_s`` more: a shopper past the typical visit is
still inside and still needs time to walk out.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.bus import Message
from devices.gate.machine import Entered, Exited
from facility.supervisor.budget import OpenSession, StoreOccupancy


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
            session_id = message.session_id
            if session_id is None or session_id not in self._inside:
                session_id = self._longest_inside()
            if session_id is None:
                self._unmatched_exits += 1
                return None
            inside = self._inside[session_id]
            inside.people -= 1
            if inside.people <= 0:
                del self._inside[session_id]
            return self.snapshot(message.t_mono)
        return None

    def close(self, session_id: str, t_mono: float) -> StoreOccupancy | None:
        """The checkout closed ``session_id`` (everyone out, receipt settled)."""
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
