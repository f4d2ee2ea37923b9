"""Checkout and shelf-event converters on hand-built events; expected values worked out by hand."""

from __future__ import annotations

from decimal import Decimal

from facility.telemetry.points import KNOWN_SERIES as FACILITY_SERIES
from facility.telemetry.points import Point, PointContext, WallClockAnchor
from vision_core.ledger.events import (
    LineAdded,
    LinePutBack,
    ReceiptLine,
    ReceiptSettled,
    ReviewRequested,
    ReviewResolved,
    SessionClosed,
    SessionOpened,
)
from vision_core.shelf_events import ShelfChange
from walkout.checkout_telemetry import KNOWN_SERIES, CheckoutTelemetry, full_registry

ANCHOR = WallClockAnchor(wall_ns=1_700_000_000_000_000_000, mono_s=100.0)
CTX = PointContext("s1", ANCHOR)


def opened(session: str, t_mono: float, group_size: int = 1) -> SessionOpened:
    return SessionOpened(
        source="gate-1", t_mono=t_mono, event_id=f"open:{session}", session_id=session,
        credential="app:****", group_size=group_size, currency="EUR",
    )  # fmt: skip


def closed(session: str, t_mono: float) -> SessionClosed:
    return SessionClosed(
        source="gate-1", t_mono=t_mono, event_id=f"close:{session}", session_id=session,
        reason="everyone left",
    )  # fmt: skip


def receipt(session: str, t_mono: float, lines: tuple[ReceiptLine, ...]) -> ReceiptSettled:
    total = sum((line.amount for line in lines), Decimal(0))
    return ReceiptSettled(
        source="ledger", t_mono=t_mono, event_id=f"receipt:{session}", session_id=session,
        currency="EUR", lines=lines, total=total,
    )  # fmt: skip


def line(sku: str, qty: int, unit_price: str) -> ReceiptLine:
    price = Decimal(unit_price)
    return ReceiptLine(
        sku=sku, qty=qty, unit_price=price, amount=price * qty, member="m1",
        evidence=("shelf:1",), confidence=0.97,
    )  # fmt: skip


def only(points: list[Point]) -> Point:
    assert len(points) == 1, points
    return points[0]


def fields(point: Point) -> dict[str, float]:
    return dict(point.fields)


def test_session_gauges_and_marks() -> None:
    reg = full_registry()
    first = only(reg.convert(opened("a", 110, group_size=3), CTX))
    assert first.measurement == "checkout"
    assert first.tags == (("store", "s1"),)  # no device: gates and ledger share one gauge
    assert fields(first) == {"sessions_open": 1.0, "session_opened": 1.0, "group_size": 3.0}
    assert first.time_ns == 1_700_000_010_000_000_000
    second = only(reg.convert(opened("b", 112), CTX))
    assert fields(second)["sessions_open"] == 2.0
    assert reg.convert(opened("a", 110, group_size=3), CTX) == []  # redelivered: nothing
    close_a = only(reg.convert(closed("a", 130), CTX))
    assert fields(close_a) == {
        "sessions_open": 1.0, "sessions_awaiting_receipt": 1.0, "session_closed": 1.0,
    }  # fmt: skip


def test_receipt_figures_and_exit_to_receipt_latency() -> None:
    reg = full_registry()
    reg.convert(opened("a", 110), CTX)
    reg.convert(opened("b", 111), CTX)
    reg.convert(closed("a", 130), CTX)
    # 2 x 1.25 + 1 x 0.99 = 3.49 EUR, 2 lines, 3 units; settled 3.5 s after the close.
    points = reg.convert(
        receipt("a", 133.5, (line("milk", 2, "1.25"), line("bun", 1, "0.99"))), CTX
    )
    by_name = {p.measurement: p for p in points}
    assert set(by_name) == {"checkout", "checkout_receipt"}
    assert fields(by_name["checkout"]) == {
        "sessions_open": 1.0, "sessions_awaiting_receipt": 0.0, "exit_to_receipt_s": 3.5,
    }  # fmt: skip
    money = by_name["checkout_receipt"]
    assert money.tags == (("currency", "EUR"), ("store", "s1"))
    assert fields(money) == {"total": 3.49, "lines": 2.0, "items": 3.0}
    assert money.line() == (
        "checkout_receipt,currency=EUR,store=s1 total=3.49,lines=2.0,items=3.0 1700000033500000000"
    )


def test_receipt_without_a_seen_close_has_no_latency() -> None:
    reg = full_registry()
    points = reg.convert(receipt("x", 200, (line("tea", 1, "2.00"),)), CTX)
    gauges = next(p for p in points if p.measurement == "checkout")
    assert "exit_to_receipt_s" not in fields(gauges)
    assert fields(gauges)["sessions_awaiting_receipt"] == 0.0


