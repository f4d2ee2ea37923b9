"""Runtime budget: battery time at the load the supervisor will leave, against time to empty.

A UPS reports the runtime it expects *at the present load*. After the
supervisor caps GPUs the load drops and the runtime grows, roughly as
``runtime = k / load**a`` (Peukert-like, ``a`` near 1 for a short
discharge, above 1 for lead-acid at high rates). The exponent is fitted by
least squares on ``log runtime = log k - a log load`` over recent
(load, runtime) readings; the *level* is always taken from the newest
reading, because readings taken earlier in a discharge belong to a fuller
battery. Without enough spread in load the fit is unsure and the exponent
falls back to 1 (runtime scales in inverse proportion to load).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from devices.bus import Message


@dataclass(frozen=True, slots=True)
class OpenSession:
    """One shopper (or group) inside; ``expected_remaining_s`` until they leave."""

    session_id: str
    expected_remaining_s: float

    def __post_init__(self) -> None:
        if self.expected_remaining_s < 0:
            raise ValueError(f"session {self.session_id}: expected_remaining_s must be >= 0")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreOccupancy(Message):
    """Who is inside, as the checkout sees it at ``t_mono``.

    ``settlement_s`` is how long a receipt takes to settle once its shopper
    has left (the store can only shut down after that); ``typical_visit_s``
    the checkout's estimate of a whole visit (None: it has none), which is
    what a shopper who walks in now will need.
    """

    sessions: tuple[OpenSession, ...] = ()
    settlement_s: float = 10.0
    typical_visit_s: float | None = None

    def __post_init__(self) -> None:
        if self.settlement_s < 0:
            raise ValueError("settlement_s must be >= 0")
        if self.typical_visit_s is not None and self.typical_visit_s < 0:
            raise ValueError("typical_visit_s must be >= 0")

    @property
    def time_to_empty_s(self) -> float:
        """Seconds until the last shopper has left and been settled (0 when empty).

        Shoppers leave in parallel, so it is the longest remaining visit.
        """
        if not self.sessions:
            return 0.0
        return max(s.expected_remaining_s for s in self.sessions) + self.settlement_s


@dataclass(frozen=True, slots=True)
class RuntimeFit:
    """``runtime_s = k / load_pct**a`` and how much of the data it explains."""

    k: float
    a: float
    points: int
    r2: float

    def runtime_s(self, load_pct: float) -> float:
        """The fitted runtime at ``load_pct``."""
        return float(self.k / max(load_pct, 1e-6) ** self.a)


def fit_runtime_curve(points: Iterable[tuple[float, float]]) -> RuntimeFit | None:
    """Least-squares fit of ``(load_pct, runtime_s)`` pairs in log space; None if degenerate."""
    xs: list[float] = []
    ys: list[float] = []
    for load, runtime in points:
        if load > 0 and runtime > 0:
            xs.append(math.log(load))
            ys.append(math.log(runtime))
    n = len(xs)
    if n < 2:
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 1e-12:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    r2 = 1.0 if ss_tot <= 1e-12 else 1.0 - ss_res / ss_tot
    return RuntimeFit(k=math.exp(intercept), a=-slope, points=n, r2=r2)


@dataclass(frozen=True, slots=True)
class BudgetEstimate:
    """A runtime prediction and where its exponent came from."""

    runtime_now_s: float
    load_now_pct: float
    load_after_pct: float
    runtime_after_s: float
    exponent: float
    fitted: bool


class RuntimeModel:
    """Keeps recent (load, runtime) readings of one UPS and predicts runtime at another load.

    ``window_s``: how far back readings count; ``min_points`` and
    ``min_load_spread`` (max/min load) before the fitted exponent is
    trusted; ``exponent_range`` rejects physically absurd fits.
    """

    def __init__(
        self,
        *,
        window_s: float = 900.0,
        min_points: int = 4,
        min_load_spread: float = 1.15,
        min_r2: float = 0.8,
        exponent_range: tuple[float, float] = (0.5, 2.5),
        max_points: int = 256,
    ) -> None:
        self._window_s = window_s
        self._min_points = min_points
        self._min_spread = min_load_spread
        self._min_r2 = min_r2
        self._exp_range = exponent_range
        self._points: deque[tuple[float, float, float]] = deque(maxlen=max_points)
        self._fit: RuntimeFit | None = None
        self._fit_stale = True

    def add(self, t_mono: float, load_pct: float | None, runtime_s: float | None) -> None:
        """Note one reading; readings without both figures are ignored."""
        if load_pct is None or runtime_s is None or load_pct <= 0 or runtime_s <= 0:
            return
        self._points.append((t_mono, load_pct, runtime_s))
        self._fit_stale = True

    def fit(self) -> RuntimeFit | None:
        """The fit over the newest ``window_s`` of readings, or None when it is not trusted.

        The window ends at the newest reading, not at the present: the
        exponent belongs to the battery, so a fit from before an outage still
        holds during it, when no new points come in.
        """
        if self._fit_stale:
            self._fit = self._compute_fit()
            self._fit_stale = False
        return self._fit

    def _compute_fit(self) -> RuntimeFit | None:
        if not self._points:
            return None
        newest = self._points[-1][0]
        recent = [(load, rt) for t, load, rt in self._points if newest - t <= self._window_s]
        if len(recent) < self._min_points:
            return None
        loads = [load for load, _ in recent]
        if max(loads) / min(loads) < self._min_spread:
            return None
        fit = fit_runtime_curve(recent)
        if fit is None or fit.r2 < self._min_r2:
            return None
        if not self._exp_range[0] <= fit.a <= self._exp_range[1]:
            return None
        return fit

    def predict(
        self, runtime_now_s: float, load_now_pct: float, load_after_pct: float
    ) -> BudgetEstimate:
        """Runtime at ``load_after_pct``, scaled from the newest reading."""
        fit = self.fit()
        exponent = fit.a if fit is not None else 1.0
        after = max(load_after_pct, 1e-6)
        runtime_after = runtime_now_s * (max(load_now_pct, 1e-6) / after) ** exponent
        return BudgetEstimate(
            runtime_now_s=runtime_now_s,
            load_now_pct=load_now_pct,
            load_after_pct=load_after_pct,
            runtime_after_s=runtime_after,
            exponent=exponent,
            fitted=fit is not None,
        )
