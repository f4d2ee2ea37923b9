"""Put-backs: which item leaves which cart, whatever shelf it lands on.

A weight increase is matched against the carts of the shoppers near the
shelf, nearest first: the first cart holding units whose weights explain the
increase within their tolerances (see ``weights``) gives them back. The
shelf it lands on does not matter; a can put down among the crisps still
leaves the cart it was in. Other carts that could also explain it are
listed, so a put-back between two nearby carts can be reviewed, or given to
the one whose units make the weight far likelier (:func:`likeliest_cart`).
Nothing matching in any cart is a foreign object (``foreign``): the caller
raises an alert.

Within a cart, weight alone cannot tell two SKUs of one weight apart (salted
and paprika crisps, 180 g each). What people do can: an item put down on its
own facing is most likely that facing's product, and someone changing their
mind puts back what they picked up last (:func:`unit_priors`). A shelf
camera that saw the product go down says so directly (``seen``). And the
scale weighed each unit when it was taken: units of a product differ by grams
(an apple by tens), and a unit weighs the same when it comes back
(:func:`weighed_units`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from vision_core.inference.weights import combined_bounds, counts_up_to, gaussian_log_density
from vision_core.shelf_events import ShelfChange

Items = tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class CartLine:
    """Units of one SKU in a cart."""

    sku: str
    unit_weight_g: float
    tolerance_g: float
    count: int = 1
    prior: float = 1.0
    """How likely a unit of this line is the one put back, before its weight (relative)."""
    weighed_g: float | None = None
    """What the scale measured for this unit when it was taken, if it did (see
    :func:`weighed_units`), and that measurement's tolerance."""
    weighed_tolerance_g: float | None = None


class CartUnit(NamedTuple):
    """One unit in a cart; ``tolerance_g`` None: the planogram's for its SKU."""

    sku: str
    weight_g: float
    tolerance_g: float | None = None
    weighed_g: float | None = None
    weighed_tolerance_g: float | None = None


MISWEIGHED = 0.1
"""Share of takes whose weighing another change on the same scale spoiled (two hands at
once): such a unit is matched by its product's weight instead."""


def weighed_units(
    sku: str,
    count: int,
    *,
    unit_weight_g: float,
    weighed_g: float,
    weighed_together: int,
    tolerance_g: float,
    scale_tolerance_g: float,
) -> list[CartUnit]:
    """``count`` units of a take the scale weighed: ``weighed_g`` for ``weighed_together`` units.

    Each unit's weight is estimated from its product's (``unit_weight_g``
    within ``tolerance_g``) and the weighing (within ``scale_tolerance_g``),
    as a Gaussian conditioned on their sum: one unit weighed alone is known
    better than either says, a unit of five weighed together little better
    than its product, and a weighing cruder than a product's spread changes
    little. The product's own weight and tolerance stay with it: a weighing
    can be spoilt (:data:`MISWEIGHED`).
    """
    if weighed_together < 1 or not 0 <= count <= weighed_together:
        raise ValueError(f"{count} units left of {weighed_together} weighed together")
    # tolerances are a fixed number of sigmas: the Gaussian algebra holds in their units
    product_var, scale_var = tolerance_g**2, scale_tolerance_g**2
    sum_var = weighed_together * product_var + scale_var
    if sum_var <= 0.0:
        return [CartUnit(sku, unit_weight_g, tolerance_g)] * count
    gain = product_var / sum_var
    estimate = unit_weight_g + gain * (weighed_g - weighed_together * unit_weight_g)
    spread = math.sqrt(max(product_var - gain * product_var, 0.0))
    unit = CartUnit(sku, unit_weight_g, tolerance_g, estimate, spread)
    return [unit] * count


@dataclass(frozen=True, slots=True)
class NearbyCart:
    """A session's cart and how far its shopper was from the put, metres."""

    session_id: str
    distance_m: float
    lines: tuple[CartLine, ...]

    @classmethod
    def from_items(
        cls,
        session_id: str,
        distance_m: float,
        items: Iterable[CartUnit | tuple[str, float]],
        tolerances_g: Mapping[str, float],
        default_tolerance_pct: float = 2.0,
        priors: Mapping[str, float] | None = None,
    ) -> NearbyCart:
        """Group units (``CartUnit`` or ``(sku, unit_weight_g)``) into lines.

        A unit's tolerance is its own, else its SKU's from ``tolerances_g``
        (the planogram), else ``default_tolerance_pct`` of its weight; its
        prior from ``priors`` (:func:`unit_priors`), else 1.
        """
        priors = priors or {}
        counts: dict[CartUnit, int] = {}
        for item in items:
            unit = CartUnit(*item)
            if unit.tolerance_g is None:
                tolerance = tolerances_g.get(unit.sku, unit.weight_g * default_tolerance_pct / 100)
                unit = unit._replace(tolerance_g=tolerance)
            counts[unit] = counts.get(unit, 0) + 1
        lines = tuple(
            CartLine(
                unit.sku,
                unit.weight_g,
                unit.tolerance_g or 0.0,
                count,
                priors.get(unit.sku, 1.0),
                unit.weighed_g,
                unit.weighed_tolerance_g,
            )
            for unit, count in sorted(counts.items(), key=_line_order)
        )
        return cls(session_id, distance_m, lines)


