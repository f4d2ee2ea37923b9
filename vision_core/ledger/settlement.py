"""When a session's bill is final, and what the receipt says.

A session closes when its people have left (the gate counts them out) or
when it is closed explicitly. Its receipt settles once nothing about it is
undecided: a pending attribution or an item in review blocks it, because a
receipt is settled once and a late correction would be a refund. What is
still pending ``review_after_s`` after the close goes to people
(``ReviewRequested``) instead of being guessed; review items still block,
they only change who decides.

All times are the events' ``t_mono`` (store time), so a recorded day replays
through the same rules faster than real time.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from vision_core.ledger.carts import Session, SessionState
from vision_core.ledger.events import LedgerEvent, ReceiptLine, ReceiptSettled, ReviewRequested

SOURCE = "ledger"


def receipt_event_id(session_id: str) -> str:
    """One receipt per session: a second settlement is the same event, stored once."""
    return f"receipt:{session_id}"


def review_event_id(session_id: str, item_id: str) -> str:
    """One review request per item."""
    return f"review:{session_id}:{item_id}"


def build_receipt(session: Session, t_mono: float) -> ReceiptSettled:
    """The receipt of ``session`` as it stands: one line per cart line, with its evidence."""
    lines = tuple(
        ReceiptLine(
            sku=line.sku,
            qty=line.qty,
            unit_price=line.unit_price,
            amount=line.amount,
            member=line.member,
            evidence=line.evidence,
            confidence=line.confidence,
        )
        for line in session.lines
    )
    total = sum((line.amount for line in lines), Decimal(0))
    return ReceiptSettled(
        source=SOURCE,
        t_mono=t_mono,
        event_id=receipt_event_id(session.session_id),
        session_id=session.session_id,
        currency=session.currency,
        lines=lines,
        total=total,
    )


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    """``review_after_s``: how long after the close a pending item may wait for evidence.

    5 s by default: the target is a receipt within 5 s of leaving, and a
    person looking at the evidence beats a guess on someone's bill.

    ``settle_after_s``: the least time between the close and the receipt, for
    evidence already in flight. A take made just before walking out reaches
    the ledger only once the shelf has settled again (the scale's stable
    samples) and the event has crossed the bus, possibly after the gate's exit
    event; settling at once would bill without it.
    """

    review_after_s: float = 5.0
    settle_after_s: float = 0.0

    def __post_init__(self) -> None:
        if self.review_after_s < 0 or self.settle_after_s < 0:
            raise ValueError("review_after_s and settle_after_s must be >= 0")

    def due(self, session: Session, t_mono: float) -> list[LedgerEvent]:
        """What should happen to ``session`` at store time ``t_mono`` (maybe nothing)."""
        if session.state is not SessionState.CLOSED or session.closed_mono is None:
            return []
        if not session.blocking:
            if t_mono - session.closed_mono < self.settle_after_s:
                return []
            return [build_receipt(session, t_mono)]
        if t_mono - session.closed_mono < self.review_after_s:
            return []
        return [
            ReviewRequested(
                source=SOURCE,
                t_mono=t_mono,
                event_id=review_event_id(session.session_id, item_id),
                session_id=session.session_id,
                item_id=item_id,
                reason=f"undecided {self.review_after_s:g} s after the session closed",
            )
            for item_id in session.pending
            if item_id not in session.in_review
        ]
