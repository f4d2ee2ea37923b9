"""A change several hands made: split it between the shoppers reaching into the shelf.

Two shoppers of different groups at one shelf within a second or two leave
one merged change on the scale. Scored against the change's centre of
gravity, neither hand is near (the centre lies between them), or both are:
the attribution waits and then sends the item to review. The per-cell
deltas still say who moved what once the hands' positions along the board
are known (:mod:`vision_core.inference.split`), and the planogram says what
each share of a take is; each share of a put is matched against the cart of
the hand that put it down (:func:`split_put`: two put-backs at once are
otherwise a weight no single cart explains, a foreign object).

A split is billed only when everything agrees, else the attribution's own
decision stands (wait, then review):

- the hands are the tracks whose wrists were at the shelf's front edge in
  the event window (scored against the whole edge, not the centre), each
  bound to a session, fewer than the cells (a spare cell is what makes the
  residual mean something);
- the lever split separates them and explains the cells (residual within
  ``max(scale tolerance, 10 % of the change)``). Hand positions from the
  cameras are centimetres off, and a wrist seen 10 cm from where the item
  sat moves a third of its weight onto the wrong cell; so each position is
  searched within ``POSITION_SEARCH_M`` of the camera's (two hands at most)
  and the split that explains the cells best is kept;
- every hand moved either nothing (below ``min_g``: it was only near) or
  weight the way of the change, and each mover's share is one confident
  product combination;
- the movers' products add up to the change within the scale tolerance and
  the products' own tolerances (a hand that did nothing but picked up a
  few grams of misfit cannot pass as a light item).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from vision_core.inference.attribution import (
    AttributionSettings,
    ShelfLocation,
    ShopperTrack,
    TrackScore,
    attribute,
)
from vision_core.inference.planogram import Planogram, ShelfPlan
from vision_core.inference.products import ProductInference, ProductInferrer
from vision_core.inference.putback import CartMatch, NearbyCart, match_cart
from vision_core.inference.split import DEFAULT_MIN_SINGULAR, LoadSplit, split_change
from vision_core.shelf_events import ShelfChange

RESIDUAL_SHARE = 0.1
"""Part of the change the split's misfit per cell may reach (hand positions are cm off)."""

POSITION_SEARCH_M = 0.12
"""How far from the camera's wrist position a hand's load is looked for (3 sigma of a wrist)."""

REFINE_BELOW_G = 5.0
"""A split whose misfit per cell is already this small is not searched further."""

POSITION_STEP_M = 0.02
"""Grid step of that search: 13 positions per hand, 169 small solves for two hands."""


@dataclass(frozen=True, slots=True)
class HandShare:
    """What one hand moved: its track's evidence, where it reached, grams and products."""

    hand: TrackScore
    position_m: float
    weight_g: float
    products: ProductInference


def split_take(
    change: ShelfChange,
    shelf: ShelfLocation,
    tracks: Iterable[ShopperTrack],
    *,
    planogram: Planogram,
    inferrer: ProductInferrer,
    settings: AttributionSettings,
    now_mono: float,
) -> list[HandShare] | None:
    """Each mover's share of a merged take, or None when the split is not certain."""
    plan = planogram.shelves.get(change.shelf_id)
    if plan is None:
        return None
    movers = _movers(change, shelf, tracks, plan, settings, now_mono)
    if movers is None:
        return None
    shares: list[HandShare] = []
    for hand, position, weight in movers:
        part = dataclasses.replace(change, delta_g=weight, position_m=position, cell_deltas_g=())
        products = inferrer.infer(part)
        if products.unknown or products.tied:
            return None
        shares.append(HandShare(hand, position, weight, products))
    catalog = planogram.catalog()
    nominal = math.fsum(
        catalog[sku].unit_weight_g * qty for share in shares for sku, qty in share.products.items
    )
    slack = plan.scale_tolerance_g + math.fsum(
        catalog[sku].unit_tolerance_g * qty for share in shares for sku, qty in share.products.items
    )
    if abs(abs(change.delta_g) - nominal) > slack:
        return None
    if _one_grab_explains(change, shares, inferrer, plan.scale_tolerance_g, shelf.length_m):
        return None
    return shares


@dataclass(frozen=True, slots=True)
class PutShare:
    """What one hand put back: its track's evidence, where, grams, and what left its cart."""

    hand: TrackScore
    position_m: float
    weight_g: float
    match: CartMatch