def _line_order(entry: tuple[CartUnit, int]) -> tuple[str, float, float, float]:
    unit = entry[0]
    return (unit.sku, unit.weight_g, unit.tolerance_g or 0.0, unit.weighed_g or 0.0)


@dataclass(frozen=True, slots=True)
class CartMatch:
    """The best explanation of the put by one cart.

    ``log_evidence``: how likely the cart makes the weight that arrived, over
    all its combinations (log of their summed likelihood times prior); carts
    compare by it when no hand tells whose put it was.
    """

    session_id: str
    distance_m: float
    items: Items
    residual_g: float
    confidence: float
    log_evidence: float = -math.inf


@dataclass(frozen=True, slots=True)
class PutbackMatch:
    """Which items leave which cart; ``foreign`` when no cart explains the put.

    ``confidence`` is the posterior of ``items`` among the chosen cart's
    combinations; ``also`` lists other carts that could explain it too.
    """

    shelf_id: str
    weight_g: float
    session_id: str | None
    items: Items
    residual_g: float | None
    confidence: float
    also: tuple[CartMatch, ...]
    log_evidence: float = -math.inf
    """The chosen cart's (see ``CartMatch``)."""

    @property
    def matches(self) -> list[CartMatch]:
        """Every cart that explains the put, the chosen one first."""
        if self.session_id is None or self.residual_g is None:
            return []
        first = CartMatch(
            self.session_id, 0.0, self.items, self.residual_g, self.confidence, self.log_evidence
        )
        return [first, *self.also]

    @property
    def foreign(self) -> bool:
        """True when nothing in the nearby carts weighs what arrived on the shelf."""
        return self.session_id is None


COUNT_DECAY = 0.5
"""Prior ratio of a put-back of n+1 units to one of n (as for takes: one hand, few units)."""

MIXED_DECAY = 0.25
"""Prior ratio of a put-back holding one more SKU: a hand puts back what it picked up
together. Without it, two small units whose weights add up to a big one's tie with it
(a cola and a yoghurt, 520 g, against a loaf, 500 +- 12 g)."""


HOME_FACTOR = 4.0
"""Prior ratio of a SKU whose own facing the put landed on: most put-backs go back where
the item came from (the rest are left wherever the shopper stands)."""

RECENT_DECAY = 0.8
"""Prior ratio for each SKU of the cart taken more recently than this one: a shopper who
changes their mind puts back what they just picked up, not what they took minutes ago.

Mild, because a cart is a group's: the picks of the others in between push the
putter's own last pick down the order, and a family's cart holds a dozen lines
(0.6 per rank sent a water bottle taken six lines ago back as a bread loaf
that weighed 20 g off)."""


