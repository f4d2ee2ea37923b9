from decimal import Decimal

import pytest

from vision_core.ledger.carts import CartError, CartLine, PutBackUnmatched, Session, redact


def line(line_id: str, member: str, sku: str, qty: int, price: str, w: float | None = None):
    return CartLine(
        line_id=line_id,
        member=member,
        sku=sku,
        qty=qty,
        unit_price=Decimal(price),
        evidence=(f"ev-{line_id}",),
        confidence=0.9,
        t_mono=0.0,
        unit_weight_g=w,
    )


def session() -> Session:
    return Session(
        session_id="s1", credential="****1234", group_size=2, currency="EUR", opened_mono=0.0
    )


def test_float_price_refused_and_cart_unchanged():
    s = session()
    bad = line("a", "p", "cola", 1, "1.29")
    bad.unit_price = 1.29  # type: ignore[assignment]
    with pytest.raises(CartError, match="Decimal"):
        s.add(bad)
    with pytest.raises(CartError, match="two decimal places"):
        s.add(line("b", "p", "cola", 1, "1.299"))
    with pytest.raises(CartError, match="qty"):
        s.add(line("c", "p", "cola", 0, "1.29"))
    assert s.lines == []


def test_put_back_of_unheld_sku_is_unmatched_and_changes_nothing():
    s = session()
    s.add(line("a", "child", "cola", 2, "1.29"))
    with pytest.raises(PutBackUnmatched, match="holds 2"):
        s.put_back("cola", 3, ("put-1",))
    with pytest.raises(PutBackUnmatched, match="holds 0"):
        s.put_back("chips", 1, ("put-1",))
    assert [(x.sku, x.qty) for x in s.lines] == [("cola", 2)]


def test_put_back_takes_most_recent_add_of_any_member():
    s = session()
    s.add(line("a", "parent", "cola", 1, "1.29"))
    s.add(line("b", "child", "chips", 1, "2.49"))
    s.add(line("c", "child", "cola", 2, "1.29"))
    taken = s.put_back("cola", 3, ("put-1",))
    assert taken == [("c", 2), ("a", 1)]
    assert [x.line_id for x in s.lines] == ["b"]
    assert s.total == Decimal("2.49")


def test_partial_put_back_and_split():
    s = session()
    s.add(line("a", "parent", "water", 1, "0.99"))
    s.add(line("b", "child", "gum", 5, "0.10"))
    s.put_back("gum", 2, ("put-1",))
    assert s.split_by_member() == {"parent": Decimal("0.99"), "child": Decimal("0.30")}
    assert s.total == Decimal("1.29")


def test_weight_match_for_put_back_on_foreign_shelf():
    s = session()
    s.add(line("a", "p", "cola", 1, "1.29", w=355.0))
    s.add(line("b", "p", "chips", 1, "2.49", w=62.0))
    assert s.match_put_back_weight(352.0, tolerance_g=8.0) == ["cola"]
    assert s.match_put_back_weight(-60.0, tolerance_g=8.0) == ["chips"]
    assert s.match_put_back_weight(200.0, tolerance_g=8.0) == []


def test_redact_keeps_last_four_and_is_idempotent():
    assert redact("card-000123456789") == "*************6789"
    assert redact(redact("card-000123456789")) == "*************6789"
    assert "1234" not in redact("12")
