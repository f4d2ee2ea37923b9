"""Which SKUs, how many: explain a shelf's weight change by its facings.

Every combination of up to ``max_items`` units of the shelf's facings is a
hypothesis, plus one more: "something else" (a foreign object, a hand still
resting on the shelf). A combination is accepted only when the change lies
within its summed unit tolerances; accepted ones are scored by

- weight: Gaussian likelihood of the residual (see ``weights``);
- position: the load-cell split gives the centroid of the moved mass; if
  each unit lies anywhere on its facing, the combination's centroid lies in
  an interval, so the likelihood of the measured position is that uniform
  interval blurred by the split's own error (the board's, and the scale's
  over the grams moved: :meth:`ShelfInferrer.position_sigma_m`);
- prior: fewer units per event are more likely (``count_decay`` per extra
  unit); within one size, units of one facing are more likely than a mix
  (``mixed_decay`` per extra SKU: a hand grabs from the facing it reaches
  into). Two units from neighbouring facings of equal weight then no
  longer tie with two of the facing the change sits in: both centroids'
  intervals hold it, but one grab seldom spans two facings.

"Something else" has a flat likelihood over the shelf's weight range and
length and a small prior; it never wins but takes posterior mass from weak
matches, so a change far from every combination's centre gets a low
confidence instead of a confident wrong answer. When the best candidates
still tie (same weight, no position), an optional shelf camera hint weighs
them; what then stays tied is reported as such (``tied``), with a confidence
near 1/n, never hidden.

The combinations of a shelf are enumerated once and kept sorted by total
weight: an inference only scores the few whose acceptance window holds the
change (10 facings, 6 units: 8,007 combinations, a handful scored).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from vision_core.inference.planogram import Planogram, ShelfPlan
from vision_core.inference.weights import (
    TOLERANCE_SIGMAS,
    combined_bounds,
    counts_up_to,
    gaussian_log_density,
)
from vision_core.shelf_events import ShelfChange, cell_positions_m

Items = tuple[tuple[str, int], ...]
"""``((sku, count), ...)`` sorted by SKU; empty means unknown."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """One combination that explains the change, with its evidence."""

    items: Items
    total_g: float
    residual_g: float
    accept_g: float
    centroid_m: tuple[float, float]
    posterior: float

    @property
    def units(self) -> int:
        """Units moved in total."""
        return sum(count for _, count in self.items)


CameraHint = Callable[[ShelfChange, tuple[Candidate, ...]], Sequence[float] | None]
"""A shelf camera's relative likelihood for each tied candidate (same order), or None."""


@dataclass(frozen=True, slots=True)
class ProductInference:
    """What moved in one shelf change.

    ``confidence`` is the posterior of ``items`` against every other
    combination and "something else"; 0 with empty ``items`` when nothing on
    the shelf explains the change (a put of that kind is a foreign object).
    ``candidates`` are the best few, most likely first, for review.
    """

    shelf_id: str
    kind: Literal["take", "put"]
    weight_g: float
    items: Items
    confidence: float
    tied: bool
    hint_used: bool
    candidates: tuple[Candidate, ...]

    @property
    def unknown(self) -> bool:
        """True when no combination of the shelf's facings explains the change."""
        return not self.items


@dataclass(frozen=True, slots=True)
class Explanation:
    """A combination that explains a change's weight, scored by its prior and that weight.

    ``centroid_m``: where its centre of gravity can lie, each unit anywhere on
    its facing.
    """

    items: Items
    total_g: float
    centroid_m: tuple[float, float]
    log_score: float


@dataclass(frozen=True, slots=True)
class _Combo:
    items: Items
    total_g: float
    accept_g: float
    sigma_g: float
    centroid_m: tuple[float, float]
    log_prior: float
    units: int


def position_log_density(position_m: float, interval: tuple[float, float], sigma: float) -> float:
    """Log density of ``position_m`` for a uniform interval blurred by N(0, sigma)."""
    low, high = interval
    width = high - low
    if width < 1e-6:
        return gaussian_log_density(position_m - low, sigma)
    root2 = math.sqrt(2.0) * sigma
    mass = 0.5 * (math.erf((high - position_m) / root2) - math.erf((low - position_m) / root2))
    return math.log(max(mass, 1e-300) / width)


def _distance_to(position_m: float | None, interval: tuple[float, float]) -> float:
    if position_m is None:
        return 0.0
    low, high = interval
    return max(low - position_m, 0.0, position_m - high)