def split_put(
    change: ShelfChange,
    shelf: ShelfLocation,
    tracks: Iterable[ShopperTrack],
    *,
    plan: ShelfPlan,
    cart_of: Callable[[str], NearbyCart | None],
    settings: AttributionSettings,
    now_mono: float,
    max_items: int,
) -> list[PutShare] | None:
    """Each mover's share of a merged put, matched against its own cart; None if not certain.

    The same split as a take's (two hands a moment apart, one change); each
    share must then come out of the cart of the hand that put it down, as a
    put-back of one hand does (:func:`~vision_core.inference.putback.match_cart`).
    Two shoppers putting back one sandwich each leave a change no single cart
    explains: without the split it would be a foreign object. ``cart_of``:
    a session's cart, None when it has none open.
    """
    movers = _movers(change, shelf, tracks, plan, settings, now_mono)
    if movers is None or len(movers) < 2:
        return None
    shares: list[PutShare] = []
    for hand, position, weight in movers:
        cart = None if hand.session_id is None else cart_of(hand.session_id)
        match = (
            None
            if cart is None
            else match_cart(
                weight, cart, max_items=max_items, scale_tolerance_g=plan.scale_tolerance_g
            )
        )
        if match is None:
            return None
        shares.append(PutShare(hand, position, weight, match))
    return shares


def _movers(
    change: ShelfChange,
    shelf: ShelfLocation,
    tracks: Iterable[ShopperTrack],
    plan: ShelfPlan,
    settings: AttributionSettings,
    now_mono: float,
) -> list[tuple[TrackScore, float, float]] | None:
    """(hand, position, grams) of each hand that moved part of ``change``; see the module."""
    cells = len(change.cell_deltas_g)
    if cells < 2 or not plan.facings:
        return None
    along_edge = dataclasses.replace(change, position_m=None)
    scored = attribute(along_edge, shelf, tracks, now_mono=now_mono, settings=settings)
    hands = [
        c
        for c in scored.candidates
        if c.by_hand and c.point_m is not None and c.score >= settings.min_score
    ]
    if len(hands) < 2 or len(hands) >= cells or any(h.session_id is None for h in hands):
        return None
    positions = [shelf.position_of(h.point_m) for h in hands if h.point_m is not None]
    positions, split = _best_fit(change.cell_deltas_g, shelf.length_m, positions)
    tolerance_g = max(plan.scale_tolerance_g, RESIDUAL_SHARE * abs(change.delta_g))
    if split is None or split.spare_cells < 1 or split.min_singular < DEFAULT_MIN_SINGULAR:
        return None
    if split.residual_rms_g > tolerance_g:
        return None
    min_g = max(plan.scale_tolerance_g, 0.5 * min(f.unit_weight_g for f in plan.facings))
    movers: list[tuple[TrackScore, float, float]] = []
    for hand, position, weight in zip(hands, positions, split.weights_g, strict=True):
        if abs(weight) < min_g:
            continue  # near the shelf, moved nothing
        if weight * change.delta_g < 0:
            return None  # a put inside a take, or the other way: the hands do not explain it
        movers.append((hand, position, weight))
    return movers or None


def _one_grab_explains(
    change: ShelfChange,
    shares: list[HandShare],
    inferrer: ProductInferrer,
    tolerance_g: float,
    length_m: float,
) -> bool:
    """Whether one hand's grab explains the change better than the split does.

    When one load near the change's centre of gravity explains the cells,
    hands on either side of it split it by the lever rule into shares that
    fit exactly, whatever it was: a sandwich taken between two hands'
    reach comes out as five and three packs of gum. The cells then do not
    tell one grab from two, and the products decide: one confident
    combination of fewer units than the shares' (a grab of fewer units is
    the likelier, as in product inference) means one hand's work, which
    the attribution decides (wait, then review when the hands tie).
    """
    if change.position_m is None:
        return False
    _, one = _best_fit(change.cell_deltas_g, length_m, [change.position_m])
    if one is None or one.residual_rms_g > tolerance_g:
        return False
    whole = inferrer.infer(change)
    if whole.unknown or whole.tied:
        return False
    units = sum(qty for _, qty in whole.items)
    return units < sum(qty for share in shares for _, qty in share.products.items)


def _best_fit(
    cell_deltas_g: tuple[float, ...], length_m: float, seen_m: list[float]
) -> tuple[list[float], LoadSplit | None]:
    """The hand positions near the cameras' that explain the cells best, with their split."""
    best_positions, best = seen_m, split_change(cell_deltas_g, length_m, seen_m)
    if best is None or len(seen_m) > 2 or best.residual_rms_g <= REFINE_BELOW_G:
        return best_positions, best
    steps = round(POSITION_SEARCH_M / POSITION_STEP_M)
    offsets = [k * POSITION_STEP_M for k in range(-steps, steps + 1)]
    for shift in itertools.product(offsets, repeat=len(seen_m)):
        positions = [min(max(p + d, 0.0), length_m) for p, d in zip(seen_m, shift, strict=True)]
        split = split_change(cell_deltas_g, length_m, positions)
        if split is not None and split.residual_rms_g < best.residual_rms_g:
            best_positions, best = positions, split
    return best_positions, best
