"""Put-backs leave the right cart, whatever shelf they land on; strangers' objects are alerts."""

from decimal import Decimal
from pathlib import Path

import pytest

from devices.bus import Message
from vision_core.checkout.engine import CheckoutEngine, split_by_member
from vision_core.checkout.messages import ForeignObject
from vision_core.ledger.events import (
    AttributionPending,
    LineAdded,
    LinePutBack,
    MemberExited,
    ReceiptSettled,
    ReviewRequested,
)

from .scenario import (
    AT_EXIT,
    PLANOGRAM,
    SHELVES,
    admit,
    at_shelf,
    away,
    feed_all,
    leave,
    open_ledger,
    shelf_change,
    store,
    walk,
)


def test_group_child_takes_parent_puts_back_one_bill(tmp_path: Path):
    parent, child = ("tp", "fam", "fam/1"), ("tc", "fam", "fam/2")
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, admit("fam", 1.0, people=2))
        feed_all(engine, walk(9.0, 11.0, {child: at_shelf(2.3), parent: away(6.5)}))
        (can,) = engine.feed(shelf_change("A1", -330.0, 0.3, 10.0, 11.0))
        assert isinstance(can, LineAdded)
        assert (can.session_id, can.member, can.sku) == ("fam", "fam/2", "can-330")
        feed_all(engine, walk(11.5, 14.5, {child: away(2.3), parent: at_shelf(3.0)}))
        (bottle,) = engine.feed(shelf_change("A1", -499.0, 1.0, 13.0, 14.0))
        assert isinstance(bottle, LineAdded)
        assert (bottle.member, bottle.sku) == ("fam/1", "bottle-500")
        # The parent puts the child's can back where it came from.
        feed_all(engine, walk(15.0, 21.0, {child: away(2.3), parent: at_shelf(2.5)}))
        (back,) = engine.feed(shelf_change("A1", +331.0, 0.5, 20.0, 21.0))
        assert back == LinePutBack(
            source="checkout",
            t_mono=21.0,
            event_id="putback:A1@21.0:can-330",
            session_id="fam",
            member="fam/1",
            sku="can-330",
            qty=1,
            evidence=("A1@21.0", "track:tp"),
            confidence=pytest.approx(1.0),  # the cart has one way to weigh 331 g
        )
        assert [type(m) for m in engine.feed(leave("fam", 25.0))] == [MemberExited]
        receipt = engine.feed(leave("fam", 26.0))[-1]
        assert isinstance(receipt, ReceiptSettled)
        assert [(x.sku, x.qty, x.member) for x in receipt.lines] == [("bottle-500", 1, "fam/1")]
        assert receipt.total == Decimal("0.99")  # the can came and went: net zero
        assert split_by_member(receipt) == {"fam/1": Decimal("0.99")}


def test_putback_onto_another_shelf_leaves_the_putters_cart(tmp_path: Path):
    one, two = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {one: at_shelf(2.3), two: away(6.9)}))
        engine.feed(shelf_change("A1", -330.0, 0.3, 10.0, 11.0))  # s1 takes a can
        feed_all(engine, walk(11.5, 14.0, {one: away(2.3), two: at_shelf(2.1)}))
        engine.feed(shelf_change("A1", -331.0, 0.1, 12.5, 13.5))  # s2 takes a can too
        # Both at the crisps shelf C1, 0.4 m apart; s1 puts its can down among the crisps.
        feed_all(engine, walk(14.5, 21.0, {one: at_shelf(6.5), two: at_shelf(6.9)}))
        (back,) = engine.feed(shelf_change("C1", +332.0, 0.5, 20.0, 21.0))
        assert isinstance(back, LinePutBack)
        assert (back.session_id, back.sku, back.qty) == ("s1", "can-330", 1)
        r1 = engine.feed(leave("s1", 25.0))[-1]
        r2 = engine.feed(leave("s2", 26.0))[-1]
        assert isinstance(r1, ReceiptSettled)
        assert isinstance(r2, ReceiptSettled)
        assert r1.lines == ()
        assert r1.total == Decimal(0)
        assert [(x.sku, x.qty) for x in r2.lines] == [("can-330", 1)]
        assert r2.total == Decimal("1.29")


