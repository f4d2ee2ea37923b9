"""Ties between sessions wait for evidence, never a guess; unresolved ones go to people."""

from decimal import Decimal
from pathlib import Path

import pytest

from vision_core.ledger.events import (
    AttributionPending,
    AttributionResolved,
    LineAdded,
    MemberExited,
    ReceiptSettled,
    ReviewRequested,
    ReviewResolved,
)

from .scenario import admit, at_shelf, away, feed_all, leave, sample, shelf_change, store, walk

ONE, TWO = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
ITEM = "A1@11.0"
TAKE = shelf_change("A1", -330.0, 0.5, 10.0, 11.0)  # at x = 2.5, decided by 11.0 + 10 s


def start_tie(engine) -> list:
    """Both hands in the shelf 2 cm apart during the take: a tie between two sessions."""
    feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
    feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.5), TWO: at_shelf(2.52)}))
    return engine.feed(TAKE)


def test_tie_blocks_both_sessions_then_goes_to_review_after_the_wait(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        pending = start_tie(engine)
        assert [(type(p), p.session_id, p.event_id) for p in pending] == [
            (AttributionPending, "s1", f"pending:{ITEM}:s1"),
            (AttributionPending, "s2", f"pending:{ITEM}:s2"),
        ]
        assert "tie between sessions" in pending[0].reason
        # They walk away: later samples inside the pad change nothing.
        assert feed_all(engine, walk(11.5, 20.5, {ONE: away(2.5), TWO: away(2.52)})) == []
        assert engine.undecided == (ITEM,)
        assert engine.tick(20.9) == []
        reviews = engine.tick(21.0)
        assert [(type(r), r.session_id, r.item_id) for r in reviews] == [
            (ReviewRequested, "s1", ITEM),
            (ReviewRequested, "s2", ITEM),
        ]
        assert "unresolved after wait" in reviews[0].reason
        assert engine.undecided == ()
        # Leaving does not settle a bill with an item in review: no guess.
        assert [type(m) for m in engine.feed(leave("s1", 25.0))] == [MemberExited]
        assert engine.tick(60.0) == []
        assert ITEM in engine.ledger.state.sessions["s1"].in_review


def test_tie_still_open_at_the_settlement_deadline_goes_to_review(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        start_tie(engine)
        assert [type(m) for m in engine.feed(leave("s1", 13.0))] == [MemberExited]
        assert engine.tick(17.9) == []  # 5 s settlement deadline from 13.0
        reviews = engine.tick(18.0)
        assert [(r.session_id, r.item_id) for r in reviews] == [("s1", ITEM), ("s2", ITEM)]
        assert all(isinstance(r, ReviewRequested) for r in reviews)
        assert "5 s after the session closed" in reviews[0].reason  # the ledger's deadline
        assert "settlement deadline" in reviews[1].reason  # the engine follows for s2
        assert engine.undecided == ()
        assert engine.tick(30.0) == []  # not reviewed twice when the wait runs out
        # A person decides the item was not s1's: its bill settles, empty.
        resolved = ReviewResolved(
            source="ops",
            t_mono=40.0,
            event_id=f"review-done:{ITEM}:s1",
            session_id="s1",
            item_id=ITEM,
            resolution="taken by s2",
            reviewer="op-1",
        )
        out = engine.feed(resolved)
        assert out[0] == resolved
        receipt = out[1]
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.lines == ()
        assert receipt.total == Decimal(0)


def test_deadline_reached_on_a_gate_event_reviews_every_blocked_session(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        start_tie(engine)
        engine.feed(leave("s1", 13.0))
        # No tick: the next event of s1 after its deadline (13 + 5 s) brings the review.
        out = engine.feed(leave("s1", 18.5))
        assert [(type(m), m.session_id) for m in out] == [
            (MemberExited, "s1"),
            (ReviewRequested, "s1"),
            (ReviewRequested, "s2"),
        ]
        assert engine.undecided == ()


def test_late_samples_break_the_tie_and_the_receipt_waits_for_the_line(tmp_path: Path):
    # Bodies 0.9 m from the spot, no hands seen: body evidence is worth 0.6 of a hand's,
    # 0.424 (s1) and 0.422 (s2), a tie. Then a sample that a lagging camera delivers
    # late shows s1's hand in the shelf 0.1 s after the onset (10.0): 0.991, and
    # 0.422 < 0.5 x 0.991.
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(
            engine,
            [
                sample("t1", "s1", 9.5, (2.5, 0.9), None, "s1/1"),
                sample("t2", "s2", 9.5, (2.55, 0.9), None, "s2/1"),
                sample("t1", "s1", 10.0, (2.5, 0.9), None, "s1/1"),
                sample("t2", "s2", 10.0, (2.55, 0.9), None, "s2/1"),
                sample("t2", "s2", 11.0, (2.55, 0.9), None, "s2/1"),
            ],
        )
        pending = engine.feed(TAKE)
        assert [(type(p), p.session_id) for p in pending] == [
            (AttributionPending, "s1"),
            (AttributionPending, "s2"),
        ]
        assert [type(m) for m in engine.feed(leave("s1", 11.0))] == [MemberExited]
        out = engine.feed(sample("t1", "s1", 10.1, (2.5, 0.5), (2.5, 0.02), "s1/1"))
        assert [(type(m), m.session_id) for m in out] == [
            (LineAdded, "s1"),
            (AttributionResolved, "s1"),
            (ReceiptSettled, "s1"),
            (AttributionResolved, "s2"),
        ]
        line, receipt = out[0], out[2]
        assert (line.sku, line.qty, line.member) == ("can-330", 1, "s1/1")
        assert line.confidence == pytest.approx(0.99115, abs=1e-4)
        assert line.evidence == (ITEM, "track:t1")
        assert [(x.sku, x.qty) for x in receipt.lines] == [("can-330", 1)]
        assert receipt.total == Decimal("1.29")
        assert out[3].outcome == "decided for s1"
        r2 = engine.feed(leave("s2", 12.0))[-1]
        assert isinstance(r2, ReceiptSettled)
        assert r2.total == Decimal(0)
        assert engine.undecided == ()


def test_same_group_at_the_shelf_is_charged_without_waiting(tmp_path: Path):
    parent, child = ("tp", "fam", "fam/1"), ("tc", "fam", "fam/2")
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, admit("fam", 1.0, people=2))
        feed_all(engine, walk(9.0, 11.0, {parent: at_shelf(2.5), child: at_shelf(2.52)}))
        (line,) = engine.feed(TAKE)
        assert isinstance(line, LineAdded)
        assert line.session_id == "fam"
        assert line.member == "fam/1"  # the nearer hand names the line; the bill is the same
        assert line.evidence == (ITEM, "track:tp", "track:tc")


def test_take_with_nobody_near_is_reported_when_the_wait_ends(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, admit("s1", 1.0))
        feed_all(engine, walk(9.0, 11.0, {ONE: away(6.5)}))
        assert engine.feed(TAKE) == []
        assert engine.tick(20.0) == []
        (notice,) = engine.tick(21.0)
        assert type(notice).__name__ == "ShelfChangeUnresolved"
        assert (notice.shelf_id, notice.item_id, notice.kind) == ("A1", ITEM, "take")
        assert "nobody near the shelf" in notice.reason
        receipt = engine.feed(leave("s1", 22.0))[-1]
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.lines == ()


def test_unknown_product_on_a_decided_session_goes_to_its_review(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *walk(9.0, 11.0, {ONE: at_shelf(2.5)})])
        (review,) = engine.feed(shelf_change("A1", -410.0, 0.5, 10.0, 11.0))
        assert isinstance(review, ReviewRequested)
        assert review.session_id == "s1"
        assert "-410.0 g matches no product" in review.reason
        assert [type(m) for m in engine.feed(leave("s1", 20.0))] == [MemberExited]


def test_track_bound_late_resolves_its_take(tmp_path: Path):
    unbound = ("t1", None, None)
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *walk(9.0, 11.0, {unbound: at_shelf(2.5)})])
        assert engine.feed(TAKE) == []  # the only hand belongs to no session yet: wait
        assert engine.undecided == (ITEM,)
        (line,) = engine.feed(sample("t1", "s1", 11.5, (2.5, 3.0), None, "s1/1"))
        assert isinstance(line, LineAdded)
        assert (line.session_id, line.member, line.sku) == ("s1", "s1/1", "can-330")


