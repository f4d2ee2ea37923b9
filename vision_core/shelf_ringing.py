"""How a shelf board rings after a load change, learned from the board's own lifts.

A board on load cells is a mass on springs: after an item leaves it, the
reading swings about the new level, a damped oscillation of the board's own
frequency and decay time. Averaging the samples of a short stretch does not
remove that swing (half a period of it biases the mean by tens of grams for
a heavy item), but a model of it does: with the frequency and decay known,
every step's level, swing amplitude and phase are linear unknowns, and least
squares gives each step's grams from the samples around it, the next hand's
swing notwithstanding. Three samples between two onsets are the least: two
swings of one frequency add up to one swing, so a step can only be told from
a change of the one before by the samples in between (``fit_steps`` answers
None where they are too few).

The frequency and decay are the board's (its mass, the cells' stiffness, the
load it carries), so they are learned from lifts the board made alone:
:class:`RingingLearner` fits each such stretch on a grid of frequencies and
decay times and keeps the median of its recent fits. A board that does not
ring (a swing smaller than the noise) never yields a fit, and its stretches
are split without a model.

The residual of such a fit is not the scale's noise alone: a sample's time
stamp is off by a few milliseconds (when the poll read it, not when the
converter sampled it), and while the board swings by a hundred grams a
second that is grams of error. Each sample's variance is therefore
``noise_g**2 + (jitter_s * slope)**2``, slope being the fitted swing's rate
of change there; both are learned with the frequency, and the fit weights
the samples by it, so the swing's first, steepest samples do not pass for
a hand.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating[Any]]


MIN_NOISE_G = 0.1
"""Floor of a sample's standard deviation, so that no sample weighs without bound."""


@dataclass(frozen=True, slots=True)
class Ringing:
    """A board's oscillation after a load change, exp(-t/tau) cos(2 pi f t + phase), and its errors.

    ``noise_g``: the standard deviation of the board's total at rest;
    ``jitter_s``: of a sample's time stamp; ``swing_ratio``: the most a step
    may swing at its first sample, as a share of the grams it moved (the
    board is a linear spring: its swing grows with the step; infinite when
    unknown).
    """

    freq_hz: float
    tau_s: float
    noise_g: float = 1.0
    jitter_s: float = 0.0
    swing_ratio: float = math.inf

    def __post_init__(self) -> None:
        if not (self.freq_hz > 0 and self.tau_s > 0 and self.noise_g > 0 and self.jitter_s >= 0):
            raise ValueError(
                "freq_hz, tau_s and noise_g must be > 0 and jitter_s >= 0, got "
                f"{self.freq_hz}, {self.tau_s}, {self.noise_g}, {self.jitter_s}"
            )


@dataclass(frozen=True, slots=True)
class StepFit:
    """Least-squares levels of a stretch's steps.

    ``deltas_g[k]``: step k's change of each column of the values fitted;
    ``stderr_g[k]``: the standard error of step k's change in the first column;
    ``rss``: weighted residual sum of squares over every column;
    ``coefficients``: level, cosine and sine of each step, per column.
    """

    deltas_g: Array
    stderr_g: Array
    rss: float
    coefficients: Array


def design(times: Array, onsets: Sequence[float], ringing: Ringing) -> Array:
    """Three columns per step: its level, and the cosine and sine of its swing, from its onset."""
    omega = 2.0 * math.pi * ringing.freq_hz
    columns = []
    for onset in onsets:
        dt = times - onset
        after = (dt >= 0).astype(np.float64)
        envelope = np.exp(-np.maximum(dt, 0.0) / ringing.tau_s) * after
        columns += [after, envelope * np.cos(omega * dt), envelope * np.sin(omega * dt)]
    return np.column_stack(columns)


