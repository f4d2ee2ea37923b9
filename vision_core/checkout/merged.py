"""A change several hands made: split it between the shoppers reaching into the shelf.

Two shoppers of different groups at one shelf within a second or two leave
one merged change on the scale. Scored against the change's centre of
gravity, neither hand is near (the centre lies between them), or both are:
the attribution waits and then sends the item to review. The per-cell
deltas still say who moved what once the hands' positions along the board
are known (:mod:`vision_core.inference.split`), and the planogram says what
each share of a take is; each share of a put is matched against the cart of
the hand that put it down (:func:`split_put`: two put-backs at once are
otherwise a weight no single cart explains, a foreign object). A put by one
hand and a take by another at once leave cells that moved both ways, which
no single load does (:func:`split_mixed`).

A take is split one of two ways, and billed only when everything agrees,
else the attribution's own decision stands (wait, then review):

*Units given out whole* (:func:`_assigned_units`), when two or three bound
hands, of at least two groups, were at the edge: each product combination
the change's weight allows, and each way of giving its units to the hands,
is weighed by how well it explains the cells, with each hand's load
anywhere near where its camera saw the reach (the likelihood averaged over
those places) and on its units' facings, and billed when one way has a
posterior of at least ``MIN_ASSIGNMENT_POSTERIOR``, gives units to two
groups and leaves no misfit the units' spread cannot explain. A hand is
where all the frames of its reach saw it (:func:`_reached`), not where its
best frame did.

*Grams solved from the cells* (the lever split), otherwise:

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import erf

from vision_core.inference.attribution import (
    AttributionSettings,
    ShelfLocation,
    ShopperTrack,
    TrackScore,
    attribute,
)
from vision_core.inference.planogram import Facing, Planogram, ShelfPlan
from vision_core.inference.products import (
    Items,
    ProductInference,
    ProductInferrer,
    position_log_density,
)
from vision_core.inference.putback import (
    COUNT_DECAY,
    MIXED_DECAY,
    CartMatch,
    NearbyCart,
    match_cart,
)
from vision_core.inference.split import DEFAULT_MIN_SINGULAR, LoadSplit, lever_matrix, split_change
from vision_core.inference.weights import TOLERANCE_SIGMAS, combined_bounds, counts_up_to
from vision_core.shelf_events import ShelfChange

RESIDUAL_SHARE = 0.1
"""Part of the change the split's misfit per cell may reach (hand positions are cm off)."""

POSITION_SEARCH_M = 0.12
"""How far from the camera's wrist position a hand's load is looked for (3 sigma of a wrist)."""

REACH_DEPTH_M = 0.1
"""How much farther from the shelf's edge than its best sample a wrist sample of the same reach
may be (a wrist's sigma, both ways, and the depth of a hand in the shelf)."""

MIXED_TAKE_UNITS = 3
"""Most units a hand is taken to lift while another puts back on the same board."""

MAX_ASSIGNED_HANDS = 3
"""Most hands the units of one take are given out between."""

MIN_ASSIGNMENT_POSTERIOR = 0.95
"""How sure a way of giving a change's units to the hands must be to be billed."""

MIN_LOAD_STEP_M = 0.0005
"""Finest step of the search for the hands' loads (a 3 kg load on cells 0.4 m apart
moves its cells by 4 g per step)."""

MAX_LOAD_GRID = 40_000
"""Most hand positions tried together: 200 per hand for two hands, 34 for three."""

MISFIT_SIGMAS = 3.0
"""A best way whose cells misfit by more than this many sigmas leaves a load unexplained."""

EXPLANATION_SPAN = math.log(1000.0)
"""Combinations this much less likely (log) than the best, by weight, are not weighed."""

FACING_EDGE_M = 0.01
"""How far past its facing's edge a unit's centre may sit (packs overhang, boards flex)."""

PLAUSIBLE_SPAN = math.log(1e6)
"""Places a million times less likely than a hand's likeliest do not count for the misfit."""

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)

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
    if len(change.cell_deltas_g) < 2 or not plan.facings:
        return None
    # found once: both ways of splitting weigh the same hands
    hands = _hands_at_edge(change, shelf, tracks, settings, now_mono)
    shares = _assigned_units(change, shelf, hands, plan, inferrer)
    if shares is None:
        shares = _lever_shares(change, shelf, hands, plan, planogram, inferrer)
    return shares


