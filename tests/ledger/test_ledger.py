import math
import sqlite3
from contextlib import closing
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from devices.gate.machine import Admitted, Entered, Exited
from vision_core.ledger.carts import Weighing
from vision_core.ledger.events import (
    AttributionPending,
    AttributionResolved,
    LineAdded,
    LinePutBack,
    MemberExited,
    ReceiptSettled,
    ReviewRequested,
    ReviewResolved,
    SessionClosed,
)
from vision_core.ledger.journal import (
    JournalConflict,
    JournalCorrupt,
    JournalFull,
    JournalLocked,
    JournalReadOnly,
)
from vision_core.ledger.ledger import Ledger, LedgerRejected, from_gate


def open_family(ledger: Ledger, sid: str = "fam", t: float = 10.0) -> tuple[str, str]:
    for msg in (
        Admitted(
            source="gate-in",
            t_mono=t,
            session_id=sid,
            credential="****4321",
            group_size=2,
            latency_s=0.1,
        ),
        Entered(
            source="gate-in",
            t_mono=t + 1,
            session_id=sid,
            credential="****4321",
            person=1,
            group_size=2,
        ),
        Entered(
            source="gate-in",
            t_mono=t + 2,
            session_id=sid,
            credential="****4321",
            person=2,
            group_size=2,
        ),
    ):
        event = from_gate(msg, "EUR")
        assert event is not None
        ledger.apply(event)
    return f"{sid}/1", f"{sid}/2"


def add(
    sid: str,
    eid: str,
    member: str,
    sku: str,
    price: str,
    qty: int = 1,
    t: float = 20.0,
    weight: float | None = None,
) -> LineAdded:
    return LineAdded(
        source="attr",
        t_mono=t,
        event_id=eid,
        session_id=sid,
        member=member,
        sku=sku,
        qty=qty,
        unit_price=Decimal(price),
        evidence=(f"shelf:{eid}",),
        confidence=0.95,
        unit_weight_g=weight,
    )


def put(sid: str, eid: str, member: str, sku: str, qty: int = 1, t: float = 30.0) -> LinePutBack:
    return LinePutBack(
        source="attr",
        t_mono=t,
        event_id=eid,
        session_id=sid,
        member=member,
        sku=sku,
        qty=qty,
        evidence=(f"shelf:{eid}",),
        confidence=0.9,
    )


def exit_gate(sid: str, t: float) -> MemberExited:
    event = from_gate(Exited(source="gate-out", t_mono=t, session_id=sid), "EUR")
    assert isinstance(event, MemberExited)
    return event


