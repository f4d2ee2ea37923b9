"""Store time for a live service: the newest event time, run on by a monotonic clock.

The checkout and the tracker decide on event time (``t_mono`` of the messages),
so a replay runs the same code faster than real time. Live, a deadline must
still pass while the store is quiet: between messages, store time is the
newest event time plus how long ago it arrived.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class StoreClock:
    """The newest ``t_mono`` seen, advanced by ``clock`` since it arrived."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._anchor: tuple[float, float] | None = None  # (event t_mono, clock() at arrival)

    def observe(self, t_mono: float) -> None:
        """An event stamped ``t_mono`` arrived (an older one does not move the clock back)."""
        if self._anchor is None or t_mono >= self._anchor[0]:
            self._anchor = (t_mono, self._clock())

    def now(self) -> float | None:
        """Store time now; None before any event."""
        if self._anchor is None:
            return None
        t_event, at = self._anchor
        return t_event + max(self._clock() - at, 0.0)
