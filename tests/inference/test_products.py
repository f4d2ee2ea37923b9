import math
import random
from dataclasses import replace

import pytest

from vision_core.inference.products import ProductInferrer, ShelfInferrer
from vision_core.shelf_events import ShelfChange

from .helpers import change, planogram

DRINKS = planogram(
    {
        "A1": [
            ("can-330", 330, 5, (0.0, 0.6)),
            ("bottle-500", 500, 8, (0.6, 1.2)),
        ]
    }
)
# Two SKUs of the same weight side by side: only position (or a camera) tells them apart.
TWINS_FACINGS = [
    ("cola-330", 345, 4, (0.0, 0.4)),
    ("lemon-330", 345, 4, (0.4, 0.8)),
    ("water-500", 535, 6, (0.8, 1.2)),
]
TWINS = planogram({"B1": TWINS_FACINGS})


@pytest.fixture
def drinks():
    return ProductInferrer(DRINKS)


def test_mixed_facings_one_of_each(drinks):
    result = drinks.infer(change("A1", -830.0))
    assert result.items == (("bottle-500", 1), ("can-330", 1))
    assert result.kind == "take"
    assert result.weight_g == 830.0
    assert result.confidence > 0.99
    assert not result.unknown


def test_two_cans(drinks):
    result = drinks.infer(change("A1", -660.0))
    assert result.items == (("can-330", 2),)
    assert result.candidates[0].residual_g == pytest.approx(0.0)


def test_put_of_a_bottle(drinks):
    result = drinks.infer(change("A1", +503.0, position_m=0.9))
    assert result.kind == "put"
    assert result.items == (("bottle-500", 1),)


def test_tolerance_edges_single_unit(drinks):
    assert drinks.infer(change("A1", -335.0)).items == (("can-330", 1),)
    assert drinks.infer(change("A1", -325.0)).items == (("can-330", 1),)
    outside = drinks.infer(change("A1", -335.5))
    assert outside.unknown
    assert outside.confidence == 0.0
    assert outside.candidates == ()


def test_tolerance_adds_up_per_unit(drinks):
    # Two cans may each be 5 g heavy: 670 g is still two cans, 670.5 g is not.
    assert drinks.infer(change("A1", -670.0)).items == (("can-330", 2),)
    assert drinks.infer(change("A1", -670.5)).unknown


def test_scale_tolerance_widens_acceptance():
    inferrer = ProductInferrer(
        planogram({"A1": [("can-330", 330, 5, (0, 1.2))]}, scale_tolerance_g=3)
    )
    assert inferrer.infer(change("A1", -338.0)).items == (("can-330", 1),)
    assert inferrer.infer(change("A1", -338.5)).unknown


def test_foreign_put_matches_nothing(drinks):
    result = drinks.infer(change("A1", +410.0, position_m=0.3))
    assert result.unknown
    assert result.confidence == 0.0


def test_position_breaks_same_weight_tie():
    inferrer = ProductInferrer(TWINS)
    left = inferrer.infer(change("B1", -345.0, position_m=0.15))
    right = inferrer.infer(change("B1", -345.0, position_m=0.65))
    assert left.items == (("cola-330", 1),)
    assert right.items == (("lemon-330", 1),)
    assert left.confidence > 0.95
    assert not left.tied


def test_position_near_the_border_prefers_nearer_facing():
    inferrer = ProductInferrer(TWINS)
    result = inferrer.infer(change("B1", -345.0, position_m=0.395))
    assert result.items == (("cola-330", 1),)
    assert 0.5 < result.confidence < 0.95  # near the border: less sure, but still the nearer one


def test_two_units_of_the_facing_a_grab_sits_in_beat_a_mix_across_the_border():
    # 690 g at 0.55 m: two lemons (centroid anywhere in 0.4..0.8) or a cola and a lemon
    # (0.2..0.6) explain it equally well; one grab takes from one facing
    result = ProductInferrer(TWINS).infer(change("B1", -690.0, position_m=0.55))
    assert result.items == (("lemon-330", 2),)
    assert not result.tied
    # with no preference (a world where one grab mixes facings freely) they tie
    mixed = ProductInferrer(TWINS, mixed_decay=1.0).infer(change("B1", -690.0, position_m=0.55))
    assert mixed.tied


def lifted_at(shelf_id: str, grams: float, position_m: float) -> ShelfChange:
    """A lift of ``grams`` at ``position_m`` on a 1.2 m board on four cells, read exactly."""
    cells = [0.0] * 4
    gap = min(int(position_m / 0.4), 2)
    share = (position_m - 0.4 * gap) / 0.4
    cells[gap] -= grams * (1 - share)
    cells[gap + 1] -= grams * share
    return replace(change(shelf_id, -grams, position_m), cell_deltas_g=tuple(cells))