def _second_hand_while_settling(engine, delta_g: float) -> list:
    """s1's hand at the spot at the onset (10.0); s2's comes in at 10.8, while the board
    still settles (the change ends at 11.0)."""
    feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
    feed_all(engine, walk(9.5, 10.5, {ONE: at_shelf(2.5), TWO: away(2.52)}))
    feed_all(engine, walk(10.8, 11.0, {ONE: away(2.5), TWO: at_shelf(2.52)}, step=0.2))
    return engine.feed(shelf_change("A1", delta_g, 0.5, 10.0, 11.0))


def test_a_hand_that_came_in_after_the_onset_did_not_lift_a_single_unit(tmp_path: Path):
    # Over the whole window the two hands tie (both 2 cm from the spot); a single unit
    # left the board when the weight began to change, and only s1's hand was there then.
    with store(tmp_path / "l.db") as engine:
        out = _second_hand_while_settling(engine, -330.0)
        assert [(type(m), m.session_id) for m in out] == [(LineAdded, "s1")]
        assert (out[0].sku, out[0].qty) == ("can-330", 1)
        assert engine.undecided == ()


def test_several_units_with_a_second_hand_while_settling_still_wait(tmp_path: Path):
    # Two units may be one each: the hand that came in halfway stays a contender.
    with store(tmp_path / "l.db") as engine:
        out = _second_hand_while_settling(engine, -660.0)
        assert [(type(m), m.session_id) for m in out] == [
            (AttributionPending, "s1"),
            (AttributionPending, "s2"),
        ]
