"""Shelf-camera sightings as tie-breakers for product inference."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vision_core.inference.products import ProductInferrer
from vision_core.inference.shelf_camera import (
    ProductSighting,
    ShelfCameraError,
    ShelfCameraHints,
    SightingKind,
    sighting_likelihood,
)

from .helpers import change, planogram

# Two 180 g SKUs on neighbouring facings, a heavier one beside them.
CRISPS = {
    "S": [
        ("beer", 540.0, 12.0, (0.0, 0.4)),
        ("salt", 180.0, 9.0, (0.4, 0.8)),
        ("paprika", 180.0, 9.0, (0.8, 1.2)),
    ]
}


Setup = tuple[ShelfCameraHints, ProductInferrer]


@pytest.fixture
def setup() -> Setup:
    plan = planogram(CRISPS)
    hints = ShelfCameraHints.from_planogram(plan, ["S"])
    return hints, ProductInferrer(plan, camera_hints=hints.hints())


def seen(
    sku: str, t: float = 10.5, confidence: float = 0.9, kind: SightingKind | None = "take"
) -> ProductSighting:
    return ProductSighting("S", t, sku, confidence, kind)


def test_without_a_sighting_the_tie_stays(setup: Setup) -> None:
    _, inferrer = setup
    result = inferrer.infer(change("S", -180.0))  # no position: salt and paprika tie
    assert result.tied
    assert not result.hint_used


@pytest.mark.parametrize("sku", ["salt", "paprika"])
def test_a_sighting_breaks_the_tie(setup: Setup, sku: str) -> None:
    hints, inferrer = setup
    hints.add(seen(sku))
    result = inferrer.infer(change("S", -180.0))
    assert result.hint_used
    assert not result.tied
    assert result.items == ((sku, 1),)
    # 0.9 for the SKU seen against 0.1 / 2 for the other (a wrong answer is one of two)
    assert result.confidence == pytest.approx(0.9 / 0.95, abs=0.02)


@pytest.mark.parametrize(
    "sighting",
    [
        seen("paprika", t=8.0),  # before the change's window and pad (10 .. 11 s)
        seen("paprika", t=12.0),  # after it
        seen("paprika", kind="put"),  # the hand brought it in: not this take
    ],
    ids=["before", "after", "other-kind"],
)
def test_sightings_that_are_not_this_changes_are_ignored(
    setup: Setup, sighting: ProductSighting
) -> None:
    hints, inferrer = setup
    hints.add(sighting)
    result = inferrer.infer(change("S", -180.0))
    assert result.tied
    assert not result.hint_used


def test_a_sighting_of_unknown_direction_counts(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("salt", kind=None, t=9.6))  # inside the 0.5 s pad
    assert inferrer.infer(change("S", -180.0)).items == (("salt", 1),)


def test_a_wrong_sighting_does_not_override_a_clear_position(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("paprika", confidence=0.6))
    result = inferrer.infer(change("S", -180.0, position_m=0.55))  # well inside salt's facing
    assert result.items == (("salt", 1),)
    assert not result.tied
    assert not result.hint_used  # no tie: the camera is not asked


def test_a_weak_sighting_against_a_strong_one_leaves_the_strong_one_winning(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("salt", confidence=0.95, t=10.2))
    hints.add(seen("paprika", confidence=0.55, t=10.4))
    assert inferrer.infer(change("S", -180.0)).items == (("salt", 1),)


def test_equally_sure_sightings_of_both_keep_the_tie(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("salt", t=10.2))
    hints.add(seen("paprika", t=10.4))
    result = inferrer.infer(change("S", -180.0))
    assert result.tied
    assert not result.hint_used  # they weigh both alike: no hint


def test_a_sighting_of_a_sku_neither_candidate_holds_is_no_hint(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("beer"))
    assert inferrer.infer(change("S", -180.0)).tied


def test_likelihood_model() -> None:
    # 3 SKUs on the shelf: a wrong answer is one of the 2 others
    assert sighting_likelihood("salt", 0.9, (("salt", 1),), 3) == pytest.approx(0.9)
    assert sighting_likelihood("salt", 0.9, (("paprika", 1),), 3) == pytest.approx(0.05)
    # a mix: the camera looked at one of its units
    mixed = sighting_likelihood("salt", 0.9, (("paprika", 1), ("salt", 1)), 3)
    assert mixed == pytest.approx(0.5 * 0.9 + 0.5 * 0.05)


def test_hint_values_are_relative_likelihoods(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("salt", confidence=0.8))
    tied = inferrer.for_shelf("S")
    candidates = inferrer.infer(change("S", -180.0)).candidates
    assert tied.camera_hint is not None
    by_sku = {c.items: c for c in candidates}
    pair = (by_sku[(("salt", 1),)], by_sku[(("paprika", 1),)])
    assert hints.likelihoods(change("S", -180.0), pair) == pytest.approx([1.0, 0.1 / 0.8])


def test_a_confidence_of_one_is_capped(setup: Setup) -> None:
    hints, inferrer = setup
    hints.add(seen("salt", confidence=1.0))
    result = inferrer.infer(change("S", -180.0))
    assert result.items == (("salt", 1),)
    paprika = [c for c in result.candidates if c.items == (("paprika", 1),)]
    assert paprika
    assert paprika[0].posterior > 0  # still possible: the camera can be wrong


def test_seen_gives_each_sku_its_best_confidence(setup: Setup) -> None:
    hints, _ = setup
    hints.add(seen("salt", t=5.0, confidence=0.6))
    hints.add(seen("salt", t=6.0, confidence=0.8))
    hints.add(seen("beer", t=6.5, confidence=0.7, kind="put"))
    hints.add(seen("paprika", t=20.0))
    assert hints.seen("S", 4.0, 7.0) == {"salt": 0.8, "beer": 0.7}
    assert hints.seen("S", 4.0, 7.0, kind="take") == {"salt": 0.8}
    assert hints.seen("S", 30.0, 40.0) == {}
    assert hints.seen("no-camera", 0.0, 100.0) == {}


def test_old_sightings_are_forgotten() -> None:
    hints = ShelfCameraHints({"S": ["salt", "paprika"], "T": ["x"]}, keep_s=10.0)
    for t in range(100):
        hints.add(ProductSighting("S", float(t), "salt", 0.9))
    assert len(hints) == 11  # 89 .. 99 s
    assert hints.sightings("S", 0.0, 88.9) == []
    hints.add(ProductSighting("S", 50.0, "salt", 0.9))  # arrives too late to keep
    assert len(hints) == 11
    hints.add(ProductSighting("T", 99.0, "x", 0.9))
    hints.forget_before(99.0)
    assert [s.t_mono for s in hints.sightings("S", 0.0, 1e9)] == [99.0]
    assert len(hints) == 2


def test_a_flooding_camera_is_capped() -> None:
    hints = ShelfCameraHints({"S": ["salt"]}, max_per_shelf=5)
    for k in range(20):
        hints.add(ProductSighting("S", 1.0 + k * 0.01, "salt", 0.9))
    kept = hints.sightings("S", 0.0, 10.0)
    assert len(kept) == 5
    assert kept[0].t_mono == pytest.approx(1.15)


def test_out_of_order_sightings_are_kept_in_time_order() -> None:
    hints = ShelfCameraHints({"S": ["salt"]})
    for t in (3.0, 1.0, 2.0):
        hints.add(ProductSighting("S", t, "salt", 0.9))
    assert [s.t_mono for s in hints.sightings("S", 0.0, 5.0)] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"confidence": 0.0}, "confidence"),
        ({"confidence": 1.5}, "confidence"),
        ({"confidence": math.nan}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"kind": "grab"}, "kind"),
        ({"sku": ""}, "sku"),
        ({"shelf_id": ""}, "shelf_id"),
        ({"t_mono": math.inf}, "t_mono"),
    ],
)
def test_bad_sightings_are_refused(fields: dict[str, Any], message: str) -> None:
    base = {"shelf_id": "S", "t_mono": 1.0, "sku": "salt", "confidence": 0.9, "kind": "take"}
    with pytest.raises(ShelfCameraError, match=f"^{message}"):
        ProductSighting(**{**base, **fields})


def test_sightings_of_a_shelf_without_a_camera_are_refused(setup: Setup) -> None:
    hints, _ = setup
    with pytest.raises(ShelfCameraError, match="'T' has no camera"):
        hints.add(ProductSighting("T", 1.0, "salt", 0.9))
    with pytest.raises(ShelfCameraError, match="has no camera"):
        hints.hint_for("T")


def test_a_hint_asked_about_another_shelf_refuses(setup: Setup) -> None:
    hints, _ = setup
    with pytest.raises(ShelfCameraError, match="this hint is 'S'"):
        hints.hint_for("S")(change("T", -180.0), ())


@pytest.mark.parametrize(
    "kwargs",
    [{"pad_s": -1.0}, {"keep_s": 0.0}, {"max_per_shelf": 0}, {"max_confidence": 1.0}],
)
def test_bad_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ShelfCameraError, match=next(iter(kwargs))):
        ShelfCameraHints({"S": ["salt"]}, **kwargs)


def test_no_shelves_or_no_skus_refused() -> None:
    with pytest.raises(ShelfCameraError, match="at least one shelf"):
        ShelfCameraHints({})
    with pytest.raises(ShelfCameraError, match=r"shelves\.S"):
        ShelfCameraHints({"S": []})
