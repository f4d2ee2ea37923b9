import math

import numpy as np
import pytest

from vision_core.inference.putback import (
    HOME_FACTOR,
    RECENT_DECAY,
    CartLine,
    CartUnit,
    NearbyCart,
    likeliest_cart,
    match_putback,
    unit_priors,
    weighed_units,
)

from .helpers import change, planogram

PLAN = planogram(
    {
        "A1": [("can-330", 330, 5, (0.0, 0.6)), ("bottle-500", 500, 8, (0.6, 1.2))],
        "C1": [("crisps-150", 160, 5, (0.0, 1.2))],
    }
)
TOLERANCES = {sku: f.unit_tolerance_g for sku, f in PLAN.catalog().items()}


def cart(session, distance, items):
    return NearbyCart.from_items(session, distance, items, TOLERANCES)


def test_cart_from_items_groups_units_and_takes_planogram_tolerance():
    c = cart("s1", 0.5, [("can-330", 330.0), ("can-330", 330.0), ("gum", 20.0)])
    assert c.lines == (
        CartLine("can-330", 330.0, 5.0, 2),
        CartLine("gum", 20.0, pytest.approx(0.4), 1),  # default 2 % of its weight
    )


def test_putback_onto_another_shelf_leaves_the_right_cart():
    # A can from shelf A1 put down on the crisps shelf C1; the nearest shopper has crisps only.
    near = cart("s-near", 0.4, [("crisps-150", 160.0)])
    owner = cart("s-owner", 1.1, [("crisps-150", 160.0), ("can-330", 330.0)])
    result = match_putback(change("C1", +332.0, position_m=0.5), [near, owner])
    assert not result.foreign
    assert result.session_id == "s-owner"
    assert result.items == (("can-330", 1),)
    assert result.residual_g == pytest.approx(2.0)
    assert result.shelf_id == "C1"
    assert result.also == ()


def test_nearest_cart_first_when_several_hold_it():
    far = cart("s-far", 2.0, [("bottle-500", 500.0)])
    near = cart("s-near", 0.3, [("bottle-500", 500.0), ("can-330", 330.0)])
    result = match_putback(change("A1", +498.0), [far, near])
    assert result.session_id == "s-near"
    assert result.items == (("bottle-500", 1),)
    assert [m.session_id for m in result.also] == ["s-far"]  # kept as evidence for review


def test_several_units_leave_one_cart():
    c = cart("s1", 0.5, [("can-330", 330.0)] * 3 + [("bottle-500", 500.0)])
    result = match_putback(change("A1", +1160.0), [c])
    assert result.items == (("bottle-500", 1), ("can-330", 2))


def test_cannot_put_back_more_units_than_the_cart_holds():
    c = cart("s1", 0.5, [("can-330", 330.0)])
    assert match_putback(change("A1", +660.0), [c]).foreign


def test_foreign_object_matches_no_cart():
    carts = [cart("s1", 0.5, [("can-330", 330.0)]), cart("s2", 1.0, [("bottle-500", 500.0)])]
    result = match_putback(change("A1", +410.0), carts)
    assert result.foreign
    assert result.session_id is None
    assert result.items == ()
    assert result.confidence == 0.0
    assert match_putback(change("A1", +330.0), []).foreign


def test_tolerance_edge_of_a_cart_item():
    c = cart("s1", 0.5, [("can-330", 330.0)])
    assert match_putback(change("A1", +335.0), [c]).items == (("can-330", 1),)
    assert match_putback(change("A1", +335.5), [c]).foreign
    wider = match_putback(change("A1", +335.5), [c], scale_tolerance_g=1.0)
    assert wider.items == (("can-330", 1),)


def test_confidence_drops_when_a_cart_holds_lookalikes():
    clear = cart("s1", 0.5, [("can-330", 330.0), ("bottle-500", 500.0)])
    lookalike = NearbyCart(
        "s2", 0.5, (CartLine("can-330", 330.0, 5.0), CartLine("tin", 331.0, 5.0))
    )
    assert match_putback(change("A1", +330.0), [clear]).confidence == pytest.approx(1.0)
    assert match_putback(change("A1", +330.0), [lookalike]).confidence < 0.6


