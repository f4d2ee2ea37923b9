"""A take two shoppers made at once is split between them by the load cells, or not at all."""

from dataclasses import replace
from pathlib import Path

from devices.bus import Message
from vision_core.checkout.merged import (
    MixedShares,
    _fit_of_loads,
    split_mixed,
    split_put,
    split_take,
)
from vision_core.checkout.messages import ForeignObject
from vision_core.inference.attribution import AttributionSettings, FloorSample, ShopperTrack
from vision_core.inference.planogram import Planogram, parse_planogram
from vision_core.inference.products import ProductInferrer
from vision_core.inference.putback import NearbyCart, weighed_units
from vision_core.inference.split import split_change
from vision_core.ledger.events import AttributionPending, LineAdded, LinePutBack
from vision_core.shelf_events import ShelfChange

from .scenario import PLANOGRAM, SHELVES, admit, at_shelf, away, feed_all, shelf_change, store, walk

ONE, TWO = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")

# Shelf A1: 1.2 m on four cells at 0.0, 0.4, 0.8 and 1.2 m. By the lever rule a can
# (330 g) lifted at 0.2 m leaves its two cells 165 g each; a bottle (500 g) lifted at
# 1.0 m leaves cells 2 and 3 250 g each.
BOTH = (-165.0, -165.0, -250.0, -250.0)
CENTRE_M = (165 * 0.4 + 250 * 0.8 + 250 * 1.2) / 830  # 0.682 m: between the two hands


def merged(cells: tuple[float, ...]) -> ShelfChange:
    total = sum(cells)
    position = sum(d * x for d, x in zip(cells, (0.0, 0.4, 0.8, 1.2), strict=True)) / total
    return replace(shelf_change("A1", total, position, 10.0, 11.0), cell_deltas_g=cells)


def lines(messages: list[Message]) -> list[tuple[str, str, int]]:
    return sorted((m.session_id, m.sku, m.qty) for m in messages if isinstance(m, LineAdded))


def test_each_shopper_is_charged_the_item_their_hand_lifted(tmp_path: Path) -> None:
    position = merged(BOTH).position_m
    assert position is not None
    assert abs(CENTRE_M - position) < 1e-9
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        out = engine.feed(merged(BOTH))
        assert lines(out) == [("s1", "can-330", 1), ("s2", "bottle-500", 1)]
        assert engine.undecided == ()
        evidence = {m.session_id: m.evidence for m in out if isinstance(m, LineAdded)}
        assert evidence["s1"][1] == "track:t1"
        assert evidence["s2"][1] == "track:t2"


def test_without_cell_deltas_the_merged_take_waits_as_before(tmp_path: Path) -> None:
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        out = engine.feed(replace(merged(BOTH), cell_deltas_g=()))
        assert lines(out) == []
        assert engine.undecided == ("A1@11.0",)


def test_hands_at_one_spot_cannot_be_split_and_wait(tmp_path: Path) -> None:
    cells = (-165.0, -165.0, 0.0, 0.0)  # one can; both hands were at 0.2 m
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(2.21)}))
        out = engine.feed(merged(cells))
        assert lines(out) == []
        assert {m.session_id for m in out if isinstance(m, AttributionPending)} == {"s1", "s2"}


def test_cells_the_hands_do_not_explain_are_not_split(tmp_path: Path) -> None:
    # a third load near the far end (somebody unseen): two hands cannot fit four cells
    cells = (-165.0, -165.0 - 200.0, -250.0 + 150.0, -250.0)
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        assert lines(engine.feed(merged(cells))) == []


def test_a_hand_that_only_hovered_is_charged_nothing(tmp_path: Path) -> None:
    # only the bottle went; s1's hand was in the shelf too, at the cans
    cells = (0.0, 0.0, -250.0, -250.0)
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.6), TWO: at_shelf(3.0)}))
        assert lines(engine.feed(merged(cells))) == [("s2", "bottle-500", 1)]


