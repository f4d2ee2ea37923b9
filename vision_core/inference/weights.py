"""Weight arithmetic shared by product inference and put-back matching.

A unit's tolerance is treated as a hard bound and as two standard deviations:
a combination is *accepted* when its residual is within the sum of its units'
tolerances (every unit within tolerance can never be rejected, however their
errors line up), and *scored* by a Gaussian whose variance is the sum of the
units' variances (errors of independent units mostly cancel).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

TOLERANCE_SIGMAS = 2.0
"""A stated tolerance is this many standard deviations of the unit weight."""

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_log_density(residual: float, sigma: float) -> float:
    """Log of the normal density of ``residual`` with standard deviation ``sigma``."""
    z = residual / sigma
    return -0.5 * z * z - math.log(sigma) - _LOG_SQRT_2PI


def counts_up_to(
    options: int, max_items: int, max_counts: Sequence[int] | None = None
) -> Iterator[tuple[int, ...]]:
    """Every vector of non-negative counts with 1..max_items items in total.

    ``max_counts`` bounds each option (the units a cart actually holds).
    """
    counts = [0] * options

    def walk(index: int, left: int) -> Iterator[tuple[int, ...]]:
        if index == options:
            if left < max_items:
                yield tuple(counts)
            return
        limit = left if max_counts is None else min(left, max_counts[index])
        for count in range(limit + 1):
            counts[index] = count
            yield from walk(index + 1, left - count)
        counts[index] = 0

    yield from walk(0, max_items)


def combined_bounds(
    counts: Sequence[int], weights_g: Sequence[float], tolerances_g: Sequence[float], scale_g: float
) -> tuple[float, float, float]:
    """``(total_g, accept_g, sigma_g)`` of a combination of units.

    ``scale_g`` is the scale's own error bound on the change, treated like a
    unit's tolerance.
    """
    total = 0.0
    accept = scale_g
    variance = (scale_g / TOLERANCE_SIGMAS) ** 2
    for count, weight, tol in zip(counts, weights_g, tolerances_g, strict=True):
        if count:
            total += count * weight
            accept += count * tol
            variance += count * (tol / TOLERANCE_SIGMAS) ** 2
    return total, accept, math.sqrt(variance)
