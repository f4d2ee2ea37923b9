"""Steps inside one unstable stretch of a shelf: two hands a second apart are two changes.

A shelf rings for a second or more after an item leaves it, and the change
detector reports a change only when the board is still again. When a second
shopper lifts an item from the same board before it settles, both lifts end
up in one change: the grams add up, and the hand that touched the board
first looks like the taker of everything. The samples of the stretch still
show it: the level the board swings about sits at one value until the second
lift, then jumps to another.

Binary segmentation finds those jumps, on the total of the cells: for each
possible split point the mean level before and after it (each side's first
``guard_s`` left out: the biggest swing follows a lift), and the split with
the largest between-sides statistic n1 n2 / (n1 + n2) (l1 - l2)^2 wins. It is
kept only when both sides change the board by at least ``min_change_g`` and
the jump stands out of the ringing, ``factor`` standard errors of the sides'
spread; each side is then looked at again the same way. Per-cell levels of
the sides give each step its own cell deltas, hence its own position.

Noise, drift and one lift's ringing stay one step: ringing is symmetric about
the new level, and its mean over a side is close to it. That holds while a
side spans a few periods of the ringing and the scale samples it well: at
10 Hz, boards ringing at 2 to 4 Hz (tested on 160 single lifts of 28 g to
3 kg). A board ringing at 1-1.5 Hz, or near the sampling rate (aliased),
makes some single lifts two steps: turn splitting off for it
(``ShelfChangeDetector(steps=None)``), or sample faster.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StepSettings:
    """When a jump inside a stretch counts as a step of its own; seconds and grams."""

    guard_s: float = 0.2
    min_change_g: float = 8.0
    factor: float = 4.0
    min_samples: int = 3

    def __post_init__(self) -> None:
        if not (self.guard_s >= 0 and self.min_change_g > 0 and self.factor > 0):
            raise ValueError(
                "guard_s must be >= 0, min_change_g and factor > 0, got "
                f"{self.guard_s}, {self.min_change_g}, {self.factor}"
            )
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be at least 2, got {self.min_samples}")


@dataclass(frozen=True, slots=True)
class Step:
    """One change inside a stretch: from ``started_mono`` until the next began (or settled)."""

    started_mono: float
    ended_mono: float
    cell_deltas_g: tuple[float, ...]


def _mean_cells(rows: Sequence[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(math.fsum(column) / len(rows) for column in zip(*rows, strict=True))


def split_steps(
    times: Sequence[float],
    cells: Sequence[tuple[float, ...]],
    before: tuple[float, ...],
    after: tuple[float, ...],
    settings: StepSettings | None = None,
) -> list[Step]:
    """The steps of one stretch, in time order (one step when nothing splits it).

    ``times``/``cells``: every sample from the first unstable one to the one
    the board settled on, in order; ``before``/``after``: each cell's settled
    level before and after the stretch.
    """
    settings = settings or StepSettings()
    if len(times) != len(cells) or not times:
        raise ValueError("need one cell reading per time, and at least one")
    totals = [math.fsum(row) for row in cells]
    bounds = _split(times, totals, 0, len(times), math.fsum(before), settings)
    # each step ends at the level of the side it starts (the last one at the settled level)
    sides = list(itertools.pairwise(bounds))[:-1]
    levels = [before]
    levels += [_mean_cells(_guarded(times, cells, lo, hi, settings.guard_s)) for lo, hi in sides]
    levels.append(after)
    starts = [times[0], *(times[b] for b in bounds[1:-1])]
    ends = [*starts[1:], times[-1]]
    return [
        Step(start, end, tuple(b - a for a, b in zip(lo_level, hi_level, strict=True)))
        for start, end, lo_level, hi_level in zip(
            starts, ends, levels[:-1], levels[1:], strict=True
        )
    ]


def _guarded(
    times: Sequence[float], values: Sequence[_T], lo: int, hi: int, guard_s: float
) -> list[_T]:
    """``values[lo:hi]`` without the first ``guard_s`` of that side."""
    return [values[k] for k in range(lo, hi) if times[k] >= times[lo] + guard_s]


def _split(
    times: Sequence[float],
    totals: Sequence[float],
    lo: int,
    hi: int,
    level_before: float,
    settings: StepSettings,
) -> list[int]:
    """Indices where steps start within ``[lo, hi)``, both ends included (sorted).

    ``level_before``: the board's total before ``lo`` (a first side that does
    not differ from it is no step of its own).
    """
    best: tuple[float, int, float, float, float] | None = None
    for j in range(lo + 1, hi):
        left = _guarded(times, totals, lo, j, settings.guard_s)
        right = _guarded(times, totals, j, hi, settings.guard_s)
        n1, n2 = len(left), len(right)
        if n1 < settings.min_samples or n2 < settings.min_samples:
            continue
        l1, l2 = math.fsum(left) / n1, math.fsum(right) / n2
        stat = n1 * n2 / (n1 + n2) * (l1 - l2) ** 2
        if best is None or stat > best[0]:
            spread = math.fsum((v - l1) ** 2 for v in left)
            spread += math.fsum((v - l2) ** 2 for v in right)
            standard_error = math.sqrt(spread / (n1 + n2)) / math.sqrt(min(n1, n2))
            best = (stat, j, l1, l2, standard_error)
    if best is None:
        return [lo, hi]
    _, j, l1, l2, standard_error = best
    if abs(l1 - level_before) < settings.min_change_g:
        return [lo, hi]
    if abs(l1 - l2) < max(settings.min_change_g, settings.factor * standard_error):
        return [lo, hi]
    left_bounds = _split(times, totals, lo, j, level_before, settings)
    return [*left_bounds[:-1], *_split(times, totals, j, hi, l1, settings)]
