"""A shelf camera that saw which product went down decides a put-back weight cannot."""

from pathlib import Path

import pytest

from devices.bus import Message
from vision_core.checkout.engine import CheckoutEngine
from vision_core.inference.planogram import parse_planogram
from vision_core.inference.shelf_camera import ProductSighting, ShelfCameraHints
from vision_core.ledger.events import LinePutBack

from .scenario import AT_EXIT, SHELVES, admit, at_shelf, feed_all, open_ledger, shelf_change, walk

# Two crisps of one weight, side by side on A1 (front edge from x = 2.0).
CRISPS = parse_planogram(
    {
        "shelves": {
            "A1": {
                "length_m": 1.2,
                "facings": [
                    {"sku": "crisps-salt", "unit_weight_g": 180, "tolerance_g": 3,
                     "span_m": [0.0, 0.6], "price": "1.80"},
                    {"sku": "crisps-paprika", "unit_weight_g": 180, "tolerance_g": 3,
                     "span_m": [0.6, 1.2], "price": "1.80"},
                ],
            }
        }
    },
    "crisps",
)  # fmt: skip
ONE = ("t1", "s1", "s1/1")


def shop_then_put_back(engine: CheckoutEngine, put_at_m: float) -> list[Message]:
    """s1 takes a salted, then a paprika crisps, then puts one back at ``put_at_m``."""
    feed_all(engine, admit("s1", 1.0))
    for t, at in ((10.0, 0.3), (20.0, 0.9)):
        feed_all(engine, walk(t - 1.0, t + 1.0, {ONE: at_shelf(2.0 + at)}))
        feed_all(engine, [shelf_change("A1", -180.0, at, t, t + 1.0)])
    feed_all(engine, walk(29.0, 31.0, {ONE: at_shelf(2.0 + put_at_m)}))
    return engine.feed(shelf_change("A1", +181.0, put_at_m, 30.0, 31.0))


def put_back(out: list[Message]) -> list[str]:
    return [m.sku for m in out if isinstance(m, LinePutBack)]


@pytest.mark.parametrize(
    ("seen", "expected"), [(None, "crisps-paprika"), ("crisps-salt", "crisps-salt")]
)
def test_the_camera_names_the_crisps_put_back_at_the_border(
    tmp_path: Path, seen: str | None, expected: str
) -> None:
    # at the border between the facings both are at home: without the camera, the one
    # taken last goes back; the camera saw salted crisps go down
    hints = ShelfCameraHints({"A1": ["crisps-salt", "crisps-paprika"]})
    if seen is not None:
        hints.add(ProductSighting("A1", 30.2, seen, 0.9, "put"))
    with open_ledger(tmp_path / "l.db") as ledger:
        engine = CheckoutEngine(ledger, CRISPS, SHELVES, AT_EXIT, sightings=hints)
        assert put_back(shop_then_put_back(engine, 0.6)) == [expected]


def test_a_sighting_of_a_take_does_not_weigh_a_put(tmp_path: Path) -> None:
    hints = ShelfCameraHints({"A1": ["crisps-salt", "crisps-paprika"]})
    hints.add(ProductSighting("A1", 30.2, "crisps-salt", 0.9, "take"))
    with open_ledger(tmp_path / "l.db") as ledger:
        engine = CheckoutEngine(ledger, CRISPS, SHELVES, AT_EXIT, sightings=hints)
        assert put_back(shop_then_put_back(engine, 0.6)) == ["crisps-paprika"]