def journal_rows(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM journal").fetchone()[0])


def test_child_adds_parent_puts_back_one_bill(ledger: Ledger, db_path: Path):
    parent, child = open_family(ledger)
    ledger.apply(add("fam", "a1", parent, "water", "0.99"))
    ledger.apply(add("fam", "a2", child, "candy", "1.50", t=21))
    ledger.apply(add("fam", "a3", child, "candy", "1.50", t=22))
    ledger.apply(put("fam", "p1", parent, "candy"))
    assert ledger.apply(exit_gate("fam", 40.0)) == [exit_gate("fam", 40.0)]  # one of two out
    recorded = ledger.apply(exit_gate("fam", 41.0))
    receipt = recorded[-1]
    assert isinstance(receipt, ReceiptSettled)
    assert receipt.total == Decimal("2.49")
    assert receipt.currency == "EUR"
    assert [(x.sku, x.member, x.evidence) for x in receipt.lines] == [
        ("water", parent, ("shelf:a1",)),
        ("candy", child, ("shelf:a2",)),  # the most recent candy (a3) went back
    ]
    assert ledger.state.receipts["fam"] == receipt
    assert "fam" not in ledger.state.sessions
    ledger.close()
    with Ledger.open(db_path) as again:
        assert again.state.receipts["fam"] == receipt


def test_put_back_onto_another_shelf_removes_the_matching_line(ledger: Ledger):
    parent, child = open_family(ledger)
    ledger.apply(add("fam", "take-a", child, "cola", "1.29", weight=355.0))
    ledger.apply(add("fam", "take-b", child, "chips", "2.49", weight=62.0))
    session = ledger.state.sessions["fam"]
    # 351 g arrived on shelf C, which stocks neither: the cart knows what weighs that
    (sku,) = session.match_put_back_weight(351.0, tolerance_g=10.0)
    ledger.apply(put("fam", "shelf-c-put", parent, sku))
    assert [(x.sku, x.line_id) for x in session.lines] == [("chips", "take-b")]
    assert session.removed == [("take-a", 1, ("shelf:shelf-c-put",))]
    assert session.total == Decimal("2.49")


def test_unmatched_put_back_is_rejected_and_not_journaled(ledger: Ledger, db_path: Path):
    parent, _ = open_family(ledger)
    before = journal_rows(db_path)
    with pytest.raises(LedgerRejected, match="holds 0"):
        ledger.apply(put("fam", "p9", parent, "cola"))
    with pytest.raises(LedgerRejected, match="no open session"):
        ledger.apply(add("ghost", "g1", "x", "cola", "1.29"))
    with pytest.raises(LedgerRejected, match="two decimal"):
        ledger.apply(add("fam", "g2", parent, "cola", "1.295"))
    assert journal_rows(db_path) == before


def test_pending_item_blocks_settlement_until_resolved(ledger: Ledger):
    parent, _ = open_family(ledger)
    ledger.apply(add("fam", "a1", parent, "cola", "1.29"))
    ledger.apply(
        AttributionPending(
            source="attr",
            t_mono=25,
            event_id="pend",
            session_id="fam",
            item_id="shelf-7@25",
            evidence=("shelf-7@25",),
            reason="two hands at shelf 7",
        )
    )
    ledger.apply(exit_gate("fam", 40.0))
    assert ledger.apply(exit_gate("fam", 41.0)) == [exit_gate("fam", 41.0)]
    assert ledger.tick(43.0) == []
    assert "fam" not in ledger.state.receipts
    ledger.apply(add("fam", "a2", parent, "chips", "2.49", t=44))  # evidence decided: a take
    recorded = ledger.apply(
        AttributionResolved(
            source="attr",
            t_mono=44,
            event_id="res",
            session_id="fam",
            item_id="shelf-7@25",
            outcome="take by fam/1",
        )
    )
    receipt = recorded[-1]
    assert isinstance(receipt, ReceiptSettled)
    assert receipt.total == Decimal("3.78")


def test_review_after_timeout_then_settled_by_a_person(ledger: Ledger):
    parent, _ = open_family(ledger)
    ledger.apply(add("fam", "a1", parent, "cola", "1.29"))
    ledger.apply(
        AttributionPending(
            source="attr",
            t_mono=25,
            event_id="pend",
            session_id="fam",
            item_id="i1",
            evidence=("shelf-7@25",),
            reason="tie",
        )
    )
    ledger.apply(
        SessionClosed(
            source="ops", t_mono=50, event_id="close", session_id="fam", reason="group left"
        )
    )
    assert ledger.tick(54.9) == []
    (review,) = ledger.tick(55.0)
    assert isinstance(review, ReviewRequested)
    assert review.item_id == "i1"
    assert ledger.tick(80.0) == []  # requested once, and review still blocks (no guess)
    assert "fam" not in ledger.state.receipts
    recorded = ledger.apply(
        ReviewResolved(
            source="ops",
            t_mono=90,
            event_id="rr",
            session_id="fam",
            item_id="i1",
            resolution="not this group",
            reviewer="op-3",
        )
    )
    assert isinstance(recorded[-1], ReceiptSettled)
    assert recorded[-1].total == Decimal("1.29")


def test_decimal_totals_are_exact(ledger: Ledger):
    parent, _ = open_family(ledger)
    for i in range(10):
        ledger.apply(add("fam", f"g{i}", parent, "gum", "0.10", t=20 + i))
    ledger.apply(add("fam", "x", parent, "bread", "0.20", qty=3))
    ledger.apply(
        SessionClosed(source="ops", t_mono=50, event_id="c", session_id="fam", reason="left")
    )
    receipt = ledger.state.receipts["fam"]
    assert receipt.total == Decimal("1.60")
    assert str(receipt.total) == "1.60"  # 10 x 0.10 + 3 x 0.20, no float residue


def test_duplicate_event_ids_are_stored_once(ledger: Ledger, db_path: Path):
    parent, _ = open_family(ledger)
    event = add("fam", "a1", parent, "cola", "1.29")
    assert ledger.apply(event) == [event]
    assert ledger.apply(event) == []
    assert ledger.journal.append(event).duplicate
    assert open_family(ledger) == (parent, "fam/2")  # gate redelivery is a no-op too
    assert [x.line_id for x in ledger.state.sessions["fam"].lines] == ["a1"]
    assert journal_rows(db_path) == 4
    with pytest.raises(JournalConflict, match="seq=4"):
        ledger.apply(add("fam", "a1", parent, "cola", "9.99"))


def test_corrupted_tail_is_named_by_sequence(db_path: Path):
    with Ledger.open(db_path) as ledger:
        parent, _ = open_family(ledger)
        ledger.apply(add("fam", "a1", parent, "cola", "1.29"))
        ledger.apply(add("fam", "a2", parent, "cola", "1.29"))
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("UPDATE journal SET payload = replace(payload, '1.29', '0.01') WHERE seq = 5")
    with pytest.raises(JournalCorrupt, match=r"seq=5 is corrupt: checksum mismatch") as info:
        Ledger.open(db_path)
    assert info.value.seq == 5
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("DELETE FROM journal WHERE seq = 3")
    with pytest.raises(JournalCorrupt, match=r"seq=3 is corrupt: missing"):
        Ledger.open(db_path)


def test_read_only_database_clear_error_memory_intact(db_path: Path):
    with Ledger.open(db_path) as ledger:
        parent, _ = open_family(ledger)
        ledger.apply(add("fam", "a1", parent, "cola", "1.29"))
    with Ledger.open(db_path, read_only=True) as ro:
        before = ro.state.sessions["fam"].total
        with pytest.raises(JournalReadOnly, match="read-only"):
            ro.apply(add("fam", "a2", parent, "chips", "2.49"))
        assert ro.state.sessions["fam"].total == before == Decimal("1.29")
        assert [x.line_id for x in ro.state.sessions["fam"].lines] == ["a1"]


def test_read_only_underneath_a_running_ledger(db_path: Path):
    """The database turns read-only under an open writer (SQLite reports SQLITE_READONLY)."""
    with Ledger.open(db_path) as ledger:
        parent, _ = open_family(ledger)
        ledger.journal._db.execute("PRAGMA query_only=ON")  # stands in for a ro remount
        with pytest.raises(JournalReadOnly, match="read-only"):
            ledger.apply(add("fam", "a1", parent, "cola", "1.29"))
        assert ledger.state.sessions["fam"].lines == []
        ledger.journal._db.execute("PRAGMA query_only=OFF")
        ledger.apply(add("fam", "a1", parent, "cola", "1.29"))  # retry once writable
    assert journal_rows(db_path) == 4


def test_full_disk_clear_error_nothing_half_written(db_path: Path):
    with Ledger.open(db_path, size_limit_bytes=64 * 1024) as ledger:
        parent, _ = open_family(ledger)
        stored = 3
        with pytest.raises(JournalFull, match="full"):  # noqa: PT012 - fill until refused
            for i in range(10_000):
                ledger.apply(add("fam", f"a{i}", parent, "cola", "1.29"))
                stored += 1
        in_memory = len(ledger.state.sessions["fam"].lines)
    assert in_memory == stored - 3
    assert journal_rows(db_path) == stored
    with Ledger.open(db_path) as again:
        assert len(again.state.sessions["fam"].lines) == in_memory


def test_second_writer_is_refused(db_path: Path):
    with Ledger.open(db_path), pytest.raises(JournalLocked, match="another writer"):
        Ledger.open(db_path)


def test_exit_without_session_is_left_to_vision():
    assert from_gate(Exited(source="gate-out", t_mono=1.0), "EUR") is None


def test_after_settlement_redelivery_ignored_late_event_rejected(ledger: Ledger, db_path: Path):
    parent, _ = open_family(ledger)
    first = add("fam", "a1", parent, "cola", "1.29")
    ledger.apply(first)
    ledger.apply(
        SessionClosed(source="ops", t_mono=50, event_id="c", session_id="fam", reason="left")
    )
    assert ledger.state.receipts["fam"].total == Decimal("1.29")
    rows = journal_rows(db_path)
    assert ledger.apply(first) == []  # redelivered: stored already, settled bill unchanged
    with pytest.raises(LedgerRejected, match="settled"):
        ledger.apply(add("fam", "late", parent, "chips", "2.49"))
    assert journal_rows(db_path) == rows
    assert ledger.state.receipts["fam"].total == Decimal("1.29")


def test_replay_rebuilds_open_sessions_with_pending_and_review(db_path: Path):
    with Ledger.open(db_path) as ledger:
        _, child = open_family(ledger)
        ledger.apply(add("fam", "a1", child, "cola", "1.29"))
        ledger.apply(
            AttributionPending(
                source="attr",
                t_mono=25,
                event_id="pend",
                session_id="fam",
                item_id="i1",
                evidence=("e",),
                reason="tie",
            )
        )
        ledger.apply(
            AttributionPending(
                source="attr",
                t_mono=26,
                event_id="pend2",
                session_id="fam",
                item_id="i2",
                evidence=("e2",),
                reason="tie",
            )
        )
        ledger.apply(
            SessionClosed(source="ops", t_mono=50, event_id="c", session_id="fam", reason="left")
        )
        ledger.tick(60.0)
        before = ledger.state
    with Ledger.open(db_path) as again:
        assert again.state == before
        session = again.state.sessions["fam"]
        assert set(session.in_review) == {"i1", "i2"}
        assert session.pending == {}
        assert session.credential == "****4321"


def test_a_weighing_stays_with_its_line_through_put_backs_and_replay(db_path: Path):
    # Three apples weighed 540 g together: one goes back, the two left are still 180 g each.
    with Ledger.open(db_path) as ledger:
        parent, _ = open_family(ledger)
        apples = replace(add("fam", "a1", parent, "apple", "0.45", qty=3), weighed_g=540.0)
        ledger.apply(apples)
        ledger.apply(put("fam", "p1", parent, "apple"))
        (line,) = ledger.state.sessions["fam"].lines
        assert (line.qty, line.weighing) == (2, Weighing(540.0, 3))
        assert line.weighing.unit_g == 180.0
        before = ledger.state
    with Ledger.open(db_path) as again:
        assert again.state == before


@pytest.mark.parametrize("grams", [0.0, -12.0, math.nan, math.inf])
def test_a_weighing_that_is_no_weight_is_refused_and_not_journaled(
    ledger: Ledger, db_path: Path, grams: float
):
    parent, _ = open_family(ledger)
    before = journal_rows(db_path)
    with pytest.raises(LedgerRejected, match="is not one"):
        ledger.apply(replace(add("fam", "w1", parent, "apple", "0.45"), weighed_g=grams))
    assert journal_rows(db_path) == before