def cans_then_one_back(
    engine: CheckoutEngine, first_g: float, second_g: float, back_g: float
) -> list[Message]:
    """s1 and s2 take a can each (``first_g``, ``second_g``); then, with both hands at
    one spot of C1, ``back_g`` arrives there. What the engine makes of that put."""
    one, two = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
    feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
    feed_all(engine, walk(9.0, 11.0, {one: at_shelf(2.3), two: away(6.9)}))
    engine.feed(shelf_change("A1", -first_g, 0.3, 10.0, 11.0))
    feed_all(engine, walk(11.5, 14.0, {one: away(2.3), two: at_shelf(2.1)}))
    engine.feed(shelf_change("A1", -second_g, 0.1, 12.5, 13.5))
    feed_all(engine, walk(14.5, 21.0, {one: at_shelf(6.5), two: at_shelf(6.52)}))
    return engine.feed(shelf_change("C1", +back_g, 0.5, 20.0, 21.0))


def test_putback_between_two_carts_with_no_hand_to_tell_goes_to_review(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        pending = cans_then_one_back(engine, 330.0, 331.0, 330.0)
        assert [(type(p), p.session_id) for p in pending] == [
            (AttributionPending, "s1"),
            (AttributionPending, "s2"),
        ]
        reviews = engine.tick(31.0)
        assert [(type(r), r.session_id) for r in reviews] == [
            (ReviewRequested, "s1"),
            (ReviewRequested, "s2"),
        ]
        assert "several carts" in reviews[0].reason


def test_put_that_matches_no_nearby_cart_is_a_foreign_object(tmp_path: Path):
    me = ("t1", "s1", "s1/1")
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *walk(9.0, 11.0, {me: at_shelf(6.5)})])
        (crisps,) = engine.feed(shelf_change("C1", -161.0, 0.5, 10.0, 11.0))
        assert isinstance(crisps, LineAdded)
        feed_all(engine, walk(11.5, 21.0, {me: at_shelf(6.5)}))
        assert engine.feed(shelf_change("C1", +500.0, 0.5, 20.0, 21.0)) == []  # blocks nothing
        assert engine.tick(30.9) == []
        (alert,) = engine.tick(31.0)
        assert alert == ForeignObject(
            source="checkout",
            t_mono=31.0,
            shelf_id="C1",
            item_id="C1@21.0",
            weight_g=500.0,
            nearby_sessions=("s1",),
        )
        receipt = engine.feed(leave("s1", 35.0))[-1]
        assert isinstance(receipt, ReceiptSettled)
        assert [(x.sku, x.qty) for x in receipt.lines] == [("crisps-150", 1)]
        assert receipt.total == Decimal("2.49")


def test_put_with_nobody_near_is_a_foreign_object(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        engine.feed(shelf_change("A1", +200.0, 0.5, 10.0, 11.0))
        (alert,) = engine.tick(21.0)
        assert isinstance(alert, ForeignObject)
        assert (alert.shelf_id, alert.weight_g, alert.nearby_sessions) == ("A1", 200.0, ())


def test_put_by_a_hand_whose_cart_lacks_it_leaves_the_one_nearby_cart_that_has_it(
    tmp_path: Path,
):
    one, two = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {one: away(2.3), two: at_shelf(2.3)}))
        engine.feed(shelf_change("A1", -330.0, 0.3, 10.0, 11.0))  # s2 takes a can
        # At C1 s1's hand is at the spot (0.991), s2's 0.2 m off (exp(-0.5 (0.2/0.15)^2) =
        # 0.41: near, not a contender). s1's cart is empty, s2's holds the can.
        feed_all(engine, walk(11.5, 21.0, {one: at_shelf(6.5), two: at_shelf(6.7)}))
        (back,) = engine.feed(shelf_change("C1", +330.0, 0.5, 20.0, 21.0))
        assert isinstance(back, LinePutBack)
        assert (back.session_id, back.member, back.sku) == ("s2", "s2/1", "can-330")


def test_a_put_the_hands_leave_tied_goes_to_the_cart_whose_unit_weighed_that(tmp_path: Path):
    # As above, on a scale good to 2 g: s1's can weighed 326 g when taken, s2's 334 g.
    # 334 g arrives between both hands: s2's can, by its weight.
    weighing = PLANOGRAM.model_copy(
        update={
            "shelves": {
                shelf_id: plan.model_copy(update={"scale_tolerance_g": 2.0})
                for shelf_id, plan in PLANOGRAM.shelves.items()
            }
        }
    )
    with open_ledger(tmp_path / "l.db") as ledger:
        engine = CheckoutEngine(ledger, weighing, SHELVES, AT_EXIT)
        (back,) = cans_then_one_back(engine, 326.0, 334.0, 334.0)
        assert isinstance(back, LinePutBack)
        assert (back.session_id, back.sku, back.qty) == ("s2", "can-330", 1)
