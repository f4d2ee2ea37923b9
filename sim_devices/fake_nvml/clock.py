"""A monotonic clock that runs faster than real time, for watching thermal transients.

A board's thermal time constant is tens of seconds; at ``factor=60`` a
simulated hour of a heat event passes in a minute of wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable


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
