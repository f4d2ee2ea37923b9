import pytest

from vision_core.inference.putback import (
    HOME_FACTOR,
    RECENT_DECAY,
    CartLine,
    NearbyCart,
    match_putback,
    unit_priors,
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