def unit_priors(
    taken_in_order: Sequence[str],
    home_skus: Collection[str],
    seen: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Each cart SKU's prior of being the one put back.

    ``taken_in_order``: the SKUs of the cart's lines, oldest first;
    ``home_skus``: those whose facing the put landed on; ``seen``: SKUs a
    shelf camera saw being put down, with its confidence ``c`` (below 1):
    the seen SKU is weighed by ``c``, every other by ``1 - c`` (the camera
    was wrong). Weights still decide when they disagree.
    """
    last: dict[str, int] = {}
    for order, sku in enumerate(taken_in_order):
        last[sku] = order
    newest_first = sorted(last, key=lambda sku: -last[sku])
    priors = {
        sku: RECENT_DECAY**rank * (HOME_FACTOR if sku in home_skus else 1.0)
        for rank, sku in enumerate(newest_first)
    }
    for seen_sku, confidence in (seen or {}).items():
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"a sighting's confidence must be within (0, 1), got {confidence}")
        for sku in priors:
            priors[sku] *= confidence if sku == seen_sku else 1.0 - confidence
    return priors


def match_cart(
    weight_g: float, cart: NearbyCart, *, max_items: int = 6, scale_tolerance_g: float = 0.0
) -> CartMatch | None:
    """Best combination of ``cart``'s units explaining ``weight_g``, or None.

    Combinations are scored by the weight's likelihood times a prior that
    prefers fewer units and fewer SKUs (:data:`COUNT_DECAY`, :data:`MIXED_DECAY`)
    and units of the lines more likely put back (``CartLine.prior``). The
    likelihood of weighed units is their weighing's, or with
    :data:`MISWEIGHED` their product's; every unit within its product's
    tolerance is accepted.
    """
    lines = cart.lines
    if not lines:
        return None
    weights = [line.unit_weight_g for line in lines]
    tolerances = [line.tolerance_g for line in lines]
    weighed = [line.unit_weight_g if line.weighed_g is None else line.weighed_g for line in lines]
    weighed_tolerances = [
        line.tolerance_g if line.weighed_tolerance_g is None else line.weighed_tolerance_g
        for line in lines
    ]
    limits = [line.count for line in lines]
    scored: list[tuple[float, float, Items]] = []
    for counts in counts_up_to(len(lines), max_items, limits):
        total, accept, sigma = combined_bounds(counts, weights, tolerances, scale_tolerance_g)
        residual = weight_g - total
        if abs(residual) > accept:
            continue
        log_like = gaussian_log_density(residual, sigma)
        total_w = sigma_w = 0.0
        chosen = [(c, line) for c, line in zip(counts, lines, strict=True) if c]
        if any(line.weighed_g is not None for _, line in chosen):
            total_w, _, sigma_w = combined_bounds(
                counts, weighed, weighed_tolerances, scale_tolerance_g
            )
        if sigma_w > 0.0:  # zero: an error-free weighing has no density; the product decides
            log_like = _log_mix(
                math.log(1.0 - MISWEIGHED) + gaussian_log_density(weight_g - total_w, sigma_w),
                math.log(MISWEIGHED) + log_like,
            )
        by_sku: dict[str, int] = {}
        for c, line in chosen:
            by_sku[line.sku] = by_sku.get(line.sku, 0) + c
        items = tuple(sorted(by_sku.items()))
        log_prior = (sum(counts) - 1) * math.log(COUNT_DECAY) + (len(items) - 1) * math.log(
            MIXED_DECAY
        )
        log_prior += math.fsum(c * math.log(line.prior) for c, line in chosen)
        scored.append((log_like + log_prior, residual, items))
    if not scored:
        return None
    # one SKU count can come from units of several weighings: each is an explanation of it
    mass: dict[Items, float] = {}
    top = max(s[0] for s in scored)
    for log_score, _, items in scored:
        mass[items] = mass.get(items, 0.0) + math.exp(log_score - top)
    best = max(mass, key=lambda items: (mass[items], -sum(n for _, n in items), items))
    residual = min((s for s in scored if s[2] == best), key=lambda s: -s[0])[1]
    total = sum(mass.values())
    return CartMatch(
        cart.session_id, cart.distance_m, best, residual, mass[best] / total, top + math.log(total)
    )


def _log_mix(a: float, b: float) -> float:
    """log(exp(a) + exp(b)), without overflow."""
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def match_putback(
    change: ShelfChange,
    carts: Sequence[NearbyCart],
    *,
    max_items: int = 6,
    scale_tolerance_g: float = 0.0,
) -> PutbackMatch:
    """Match a put against nearby carts, nearest shopper first."""
    if change.kind != "put":
        raise ValueError(f"a put-back is a weight increase, got a {change.kind}")
    weight = abs(change.delta_g)
    matches = [
        m
        for m in (
            match_cart(weight, cart, max_items=max_items, scale_tolerance_g=scale_tolerance_g)
            for cart in sorted(carts, key=lambda c: (c.distance_m, c.session_id))
        )
        if m is not None
    ]
    if not matches:
        return PutbackMatch(change.shelf_id, weight, None, (), None, 0.0, ())
    first = matches[0]
    return PutbackMatch(
        change.shelf_id,
        weight,
        first.session_id,
        first.items,
        first.residual_g,
        first.confidence,
        tuple(matches[1:]),
        first.log_evidence,
    )


CART_POSTERIOR = 0.95
"""How sure a cart must be, by the weight and the hands together, to take a put the
hands alone leave tied."""


def likeliest_cart(
    matches: Sequence[CartMatch], hand_scores: Mapping[str, float]
) -> CartMatch | None:
    """The cart whose units and hand make the put far likelier than any other's, or None.

    Two shoppers side by side whose carts both hold a water: the hands tie.
    But one water was weighed at 524 g when it was taken and the other
    cart's nearest fit is a beer 15 g off: the weight says whose it was.
    Each cart is weighed by its evidence (``CartMatch.log_evidence``) times
    its session's best hand score; the best is kept when its posterior
    reaches :data:`CART_POSTERIOR`. Two carts with a like unit of a like
    weight stay tied (review).
    """
    weighed = [
        (match.log_evidence + math.log(hand_scores[match.session_id]), match)
        for match in matches
        if hand_scores.get(match.session_id, 0.0) > 0.0 and math.isfinite(match.log_evidence)
    ]
    if not weighed:
        return None
    best_log, best = max(weighed, key=lambda pair: pair[0])
    posterior = 1.0 / math.fsum(math.exp(log - best_log) for log, _ in weighed)
    return best if posterior >= CART_POSTERIOR else None