def test_two_shoppers_putting_back_at_once_each_leave_their_own_cart(tmp_path: Path) -> None:
    # s1 took a can, s2 a bottle; they put them back a moment apart, each at its own place:
    # one change of 830 g that no single cart explains (without the split: a foreign object)
    back = tuple(-d for d in BOTH)
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(4.0, 6.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        taken = engine.feed(replace(merged(BOTH), started_mono=5.0, t_mono=6.0))
        assert lines(taken) == [("s1", "can-330", 1), ("s2", "bottle-500", 1)]
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        out = engine.feed(replace(merged(back), one_lift=False))
        put = sorted((m.session_id, m.sku, m.qty) for m in out if isinstance(m, LinePutBack))
        assert put == [("s1", "can-330", 1), ("s2", "bottle-500", 1)]
        assert not any(isinstance(m, ForeignObject) for m in out)
        assert engine.undecided == ()
        evidence = {m.session_id: m.evidence for m in out if isinstance(m, LinePutBack)}
        assert evidence["s1"][1] == "track:t1"
        assert evidence["s1"][2].startswith("split:")


def test_a_merged_put_the_detector_called_one_lift_is_not_split(tmp_path: Path) -> None:
    back = tuple(-d for d in BOTH)
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(4.0, 6.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        engine.feed(replace(merged(BOTH), started_mono=5.0, t_mono=6.0))
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        out = engine.feed(replace(merged(back), one_lift=True))
        assert not any(isinstance(m, LinePutBack) for m in out)


# Gum (28 g) up to 0.9 m, sandwiches (224 g, eight packs of gum) beyond; cells every 0.4 m.
GUM_AND_SANDWICH = parse_planogram(
    {
        "shelves": {
            "A1": {
                "length_m": 1.2,
                "scale_tolerance_g": 3,
                "facings": [
                    {"sku": "gum-28", "unit_weight_g": 28, "tolerance_g": 1,
                     "span_m": [0.0, 0.9], "price": "1.10"},
                    {"sku": "sandwich-224", "unit_weight_g": 224, "tolerance_g": 6,
                     "span_m": [0.9, 1.2], "price": "3.40"},
                ],
            }
        }
    },
    "gum-and-sandwich",
)  # fmt: skip


def lifted(*loads: tuple[float, float]) -> ShelfChange:
    """One change of ``(grams, position)`` loads lifted from a board on cells every 0.4 m."""
    cells = [0.0] * 4
    for grams, position in loads:
        gap = min(int(position / 0.4), 2)
        share = (position - 0.4 * gap) / 0.4
        cells[gap] -= grams * (1 - share)
        cells[gap + 1] -= grams * share
    total = sum(cells)
    centre = sum(d * 0.4 * i for i, d in enumerate(cells)) / total
    change = shelf_change("A1", total, centre, 10.0, 11.0)
    return replace(change, cell_deltas_g=tuple(cells), one_lift=False)


def hands_at(*positions: float) -> list[ShopperTrack]:
    """One shopper per position, hand in the shelf there through the event."""
    return [
        ShopperTrack(
            f"t{n}",
            f"s{n}",
            [FloorSample(10.0 + 0.1 * k, (2.0 + x, 0.5), ((2.0 + x, 0.02),)) for k in range(11)],
        )
        for n, x in enumerate(positions, start=1)
    ]


def split(
    change: ShelfChange, tracks: list[ShopperTrack]
) -> list[tuple[str, tuple[tuple[str, int], ...]]] | None:
    return split_on(GUM_AND_SANDWICH, change, tracks)


def test_one_grab_between_two_hands_is_not_split_into_lighter_items() -> None:
    # a sandwich lifted at 0.925 m, two hands either side of it in the same gap between
    # cells: the lever rule cuts it into two 112 g shares, four packs of gum each, which
    # fit exactly. The cells cannot tell one grab from two; one sandwich is the likelier.
    assert split(lifted((224.0, 0.925)), hands_at(0.85, 1.0)) is None


def test_two_grabs_the_cells_tell_apart_are_still_split() -> None:
    # four packs of gum at 0.3 m and a sandwich at 1.05 m: no single load explains the cells
    change = lifted((112.0, 0.3), (224.0, 1.05))
    assert split(change, hands_at(0.3, 1.05)) == [
        ("t1", (("gum-28", 4),)),
        ("t2", (("sandwich-224", 1),)),
    ]


def test_a_take_the_detector_called_one_lift_is_split_when_two_hands_made_it(
    tmp_path: Path,
) -> None:
    # Lifted within one scale sample, a can and a bottle swing as one: the detector cannot
    # see two lifts. The cells still hold both.
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.2), TWO: at_shelf(3.0)}))
        out = engine.feed(replace(merged(BOTH), one_lift=True))
        assert lines(out) == [("s1", "can-330", 1), ("s2", "bottle-500", 1)]


