"""Clocks for the simulators' models: stepped by hand, or faster than real time.

Every model (load cells, UPS battery, GPU and room thermals) computes its
state from an injectable clock. ``ManualClock`` makes a reading exactly
reproducible in tests; ``AcceleratedClock`` lets the bench show an hour of a
heat event or a battery draining in a minute. Line pacing (RTU) keeps the
event loop's real clock either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ManualClock:
    """Monotonic seconds that move only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``."""
        self.now += seconds

    def settle(self, seconds: float = 10.0) -> None:
        """Let every settling oscillation die out (default decay time constant 0.35 s)."""
        self.advance(seconds)


class AcceleratedClock:
    """``start + (base() - base_at_creation) * factor``: monotonic, ``factor`` times faster."""

    def __init__(
        self,
        factor: float,
        *,
        base: Callable[[], float] = time.monotonic,
        start: float | None = None,
    ) -> None:
        if factor <= 0:
            raise ValueError("factor must be > 0")
        self.factor = factor
        self._base = base
        self._base0 = base()
        self._start = self._base0 if start is None else start

    def __call__(self) -> float:
        return self._start + (self._base() - self._base0) * self.factor
