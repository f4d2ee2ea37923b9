"""A clock the caller steps by hand, for the load-cell model's injectable clock.

The model computes settling and drift from its clock, so stepping it makes
a reading exactly reproducible; RTU line pacing keeps the event loop's real
clock either way.
"""

from __future__ import annotations


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
