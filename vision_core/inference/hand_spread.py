"""How far from a shelf change the cameras put the hand that made it, learnt from sure cases.

Attribution scores a hand by a Gaussian of its distance from where the
weight changed (``AttributionSettings.hand_sigma_m``). That width is a
property of the store, not of the software: the cameras' wrist error, their
latency against the scales, where a hand grips an item. Too wide, and a
neighbour reaching 15 cm away ties with the hand that took the item (the
item waits, then goes to review); too narrow, and the taker's own hand,
placed a little off by the cameras, scores below a stranger's.

So the checkout measures it. A change that one hand made (attributed at its
onset), with exactly one hand within ``alone_m`` of the spot, is a sure
case: whoever else was near had no hand in reach. The distance of that hand
at the onset is one draw of the camera-to-shelf error. In two dimensions
such distances follow a Rayleigh distribution, whose scale the median gives
robustly: ``scale = median / sqrt(2 ln 2)``. The width used is the
Rayleigh's 99th percentile, ``scale * sqrt(2 ln 100)``: 99 % of the hands
that surely made a change lie within one width of it, and score at least
``exp(-1/2)`` (0.61) on distance, while a hand twice as far as nearly all
of them scores below 0.14 of the best and is no contender.

The sure cases are judged with the configured width, never the learnt one,
so the estimate cannot feed on itself. Until ``need`` cases are in
(:data:`NEED_CASES` by default), the configured width holds; the estimate is
kept between ``floor_m`` and twice the configured width (a camera worse than
the installer said is used as measured, within reason).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable

from vision_core.inference.attribution import TrackScore

MEDIAN_TO_SCALE = 1.0 / math.sqrt(2.0 * math.log(2.0))
"""Rayleigh scale per unit of its median."""

SCALE_TO_P99 = math.sqrt(2.0 * math.log(100.0))
"""Rayleigh 99th percentile per unit of its scale."""

NEED_CASES = 20
"""Sure cases before the learnt width is used. The median of 20 Rayleigh draws puts the
scale within -24 %..+27 % nine times in ten (within -16 %..+17 % at 50). At 20 a store
is on its own width minutes after opening; at 50 the first shoppers' near-ties were
still scored with the configured width, and went to review."""


class HandSpreadLearner:
    """The hand width to score attribution with, from the distances of sure cases.

    ``keep``: the most recent cases the estimate uses (cameras are moved,
    refocused, recalibrated: old cases should age out).
    """

    def __init__(
        self,
        configured_m: float,
        *,
        alone_m: float = 0.5,
        keep: int = 400,
        need: int = NEED_CASES,
        floor_m: float = 0.02,
    ) -> None:
        if not (math.isfinite(configured_m) and configured_m > 0):
            raise ValueError(f"configured_m must be a finite number > 0, got {configured_m}")
        if not (alone_m > 0 and floor_m > 0):
            raise ValueError(f"alone_m and floor_m must be > 0, got {alone_m} and {floor_m}")
        if not 1 <= need <= keep:
            raise ValueError(f"need must be within 1..keep ({keep}), got {need}")
        self.configured_m = configured_m
        self.alone_m = alone_m
        self.need = need
        self.floor_m = floor_m
        self._distances: deque[float] = deque(maxlen=keep)
        self._width_m = configured_m

    @property
    def hand_sigma_m(self) -> float:
        """The width to use now: the configured one until ``need`` sure cases are in."""
        return self._width_m

    @property
    def cases(self) -> int:
        """Sure cases kept."""
        return len(self._distances)

    def observe(self, candidates: Iterable[TrackScore]) -> bool:
        """One change's candidates, scored at its onset with the configured width.

        Returns whether it was a sure case (and counted).
        """
        hands = [c for c in candidates if c.by_hand]
        near = [c for c in hands if c.distance_m <= self.alone_m]
        if len(near) != 1:
            return False
        self._distances.append(near[0].distance_m)
        if len(self._distances) >= self.need:
            scale = statistics.median(self._distances) * MEDIAN_TO_SCALE
            width = scale * SCALE_TO_P99
            self._width_m = min(max(width, self.floor_m), 2.0 * self.configured_m)
        return True