def board(*facings: tuple[str, float, float, tuple[float, float]]) -> Planogram:
    """Board A1 (1.2 m, four cells, a scale good to 6.8 g) with ``(sku, grams,
    tolerance, span)`` facings."""
    return parse_planogram(
        {
            "shelves": {
                "A1": {
                    "length_m": 1.2,
                    "scale_tolerance_g": 6.8,
                    "facings": [
                        {"sku": sku, "unit_weight_g": grams, "tolerance_g": tolerance,
                         "span_m": list(span), "price": "1.00"}
                        for sku, grams, tolerance, span in facings
                    ],
                }
            }
        },
        "board",
    )  # fmt: skip


# Water (520 g) on the first half, juice (280 g) on the second.
WATER_AND_JUICE = board(("water-520", 520, 6, (0.0, 0.6)), ("juice-280", 280, 4, (0.6, 1.2)))


def split_on(
    planogram: Planogram, change: ShelfChange, tracks: list[ShopperTrack]
) -> list[tuple[str, tuple[tuple[str, int], ...]]] | None:
    shares = split_take(
        change,
        SHELVES["A1"],
        tracks,
        planogram=planogram,
        inferrer=ProductInferrer(planogram),
        settings=AttributionSettings(),
        now_mono=11.0,
    )
    return None if shares is None else [(s.hand.track_id, s.products.items) for s in shares]


def test_units_go_whole_to_the_hands_whose_cameras_were_centimetres_off() -> None:
    # A water lifted at 0.40 m and a juice at 0.91 m; the cameras saw the wrists at
    # 0.35 and 0.89 m. Solved at those positions, the cells give shares that are
    # neither product. The take as a whole is a water and a juice, and only one way
    # of giving those two units to the two hands explains the cells.
    change = lifted((519.9, 0.40), (276.7, 0.91))
    tracks = hands_at(0.35, 0.89)
    at_cameras = split_change(change.cell_deltas_g, 1.2, [0.35, 0.89])
    assert at_cameras is not None
    water_g, juice_g = (-w for w in at_cameras.weights_g)
    assert abs(water_g - 520) > 6 + 6.8
    assert abs(juice_g - 280) > 4 + 6.8
    assert split_on(WATER_AND_JUICE, change, tracks) == [
        ("t1", (("water-520", 1),)),
        ("t2", (("juice-280", 1),)),
    ]


def test_hands_too_close_to_tell_apart_get_no_units_by_guess() -> None:
    # two packs of gum, two hands 4 cm apart: one pack each, or both to either, fit alike
    change = lifted((28.3, 0.5), (28.1, 0.52))
    assert split_on(GUM_AND_SANDWICH, change, hands_at(0.49, 0.53)) is None


def test_a_heavy_take_by_one_hand_is_not_cut_between_it_and_a_hand_nearby() -> None:
    # Three 505 g bags lifted at 0.24 m by one hand (camera: 0.20 m); a neighbour's hand
    # at 0.50 m took nothing. On a grid of positions 2 cm apart, 1 + 2 bags fitted the
    # cells better than 3 bags at one hand: a step moves a 1.5 kg load's cells by 75 g.
    pasta = board(("pasta-505", 505, 8, (0.0, 1.2)))
    change = lifted((1518.6, 0.2418))
    assert split_on(pasta, change, hands_at(0.196, 0.505)) is None