class ShelfInferrer:
    """Product inference for one shelf; build once per planogram, call per event.

    ``foreign_prior`` is the prior of "something else"; ``count_decay`` the
    prior ratio of n+1 units to n units; ``mixed_decay`` the prior ratio of
    a combination with one more SKU in it, same size; ``tie_ratio`` how
    close (posterior ratio) a runner-up must be to count as a tie.
    """

    def __init__(
        self,
        shelf_id: str,
        plan: ShelfPlan,
        *,
        foreign_prior: float = 0.01,
        count_decay: float = 0.5,
        mixed_decay: float = 0.25,
        tie_ratio: float = 0.8,
        camera_hint: CameraHint | None = None,
        keep: int = 5,
    ) -> None:
        if not 0 < foreign_prior < 1:
            raise ValueError("foreign_prior must be within (0, 1)")
        for name, decay in (("count_decay", count_decay), ("mixed_decay", mixed_decay)):
            if not 0 < decay <= 1:
                raise ValueError(f"{name} must be within (0, 1], got {decay}")
        self.shelf_id = shelf_id
        self.plan = plan
        self.tie_ratio = tie_ratio
        self.camera_hint = camera_hint
        self.keep = keep
        self._combos = self._enumerate(plan, foreign_prior, count_decay, mixed_decay)
        self._totals = [combo.total_g for combo in self._combos]
        self._widest_g = max(combo.accept_g for combo in self._combos)
        weight_range = self._totals[-1] + self._widest_g
        self._log_foreign = (
            math.log(foreign_prior) - math.log(weight_range) - math.log(plan.length_m)
        )
        self._log_foreign_no_position = math.log(foreign_prior) - math.log(weight_range)

    @property
    def combinations(self) -> int:
        """How many combinations the shelf has (the search space)."""
        return len(self._combos)

    @staticmethod
    def _enumerate(
        plan: ShelfPlan, foreign_prior: float, count_decay: float, mixed_decay: float
    ) -> list[_Combo]:
        facings = plan.facings
        weights = [f.unit_weight_g for f in facings]
        tolerances = [f.unit_tolerance_g for f in facings]
        raw: list[tuple[tuple[int, ...], int, float]] = []
        per_size: dict[int, float] = {}  # the size's total mix weight
        for counts in counts_up_to(len(facings), plan.max_items):
            size = sum(counts)
            mix = mixed_decay ** (sum(1 for c in counts if c) - 1)
            per_size[size] = per_size.get(size, 0.0) + mix
            raw.append((counts, size, mix))
        size_weight = {n: count_decay ** (n - 1) for n in per_size}
        norm = sum(size_weight.values())
        combos: list[_Combo] = []
        for counts, size, mix in raw:
            total, accept, sigma = combined_bounds(
                counts, weights, tolerances, plan.scale_tolerance_g
            )
            low = sum(c * w * f.span_m[0] for c, w, f in zip(counts, weights, facings, strict=True))
            high = sum(
                c * w * f.span_m[1] for c, w, f in zip(counts, weights, facings, strict=True)
            )
            items = tuple(sorted((f.sku, c) for c, f in zip(counts, facings, strict=True) if c))
            log_prior = (
                math.log1p(-foreign_prior)
                + math.log(size_weight[size] / norm)
                + math.log(mix / per_size[size])
            )
            combos.append(
                _Combo(items, total, accept, sigma, (low / total, high / total), log_prior, size)
            )
        combos.sort(key=lambda c: c.total_g)
        return combos

    def position_sigma_m(self, change: ShelfChange) -> float:
        """How far ``change``'s centre of gravity may lie from where its load really sat.

        The board's own error (``position_sigma_m`` of the plan: flex, where a
        pack's weight sits under it) and the scale's: each cell's reading is
        off by its share of the scale's error, and the centre of gravity, the
        cells' positions weighed by their deltas, moves by that error times
        the cells' spread about it, over the grams moved. A 1 kg bag of rice
        is placed to a millimetre, a 28 g pack of gum to centimetres. A
        change without its cells' deltas has the board's error only.
        """
        board = self.plan.position_sigma_m
        cells = change.cell_deltas_g
        if len(cells) < 2 or change.position_m is None or change.delta_g == 0:
            return board
        cell_sigma_g = self.plan.scale_tolerance_g / TOLERANCE_SIGMAS / math.sqrt(len(cells))
        centre = change.position_m
        spread = math.sqrt(
            math.fsum((x - centre) ** 2 for x in cell_positions_m(len(cells), self.plan.length_m))
        )
        return math.hypot(board, cell_sigma_g * spread / abs(change.delta_g))

    def explanations(self, weight_g: float) -> list[Explanation]:
        """Every combination whose tolerance holds ``weight_g``, best first, by weight alone.

        For a change that several hands made, the change's centre of gravity
        says little (it lies between the hands); the cells are weighed per
        hand instead (:mod:`vision_core.checkout.merged`), so the position
        is left out here.
        """
        out = [
            Explanation(
                combo.items,
                combo.total_g,
                combo.centroid_m,
                combo.log_prior + gaussian_log_density(weight_g - combo.total_g, combo.sigma_g),
            )
            for combo in self._accepting(weight_g)
        ]
        out.sort(key=lambda e: -e.log_score)
        return out

    def _accepting(self, weight_g: float) -> list[_Combo]:
        """The combinations whose acceptance window holds ``weight_g``."""
        lo = bisect.bisect_left(self._totals, weight_g - self._widest_g)
        hi = bisect.bisect_right(self._totals, weight_g + self._widest_g)
        return [c for c in self._combos[lo:hi] if abs(weight_g - c.total_g) <= c.accept_g]

    def infer(self, change: ShelfChange) -> ProductInference:
        """Most likely SKUs and counts for ``change`` (which must be on this shelf)."""
        if change.shelf_id != self.shelf_id:
            raise ValueError(f"change is for shelf {change.shelf_id!r}, not {self.shelf_id!r}")
        weight = abs(change.delta_g)
        position = change.position_m
        position_sigma = self.position_sigma_m(change)
        scored: list[tuple[float, _Combo]] = []
        for combo in self._accepting(weight):
            residual = weight - combo.total_g
            log_p = combo.log_prior + gaussian_log_density(residual, combo.sigma_g)
            if position is not None:
                log_p += position_log_density(position, combo.centroid_m, position_sigma)
            scored.append((log_p, combo))
        if not scored:
            return ProductInference(self.shelf_id, change.kind, weight, (), 0.0, False, False, ())
        log_foreign = self._log_foreign if position is not None else self._log_foreign_no_position
        top = max(max(lp for lp, _ in scored), log_foreign)
        mass = [math.exp(lp - top) for lp, _ in scored]
        total = sum(mass) + math.exp(log_foreign - top)
        ranked = self._rank(
            position, [(m / total, c) for m, (_, c) in zip(mass, scored, strict=True)]
        )
        hint_used = False
        tied = self._tied(ranked)
        if len(tied) > 1 and self.camera_hint is not None:
            hinted = self.camera_hint(change, tuple(self._candidate(weight, pc) for pc in tied))
            if hinted is not None:
                ranked = self._rank(position, self._apply_hint(ranked, len(tied), hinted))
                hint_used = True
                tied = self._tied(ranked)
        best_posterior, best = ranked[0]
        return ProductInference(
            shelf_id=self.shelf_id,
            kind=change.kind,
            weight_g=weight,
            items=best.items,
            confidence=best_posterior,
            tied=len(tied) > 1,
            hint_used=hint_used,
            candidates=tuple(self._candidate(weight, pc) for pc in ranked[: self.keep]),
        )

    @staticmethod
    def _candidate(weight: float, scored: tuple[float, _Combo]) -> Candidate:
        posterior, c = scored
        return Candidate(
            c.items, c.total_g, weight - c.total_g, c.accept_g, c.centroid_m, posterior
        )

    @staticmethod
    def _rank(
        position: float | None, scored: list[tuple[float, _Combo]]
    ) -> list[tuple[float, _Combo]]:
        # Equal posteriors: nearest to the measured position first, then fewer
        # units, then by SKU so the order never depends on enumeration.
        return sorted(
            scored,
            key=lambda pc: (
                -pc[0],
                _distance_to(position, pc[1].centroid_m),
                pc[1].units,
                pc[1].items,
            ),
        )

    def _tied(self, ranked: list[tuple[float, _Combo]]) -> list[tuple[float, _Combo]]:
        best = ranked[0][0]
        return [pc for pc in ranked if pc[0] >= best * self.tie_ratio]

    @staticmethod
    def _apply_hint(
        ranked: list[tuple[float, _Combo]], n_tied: int, hinted: Sequence[float]
    ) -> list[tuple[float, _Combo]]:
        """Reweigh the tied head by the camera, keeping the head's total posterior."""
        if len(hinted) != n_tied or any(not (h >= 0 and math.isfinite(h)) for h in hinted):
            raise ValueError(f"camera hint must give {n_tied} finite weights >= 0, got {hinted}")
        head_total = sum(p for p, _ in ranked[:n_tied])
        weighted = [p * h for (p, _), h in zip(ranked[:n_tied], hinted, strict=True)]
        weighted_total = sum(weighted)
        if weighted_total <= 0:
            return ranked  # the camera saw none of them: no information
        head = [
            (head_total * w / weighted_total, c)
            for w, (_, c) in zip(weighted, ranked[:n_tied], strict=True)
        ]
        return head + ranked[n_tied:]