def test_take_is_not_a_putback():
    with pytest.raises(ValueError, match="weight increase"):
        match_putback(change("A1", -330.0), [])


def test_one_unit_beats_two_small_ones_that_add_up_to_it():
    # a loaf (500 g, +-24 g as weighed at the take) against a cola and a yoghurt
    # (355 + 165 = 520 g): 515 g put down is nearer the pair, but one hand puts back one
    # thing far more often than two different things at once
    loaf = CartLine("bread-loaf", 500.0, 24.0)
    pair = (CartLine("cola-033", 355.0, 4.0), CartLine("yoghurt-cup", 165.0, 4.0))
    basket = NearbyCart("s1", 0.4, (loaf, *pair))
    assert match_putback(change("A1", +515.0), [basket]).items == (("bread-loaf", 1),)
    # the weights still decide where they clearly can: 520 g is the pair
    assert match_putback(change("A1", +520.0), [basket]).items == (
        ("cola-033", 1),
        ("yoghurt-cup", 1),
    )


def test_unit_priors_favour_the_last_taken_and_the_facing_the_put_landed_on():
    priors = unit_priors(["crisps-salt", "cola", "crisps-paprika", "cola"], home_skus=())
    # newest first: cola (taken again last), crisps-paprika, crisps-salt
    assert priors == {
        "cola": 1.0,
        "crisps-paprika": pytest.approx(RECENT_DECAY),
        "crisps-salt": pytest.approx(RECENT_DECAY**2),
    }
    at_home = unit_priors(["crisps-salt", "crisps-paprika"], home_skus={"crisps-salt"})
    assert at_home["crisps-salt"] == pytest.approx(RECENT_DECAY * HOME_FACTOR)
    assert at_home["crisps-paprika"] == 1.0
    assert unit_priors([], home_skus={"crisps-salt"}) == {}


def test_two_skus_of_one_weight_the_put_goes_back_as_the_likelier_one():
    # salted and paprika crisps weigh the same: weight alone is a coin toss
    tolerances = {"crisps-salt": 9.0, "crisps-paprika": 9.0}
    units = [("crisps-salt", 180.0), ("crisps-paprika", 180.0)]
    plain = NearbyCart.from_items("s1", 0.3, units, tolerances)
    tossed = match_putback(change("C1", +181.0, position_m=0.5), [plain])
    assert tossed.confidence == pytest.approx(0.5)
    taken = ["crisps-salt", "crisps-paprika"]  # paprika last
    elsewhere = NearbyCart.from_items(
        "s1", 0.3, units, tolerances, priors=unit_priors(taken, home_skus=())
    )
    assert match_putback(change("C1", +181.0, position_m=0.5), [elsewhere]).items == (
        ("crisps-paprika", 1),
    )
    home = NearbyCart.from_items(
        "s1", 0.3, units, tolerances, priors=unit_priors(taken, home_skus={"crisps-salt"})
    )
    result = match_putback(change("C1", +181.0, position_m=0.5), [home])
    assert result.items == (("crisps-salt", 1),)
    assert result.confidence == pytest.approx(
        HOME_FACTOR * RECENT_DECAY / (1 + HOME_FACTOR * RECENT_DECAY)
    )


def test_a_shelf_camera_that_saw_the_product_go_down_outweighs_recency():
    tolerances = {"crisps-salt": 9.0, "crisps-paprika": 9.0}
    units = [("crisps-salt", 180.0), ("crisps-paprika", 180.0)]
    taken = ["crisps-salt", "crisps-paprika"]  # paprika last: without the camera, paprika
    priors = unit_priors(taken, home_skus=(), seen={"crisps-salt": 0.9})
    assert priors == {
        "crisps-salt": pytest.approx(RECENT_DECAY * 0.9),
        "crisps-paprika": pytest.approx(0.1),
    }
    cart = NearbyCart.from_items("s1", 0.3, units, tolerances, priors=priors)
    result = match_putback(change("C1", +181.0, position_m=0.5), [cart])
    assert result.items == (("crisps-salt", 1),)
    salt, paprika = RECENT_DECAY * 0.9, 0.1
    assert result.confidence == pytest.approx(salt / (salt + paprika))
    # a sighting of something the cart does not hold weighs every line alike
    other = unit_priors(taken, home_skus=(), seen={"cola": 0.9})
    assert other["crisps-paprika"] / other["crisps-salt"] == pytest.approx(1 / RECENT_DECAY)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 1.5])
