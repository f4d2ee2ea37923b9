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

Once the board's ringing is known (:mod:`vision_core.shelf_ringing`), the
swing need not average out: :func:`split_steps` then fits steps with their
swings (forward selection: the onset that lowers the residual most is added
while its jump stands ``factor`` standard errors out of the residual and
every step still moves ``min_change_g``), and each step's grams come from
the fit rather than the mean of a side. Lifts a few tenths of a second apart
separate, and a step followed soon by another keeps its own grams.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from vision_core.shelf_ringing import Array, Ringing, fit_steps, sample_variance, swing_ratios

_T = TypeVar("_T")
_LOGGER = logging.getLogger(__name__)


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
    ringing: Ringing | None = None,
) -> list[Step]:
    """The steps of one stretch, in time order (one step when nothing splits it).

    ``times``/``cells``: every sample from the first unstable one to the one
    the board settled on, in order; ``before``/``after``: each cell's settled
    level before and after the stretch; ``ringing``: the board's, when known.
    """
    settings = settings or StepSettings()
    if len(times) != len(cells) or not times:
        raise ValueError("need one cell reading per time, and at least one")
    if ringing is not None:
        try:
            return _fitted_steps(times, cells, before, after, settings, ringing)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            # a degenerate stretch (repeated stamps, a board gone wild): the model cannot
            # weigh it, the side means still can, and the change must not be lost
            _LOGGER.warning("ringing fit failed on a stretch at %.3f; splitting by means", times[0])
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


MAX_FITTED_STEPS = 6
"""Forward selection stops here: more hands than this on one board within a second is no shelf."""


def _fitted_steps(
    times: Sequence[float],
    cells: Sequence[tuple[float, ...]],
    before: tuple[float, ...],
    after: tuple[float, ...],
    settings: StepSettings,
    ringing: Ringing,
) -> list[Step]:
    """Steps by forward selection on the total, with the board's ringing in the model."""
    t = np.asarray(times, dtype=np.float64) - times[0]
    totals = np.asarray([[math.fsum(row)] for row in cells], dtype=np.float64)
    base = np.asarray([math.fsum(before)], dtype=np.float64)
    added = _forward_onsets(t, totals, base, settings, ringing)
    # the board swings in proportion to each step: a fit where one step swings more than
    # any lift makes put a step where none was, and took the level of one it could not place
    # (two lifts a sample apart); the last onset added goes until the fit is one a board makes
    while len(added) > 1:
        fit = fit_steps(t, totals, base, [t[k] for k in sorted(added)], ringing)
        if fit is not None and np.all(swing_ratios(fit) <= ringing.swing_ratio):
            break
        added.pop()
    onsets = sorted(added)
    if len(onsets) == 1:
        return [Step(times[0], times[-1], tuple(b - a for a, b in zip(before, after, strict=True)))]
    values = np.asarray(cells, dtype=np.float64)
    fit = fit_steps(
        t, values, np.asarray(before, dtype=np.float64), [t[k] for k in onsets], ringing
    )
    assert fit is not None  # the totals of these columns fitted
    deltas = [tuple(float(v) for v in row) for row in fit.deltas_g[:-1]]
    # the last step takes what the board settled at: the stretch's grams are never lost
    rest = tuple(
        b - a - math.fsum(d[i] for d in deltas)
        for i, (a, b) in enumerate(zip(before, after, strict=True))
    )
    starts = [times[k] for k in onsets]
    ends = [*starts[1:], times[-1]]
    return [
        Step(start, end, cell_deltas)
        for start, end, cell_deltas in zip(starts, ends, [*deltas, rest], strict=True)
    ]


def _forward_onsets(
    t: Array, totals: Array, base: Array, settings: StepSettings, ringing: Ringing
) -> list[int]:
    """Sample indices where steps start, in the order forward selection added them (0 first).

    Each round tries every further onset with the samples weighted by the
    current fit's noise model; the one that explains most is kept if its
    jump stands ``factor`` standard errors out and every step still moves
    ``min_change_g``. Only that one is tried: when it cannot stand out (two
    lifts a sample apart), another that can would be a misplaced step.
    """
    onsets = [0]
    while len(onsets) < MAX_FITTED_STEPS:
        ordered = sorted(onsets)
        current = fit_steps(t, totals, base, [t[k] for k in ordered], ringing)
        if current is None:
            break
        variance = sample_variance(t, [t[k] for k in ordered], current, ringing)
        best: tuple[float, int, bool] | None = None
        for j in range(1, len(t) - settings.min_samples + 1):
            if j in onsets:
                continue
            trial = sorted([*onsets, j])
            fit = fit_steps(t, totals, base, [t[k] for k in trial], ringing, variance)
            if fit is None or (best is not None and fit.rss >= best[0]):
                continue
            k = trial.index(j)
            jump = abs(float(fit.deltas_g[k, 0]))
            steps_big = bool(np.all(np.abs(fit.deltas_g[:, 0]) >= settings.min_change_g))
            best = (fit.rss, j, steps_big and jump >= settings.factor * float(fit.stderr_g[k]))
        if best is None or not best[2]:
            break
        onsets.append(best[1])
    return onsets