def _lever_shares(
    change: ShelfChange,
    shelf: ShelfLocation,
    hands: list[TrackScore],
    plan: ShelfPlan,
    planogram: Planogram,
    inferrer: ProductInferrer,
) -> list[HandShare] | None:
    """Shares solved from the cells at the hands' positions, each then read as products."""
    movers = _movers(change, shelf, hands, plan)
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
    movers = _movers(change, shelf, _hands_at_edge(change, shelf, tracks, settings, now_mono), plan)
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


@dataclass(frozen=True, slots=True)
class MixedShares:
    """A change one hand made by putting back and another by taking, at once."""

    put: PutShare
    take: HandShare


def split_mixed(
    change: ShelfChange,
    shelf: ShelfLocation,
    tracks: Iterable[ShopperTrack],
    *,
    plan: ShelfPlan,
    cart_of: Callable[[str], NearbyCart | None],
    settings: AttributionSettings,
    now_mono: float,
    max_items: int,
) -> MixedShares | None:
    """A put by one hand and a take by another, when the cells move both ways; else None.

    One shopper puts a beer down at one end of a board while another lifts
    crisps at the other: the scale sees one change of +369 g that is no
    product and no cart's, and cells that went up at one end and down at the
    other, which no single load does (both ways by more than the scale's
    tolerance and half the board's lightest unit). Each way of explaining it is tried:
    either hand puts back units of its own cart, the other takes units of
    the products whose facings were within its reach (:data:`MIXED_TAKE_UNITS`
    at most, with the product inference's priors), the two add up to the
    change, and the loads, each near its hand, explain the cells. The
    likeliest is kept when its posterior reaches ``MIN_ASSIGNMENT_POSTERIOR``.
    """
    cells = change.cell_deltas_g
    if len(cells) < 3 or not plan.facings:
        return None
    # beyond what noise or a settling board does to a cell (as a hand that moved nothing)
    moved_g = max(plan.scale_tolerance_g, 0.5 * min(f.unit_weight_g for f in plan.facings))
    if max(cells) <= moved_g or min(cells) >= -moved_g:
        return None  # every cell moved one way: one load can explain it
    hands = _hands_at_edge(change, shelf, tracks, settings, now_mono)
    if len(hands) != 2 or any(h.session_id is None or h.point_m is None for h in hands):
        return None
    seen_m = [shelf.position_of(h.point_m) for h in hands if h.point_m is not None]
    fits: list[tuple[float, float, int, CartMatch, Items, float]] = []
    for putter in (0, 1):
        session_id = hands[putter].session_id
        cart = None if session_id is None else cart_of(session_id)
        if cart is None:
            continue
        # the taker lifted from a facing within its reach
        at = seen_m[1 - putter]
        facings = [
            f
            for f in plan.facings
            if f.span_m[0] - POSITION_SEARCH_M <= at <= f.span_m[1] + POSITION_SEARCH_M
        ]
        spans = {f.sku: f.span_m for f in facings}
        for items, take_g, take_tolerance_g, log_prior in _takes(facings):
            # the taker's wrist is where the taken product's facing is (a wrist's sigma off)
            log_prior += math.fsum(
                position_log_density(at, spans[sku], POSITION_SEARCH_M / 3) for sku, _ in items
            )
            put_g = change.delta_g + take_g
            match = match_cart(
                put_g,
                cart,
                max_items=max_items,
                scale_tolerance_g=plan.scale_tolerance_g + take_tolerance_g,
            )
            if match is None:
                continue
            grams = [0.0, 0.0]
            grams[putter] = put_g - match.residual_g
            grams[1 - putter] = -take_g
            spread_g2 = (plan.scale_tolerance_g**2 + take_tolerance_g**2) / TOLERANCE_SIGMAS**2
            cell_sigma_g = math.sqrt(spread_g2 / len(cells))
            log_fit, misfit_g = _fit_of_loads(cells, shelf.length_m, seen_m, grams, cell_sigma_g)
            if misfit_g > MISFIT_SIGMAS * cell_sigma_g:
                continue
            log_score = log_fit + match.log_evidence + log_prior
            fits.append((log_score, misfit_g, putter, match, items, take_g))
    if not fits:
        return None
    fits.sort(key=lambda fit: -fit[0])
    best, _, putter, match, items, take_g = fits[0]
    posterior = 1.0 / math.fsum(math.exp(fit[0] - best) for fit in fits)
    if posterior < MIN_ASSIGNMENT_POSTERIOR:
        return None
    put_hand, take_hand = hands[putter], hands[1 - putter]
    taken = ProductInference(change.shelf_id, "take", take_g, items, posterior, False, False, ())
    return MixedShares(
        PutShare(put_hand, seen_m[putter], change.delta_g + take_g, match),
        HandShare(take_hand, seen_m[1 - putter], -take_g, taken),
    )