def test_a_sighting_confidence_outside_0_1_is_refused(confidence):
    with pytest.raises(ValueError, match="confidence"):
        unit_priors(["crisps-salt"], home_skus=(), seen={"crisps-salt": confidence})


# --- units the scale weighed when they were taken ---------------------------------------------


def _conditioned(product_g, product_tol, weighed_g, units, scale_tol):
    """One unit's weight given the sum of ``units`` weighed, by the Gaussian's covariance."""
    # x = (w_1, ..., w_n, m) with m = sum(w) + e: condition w_1 on m (Schur complement)
    n = units
    cov = np.zeros((n + 1, n + 1))
    cov[:n, :n] = np.eye(n) * product_tol**2
    cov[:n, n] = cov[n, :n] = product_tol**2
    cov[n, n] = n * product_tol**2 + scale_tol**2
    mean = np.array([product_g] * n + [n * product_g])
    gain = cov[0, n] / cov[n, n]
    return mean[0] + gain * (weighed_g - mean[n]), math.sqrt(cov[0, 0] - gain * cov[n, 0])


@pytest.mark.parametrize(
    ("units", "weighed_g"), [(1, 172.0), (2, 351.0), (5, 930.0)], ids=["alone", "two", "five"]
)
def test_a_weighed_unit_is_its_product_conditioned_on_the_weighing(units, weighed_g):
    # apples: 180 +- 50 g; the scale: +- 6.8 g
    (unit, *rest) = weighed_units(
        "apple",
        units,
        unit_weight_g=180.0,
        weighed_g=weighed_g,
        weighed_together=units,
        tolerance_g=50.0,
        scale_tolerance_g=6.8,
    )
    estimate, spread = _conditioned(180.0, 50.0, weighed_g, units, 6.8)
    assert unit == CartUnit("apple", 180.0, 50.0, pytest.approx(estimate), pytest.approx(spread))
    assert rest == [unit] * (units - 1)
    # alone, the apple is known to the scale's error; one of five to most of an apple's spread
    if units == 1:
        assert unit.weighed_g == pytest.approx(172.0, abs=0.2)
        assert unit.weighed_tolerance_g < 6.8
    if units == 5:
        assert unit.weighed_tolerance_g > 0.8 * 50.0


def test_weighed_units_refuses_more_units_than_were_weighed():
    with pytest.raises(ValueError, match="3 units left of 2 weighed together"):
        weighed_units(
            "apple",
            3,
            unit_weight_g=180.0,
            weighed_g=350.0,
            weighed_together=2,
            tolerance_g=50.0,
            scale_tolerance_g=6.8,
        )


APPLE_AND_YOGHURT = {"apple": 50.0, "yoghurt": 4.0}


def _apple_and_yoghurt(weighed):
    apple = [CartUnit("apple", 180.0)]
    yoghurt = [CartUnit("yoghurt", 165.0)]
    if weighed:
        kw = {"weighed_together": 1, "scale_tolerance_g": 6.8}
        apple = weighed_units("apple", 1, unit_weight_g=180, weighed_g=171.0, tolerance_g=50, **kw)
        yoghurt = weighed_units(
            "yoghurt", 1, unit_weight_g=165, weighed_g=164.0, tolerance_g=4, **kw
        )
    return NearbyCart.from_items("s1", 0.3, [*apple, *yoghurt], APPLE_AND_YOGHURT)


def test_the_apple_that_was_weighed_at_171_g_comes_back_as_an_apple():
    # A 171 g arrival: by product weights a yoghurt (165 +- 4) is far likelier than an
    # apple (180 +- 50); this apple weighed 171 g when it was taken.
    put = change("C1", +171.5, position_m=0.5)
    by_product = match_putback(put, [_apple_and_yoghurt(weighed=False)], scale_tolerance_g=6.8)
    assert by_product.items == (("yoghurt", 1),)
    by_weighing = match_putback(put, [_apple_and_yoghurt(weighed=True)], scale_tolerance_g=6.8)
    assert by_weighing.items == (("apple", 1),)
    assert by_weighing.confidence > 0.7  # the yoghurt weighed 164 g: 7.5 g off, not impossible