class ProductInferrer:
    """Product inference for every shelf of a planogram (shelves built on first use)."""

    def __init__(
        self,
        planogram: Planogram,
        *,
        camera_hints: Mapping[str, CameraHint] | None = None,
        foreign_prior: float = 0.01,
        count_decay: float = 0.5,
        mixed_decay: float = 0.25,
    ) -> None:
        self.planogram = planogram
        self._hints = dict(camera_hints or {})
        self._foreign_prior = foreign_prior
        self._count_decay = count_decay
        self._mixed_decay = mixed_decay
        self._shelves: dict[str, ShelfInferrer] = {}

    def for_shelf(self, shelf_id: str) -> ShelfInferrer:
        """The (cached) inferrer of one shelf; unknown shelves raise ``PlanogramError``."""
        inferrer = self._shelves.get(shelf_id)
        if inferrer is None:
            inferrer = ShelfInferrer(
                shelf_id,
                self.planogram.shelf(shelf_id),
                foreign_prior=self._foreign_prior,
                count_decay=self._count_decay,
                mixed_decay=self._mixed_decay,
                camera_hint=self._hints.get(shelf_id),
            )
            self._shelves[shelf_id] = inferrer
        return inferrer

    def infer(self, change: ShelfChange) -> ProductInference:
        """Infer the products of one shelf change."""
        return self.for_shelf(change.shelf_id).infer(change)