def _takes(facings: Sequence[Facing]) -> list[tuple[Items, float, float, float]]:
    """``(items, grams, tolerance, log prior)`` of each take of a few units from ``facings``."""
    out: list[tuple[Items, float, float, float]] = []
    weights = [f.unit_weight_g for f in facings]
    tolerances = [f.unit_tolerance_g for f in facings]
    for counts in counts_up_to(len(facings), MIXED_TAKE_UNITS):
        total, accept, _ = combined_bounds(counts, weights, tolerances, 0.0)
        items = tuple((f.sku, n) for f, n in zip(facings, counts, strict=True) if n)
        log_prior = (sum(counts) - 1) * math.log(COUNT_DECAY) + (len(items) - 1) * math.log(
            MIXED_DECAY
        )
        out.append((items, total, accept, log_prior))
    return out


def _movers(
    change: ShelfChange, shelf: ShelfLocation, hands: list[TrackScore], plan: ShelfPlan
) -> list[tuple[TrackScore, float, float]] | None:
    """(hand, position, grams) of each hand at the edge that moved part of ``change``."""
    cells = len(change.cell_deltas_g)
    if cells < 2 or not plan.facings:
        return None
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


def _hands_at_edge(
    change: ShelfChange,
    shelf: ShelfLocation,
    tracks: Iterable[ShopperTrack],
    settings: AttributionSettings,
    now_mono: float,
) -> list[TrackScore]:
    """Tracks whose wrists were at the shelf's front edge in the event window, best first."""
    tracks = list(tracks)
    along_edge = dataclasses.replace(change, position_m=None)
    scored = attribute(along_edge, shelf, tracks, now_mono=now_mono, settings=settings)
    by_id = {track.track_id: track for track in tracks}
    return [
        _reached(c, by_id[c.track_id], change, shelf, settings)
        for c in scored.candidates
        if c.by_hand and c.point_m is not None and c.score >= settings.min_score
    ]


def _reached(
    hand: TrackScore,
    track: ShopperTrack,
    change: ShelfChange,
    shelf: ShelfLocation,
    settings: AttributionSettings,
) -> TrackScore:
    """``hand`` with its point where the reach was: the mean of the reach's wrist samples.

    The best-scoring sample is one camera frame's wrist, centimetres off; a
    reach into the shelf lasts several frames. Every wrist sample of the
    event window in the shelf (no farther from its edge than
    ``REACH_DEPTH_M`` beyond the best one) and within ``POSITION_SEARCH_M``
    along it of the best one is of the same reach, and their mean is where
    the hand was, the better known the more frames saw it.
    """
    assert hand.point_m is not None  # only hands at the edge are pooled
    seen_m = shelf.position_of(hand.point_m)
    depth_m = hand.distance_m + REACH_DEPTH_M
    along: list[float] = []
    pad_s = settings.time_pad_s
    for sample in track.between(change.started_mono - pad_s, change.t_mono + pad_s):
        for point in sample.hands_m:
            position_m = shelf.position_of(point)
            if (
                abs(position_m - seen_m) <= POSITION_SEARCH_M
                and shelf.distance_m(point, None) <= depth_m
            ):
                along.append(position_m)
    if len(along) < 2:
        return hand
    return dataclasses.replace(hand, point_m=shelf.point_at(math.fsum(along) / len(along)))


