"""Put-backs: which item leaves which cart, whatever shelf it lands on.

A weight increase is matched against the carts of the shoppers near the
shelf, nearest first: the first cart holding units whose weights explain the
increase within their tolerances (see ``weights``) gives them back. The
shelf it lands on does not matter; a can put down among the crisps still
leaves the cart it was in. Other carts that could also explain it are
listed, so a put-back between two nearby carts can be reviewed. Nothing
matching in any cart is a foreign object (``foreign``): the caller raises an
alert.

Within a cart, weight alone cannot tell two SKUs of one weight apart (salted
and paprika crisps, 180 g each). What people do can: an item put down on its
own facing is most likely that facing's product, and someone changing their
mind puts back what they picked up last (:func:`unit_priors`). A shelf
camera that saw the product go down says so directly (``seen``).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

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
        items: Iterable[tuple[str, float]],
        tolerances_g: Mapping[str, float],
        default_tolerance_pct: float = 2.0,
        priors: Mapping[str, float] | None = None,
    ) -> NearbyCart:
        """Group ``(sku, unit_weight_g)`` items into lines.

        A SKU's tolerance comes from ``tolerances_g`` (the planogram), else
        ``default_tolerance_pct`` of its weight; its prior from ``priors``
        (:func:`unit_priors`), else 1.
        """
        priors = priors or {}
        counts: dict[tuple[str, float], int] = {}
        for sku, weight in items:
            counts[sku, weight] = counts.get((sku, weight), 0) + 1
        lines = tuple(
            CartLine(
                sku,
                weight,
                tolerances_g.get(sku, weight * default_tolerance_pct / 100),
                count,
                priors.get(sku, 1.0),
            )
            for (sku, weight), count in sorted(counts.items())
        )
        return cls(session_id, distance_m, lines)


@dataclass(frozen=True, slots=True)
class CartMatch:
    """The best explanation of the put by one cart."""

    session_id: str
    distance_m: float
    items: Items
    residual_g: float
    confidence: float


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
    and units of the lines more likely put back (``CartLine.prior``).
    """
    lines = cart.lines
    if not lines:
        return None
    weights = [line.unit_weight_g for line in lines]
    tolerances = [line.tolerance_g for line in lines]
    limits = [line.count for line in lines]
    scored: list[tuple[float, float, Items]] = []
    for counts in counts_up_to(len(lines), max_items, limits):
        total, accept, sigma = combined_bounds(counts, weights, tolerances, scale_tolerance_g)
        residual = weight_g - total
        if abs(residual) > accept:
            continue
        items = tuple(sorted((line.sku, c) for c, line in zip(counts, lines, strict=True) if c))
        log_prior = (sum(counts) - 1) * math.log(COUNT_DECAY) + (len(items) - 1) * math.log(
            MIXED_DECAY
        )
        log_prior += math.fsum(
            c * math.log(line.prior) for c, line in zip(counts, lines, strict=True) if c
        )
        scored.append((gaussian_log_density(residual, sigma) + log_prior, residual, items))
    if not scored:
        return None
    scored.sort(key=lambda s: (-s[0], sum(n for _, n in s[2]), s[2]))
    top = scored[0][0]
    total_mass = sum(math.exp(s[0] - top) for s in scored)
    _, residual, items = scored[0]
    return CartMatch(cart.session_id, cart.distance_m, items, residual, 1.0 / total_mass)


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
    )