def test_two_of_three_hands_at_a_board_get_a_loaf_each() -> None:
    # Loaves lifted at 0.30 and 0.70 m; a third shopper's hand was at the board too
    # (1.0 m) and took nothing. The cameras saw the first taker 6 cm off, at 0.36 m:
    # solved at those places, the cells give shares that are not loaves.
    bread = board(("bread-500", 500, 24, (0.0, 1.2)))
    change = lifted((497.2, 0.30), (489.6, 0.70))
    assert sorted(split_on(bread, change, hands_at(0.36, 0.70, 1.0)) or []) == [
        ("t1", (("bread-500", 1),)),
        ("t2", (("bread-500", 1),)),
    ]


def test_a_beer_and_crisps_are_not_billed_as_four_bags_of_crisps() -> None:
    # A beer (540 g) lifted at 0.34 m and a bag of crisps (180 g) at 0.75 m weigh what
    # four bags of crisps weigh; the change's centre of gravity (0.44 m) lies on the
    # crisps. Two bags to each hand fit the cells too, had the first hand reached into
    # the crisps from the beer, 6 cm past where its camera saw it.
    beer_and_crisps = board(
        ("beer-540", 540, 12, (0.0, 0.4)),
        ("crisps-salt", 180, 9, (0.4, 0.8)),
        ("crisps-paprika", 180, 9, (0.8, 1.2)),
    )
    change = lifted((540.4, 0.343), (176.2, 0.752))
    assert split_on(beer_and_crisps, change, hands_at(0.377, 0.699)) == [
        ("t1", (("beer-540", 1),)),
        ("t2", (("crisps-salt", 1),)),
    ]


def reaching(n: int, true_m: float, best_m: float) -> ShopperTrack:
    """Shopper ``n``'s reach at ``true_m`` along A1, seen in ten frames: the frame nearest
    the shelf's edge (the best-scoring one) at ``best_m``, nine more within 3 cm."""
    jitter_m = (-0.03, 0.02, 0.01, -0.02, 0.03, -0.01, 0.0, 0.02, -0.02)
    frames = [(best_m, 0.0)] + [(true_m + e, 0.03) for e in jitter_m]
    return ShopperTrack(
        f"t{n}",
        f"s{n}",
        [
            FloorSample(10.0 + 0.1 * k, (2.0 + along, 0.5), ((2.0 + along, depth),))
            for k, (along, depth) in enumerate(frames)
        ],
    )


def test_a_hand_is_where_its_reach_was_seen_in_every_frame_not_in_its_best_one() -> None:
    # Packs of gum lifted at 0.30 and 0.70 m. In the frame nearest the shelf's edge each
    # wrist was seen 14 cm towards the other (0.44 and 0.56 m): from those frames, both
    # packs fit the second hand best, and it would be billed for two. The nine other
    # frames of each reach put the hands where they were.
    gum = board(("gum-28", 28, 1, (0.0, 1.2)))
    change = lifted((28.0, 0.30), (28.0, 0.70))
    tracks = [reaching(1, 0.30, 0.44), reaching(2, 0.70, 0.56)]
    assert sorted(split_on(gum, change, tracks) or []) == [
        ("t1", (("gum-28", 1),)),
        ("t2", (("gum-28", 1),)),
    ]


def test_a_put_and_a_take_at_once_each_go_to_their_own_hand(tmp_path: Path) -> None:
    # s1 took a can earlier. Now s1 puts it back at 0.1 m while s2 lifts a bottle at 1.0 m:
    # one change of -170 g, which is no product, and cells that went up at one end and
    # down at the other, which no single load does.
    cells = (247.5, 82.5, -250.0, -250.0)
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, walk(4.0, 6.0, {ONE: at_shelf(2.1), TWO: away(6.0)}))
        taken = engine.feed(shelf_change("A1", -330.0, 0.1, 5.0, 6.0))
        assert lines(taken) == [("s1", "can-330", 1)]
        feed_all(engine, walk(9.0, 11.0, {ONE: at_shelf(2.12), TWO: at_shelf(2.98)}))
        out = engine.feed(merged(cells))
        put = [(m.session_id, m.sku, m.qty) for m in out if isinstance(m, LinePutBack)]
        assert put == [("s1", "can-330", 1)]
        assert lines(out) == [("s2", "bottle-500", 1)]
        assert engine.undecided == ()
        assert not any(isinstance(m, ForeignObject) for m in out)