def _assigned_units(
    change: ShelfChange,
    shelf: ShelfLocation,
    hands: list[TrackScore],
    plan: ShelfPlan,
    inferrer: ProductInferrer,
) -> list[HandShare] | None:
    """The ``hands``' shares of a take: the units, given out whole.

    Solving the cells for each hand's grams amplifies the cameras' error on
    the hands' positions: a water bottle and a juice taken side by side come
    out tens of grams off, neither a product, and the lever split is
    refused. But units are not cut: each combination that explains the
    change's weight (a water and a juice), and each way of giving its units
    to the hands, all to one hand included, is weighed by the combination's
    prior and weight and by how well its loads, each near its hand and on
    its own facing, explain the cells. A beer and a bag of crisps taken side
    by side weigh what four bags of crisps weigh; two hands that each took
    two bags would have had to reach into the crisps from the beer. A way is
    kept only when it alone explains the cells. When all to one hand wins,
    or nothing wins, the attribution decides; so do two hands too close
    together for the cells to tell apart, as every way fits alike.
    """
    cells = len(change.cell_deltas_g)
    if cells < 3 or not plan.facings:  # a spare cell, as for the lever split
        return None
    explained = inferrer.for_shelf(change.shelf_id).explanations(abs(change.delta_g))
    if not explained:
        return None
    explained = [e for e in explained if e.log_score >= explained[0].log_score - EXPLANATION_SPAN]
    if max(sum(qty for _, qty in e.items) for e in explained) < 2:
        return None
    if not 2 <= len(hands) <= min(MAX_ASSIGNED_HANDS, cells - 1):
        return None
    if any(h.session_id is None or h.point_m is None for h in hands):
        return None
    if len({h.session_id for h in hands}) < 2:
        return None  # one bill either way
    seen_m = [shelf.position_of(h.point_m) for h in hands if h.point_m is not None]
    catalog = {f.sku: f for f in plan.facings}
    sign = math.copysign(1.0, change.delta_g)
    fits: list[tuple[float, float, float, tuple[Items, ...]]] = []
    for explanation in explained:
        # per cell: the scale's error and the units' own spread, shared out over the cells
        spread_g2 = (plan.scale_tolerance_g / TOLERANCE_SIGMAS) ** 2 + math.fsum(
            (catalog[sku].unit_tolerance_g / TOLERANCE_SIGMAS) ** 2 * qty
            for sku, qty in explanation.items
        )
        cell_sigma_g = math.sqrt(spread_g2 / cells)
        for parts in _ways_to_give(explanation.items, len(hands)):
            log_likelihood, misfit_g = _fit_of_loads(
                change.cell_deltas_g,
                shelf.length_m,
                seen_m,
                [sign * _nominal_g(part, catalog) for part in parts],
                cell_sigma_g,
                spans=[_span_of(part, catalog) for part in parts],
            )
            if math.isfinite(log_likelihood):
                score = explanation.log_score + log_likelihood
                fits.append((score, misfit_g, cell_sigma_g, parts))
    if not fits:
        return None
    fits.sort(key=lambda fit: -fit[0])
    best, misfit_g, cell_sigma_g, parts = fits[0]
    posterior = 1.0 / math.fsum(math.exp(fit[0] - best) for fit in fits)
    takers = {hand.session_id for hand, part in zip(hands, parts, strict=True) if part}
    if len(takers) < 2 or misfit_g > MISFIT_SIGMAS * cell_sigma_g:
        return None  # one group's work, or a load the hands do not explain
    if posterior < MIN_ASSIGNMENT_POSTERIOR:
        return None
    shares = []
    for hand, position, part in zip(hands, seen_m, parts, strict=True):
        if part:
            weight_g = sign * _nominal_g(part, catalog)
            products = ProductInference(
                change.shelf_id, change.kind, abs(weight_g), part, posterior, False, False, ()
            )
            shares.append(HandShare(hand, position, weight_g, products))
    return shares


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


def _ways_to_give(items: Items, hands: int) -> list[tuple[Items, ...]]:
    """Every way of giving ``items`` (SKU counts) to ``hands`` hands, units whole."""
    ways: list[tuple[Items, ...]] = [tuple(() for _ in range(hands))]
    for sku, qty in items:
        ways = [
            tuple((*part, (sku, n)) if n else part for part, n in zip(way, counts, strict=True))
            for way in ways
            for counts in _splits(qty, hands)
        ]
    return ways


def _splits(qty: int, hands: int) -> list[tuple[int, ...]]:
    """Every way of cutting ``qty`` into ``hands`` counts (zeros included)."""
    if hands == 1:
        return [(qty,)]
    return [(n, *rest) for n in range(qty + 1) for rest in _splits(qty - n, hands - 1)]


def _nominal_g(items: Items, facings: Mapping[str, Facing]) -> float:
    return math.fsum(facings[sku].unit_weight_g * qty for sku, qty in items)


def _span_of(items: Items, facings: Mapping[str, Facing]) -> tuple[float, float] | None:
    """Where the centre of gravity of ``items`` can lie, each unit on its facing; None for none."""
    total_g = _nominal_g(items, facings)
    if total_g <= 0:
        return None
    low = math.fsum(facings[sku].unit_weight_g * qty * facings[sku].span_m[0] for sku, qty in items)
    high = math.fsum(
        facings[sku].unit_weight_g * qty * facings[sku].span_m[1] for sku, qty in items
    )
    return low / total_g, high / total_g