def test_the_scale_places_a_heavy_change_closer_than_a_light_one():
    # A scale good to 4 g over four cells: each cell reads to 1 g (two sigmas of 4 g,
    # shared over four cells). Cells 0.4 m apart, the centre of gravity at 0.5 m: the
    # cells spread sqrt(0.25 + 0.01 + 0.09 + 0.49) = 0.917 m about it.
    plan = planogram({"B1": [("cola-330", 345, 4, (0.0, 0.6))]}, scale_tolerance_g=4.0)
    shelf = ProductInferrer(plan).for_shelf("B1")
    spread_m = math.sqrt(0.25 + 0.01 + 0.09 + 0.49)
    for grams in (28.0, 345.0, 1000.0):
        expected = math.hypot(0.01, 1.0 * spread_m / grams)
        assert shelf.position_sigma_m(lifted_at("B1", grams, 0.5)) == pytest.approx(expected)
    assert shelf.position_sigma_m(change("B1", -345.0, position_m=0.5)) == 0.01


def test_a_can_lifted_3_cm_from_its_twin_is_told_from_it_by_the_cells():
    # Cola and lemonade weigh alike and meet at 0.40 m; a can lifted at 0.37 m. Placed to
    # the scale's few millimetres, it is the cola; on a board known only to 5 cm, the
    # lemonade keeps a quarter of the odds.
    scale = {"scale_tolerance_g": 4.0}
    twins = planogram({"B1": TWINS_FACINGS}, **scale)
    result = ProductInferrer(twins).infer(lifted_at("B1", 345.0, 0.37))
    assert result.items == (("cola-330", 1),)
    assert result.confidence > 0.95
    vague = planogram(
        {"B1": TWINS_FACINGS},
        position_sigma_m=0.05,
        **scale,
    )
    assert ProductInferrer(vague).infer(lifted_at("B1", 345.0, 0.37)).confidence < 0.8


def test_a_mix_still_wins_when_the_weight_says_so(drinks):
    assert drinks.infer(change("A1", -830.0, position_m=0.6)).items == (
        ("bottle-500", 1),
        ("can-330", 1),
    )


def test_without_position_a_same_weight_tie_is_reported():
    result = ProductInferrer(TWINS).infer(change("B1", -345.0))
    assert result.tied
    assert result.confidence == pytest.approx(0.5, abs=0.01)
    assert {c.items for c in result.candidates[:2]} == {(("cola-330", 1),), (("lemon-330", 1),)}


def test_explanations_of_a_weight_ignore_where_it_sat_and_keep_every_fit():
    # 690 g on B1: two colas, two lemons, or one of each; the mix is the least likely
    # by the prior, and the centre of gravity (which a merged change's is not) plays no part
    shelf = ProductInferrer(TWINS).for_shelf("B1")
    found = shelf.explanations(690.0)
    assert {e.items for e in found} == {
        (("cola-330", 2),),
        (("lemon-330", 2),),
        (("cola-330", 1), ("lemon-330", 1)),
    }
    assert found[-1].items == (("cola-330", 1), ("lemon-330", 1))
    assert found[0].log_score == pytest.approx(found[1].log_score)
    # one facing is four times as likely as a mix (the default mixed_decay of 0.25)
    assert found[0].log_score - found[-1].log_score == pytest.approx(math.log(4.0))
    assert {e.centroid_m for e in found} == {(0.0, 0.4), (0.4, 0.8), (0.2, 0.6)}
    assert shelf.explanations(100.0) == []


def test_camera_hint_breaks_remaining_tie():
    seen = []

    def hint(event, tied):
        seen.append(tuple(c.items for c in tied))
        return [0.1 if c.items == (("cola-330", 1),) else 0.9 for c in tied]

    result = ProductInferrer(TWINS, camera_hints={"B1": hint}).infer(change("B1", -345.0))
    assert result.items == (("lemon-330", 1),)
    assert result.hint_used
    assert not result.tied
    assert result.confidence == pytest.approx(0.9, abs=0.01)
    assert len(seen) == 1
    assert len(seen[0]) == 2


def test_camera_hint_not_asked_without_tie():
    def hint(event, tied):
        raise AssertionError("no tie, no camera")

    result = ProductInferrer(TWINS, camera_hints={"B1": hint}).infer(
        change("B1", -345.0, position_m=0.1)
    )
    assert result.items == (("cola-330", 1),)
    assert not result.hint_used


def test_camera_hint_without_opinion_keeps_tie():
    result = ProductInferrer(TWINS, camera_hints={"B1": lambda e, t: None}).infer(
        change("B1", -345.0)
    )
    assert result.tied
    assert not result.hint_used


