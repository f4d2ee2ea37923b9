"""One shopper, two shoppers, redelivery and bad input: takes from shelf to receipt."""

from decimal import Decimal
from pathlib import Path

import pytest

from devices.gate.machine import Exited, Refused
from vision_core.checkout.engine import CheckoutInputError, split_by_member
from vision_core.ledger.events import (
    LineAdded,
    MemberExited,
    MemberJoined,
    ReceiptLine,
    ReceiptSettled,
    SessionOpened,
)

from .scenario import (
    admit,
    at_shelf,
    away,
    feed_all,
    leave,
    make_engine,
    sample,
    shelf_change,
    store,
    walk,
)

# A hand 2 cm from the event spot scores exp(-0.5 (0.02 / 0.15)^2) = 0.99115.
HAND_2CM = 0.99115


def test_single_shopper_take_then_exit_settles_the_receipt(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        opened = feed_all(engine, admit("s1", 1.0))
        assert [type(m) for m in opened] == [SessionOpened, MemberJoined]
        me = ("t1", "s1", "s1/1")
        assert feed_all(engine, walk(9.0, 11.0, {me: at_shelf(2.5)})) == []

        (line,) = engine.feed(shelf_change("A1", -331.0, 0.5, 10.0, 11.0))
        assert line == LineAdded(
            source="checkout",
            t_mono=11.0,
            event_id="take:A1@11.0:can-330",
            session_id="s1",
            member="s1/1",
            sku="can-330",
            qty=1,
            unit_price=Decimal("1.29"),
            evidence=("A1@11.0", "track:t1"),
            confidence=pytest.approx(HAND_2CM, abs=1e-4),
            unit_weight_g=330.0,
            weighed_g=331.0,  # what the scale measured: this can, not cans in general
        )
        feed_all(engine, walk(11.5, 19.5, {me: away(2.5)}))
        exited, receipt = engine.feed(leave("s1", 20.0))
        assert isinstance(exited, MemberExited)
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.session_id == "s1"
        assert receipt.t_mono == 20.0  # settled at the exit: nothing was undecided
        assert receipt.total == Decimal("1.29")
        assert receipt.currency == "EUR"
        assert receipt.lines == (
            ReceiptLine(
                sku="can-330",
                qty=1,
                unit_price=Decimal("1.29"),
                amount=Decimal("1.29"),
                member="s1/1",
                evidence=("A1@11.0", "track:t1"),
                confidence=pytest.approx(HAND_2CM, abs=1e-4),
            ),
        )
        assert engine.tick(60.0) == []  # settled once


def test_two_shoppers_at_one_shelf_with_hands_apart_get_their_own_items(tmp_path: Path):
    one, two = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        # s1 reaches at x = 2.3 (can facing), s2 at x = 3.0 (bottle facing), 0.7 m apart.
        feed_all(engine, walk(9.0, 14.0, {one: at_shelf(2.3), two: at_shelf(3.0)}))
        (can,) = engine.feed(shelf_change("A1", -329.0, 0.3, 10.0, 11.0))
        (bottle,) = engine.feed(shelf_change("A1", -502.0, 1.0, 12.5, 13.5))
        assert isinstance(can, LineAdded)
        assert isinstance(bottle, LineAdded)
        assert (can.session_id, can.sku, can.member) == ("s1", "can-330", "s1/1")
        assert (bottle.session_id, bottle.sku, bottle.member) == ("s2", "bottle-500", "s2/1")
        r1 = engine.feed(leave("s1", 20.0))[-1]
        r2 = engine.feed(leave("s2", 21.0))[-1]
        assert isinstance(r1, ReceiptSettled)
        assert isinstance(r2, ReceiptSettled)
        assert [(x.sku, x.qty) for x in r1.lines] == [("can-330", 1)]
        assert r1.total == Decimal("1.29")
        assert [(x.sku, x.qty) for x in r2.lines] == [("bottle-500", 1)]
        assert r2.total == Decimal("0.99")


def test_two_units_in_one_take_are_one_line_of_two(tmp_path: Path):
    me = ("t1", "s1", None)  # no member name from the tracker: the track names the line
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *walk(9.0, 11.0, {me: at_shelf(2.3)})])
        (line,) = engine.feed(shelf_change("A1", -661.0, 0.3, 10.0, 11.0))
        assert isinstance(line, LineAdded)
        assert (line.sku, line.qty, line.member) == ("can-330", 2, "track:t1")
        receipt = engine.feed(leave("s1", 20.0))[-1]
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.total == Decimal("2.58")
        assert split_by_member(receipt) == {"track:t1": Decimal("2.58")}