def fit_steps(
    times: Array,
    values: Array,
    before: Array,
    onsets: Sequence[float],
    ringing: Ringing,
    variance: Array | None = None,
) -> StepFit | None:
    """Fit steps at ``onsets`` to ``values`` (samples x columns) measured from ``before``.

    ``variance``: of each sample of the first column (None: equal, and
    estimated from the residual). With it, the standard errors are those of
    the noise model, inflated by the residual where it is larger than that
    model says. None when the steps cannot be told apart with these samples
    (too few, or an onset too close to another for its swing and level to
    separate).
    """
    x = design(times, onsets, ringing)
    rows, unknowns = x.shape
    if rows <= unknowns:
        return None
    y = values - before
    root_weight = np.ones(rows) if variance is None else 1.0 / np.sqrt(variance)
    xw, yw = x * root_weight[:, None], y * root_weight[:, None]
    coefficients, _, rank, _ = np.linalg.lstsq(xw, yw, rcond=None)
    if rank < unknowns:
        return None
    residuals = yw - xw @ coefficients
    first = residuals[:, 0]
    reduced = float(first @ first) / (rows - unknowns)
    scale = reduced if variance is None else max(1.0, reduced)
    inverse = np.linalg.inv(xw.T @ xw)
    stderr = np.sqrt(np.maximum(np.diag(inverse)[0::3] * scale, 0.0))
    return StepFit(coefficients[0::3], stderr, float(np.sum(residuals**2)), coefficients)


def swing_ratios(fit: StepFit) -> Array:
    """Each step's swing at its first sample over the grams it moved (first column)."""
    levels = np.abs(fit.coefficients[0::3, 0])
    swings = np.hypot(fit.coefficients[1::3, 0], fit.coefficients[2::3, 0])
    return np.asarray(swings / np.maximum(levels, 1e-9), np.float64)


def sample_variance(times: Array, onsets: Sequence[float], fit: StepFit, ringing: Ringing) -> Array:
    """Each sample's variance under ``fit`` (first column): noise, and jitter times slope."""
    omega = 2.0 * math.pi * ringing.freq_hz
    slope = np.zeros_like(times)
    for k, onset in enumerate(onsets):
        _, a, b = fit.coefficients[3 * k : 3 * k + 3, 0]
        dt = times - onset
        envelope = np.exp(-np.maximum(dt, 0.0) / ringing.tau_s) * (dt >= 0)
        cos, sin = np.cos(omega * dt), np.sin(omega * dt)
        slope += envelope * (
            (b * omega - a / ringing.tau_s) * cos - (a * omega + b / ringing.tau_s) * sin
        )
    noise = max(ringing.noise_g, MIN_NOISE_G)
    return noise**2 + (ringing.jitter_s * slope) ** 2


FREQ_GRID_HZ = np.arange(0.5, 8.0001, 0.05)
"""Frequencies tried first (those above the sampling rate's Nyquist limit are left out)."""

TAU_GRID_S = np.geomspace(0.08, 2.5, 16)
"""Decay times tried first."""

MAD_TO_SIGMA = 1.4826
"""Median absolute deviation to standard deviation, for normal errors."""

MIN_EXPLAINED = 0.6
"""A fit must explain this share of the swing about the level: less is no ringing, or two lifts."""


def _grid_rss(t: Array, y: Array, freqs: Array, taus: Array) -> Array:
    """Residual sum of squares of one step (level, cosine, sine) for every (f, tau) pair."""
    omega = 2.0 * math.pi * freqs[:, None, None]
    envelope = np.exp(-t[None, None, :] / taus[None, :, None])
    cos = envelope * np.cos(omega * t)
    sin = envelope * np.sin(omega * t)
    ones = np.ones_like(cos)
    x = np.stack([ones, cos, sin], axis=-1)  # (f, tau, n, 3)
    xtx = np.swapaxes(x, -1, -2) @ x
    xty = np.swapaxes(x, -1, -2) @ y
    coefficients = np.linalg.solve(xtx + 1e-9 * np.eye(3), xty[..., None])[..., 0]
    return np.asarray(float(y @ y) - np.einsum("...i,...i->...", coefficients, xty), np.float64)


