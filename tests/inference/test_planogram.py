from decimal import Decimal
from pathlib import Path

import pytest

from vision_core.inference.planogram import PlanogramError, load_planogram, parse_planogram

GOOD = """
shelves:
  A1:
    length_m: 1.2
    facings:
      - sku: cola-330
        name: Cola can 330 ml
        unit_weight_g: 345
        tolerance_g: 5
        span_m: [0.0, 0.4]
        price: "1.20"
      - sku: water-500
        unit_weight_g: 520
        tolerance_pct: 2
        span_m: [0.4, 1.2]
        price: 2
"""


def facing(**over):
    base = {"sku": "a", "unit_weight_g": 100, "tolerance_g": 2, "span_m": [0, 0.5], "price": "1"}
    base.update(over)
    return base


def shelf(*facings, **over):
    base = {"length_m": 1.0, "facings": list(facings)}
    base.update(over)
    return base


def errors_of(data):
    with pytest.raises(PlanogramError) as info:
        parse_planogram(data, "store/planogram.yaml")
    return str(info.value)


def test_loads_yaml_with_exact_prices_and_tolerances(tmp_path: Path):
    path = tmp_path / "planogram.yaml"
    path.write_text(GOOD, encoding="utf-8")
    plan = load_planogram(path)
    a1 = plan.shelf("A1")
    cola, water = a1.facings
    assert cola.price == Decimal("1.20")
    assert str(cola.price) == "1.20"
    assert water.price == Decimal(2)
    assert cola.unit_tolerance_g == 5
    assert water.unit_tolerance_g == pytest.approx(10.4)  # 2 % of 520 g
    assert cola.centre_m == pytest.approx(0.2)
    assert set(plan.catalog()) == {"cola-330", "water-500"}


def test_larger_of_two_tolerances_applies():
    plan = parse_planogram({"shelves": {"A1": shelf(facing(tolerance_g=1, tolerance_pct=3))}}, "x")
    assert plan.shelf("A1").facings[0].unit_tolerance_g == pytest.approx(3.0)


def test_bad_value_named_by_key_path():
    message = errors_of({"shelves": {"A1": shelf(facing(unit_weight_g=-3))}})
    assert "store/planogram.yaml: invalid planogram" in message
    assert "shelves.A1.facings.0.unit_weight_g" in message


def test_float_price_refused_as_inexact():
    message = errors_of({"shelves": {"A1": shelf(facing(price=1.1))}})
    assert "shelves.A1.facings.0.price" in message
    assert "string" in message


def test_unknown_key_refused():
    message = errors_of({"shelves": {"A1": shelf(facing(colour="red"))}})
    assert "shelves.A1.facings.0.colour" in message


def test_tolerance_required():
    message = errors_of({"shelves": {"A1": shelf(facing(tolerance_g=None))}})
    assert "tolerance_g or tolerance_pct is required" in message


def test_reversed_span_refused():
    message = errors_of({"shelves": {"A1": shelf(facing(span_m=[0.5, 0.2]))}})
    assert "span_m" in message
    assert "start < end" in message


def test_span_outside_shelf_refused():
    message = errors_of({"shelves": {"A1": shelf(facing(span_m=[0.5, 1.5]))}})
    assert "facings.0.span_m" in message
    assert "outside the shelf" in message


def test_overlapping_facings_refused():
    data = {"shelves": {"A1": shelf(facing(), facing(sku="b", span_m=[0.4, 0.9]))}}
    message = errors_of(data)
    assert "facings.1.span_m" in message
    assert "overlaps facings.0.span_m" in message


def test_duplicate_sku_on_shelf_refused():
    data = {"shelves": {"A1": shelf(facing(), facing(span_m=[0.5, 1.0]))}}
    assert "facings.1.sku: 'a' already faces at facings.0" in errors_of(data)


def test_sku_must_agree_across_shelves():
    data = {"shelves": {"A1": shelf(facing()), "B1": shelf(facing(unit_weight_g=120))}}
    message = errors_of(data)
    assert "shelves.B1.facings.0" in message
    assert "unit_weight_g" in message


def test_unreadable_file_and_unknown_shelf(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("shelves: [unclosed", encoding="utf-8")
    with pytest.raises(PlanogramError, match="cannot read planogram"):
        load_planogram(path)
    plan = parse_planogram({"shelves": {"A1": shelf(facing())}}, "x")
    with pytest.raises(PlanogramError, match="'Z9' is not in the planogram"):
        plan.shelf("Z9")


def test_empty_file_refused(tmp_path: Path):
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(PlanogramError, match="invalid planogram"):
        load_planogram(path)
