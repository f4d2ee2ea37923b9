"""A coin-cell battery that loses charge with every display refresh.

E-paper tags spend most of their energy on refreshes and radio transfers, so
the model drains a fixed amount per update and a little per check-in. The
numbers are typical of CR2450-powered tags (about 3.0 V new, the radio stops
working near 2.2 V); they make trends visible in tests, not lifetimes exact.
"""

from __future__ import annotations

from dataclasses import dataclass

FULL_MV = 3000.0
EMPTY_MV = 2200.0


@dataclass
class Battery:
    """Charge in millivolts, drained per update and per check-in."""

    mv: float = FULL_MV
    drain_mv_per_update: float = 2.0
    drain_mv_per_checkin: float = 0.01

    def update(self) -> None:
        """One display refresh (and the transfer before it)."""
        self.mv = max(EMPTY_MV, self.mv - self.drain_mv_per_update)

    def checkin(self) -> None:
        """One radio check-in without data."""
        self.mv = max(EMPTY_MV, self.mv - self.drain_mv_per_checkin)

    @property
    def millivolts(self) -> int:
        """As the tag reports it: whole millivolts."""
        return round(self.mv)

    @property
    def percent(self) -> int:
        """Linear between EMPTY_MV and FULL_MV, as cheap tag firmware estimates it."""
        return round(100 * (self.mv - EMPTY_MV) / (FULL_MV - EMPTY_MV))
