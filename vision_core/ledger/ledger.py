"""The ledger: journal first, memory second, so a crash between the two loses nothing.

:meth:`Ledger.apply` checks an event against the carts (a refused event
never reaches the journal, so replay never meets one), appends it to the
journal, and only then changes memory. Killed between the append and the
change, the process restarts with :meth:`Ledger.open`, whose replay applies
the same events through the same code: the journal is the truth.

Follow-ups (a receipt once a closed session has nothing undecided, review
requests once the timeout passes) are events too, journaled the same way and
returned to the caller for the bus.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

from devices.bus import Message
from devices.gate.machine import Admitted, Entered, Exited
from vision_core.ledger.carts import CartError, CartLine, Session, SessionState, Weighing, redact
from vision_core.ledger.events import (
    AttributionPending,
    AttributionResolved,
    LedgerEvent,
    LineAdded,
    LinePutBack,
    MemberExited,
    MemberJoined,
    ReceiptSettled,
    ReviewRequested,
    ReviewResolved,
    SessionClosed,
    SessionOpened,
)
from vision_core.ledger.journal import Journal
from vision_core.ledger.settlement import SettlementPolicy

_LOGGER = logging.getLogger(__name__)

Mutation = Callable[[], None]


class LedgerRejected(ValueError):
    """An event the ledger will not record (unknown or settled session, nothing to put back ...)."""


@dataclass(slots=True)
class LedgerState:
    """Every open session and every settled receipt; built only by applying events."""

    sessions: dict[str, Session] = field(default_factory=dict)
    receipts: dict[str, ReceiptSettled] = field(default_factory=dict)

    def _session(self, event: LedgerEvent) -> Session:
        if event.session_id in self.receipts:
            raise LedgerRejected(f"{event.event_id}: session {event.session_id} is settled")
        session = self.sessions.get(event.session_id)
        if session is None:
            raise LedgerRejected(f"{event.event_id}: no open session {event.session_id}")
        return session

    def prepare(self, event: LedgerEvent) -> Mutation:
        """Check ``event`` and return the change it makes; nothing changes until it is called."""
        try:
            return self._prepare(event)
        except CartError as exc:
            raise LedgerRejected(f"{event.event_id}: {exc}") from exc

    def apply(self, event: LedgerEvent) -> None:
        """Check and apply at once (replay, and references built in memory)."""
        self.prepare(event)()

    def _prepare(self, event: LedgerEvent) -> Mutation:
        if isinstance(event, SessionOpened):
            if event.session_id in self.sessions or event.session_id in self.receipts:
                raise LedgerRejected(f"{event.event_id}: session {event.session_id} exists")
            if event.group_size < 1:
                raise LedgerRejected(f"{event.event_id}: group size {event.group_size} < 1")
            new = Session(
                session_id=event.session_id,
                credential=redact(event.credential),
                group_size=event.group_size,
                currency=event.currency,
                opened_mono=event.t_mono,
            )
            return lambda: self.sessions.__setitem__(event.session_id, new)
        session = self._session(event)
        if isinstance(event, MemberJoined):
            return lambda: session.join(event.member)
        if isinstance(event, MemberExited):
            return lambda: _exit(session, event)
        if isinstance(event, SessionClosed):
            return lambda: _close(session, event.t_mono)
        if isinstance(event, LineAdded):
            line = CartLine(
                line_id=event.event_id,
                member=event.member,
                sku=event.sku,
                qty=event.qty,
                unit_price=event.unit_price,
                evidence=event.evidence,
                confidence=event.confidence,
                t_mono=event.t_mono,
                unit_weight_g=event.unit_weight_g,
                weighing=None if event.weighed_g is None else Weighing(event.weighed_g, event.qty),
            )
            session.check_add(line.sku, line.qty, line.unit_price, line.line_id)
            return lambda: session.add(line)
        if isinstance(event, LinePutBack):
            session.check_put_back(event.sku, event.qty)
            return lambda: _put_back(session, event)
        if isinstance(event, AttributionPending):
            if event.item_id in session.pending or event.item_id in session.in_review:
                raise LedgerRejected(f"{event.event_id}: item {event.item_id} is already open")
            return lambda: session.pending.__setitem__(event.item_id, event.evidence)
        if isinstance(event, AttributionResolved):
            if event.item_id not in session.pending:
                raise LedgerRejected(f"{event.event_id}: item {event.item_id} is not pending")
            return lambda: _drop(session.pending, event.item_id)
        if isinstance(event, ReviewRequested):
            if event.item_id in session.in_review:
                raise LedgerRejected(f"{event.event_id}: item {event.item_id} is in review")
            return lambda: _to_review(session, event)
        if isinstance(event, ReviewResolved):
            if event.item_id not in session.in_review:
                raise LedgerRejected(f"{event.event_id}: item {event.item_id} is not in review")
            return lambda: _drop(session.in_review, event.item_id)
        if isinstance(event, ReceiptSettled):
            if session.state is not SessionState.CLOSED or session.blocking:
                raise LedgerRejected(
                    f"{event.event_id}: session {session.session_id} is {session.state} "
                    f"with {len(session.blocking)} undecided items"
                )
            return lambda: self._settle(session, event)
        raise LedgerRejected(f"{event.event_id}: unknown event type {type(event).__name__}")

    def _settle(self, session: Session, receipt: ReceiptSettled) -> None:
        session.state = SessionState.SETTLED
        del self.sessions[session.session_id]
        self.receipts[session.session_id] = receipt


def _close(session: Session, t_mono: float) -> None:
    if session.state is SessionState.OPEN:
        session.state = SessionState.CLOSED
        session.closed_mono = t_mono


def _exit(session: Session, event: MemberExited) -> None:
    session.exits += 1
    if session.exits >= max(len(session.members), 1):
        _close(session, event.t_mono)


def _put_back(session: Session, event: LinePutBack) -> None:
    session.put_back(event.sku, event.qty, event.evidence)


def _drop(items: dict[str, str] | dict[str, tuple[str, ...]], key: str) -> None:
    del items[key]


def _to_review(session: Session, event: ReviewRequested) -> None:
    session.pending.pop(event.item_id, None)
    session.in_review[event.item_id] = event.reason


def from_gate(message: Message, currency: str) -> LedgerEvent | None:
    """The ledger event for a gate event, with an id derived from it (redelivery is a no-op).

    ``Exited`` without a session (the gate cannot tell who left) gives None:
    vision binds such an exit to a session and applies a ``MemberExited``.
    """
    if isinstance(message, Admitted):
        return SessionOpened(
            source=message.source,
            t_mono=message.t_mono,
            event_id=f"admitted:{message.session_id}",
            session_id=message.session_id,
            credential=redact(message.credential),
            group_size=message.group_size,
            currency=currency,
        )
    if isinstance(message, Entered):
        member = f"{message.session_id}/{message.person}"
        return MemberJoined(
            source=message.source,
            t_mono=message.t_mono,
            event_id=f"entered:{member}",
            session_id=message.session_id,
            member=member,
        )
    if isinstance(message, Exited) and message.session_id is not None:
        return MemberExited(
            source=message.source,
            t_mono=message.t_mono,
            event_id=f"exited:{message.source}:{message.session_id}:{message.t_mono!r}",
            session_id=message.session_id,
        )
    return None


class Ledger:
    """Journal plus memory; build it with :meth:`open`. A context manager."""

    def __init__(self, journal: Journal, policy: SettlementPolicy | None = None) -> None:
        self.journal = journal
        self.policy = policy or SettlementPolicy()
        self.state = LedgerState()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        policy: SettlementPolicy | None = None,
        read_only: bool = False,
        size_limit_bytes: int | None = None,
    ) -> Ledger:
        """Open (or create) the journal at ``path`` and replay it into memory."""
        journal = Journal(path, read_only=read_only, size_limit_bytes=size_limit_bytes)
        ledger = cls(journal, policy)
        try:
            count = 0
            for entry in journal.replay():
                ledger.state.apply(entry.event)
                count += 1
        except BaseException:
            journal.close()
            raise
        _LOGGER.info(
            "ledger %s replayed %d events: %d open sessions",
            journal.path,
            count,
            len(ledger.state.sessions),
        )
        return ledger

    def flush(self) -> None:
        """Checkpoint the journal (before a host shutdown); raises ``JournalError``."""
        self.journal.checkpoint()

    def close(self) -> None:
        """Close the journal (memory stays readable)."""
        self.journal.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _record(self, event: LedgerEvent) -> bool:
        """Journal then apply one event; False when it was stored already.

        A redelivered event may no longer fit memory (its line exists, its
        session settled since): the journal, not the carts, says it is a
        duplicate, so a refusal is checked against it before it is raised.
        """
        try:
            mutation = self.state.prepare(event)
        except LedgerRejected:
            if self.journal.lookup(event) is not None:
                return False
            raise
        if self.journal.append(event).duplicate:
            return False
        mutation()
        return True

    def apply(self, event: LedgerEvent) -> list[LedgerEvent]:
        """Record ``event`` and whatever it makes due; returns the events newly recorded.

        An event id seen before is ignored (returns []) even if memory would
        now refuse it. Raises :class:`LedgerRejected` for an event that does
        not fit the carts, and the journal's errors when it cannot be stored;
        either way memory is as it was.
        """
        if not self._record(event):
            return []
        recorded: list[LedgerEvent] = [event]
        session = self.state.sessions.get(event.session_id)
        if session is not None:
            recorded.extend(self._record_due(session, event.t_mono))
        return recorded

    def _record_due(self, session: Session, t_mono: float) -> list[LedgerEvent]:
        out: list[LedgerEvent] = []
        for due in self.policy.due(session, t_mono):
            if self._record(due):
                out.append(due)
        return out

    def tick(self, t_mono: float) -> list[LedgerEvent]:
        """Let store time pass: settle what can settle, send what timed out to review."""
        out: list[LedgerEvent] = []
        for session in list(self.state.sessions.values()):
            out.extend(self._record_due(session, t_mono))
        return out
