"""A shelf camera's product sightings, as evidence where the shelf's weights cannot decide.

Two SKUs of the same weight on neighbouring facings tie whenever a hand
takes near their border: the scale and the load-cell split cannot tell them
apart. A camera over the shelf that recognises the product in the hand can.
Its recogniser reports one :class:`ProductSighting` per hand movement (its
own tracker folds the frames of one movement into one answer): the SKU it
saw, when, and its confidence, a probability that the answer is right.

:class:`ShelfCameraHints` keeps the recent sightings of each shelf with a
camera and answers, for a change whose best candidates tie, how likely each
candidate makes what the camera saw (:meth:`ShelfCameraHints.hint_for`, the
``CameraHint`` that :class:`~vision_core.inference.products.ShelfInferrer`
asks). The model, per sighting of SKU ``s`` with confidence ``c`` on a shelf
whose camera tells ``n`` SKUs apart: the camera looked at one unit of the
candidate, drawn uniformly from its units, and named it right with
probability ``c``, else named one of the ``n - 1`` others, each equally
likely. A candidate whose units are a fraction ``f`` of SKU ``s`` then makes
the sighting likely by ``f * c + (1 - f) * (1 - c) / (n - 1)``: ``c`` when
all its units are ``s``, ``(1 - c) / (n - 1)`` when none are. Sightings of
different movements are independent, so a window's likelihood is their
product. ``c`` is capped at ``max_confidence``: a recogniser that says 1.0
is still wrong now and then, and one wrong sighting must not make the
right candidate impossible.

Sightings count for a change when they fall in its window (from
``started_mono`` to ``t_mono``) widened by ``pad_s`` either side (the
camera's and the scale's clocks and the hand's stay around the weight
change), and their kind, when the camera tells it, matches the change's.
No relevant sighting, or sightings that weigh every candidate alike: no
hint (None), so the tie stays a tie and goes to review. The hint only ever
reweighs candidates that already tie on weight and position: a wrong
sighting cannot override a clear weight winner.

Sightings must reach the hints before the change they explain is inferred
(the checkout infers a take when the shelf settles, after the hand left);
one that comes later is not used for that change. Memory is bounded by time:
sightings older than ``keep_s`` before the newest one are forgotten.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Self, TypedDict, Unpack

from vision_core.inference.planogram import Planogram
from vision_core.inference.products import CameraHint, Candidate, Items
from vision_core.shelf_events import ShelfChange

SightingKind = Literal["take", "put"]

_KINDS = ("take", "put")


class ShelfCameraError(ValueError):
    """A sighting or setting that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class ProductSighting:
    """What a shelf camera's recogniser saw in a hand at one shelf.

    ``confidence`` is the recogniser's probability that ``sku`` is right,
    within (0, 1]. ``kind`` is ``"take"`` (the item left the shelf in the
    hand), ``"put"`` (it went onto the shelf), or None when the camera cannot
    tell the direction; a None sighting counts for both kinds of change.
    ``t_mono`` is the frame time on the store's monotonic clock.
    """

    shelf_id: str
    t_mono: float
    sku: str
    confidence: float
    kind: SightingKind | None = None

    def __post_init__(self) -> None:
        for name in ("shelf_id", "sku"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ShelfCameraError(f"{name}: expected a non-empty string, got {value!r}")
        if isinstance(self.t_mono, bool) or not isinstance(self.t_mono, int | float):
            raise ShelfCameraError(f"t_mono: expected a number, got {self.t_mono!r}")
        if not math.isfinite(self.t_mono):
            raise ShelfCameraError(f"t_mono: must be finite, got {self.t_mono!r}")
        c = self.confidence
        if isinstance(c, bool) or not isinstance(c, int | float) or not 0 < c <= 1:
            raise ShelfCameraError(f"confidence: must be within (0, 1], got {c!r}")
        if self.kind is not None and self.kind not in _KINDS:
            raise ShelfCameraError(f"kind: expected 'take', 'put' or None, got {self.kind!r}")


def sighting_likelihood(sku: str, confidence: float, items: Items, alternatives: int) -> float:
    """How likely a candidate of ``items`` makes a sighting of ``sku`` (the module's model).

    ``alternatives`` is how many SKUs the camera tells apart at that shelf
    (at least 2: with one there is nothing to confuse).
    """
    units = sum(count for _, count in items)
    share = sum(count for s, count in items if s == sku) / units if units else 0.0
    wrong = (1.0 - confidence) / max(alternatives - 1, 1)
    return share * confidence + (1.0 - share) * wrong


class HintOptions(TypedDict, total=False):
    """The keyword options of :class:`ShelfCameraHints` (documented there), to pass on."""

    pad_s: float
    keep_s: float
    max_per_shelf: int
    max_confidence: float


class ShelfCameraHints:
    """Recent sightings per shelf with a camera; camera hints for product inference.

    ``shelves`` maps each shelf with a camera to the SKUs on it (the camera's
    alternatives when it is wrong). ``pad_s`` widens a change's window,
    ``keep_s`` is how long a sighting is kept after a newer one arrives,
    ``max_per_shelf`` a hard cap per shelf (oldest dropped first) against a
    camera that floods, ``max_confidence`` the cap on a sighting's
    confidence in the model.
    """

    def __init__(
        self,
        shelves: Mapping[str, Collection[str]],
        *,
        pad_s: float = 0.5,
        keep_s: float = 300.0,
        max_per_shelf: int = 1000,
        max_confidence: float = 0.99,
    ) -> None:
        if not shelves:
            raise ShelfCameraError("shelves: expected at least one shelf with a camera")
        for shelf_id, skus in shelves.items():
            if not skus:
                raise ShelfCameraError(f"shelves.{shelf_id}: expected the SKUs on the shelf")
        if not (math.isfinite(pad_s) and pad_s >= 0):
            raise ShelfCameraError(f"pad_s: must be >= 0, got {pad_s}")
        if not (math.isfinite(keep_s) and keep_s > 0):
            raise ShelfCameraError(f"keep_s: must be > 0, got {keep_s}")
        if max_per_shelf < 1:
            raise ShelfCameraError(f"max_per_shelf: must be >= 1, got {max_per_shelf}")
        if not 0 < max_confidence < 1:
            raise ShelfCameraError(f"max_confidence: must be within (0, 1), got {max_confidence}")
        self._skus = {shelf_id: frozenset(skus) for shelf_id, skus in shelves.items()}
        self.pad_s = pad_s
        self.keep_s = keep_s
        self.max_per_shelf = max_per_shelf
        self.max_confidence = max_confidence
        self._times: dict[str, list[float]] = {shelf_id: [] for shelf_id in shelves}
        self._sightings: dict[str, list[ProductSighting]] = {shelf_id: [] for shelf_id in shelves}
        self._newest = -math.inf

    @classmethod
    def from_planogram(
        cls, planogram: Planogram, shelf_ids: Iterable[str], **options: Unpack[HintOptions]
    ) -> Self:
        """Hints for the cameras over ``shelf_ids``, their alternatives from the planogram."""
        shelves = {
            shelf_id: [f.sku for f in planogram.shelf(shelf_id).facings] for shelf_id in shelf_ids
        }
        return cls(shelves, **options)

    @property
    def shelves(self) -> frozenset[str]:
        """The shelves with a camera."""
        return frozenset(self._skus)

    def __len__(self) -> int:
        """Sightings kept, all shelves together."""
        return sum(len(kept) for kept in self._sightings.values())

    def add(self, sighting: ProductSighting) -> None:
        """Keep one sighting; one older than ``keep_s`` before the newest is dropped."""
        if sighting.shelf_id not in self._skus:
            raise ShelfCameraError(
                f"shelf_id: {sighting.shelf_id!r} has no camera "
                f"(cameras on: {', '.join(sorted(self._skus))})"
            )
        self._newest = max(self._newest, sighting.t_mono)
        if sighting.t_mono < self._newest - self.keep_s:
            return
        times = self._times[sighting.shelf_id]
        kept = self._sightings[sighting.shelf_id]
        at = bisect.bisect_right(times, sighting.t_mono)  # arrival order among equal times
        times.insert(at, sighting.t_mono)
        kept.insert(at, sighting)
        self._forget(sighting.shelf_id)

    def forget_before(self, t_mono: float) -> None:
        """Drop every sighting older than ``t_mono`` (a quiet shelf's leftovers)."""
        for shelf_id in self._times:
            self._drop_older(shelf_id, t_mono)

    def _forget(self, shelf_id: str) -> None:
        self._drop_older(shelf_id, self._newest - self.keep_s)
        excess = len(self._times[shelf_id]) - self.max_per_shelf
        if excess > 0:
            del self._times[shelf_id][:excess]
            del self._sightings[shelf_id][:excess]

    def _drop_older(self, shelf_id: str, t_mono: float) -> None:
        cut = bisect.bisect_left(self._times[shelf_id], t_mono)
        if cut:
            del self._times[shelf_id][:cut]
            del self._sightings[shelf_id][:cut]

    def sightings(
        self, shelf_id: str, t0: float, t1: float, kind: SightingKind | None = None
    ) -> list[ProductSighting]:
        """The kept sightings of a shelf within [t0, t1] (of ``kind`` or of unknown kind)."""
        times = self._times.get(shelf_id)
        if times is None:
            return []
        lo, hi = bisect.bisect_left(times, t0), bisect.bisect_right(times, t1)
        return [
            s
            for s in self._sightings[shelf_id][lo:hi]
            if kind is None or s.kind is None or s.kind == kind
        ]

    def seen(
        self, shelf_id: str, t0: float, t1: float, kind: SightingKind | None = None
    ) -> dict[str, float]:
        """Which SKUs the camera saw at a shelf within [t0, t1], each with its weight.

        The weight of a SKU is the highest confidence of a sighting of it in
        the window (several sightings of one SKU there are most likely one
        object seen again, so they are not multiplied). A shelf without a
        camera, or nothing seen: empty.
        """
        out: dict[str, float] = {}
        for s in self.sightings(shelf_id, t0, t1, kind):
            out[s.sku] = max(out.get(s.sku, 0.0), s.confidence)
        return out

    def put_seen(self, change: ShelfChange) -> dict[str, float]:
        """What the camera saw being put down in a put's padded window: {sku: confidence}.

        Confidences are capped at ``max_confidence``, as in :meth:`likelihoods`.
        """
        seen = self.seen(
            change.shelf_id, change.started_mono - self.pad_s, change.t_mono + self.pad_s, "put"
        )
        return {sku: min(c, self.max_confidence) for sku, c in seen.items()}

    def likelihoods(
        self, change: ShelfChange, candidates: Sequence[Candidate]
    ) -> list[float] | None:
        """The camera's relative likelihood of each candidate for ``change``, or None.

        None when no sighting falls in the change's padded window, or when the
        sightings weigh every candidate alike (they tell nothing about this tie).
        Scaled so the most likely candidate has 1.
        """
        if not candidates:
            return None
        window = self.sightings(
            change.shelf_id,
            change.started_mono - self.pad_s,
            change.t_mono + self.pad_s,
            change.kind,
        )
        if not window:
            return None
        shelf_skus = self._skus[change.shelf_id]
        log_l = [0.0] * len(candidates)
        for s in window:
            confidence = min(s.confidence, self.max_confidence)
            alternatives = len(shelf_skus | {s.sku})
            for i, candidate in enumerate(candidates):
                log_l[i] += math.log(
                    sighting_likelihood(s.sku, confidence, candidate.items, alternatives)
                )
        top = max(log_l)
        if top - min(log_l) < 1e-9:
            return None
        return [math.exp(v - top) for v in log_l]

    def hint_for(self, shelf_id: str) -> CameraHint:
        """The ``CameraHint`` of one shelf with a camera, for ``ProductInferrer``."""
        if shelf_id not in self._skus:
            raise ShelfCameraError(f"shelf_id: {shelf_id!r} has no camera")

        def hint(change: ShelfChange, candidates: tuple[Candidate, ...]) -> list[float] | None:
            if change.shelf_id != shelf_id:
                raise ShelfCameraError(
                    f"change is for shelf {change.shelf_id!r}, this hint is {shelf_id!r}'s"
                )
            return self.likelihoods(change, candidates)

        return hint

    def hints(self) -> dict[str, CameraHint]:
        """A hint per shelf with a camera (``ProductInferrer(camera_hints=...)``)."""
        return {shelf_id: self.hint_for(shelf_id) for shelf_id in sorted(self._skus)}
