"""Shelf events from weight streams: a take is a drop, a put-back a rise.

A change is reported when a shelf goes from stable to moving and settles
again at a different total: the settled totals before and after, not the
samples in between, carry the grams (settling oscillation after an item is
lifted would otherwise look like several events). Where along the shelf it
happened comes from how the change split between the load cells (the lever
rule of a board resting on cells at both ends).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

from devices.bus import Bus, Message
from devices.scale import ShelfWeights
from vision_core.shelf_ringing import RingingLearner
from vision_core.shelf_steps import Step, StepSettings, split_steps

DEFAULT_STEPS = StepSettings()

REST_SAMPLES = 20
"""A board at rest is at the mean of this many of its latest stable samples."""

FIRST_SAMPLE_SHIFT_M = 0.15
"""A change whose first sample sits this far along the board from where it settled is not
taken for one lift (a hand within a sample of another: see ``_moved_along``)."""

LEARN_RINGING_G = 30.0
"""A lone lift teaches the board's ringing from this size up (smaller ones ring in the noise)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShelfChange(Message):
    """Weight left (take) or arrived on (put) a shelf between two stable states.

    ``cell_deltas_g`` is each load cell's change between the settled states
    (after - before, negative for a take; it sums to ``delta_g``), in the
    order of the cells along the board. ``position_m`` keeps only the centre
    of gravity of the change; when two hands moved items in one window the
    per-cell split is what can still tell their two weights apart
    (``vision_core.inference.split``). Empty where a change is built without
    them (the detector always fills it in).

    ``one_lift``: the detector looked for lifts and puts that followed each
    other inside the change (:mod:`vision_core.shelf_steps`) and found this
    one only, so one hand's grab made it, however many units it holds
    (hands grabbing at the same moment excepted: the cells tell those).
    False when nobody looked (step splitting off, a change built elsewhere).
    """

    durable: ClassVar[bool] = True
    shelf_id: str
    kind: Literal["take", "put"]
    delta_g: float
    started_mono: float
    position_m: float | None
    cell_deltas_g: tuple[float, ...] = ()
    one_lift: bool = False


def _mean(rows: Iterable[tuple[float, ...]]) -> tuple[float, ...]:
    columns = list(zip(*rows, strict=True))
    return tuple(math.fsum(column) / len(column) for column in columns)


def cell_positions_m(cells: int, length_m: float) -> list[float]:
    """Cells evenly spaced from one end of the board to the other."""
    if cells == 1:
        return [length_m / 2]
    return [length_m * i / (cells - 1) for i in range(cells)]


def split_position_m(deltas_g: tuple[float, ...], length_m: float) -> float | None:
    """Where a change happened, from its split between cells.

    None when there is no net change, or one cell only (nothing to split).
    """
    total = math.fsum(deltas_g)
    if len(deltas_g) < 2 or abs(total) < 1e-9:
        return None
    positions = cell_positions_m(len(deltas_g), length_m)
    estimate = math.fsum(d * x for d, x in zip(deltas_g, positions, strict=True)) / total
    return min(max(estimate, 0.0), length_m)