def read_as_put_and_take(cells: tuple[float, ...]) -> MixedShares | None:
    """``split_mixed`` of a change with ``cells``, hands at 0.2 and 1.0 m, carts of a can."""
    cart = NearbyCart.from_items("s1", 0.0, [("can-330", 330.0)], {"can-330": 5.0})
    return split_mixed(
        merged(cells),
        SHELVES["A1"],
        hands_at(0.2, 1.0),
        plan=PLANOGRAM.shelves["A1"],
        cart_of=lambda session_id: cart,
        settings=AttributionSettings(),
        now_mono=11.0,
        max_items=6,
    )


def test_cells_that_all_moved_one_way_are_not_read_as_a_put_and_a_take() -> None:
    # a can and a bottle lifted together: both ends went down
    assert read_as_put_and_take(BOTH) is None


def test_two_put_backs_at_once_each_take_the_unit_its_cart_weighed() -> None:
    # s1 and s2 each put a ham sandwich back, 0.1 s apart, at 0.41 and 0.99 m; the cameras
    # saw the wrists 4 cm off. s1's cart also holds two bananas (248 g together), s2's an
    # egg sandwich (226 g): each share of the cells is matched to its own cart's ham.
    sandwiches = board(("ham-240", 240, 12, (0.0, 1.2)))
    kw = {"weighed_together": 1, "scale_tolerance_g": 6.8}
    ham = {"unit_weight_g": 240, "tolerance_g": 12, **kw}
    carts = {
        "s1": NearbyCart.from_items(
            "s1",
            0.0,
            [
                *weighed_units("ham-240", 1, weighed_g=230.7, **ham),
                *weighed_units(
                    "banana", 2, unit_weight_g=120, weighed_g=247.6, tolerance_g=30,
                    scale_tolerance_g=6.8, weighed_together=2,
                ),
            ],
            {},
        ),
        "s2": NearbyCart.from_items(
            "s2",
            0.0,
            [
                *weighed_units("ham-240", 1, weighed_g=243.2, **ham),
                *weighed_units("egg-230", 1, unit_weight_g=230, weighed_g=226.0, tolerance_g=12,
                               **kw),
            ],
            {},
        ),
    }  # fmt: skip
    change = lifted((-231.8, 0.41), (-242.7, 0.99))
    shares = split_put(
        change,
        SHELVES["A1"],
        hands_at(0.37, 0.93),
        plan=sandwiches.shelves["A1"],
        cart_of=carts.get,
        settings=AttributionSettings(),
        now_mono=11.0,
        max_items=6,
    )
    assert shares is not None
    assert [(s.hand.session_id, s.match.items) for s in shares] == [
        ("s1", (("ham-240", 1),)),
        ("s2", (("ham-240", 1),)),
    ]


def test_a_vaguer_way_of_explaining_the_cells_does_not_fit_better_for_it() -> None:
    # Two loads that explain the cells exactly: scored with the spread of tight products,
    # they are far likelier than scored with the spread of a bunch of bananas.
    change = lifted((231.8, 0.41), (242.7, 0.99))
    loads = (-231.8, -242.7)
    tight, _ = _fit_of_loads(change.cell_deltas_g, 1.2, [0.41, 0.99], loads, 2.8)
    vague, _ = _fit_of_loads(change.cell_deltas_g, 1.2, [0.41, 0.99], loads, 11.6)
    assert tight > vague + 1


def test_a_cell_that_drifted_a_few_grams_against_a_take_is_no_put_back() -> None:
    # a can and a bottle lifted together, one end cell 3 g up (settling), on a planogram
    # that gives the scale no tolerance: still one way, not a put and a take
    assert read_as_put_and_take((-165.0, -165.0, -250.0, 3.0)) is None
