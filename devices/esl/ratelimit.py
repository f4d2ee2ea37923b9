"""A token bucket on an injectable monotonic clock.

Used twice by the fleet: to pace bulk pushes (an OpenEPaperLink AP is an
ESP32 that falls over under a burst of uploads) and to cap shelf messages
store-wide (a dwell-triggered promo must not turn the store into a light
show). The clock is injectable so the checkout engine can replay a day
faster than real time and tests can step it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class TokenBucket:
    """``rate_per_s`` tokens a second, at most ``burst`` saved up; starts full."""

    def __init__(
        self, rate_per_s: float, burst: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("need rate_per_s > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    def try_take(self) -> float:
        """Take a token if one is there and return 0; else the seconds until one will be."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate_per_s

    async def take(self) -> None:
        """Wait for a token and take it (the wait is the rate limit itself)."""
        wait_s = self.try_take()
        while wait_s > 0:
            await asyncio.sleep(wait_s)
            wait_s = self.try_take()