def estimate_ringing(
    times: Sequence[float], totals: Sequence[float], before_g: float
) -> Ringing | None:
    """The damped oscillation that best fits one lift's samples (from its first unstable one).

    ``before_g``: the board's total before the lift.

    None when the samples are too few or the best fit leaves more than
    ``1 - MIN_EXPLAINED`` of the swing unexplained.
    """
    if len(times) < 8:
        return None
    t = np.asarray(times, dtype=np.float64) - times[0]
    y = np.asarray(totals, dtype=np.float64)
    swing = float(np.sum((y - y.mean()) ** 2))
    if swing <= 0:
        return None
    nyquist = 0.5 / float(np.median(np.diff(t)))
    freqs = FREQ_GRID_HZ[nyquist > FREQ_GRID_HZ]
    if not len(freqs):
        return None
    rss = _grid_rss(t, y, freqs, TAU_GRID_S)
    i, j = np.unravel_index(int(np.argmin(rss)), rss.shape)
    fine_freqs = freqs[i] + np.linspace(-0.05, 0.05, 21)
    fine_taus = TAU_GRID_S[j] * np.geomspace(0.8, 1.25, 11)
    fine_freqs = fine_freqs[(fine_freqs > 0) & (fine_freqs < nyquist)]
    fine = _grid_rss(t, y, fine_freqs, fine_taus)
    k, m = np.unravel_index(int(np.argmin(fine)), fine.shape)
    if float(fine[k, m]) > (1.0 - MIN_EXPLAINED) * swing:
        return None
    ringing = Ringing(float(fine_freqs[k]), float(fine_taus[m]))
    fit = fit_steps(t, y[:, None], np.full(1, before_g), [0.0], ringing)
    if fit is None:
        return None
    residuals = y - before_g - design(t, [0.0], ringing) @ fit.coefficients[:, 0]
    intervals = np.diff(t)
    # a stamp's error shows in the intervals on either side of it: each spreads by sqrt(2) of it
    jitter = (
        MAD_TO_SIGMA * float(np.median(np.abs(intervals - np.median(intervals)))) / math.sqrt(2)
    )
    noise = MAD_TO_SIGMA * float(np.median(np.abs(residuals)))
    ratio = float(swing_ratios(fit)[0])
    return Ringing(ringing.freq_hz, ringing.tau_s, max(noise, MIN_NOISE_G), jitter, ratio)


SWING_MARGIN = 1.35
"""A step may swing this much more than the upper quartile of lone lifts: their onsets fall
anywhere between two samples, so their first samples catch the swing at different points of
its decay (a tenth of a second of a 0.35 s decay is 1.33 times), and a quartile is not moved
by the odd lone lift that was two after all."""


def _upper_quartile(values: list[float]) -> float:
    return statistics.quantiles(values, n=4)[2] if len(values) > 1 else values[0]


class RingingLearner:
    """A board's ringing: the median of its last ``keep`` single-lift fits, once it has ``need``.

    Once ``keep`` fits are in, one lone lift in ``every`` is fitted: the board's
    ringing changes with its load over hours, not from one lift to the next,
    and a fit costs milliseconds.
    """

    def __init__(self, *, keep: int = 15, need: int = 3, every: int = 4) -> None:
        if not 1 <= need <= keep or every < 1:
            raise ValueError(
                f"need 1 <= need <= keep and every >= 1, got need={need}, keep={keep}, "
                f"every={every}"
            )
        self.need = need
        self.every = every
        self._fits: deque[Ringing] = deque(maxlen=keep)
        self._ringing: Ringing | None = None
        self._skipped = 0

    def observe(self, times: Sequence[float], totals: Sequence[float], before_g: float) -> None:
        """Learn from one stretch known to hold one lift; ``before_g``: the total before it."""
        if len(self._fits) == self._fits.maxlen:
            self._skipped = (self._skipped + 1) % self.every
            if self._skipped:
                return
        try:
            fit = estimate_ringing(times, totals, before_g)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return  # a stretch the grid cannot fit teaches nothing
        if fit is None:
            return
        self._fits.append(fit)
        if len(self._fits) >= self.need:
            self._ringing = Ringing(
                statistics.median(f.freq_hz for f in self._fits),
                statistics.median(f.tau_s for f in self._fits),
                noise_g=statistics.median(f.noise_g for f in self._fits),
                jitter_s=statistics.median(f.jitter_s for f in self._fits),
                swing_ratio=SWING_MARGIN * _upper_quartile([f.swing_ratio for f in self._fits]),
            )

    @property
    def ringing(self) -> Ringing | None:
        """The board's ringing, or None until ``need`` lifts have been fitted."""
        return self._ringing