def test_seeded_open_sessions_count_from_the_start() -> None:
    state = CheckoutTelemetry(open_sessions=["a", "b"])
    reg = full_registry(state)
    assert fields(only(reg.convert(opened("c", 101), CTX)))["sessions_open"] == 3.0
    assert fields(only(reg.convert(closed("a", 102), CTX)))["sessions_open"] == 2.0
    assert state.sessions_open == 2
    assert state.sessions_awaiting_receipt == 1


def test_reviews_and_cart_lines() -> None:
    reg = full_registry()
    base = {"source": "ledger", "session_id": "a"}
    asked = ReviewRequested(t_mono=140, event_id="review:a:i1", item_id="i1", reason="tie", **base)
    asked2 = ReviewRequested(t_mono=141, event_id="review:a:i2", item_id="i2", reason="tie", **base)
    done = ReviewResolved(
        t_mono=150, event_id="resolved:a:i1", item_id="i1", resolution="m1 took it",
        reviewer="ops", **base,
    )  # fmt: skip
    assert fields(only(reg.convert(asked, CTX))) == {"reviews_open": 1.0, "review_requested": 1.0}
    assert fields(only(reg.convert(asked2, CTX)))["reviews_open"] == 2.0
    assert fields(only(reg.convert(done, CTX))) == {"reviews_open": 1.0, "review_resolved": 1.0}

    added = LineAdded(
        source="attribution", t_mono=120, event_id="take:1", session_id="a", member="m1",
        sku="milk", qty=2, unit_price=Decimal("1.25"), evidence=("shelf:1",), confidence=0.8,
    )  # fmt: skip
    back = LinePutBack(
        source="attribution", t_mono=125, event_id="put:1", session_id="a", member="m1",
        sku="milk", qty=1, evidence=("shelf:2",), confidence=0.6,
    )  # fmt: skip
    take = only(reg.convert(added, CTX))
    assert (take.measurement, take.tags) == ("checkout_line", (("store", "s1"),))
    assert fields(take) == {"added_qty": 2.0, "confidence": 0.8}
    assert fields(only(reg.convert(back, CTX))) == {"put_back_qty": 1.0, "confidence": 0.6}


def test_shelf_change() -> None:
    reg = full_registry()
    take = ShelfChange(
        source="scale-1", t_mono=120.0, shelf_id="A1", kind="take", delta_g=-500.0,
        started_mono=118.5, position_m=0.3,
    )  # fmt: skip
    point = only(reg.convert(take, CTX))
    assert point.measurement == "shelf_change"
    assert point.tags == (("device", "scale-1"), ("kind", "take"), ("shelf", "A1"), ("store", "s1"))
    assert fields(point) == {
        "delta_g": -500.0,
        "abs_g": 500.0,
        "duration_s": 1.5,
        "position_m": 0.3,
    }
    put = ShelfChange(
        source="scale-1", t_mono=130.0, shelf_id="A1", kind="put", delta_g=250.0,
        started_mono=130.0, position_m=None,
    )  # fmt: skip
    assert fields(only(reg.convert(put, CTX))) == {
        "abs_g": 250.0,
        "delta_g": 250.0,
        "duration_s": 0.0,
    }


def test_known_series_is_facility_plus_checkout() -> None:
    assert FACILITY_SERIES < KNOWN_SERIES
    checkout = {
        "checkout_sessions_open", "checkout_sessions_awaiting_receipt", "checkout_reviews_open",
        "checkout_session_opened", "checkout_session_closed", "checkout_review_requested",
        "checkout_review_resolved", "checkout_group_size", "checkout_exit_to_receipt_s",
        "checkout_receipt_total", "checkout_receipt_lines", "checkout_receipt_items",
        "checkout_line_added_qty", "checkout_line_put_back_qty", "checkout_line_confidence",
        "shelf_change_delta_g", "shelf_change_abs_g", "shelf_change_duration_s",
        "shelf_change_position_m",
    }  # fmt: skip
    assert checkout == KNOWN_SERIES - FACILITY_SERIES


def test_every_written_field_is_declared() -> None:
    reg = full_registry()
    events = [
        opened("a", 110, 2), closed("a", 120), receipt("a", 121, (line("milk", 1, "1.00"),)),
        ShelfChange(source="scale-1", t_mono=1, shelf_id="A1", kind="take", delta_g=-5,
                    started_mono=0.5, position_m=0.1),
    ]  # fmt: skip
    written = {
        f"{p.measurement}_{name}"
        for e in events
        for p in reg.convert(e, CTX)
        for name, _ in p.fields
    }
    assert len(written) >= 10
    assert written <= reg.known_series()