def test_a_spoilt_weighing_still_lets_its_unit_come_back():
    # The take was weighed together with another hand's change: 113 g for a 128 g tube.
    tube = weighed_units(
        "toothpaste",
        1,
        unit_weight_g=120.0,
        weighed_g=113.0,
        weighed_together=1,
        tolerance_g=10.0,
        scale_tolerance_g=6.8,
    )
    cart = NearbyCart.from_items("s1", 0.3, [*tube, ("soap", 108.0)], {"soap": 2.0})
    result = match_putback(change("C1", +128.5, position_m=0.5), [cart], scale_tolerance_g=6.8)
    assert result.items == (("toothpaste", 1),)
    assert result.confidence == pytest.approx(1.0)


def test_units_of_one_sku_from_several_weighings_are_one_line_of_the_match():
    kw = {"unit_weight_g": 180.0, "weighed_together": 1, "tolerance_g": 50.0,
          "scale_tolerance_g": 6.8}  # fmt: skip
    units = [
        *weighed_units("apple", 1, weighed_g=160.0, **kw),
        *weighed_units("apple", 1, weighed_g=200.0, **kw),
    ]
    cart = NearbyCart.from_items("s1", 0.3, units, APPLE_AND_YOGHURT)
    assert [line.weighed_g for line in cart.lines] == [pytest.approx(160.0, abs=0.5),
                                                       pytest.approx(200.0, abs=0.5)]  # fmt: skip
    result = match_putback(change("C1", +360.0, position_m=0.5), [cart], scale_tolerance_g=6.8)
    assert result.items == (("apple", 2),)
    assert result.confidence == pytest.approx(1.0)


def _water_or_beer(put_g):
    """Two carts side by side: a water weighed at 524 g in one, a beer at 544 g in the other."""
    kw = {"weighed_together": 1, "scale_tolerance_g": 6.8}
    water = weighed_units("water", 1, unit_weight_g=520, weighed_g=524.0, tolerance_g=6, **kw)
    beer = weighed_units("beer", 1, unit_weight_g=540, weighed_g=544.0, tolerance_g=8, **kw)
    carts = [
        NearbyCart.from_items("s2", 0.02, water, {}),
        NearbyCart.from_items("s3", 0.08, beer, {}),
    ]
    return match_putback(change("C1", put_g, position_m=0.0), carts, scale_tolerance_g=6.8)


def test_the_weight_gives_a_put_the_hands_leave_tied_to_the_cart_that_explains_it():
    result = _water_or_beer(+526.0)
    assert [m.session_id for m in result.matches] == ["s2", "s3"]  # both carts fit
    chosen = likeliest_cart(result.matches, {"s2": 0.99, "s3": 0.87})
    assert chosen is not None
    assert (chosen.session_id, chosen.items) == ("s2", (("water", 1),))
    # the hands still count: with s2's hand nowhere near, the beer cart's 18 g misfit wins
    assert likeliest_cart(result.matches, {"s2": 1e-9, "s3": 0.9}).session_id == "s3"


def test_like_units_of_like_weight_leave_the_carts_tied():
    kw = {"weighed_together": 1, "scale_tolerance_g": 6.8, "unit_weight_g": 520, "tolerance_g": 6}
    carts = [
        NearbyCart.from_items("s1", 0.02, weighed_units("water", 1, weighed_g=523.0, **kw), {}),
        NearbyCart.from_items("s2", 0.03, weighed_units("water", 1, weighed_g=524.0, **kw), {}),
    ]
    result = match_putback(change("C1", +523.5, position_m=0.0), carts, scale_tolerance_g=6.8)
    assert len(result.matches) == 2
    assert likeliest_cart(result.matches, {"s1": 0.9, "s2": 0.9}) is None
    # a session without a hand score is no candidate
    assert likeliest_cart(result.matches, {"s1": 0.9}).session_id == "s1"