def test_the_same_events_twice_give_one_session_and_one_line(tmp_path: Path):
    me = ("t1", "s1", "s1/1")
    take = shelf_change("A1", -330.0, 0.5, 10.0, 11.0)
    with store(tmp_path / "l.db") as engine:
        gate = admit("s1", 1.0)
        feed_all(engine, gate)
        assert feed_all(engine, gate) == []  # redelivered gate events: stored once
        feed_all(engine, walk(9.0, 11.0, {me: at_shelf(2.5)}))
        assert len(engine.feed(take)) == 1
        assert engine.feed(take) == []
        session = engine.ledger.state.sessions["s1"]
        assert [(x.sku, x.qty) for x in session.lines] == [("can-330", 1)]
        exit_ = leave("s1", 20.0)
        receipt = engine.feed(exit_)[-1]
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.total == Decimal("1.29")
        assert engine.feed(exit_) == []  # the same exit again: no second exit, no second bill


def test_gate_events_that_change_no_bill_give_nothing(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, admit("s1", 1.0))
        assert (
            engine.feed(Refused(source="gate-in", t_mono=2.0, credential="**12", reason="x")) == []
        )
        assert engine.feed(Exited(source="gate-out", t_mono=3.0)) == []  # nobody bound to it
        assert engine.ledger.state.sessions["s1"].exits == 0


def test_bad_input_is_refused_by_name(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        with pytest.raises(CheckoutInputError, match="shelf 'Z9' has no floor location"):
            engine.feed(shelf_change("Z9", -330.0, 0.5, 10.0, 11.0))
        engine.feed(sample("t1", None, 5.0, (1.0, 1.0), None))
        with pytest.raises(CheckoutInputError, match="older than the last one"):
            engine.feed(sample("t1", None, 4.0, (1.0, 1.0), None))
        bad = sample("t2", None, 5.0, (1.0, 1.0), None)
        with pytest.raises(CheckoutInputError, match="differs from its sample"):
            engine.feed(type(bad)(source="x", t_mono=6.0, track_id="t2", session_id=None,
                                  sample=bad.sample))  # fmt: skip
        with pytest.raises(CheckoutInputError, match="does not take ReceiptLine"):
            engine.feed(ReceiptLine(sku="x", qty=1, unit_price=Decimal(1), amount=Decimal(1),  # type: ignore[arg-type]
                                    member="m", evidence=(), confidence=1.0))  # fmt: skip


def test_engine_refuses_a_ledger_with_another_deadline(tmp_path: Path):
    from vision_core.ledger.ledger import Ledger
    from vision_core.ledger.settlement import SettlementPolicy

    policy = SettlementPolicy(review_after_s=9.0)
    with (
        Ledger.open(tmp_path / "l.db", policy=policy) as ledger,
        pytest.raises(ValueError, match="settle_deadline_s is 5 s"),
    ):
        make_engine(ledger)


def test_a_take_behind_the_exit_on_the_bus_is_still_billed(tmp_path: Path):
    """With the shipped grace (settle_after_s 0.5 s) the receipt waits for late shelf events."""
    from vision_core.checkout.config import CheckoutSettings

    with store(tmp_path / "l.db", CheckoutSettings()) as engine:
        feed_all(engine, admit("s1", 1.0))
        me = ("t1", "s1", "s1/1")
        feed_all(engine, walk(9.0, 11.0, {me: at_shelf(2.5)}))
        # The gate reports the exit before the shelf has settled on its new weight.
        (exited,) = engine.feed(leave("s1", 11.2))
        assert isinstance(exited, MemberExited)
        (line,) = engine.feed(shelf_change("A1", -331.0, 0.5, 10.0, 11.0))
        assert isinstance(line, LineAdded)
        assert engine.tick(11.2 + 0.49) == []
        (receipt,) = engine.tick(11.2 + 0.5)
        assert isinstance(receipt, ReceiptSettled)
        assert receipt.total == Decimal("1.29")