def test_camera_hint_of_wrong_length_refused():
    inferrer = ProductInferrer(TWINS, camera_hints={"B1": lambda e, t: [1.0]})
    with pytest.raises(ValueError, match="camera hint must give 2"):
        inferrer.infer(change("B1", -345.0))


def test_confidences_ordered_sensibly(drinks):
    exact = drinks.infer(change("A1", -330.0, position_m=0.3)).confidence
    edge = drinks.infer(change("A1", -334.8, position_m=0.3)).confidence
    wrong_place = drinks.infer(change("A1", -330.0, position_m=1.1)).confidence
    tie = ProductInferrer(TWINS).infer(change("B1", -345.0)).confidence
    unknown = drinks.infer(change("A1", -400.0)).confidence
    assert 1.0 >= exact > edge > tie > unknown == 0.0
    assert exact > wrong_place
    # Posteriors of the candidates are ordered and sum to at most 1 (the rest is "something else").
    multi = drinks.infer(change("A1", -1000.0))
    posteriors = [c.posterior for c in multi.candidates]
    assert posteriors == sorted(posteriors, reverse=True)
    assert sum(posteriors) <= 1.0 + 1e-9


def test_fewer_units_preferred_when_weights_coincide():
    inferrer = ProductInferrer(
        planogram({"C1": [("big", 600, 6, (0, 0.6)), ("small", 300, 3, (0.6, 1.2))]})
    )
    result = inferrer.infer(change("C1", -600.0))
    assert result.items == (("big", 1),)
    assert (("small", 2),) in {c.items for c in result.candidates}


def test_search_space_ten_facings_six_units():
    facings = [(f"sku{i}", 100.0 + 37 * i, 3, (0.12 * i, 0.12 * (i + 1))) for i in range(10)]
    inferrer = ShelfInferrer("S", planogram({"S": facings}).shelf("S"))
    assert inferrer.combinations == math.comb(10 + 6, 6) - 1  # multisets of 1..6 units
    six = 100.0 + 37 * 0 + 5 * (100.0 + 37 * 9)  # one sku0 and five sku9
    result = inferrer.infer(change("S", -six, position_m=(0.06 * 100 + 5 * 433 * 1.14) / six))
    assert result.items == (("sku0", 1), ("sku9", 5))


def test_change_of_another_shelf_refused(drinks):
    with pytest.raises(ValueError, match="not 'A1'"):
        drinks.for_shelf("A1").infer(change("B1", -330.0))


# A shelf planned to be weight-separable (a commissioning check): cans, bottles, jars.
NOISY = [
    ("cola-330", 345.0, 4.0, (0.0, 0.3)),
    ("water-500", 535.0, 6.0, (0.3, 0.6)),
    ("water-1500", 1560.0, 12.0, (0.6, 0.9)),
    ("jar-400", 410.0, 5.0, (0.9, 1.2)),
]
SCALE_TOL_G = 2.0


@pytest.mark.parametrize("with_position", [True, False])
def test_noise_robustness_seeded(with_position):
    # units here come from any facing independently, so the prior says so (mixed_decay 1):
    # the default's preference for one facing per grab would fit another world
    inferrer = ProductInferrer(
        planogram({"N1": NOISY}, scale_tolerance_g=SCALE_TOL_G, position_sigma_m=0.05),
        mixed_decay=1.0,
    )
    rng = random.Random(5_2026)
    cases = 1000
    right_conf, wrong_conf = [], []
    for _ in range(cases):
        units = rng.choices([1, 2, 3, 4], weights=[8, 4, 2, 1])[0]
        picks = [NOISY[rng.randrange(len(NOISY))] for _ in range(units)]
        total = moment = 0.0
        for _sku, weight, tol, (start, end) in picks:
            actual = weight + max(-tol, min(tol, rng.gauss(0.0, tol / 2)))  # within tolerance
            total += actual
            moment += actual * rng.uniform(start, end)
        measured = total + max(-SCALE_TOL_G, min(SCALE_TOL_G, rng.gauss(0.0, SCALE_TOL_G / 2)))
        position = min(max(moment / total + rng.gauss(0.0, 0.05), 0.0), 1.2)
        truth: dict[str, int] = {}
        for sku, *_ in picks:
            truth[sku] = truth.get(sku, 0) + 1
        result = inferrer.infer(change("N1", -measured, position if with_position else None))
        assert not result.unknown  # every unit within tolerance: never rejected
        (right_conf if dict(result.items) == truth else wrong_conf).append(result.confidence)
    rate = len(right_conf) / cases
    assert rate >= 0.99, rate
    if wrong_conf:
        # the misses are the unsure ones
        assert sum(wrong_conf) / len(wrong_conf) < sum(right_conf) / len(right_conf)
