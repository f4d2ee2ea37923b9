"""After a restart the engine works from the journal: open carts, seen events, pending items."""

from decimal import Decimal
from pathlib import Path

from vision_core.ledger.events import (
    AttributionPending,
    LinePutBack,
    MemberExited,
    ReceiptSettled,
    ReviewRequested,
)

from .scenario import admit, at_shelf, away, feed_all, leave, shelf_change, store, walk

ME = ("t1", "s1", "s1/1")
TAKE = shelf_change("A1", -330.0, 0.5, 10.0, 11.0)


def test_reopened_ledger_gives_the_new_engine_every_open_cart(tmp_path: Path):
    db = tmp_path / "l.db"
    with store(db) as engine:
        feed_all(engine, [*admit("s1", 1.0), *walk(9.0, 11.0, {ME: at_shelf(2.5)})])
        assert len(engine.feed(TAKE)) == 1
    with store(db) as engine:  # a new process: tracks and memory gone, the journal stays
        assert [(x.sku, x.qty) for x in engine.ledger.state.sessions["s1"].lines] == [
            ("can-330", 1)
        ]
        assert engine.feed(TAKE) == []  # redelivered after the restart: still once
        feed_all(engine, walk(19.0, 21.0, {ME: at_shelf(2.5)}))
        (back,) = engine.feed(shelf_change("A1", +329.0, 0.5, 20.0, 21.0))
        assert isinstance(back, LinePutBack)
        assert (back.session_id, back.sku) == ("s1", "can-330")
        receipt = engine.feed(leave("s1", 25.0))[-1]
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.total == Decimal(0)


def test_item_pending_at_the_crash_goes_to_review_at_the_deadline(tmp_path: Path):
    db = tmp_path / "l.db"
    one, two = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
    with store(db) as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {one: at_shelf(2.5), two: at_shelf(2.52)}))
        assert [type(m) for m in engine.feed(TAKE)] == [AttributionPending, AttributionPending]
    with store(db) as engine:
        assert engine.undecided == ()  # the hands' evidence was in memory only
        assert set(engine.ledger.state.sessions["s1"].pending) == {"A1@11.0"}
        # Fresh tracks show only s1 at the shelf; a redelivered take must still not be
        # decided afresh (the journal says it is s1's and s2's pending item).
        feed_all(engine, walk(9.0, 11.0, {one: at_shelf(2.5)}))
        assert engine.feed(TAKE) == []
        feed_all(engine, walk(12.0, 14.0, {one: away(2.5)}))
        assert [type(m) for m in engine.feed(leave("s1", 14.0))] == [MemberExited]
        (review,) = engine.tick(19.0)
        assert isinstance(review, ReviewRequested)
        assert (review.session_id, review.item_id) == ("s1", "A1@11.0")