def _fit_of_loads(
    cell_deltas_g: Sequence[float],
    length_m: float,
    seen_m: Sequence[float],
    grams: Sequence[float],
    cell_sigma_g: float,
    *,
    spans: Sequence[tuple[float, float] | None] | None = None,
) -> tuple[float, float]:
    """``(log-likelihood, best misfit per cell)`` of loads of ``grams`` on the cells.

    Each load lies within ``POSITION_SEARCH_M`` of its hand as the camera saw
    it (a third of that is a wrist's sigma) and, where ``spans`` gives one,
    where its units' facings put it (``FACING_EDGE_M`` of slack): a hand seen
    off the facing is charged the chance that its wrist was that far off.
    The cells carry ``cell_sigma_g`` each. The likelihood is averaged over
    the positions, not maximised: loads placed freely fit any cells a little
    better than one, and a hand that took nothing fits wherever it was. The
    positions are a grid, fine enough that a heavy load's cells move by less
    than their sigma per step (two hands); for more hands the grid is capped
    at ``MAX_LOAD_GRID`` points, and its steps' rounding is added to the
    cells' sigma. ``(-inf, inf)`` when a load has no place near its hand on
    its facings.
    """
    cells = np.asarray(cell_deltas_g, dtype=np.float64)
    hands = len(seen_m)
    gap_m = length_m / max(len(cells) - 1, 1)
    heaviest_g = max(max(abs(g) for g in grams), 1.0)
    step_m = min(max(cell_sigma_g * gap_m / heaviest_g, MIN_LOAD_STEP_M), POSITION_STEP_M)
    steps = math.ceil(POSITION_SEARCH_M / step_m)
    steps = min(steps, (math.floor(MAX_LOAD_GRID ** (1 / hands)) - 1) // 2)
    step_m = POSITION_SEARCH_M / steps
    offsets = np.arange(-steps, steps + 1) * step_m
    # a step moves a load's cells by up to this much: rounding to the grid is that noise
    rounding_g = heaviest_g * step_m / gap_m
    sigma_g = math.sqrt(cell_sigma_g**2 + rounding_g**2 / 12)
    predicted = np.zeros((len(cells),) + (len(offsets),) * hands)
    prior = np.exp(-0.5 * (offsets / (POSITION_SEARCH_M / 3)) ** 2)
    weight = np.ones((len(offsets),) * hands)
    for index, (seen, load) in enumerate(zip(seen_m, grams, strict=True)):
        # cells x positions: this hand's load at each position it may have reached
        columns = lever_matrix(len(cells), length_m, list(np.clip(seen + offsets, 0.0, length_m)))
        shape = [len(cells)] + [1] * hands
        shape[1 + index] = len(offsets)
        predicted = predicted + (columns * load).reshape(shape)
        along = [1] * hands
        along[index] = len(offsets)
        on_facing = prior / prior.sum()
        span = None if spans is None else spans[index]
        if span is not None:
            on_facing = on_facing * _inside(np.clip(seen + offsets, 0.0, length_m), span)
        weight = weight * on_facing.reshape(along)
    squared = np.sum((predicted - cells.reshape((len(cells),) + (1,) * hands)) ** 2, axis=0)
    # the Gaussian's own normalisation: ways with a wider spread (a bunch of bananas) must
    # not fit better for being vaguer
    log_fit = -squared / (2 * sigma_g**2) - len(cells) * (math.log(sigma_g) + _LOG_SQRT_2PI)
    with np.errstate(divide="ignore"):
        log_weight = np.log(weight)
    if not np.isfinite(log_weight.max()):
        return -math.inf, math.inf  # a load off every place its hand could have put it
    plausible = log_weight >= float(log_weight.max()) - PLAUSIBLE_SPAN
    log_joint = log_fit + log_weight
    top = float(log_joint.max())
    log_likelihood = top + math.log(float(np.sum(np.exp(log_joint - top))))
    return log_likelihood, math.sqrt(float(squared[plausible].min()) / len(cells))


def _inside(at_m: npt.NDArray[np.float64], span: tuple[float, float]) -> npt.NDArray[np.float64]:
    """The chance that a unit centred at each of ``at_m`` lies on ``span``, edges blurred."""
    edge = math.sqrt(2.0) * FACING_EDGE_M
    inside: npt.NDArray[np.float64] = 0.5 * (
        erf((span[1] - at_m) / edge) - erf((span[0] - at_m) / edge)
    )
    return inside