class ShelfChangeDetector:
    """Stable -> unstable -> stable detector for one shelf.

    ``min_change_g`` is the smallest change reported; below it the shelf is
    treated as unchanged (drift and noise), and the new level adopted.
    ``min_stable_samples`` consecutive stable samples make a state stable:
    one stable flag in the middle of an oscillation is not a settled shelf.
    Lifts and puts that follow each other before the board settles are
    told apart by :mod:`vision_core.shelf_steps` (``steps``; None turns it
    off): each becomes a change of its own, from its own start. The
    board's ringing, learned from lifts it made alone, lets them be told
    apart sooner after each other and keeps each one's grams.
    """

    def __init__(
        self,
        shelf_id: str,
        length_m: float,
        *,
        min_change_g: float = 8.0,
        min_stable_samples: int = 3,
        steps: StepSettings | None = DEFAULT_STEPS,
    ) -> None:
        self.shelf_id = shelf_id
        self.length_m = length_m
        self.min_change_g = min_change_g
        self.min_stable_samples = min_stable_samples
        self.steps = steps
        self._baseline: tuple[float, ...] | None = None
        self._moving_since: float | None = None
        self._stable_run = 0
        self._stretch: list[ShelfWeights] = []  # samples since the board began to move
        self._rest: deque[tuple[float, ...]] = deque(maxlen=REST_SAMPLES)  # since it settled
        self.ringing_learner = RingingLearner()

    def feed(self, sample: ShelfWeights) -> list[ShelfChange]:
        """Feed one sample; the changes it completes (when the shelf settles), in time order."""
        if self._moving_since is not None:
            self._stretch.append(sample)
        if not sample.all_stable:
            self._stable_run = 0
            if self._moving_since is None and self._baseline is not None:
                self._moving_since = sample.t_mono
                self._stretch = [sample]
            return []
        self._stable_run += 1
        if self._stable_run < self.min_stable_samples:
            return []
        if self._baseline is None or self._moving_since is None:
            return self._at_rest(sample)
        before, stretch, started = self._baseline, self._stretch, self._moving_since
        settled = [s.weights_g for s in stretch[-self.min_stable_samples :]]
        after = _mean(settled)
        self._baseline, self._stretch, self._moving_since = after, [], None
        self._rest.clear()
        self._rest.extend(settled)
        steps = self._steps(stretch, before, after)
        if steps is not None and len(steps) > 1:
            return [
                self._change(sample, step.started_mono, end, step.cell_deltas_g, one_lift=True)
                for step, end in zip(
                    steps, [*(s.ended_mono for s in steps[:-1]), sample.t_mono], strict=True
                )
            ]
        deltas = tuple(a - b for a, b in zip(after, before, strict=True))
        if abs(math.fsum(deltas)) < self.min_change_g:
            return []  # nothing happened, or slow drift: the new level is followed
        one_lift = self.steps is not None and steps is not None
        one_lift = one_lift and not self._moved_along(stretch[0].weights_g, before, deltas)
        if one_lift and abs(math.fsum(deltas)) >= LEARN_RINGING_G:
            self.ringing_learner.observe(
                [s.t_mono for s in stretch],
                [math.fsum(s.weights_g) for s in stretch],
                math.fsum(before),
            )
        return [self._change(sample, started, sample.t_mono, deltas, one_lift=one_lift)]

    def _at_rest(self, sample: ShelfWeights) -> list[ShelfChange]:
        """A stable sample while nothing moved: the rest level, or a change nobody saw move.

        The level is the mean of the rest (noise averages out, slow drift is
        followed). A stable sample ``min_change_g`` off that mean is a change
        all the same: the scale was not read while it happened (a link down,
        a poll gap) and settled before it was read again; it is reported
        whole, not as one lift, and must not vanish into the mean.
        """
        before = self._baseline
        if before is not None:
            deltas = tuple(a - b for a, b in zip(sample.weights_g, before, strict=True))
            if abs(math.fsum(deltas)) >= self.min_change_g:
                self._rest.clear()
                self._rest.append(sample.weights_g)
                self._baseline = sample.weights_g
                return [self._change(sample, sample.t_mono, sample.t_mono, deltas, one_lift=False)]
        self._rest.append(sample.weights_g)
        self._baseline = _mean(self._rest)
        return []

    def _moved_along(
        self, first: tuple[float, ...], before: tuple[float, ...], deltas: tuple[float, ...]
    ) -> bool:
        """Whether the first moving sample sat elsewhere along the board than the change.

        A second hand within a sample of the first cannot be split off the
        levels (its swing and the first's are one swing), but the first
        sample holds the first hand's item alone: its centre of gravity is
        that item's place, not the change's. One lift keeps its place from
        its first sample on (the swing is in proportion on every cell).
        """
        moved = tuple(a - b for a, b in zip(first, before, strict=True))
        if abs(math.fsum(moved)) < self.min_change_g:
            return False
        start = split_position_m(moved, self.length_m)
        end = split_position_m(deltas, self.length_m)
        return start is not None and end is not None and abs(start - end) > FIRST_SAMPLE_SHIFT_M

    def _steps(
        self, stretch: list[ShelfWeights], before: tuple[float, ...], after: tuple[float, ...]
    ) -> list[Step] | None:
        """The stretch's steps ([] when too short to hold two, or splitting is off).

        None when it holds several but one is too small to report: the stretch
        stays whole then (its grams must not be lost), and is not one lift.
        """
        if self.steps is None or len(stretch) < 2:
            return []
        steps = split_steps(
            [s.t_mono for s in stretch],
            [s.weights_g for s in stretch],
            before,
            after,
            self.steps,
            self.ringing_learner.ringing,
        )
        if any(abs(math.fsum(s.cell_deltas_g)) < self.min_change_g for s in steps):
            return None
        return steps

    def _change(
        self,
        sample: ShelfWeights,
        started: float,
        t_mono: float,
        deltas: tuple[float, ...],
        *,
        one_lift: bool,
    ) -> ShelfChange:
        total = math.fsum(deltas)
        return ShelfChange(
            source=sample.source,
            t_mono=t_mono,
            shelf_id=self.shelf_id,
            kind="take" if total < 0 else "put",
            delta_g=total,
            started_mono=started,
            position_m=split_position_m(deltas, self.length_m),
            cell_deltas_g=deltas,
            one_lift=one_lift,
        )


class ShelfChangeService:
    """Bus ``ShelfWeights`` in, ``ShelfChange`` out: one detector per shelf.

    Changes are durable (each is money), so publishing one may wait for a
    full subscriber; weights are telemetry and the subscription may drop the
    oldest under backpressure, which only delays a detector's next stable run.
    A sample from a shelf without a detector is ignored.
    """

    def __init__(self, bus: Bus, detectors: Iterable[ShelfChangeDetector]) -> None:
        self.bus = bus
        self.detectors = {d.shelf_id: d for d in detectors}
        self.changes = 0
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Serve until cancelled."""
        sub = self.bus.subscribe(ShelfWeights, maxsize=10_000, name="shelf-changes")
        try:
            self.ready.set()
            async for sample in sub:
                assert isinstance(sample, ShelfWeights)
                detector = self.detectors.get(sample.shelf_id)
                for change in [] if detector is None else detector.feed(sample):
                    self.changes += 1
                    await self.bus.publish(change)
        finally:
            self.ready.clear()
            sub.close()
