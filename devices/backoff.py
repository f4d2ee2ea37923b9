"""Capped exponential backoff with jitter for reconnects.

Jitter matters on a store rack: after a switch reboot a hundred shelf
controllers drop at once, and without jitter every driver would retry in the
same millisecond forever.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before the next attempt: initial * factor**n, capped, with +-jitter.

    ``jitter`` is a fraction: 0.2 spreads each delay uniformly over +-20 %.
    """

    initial_s: float = 0.1
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next_delay_s(self) -> float:
        """Delay to wait before the next attempt; each call counts one failure."""
        base = min(self.cap_s, self.initial_s * self.factor**self.attempts)
        self.attempts += 1
        spread = base * self.jitter
        return max(0.0, base + self.rng.uniform(-spread, spread))

    def reset(self) -> None:
        """Forget past failures after a success."""
        self.attempts = 0
