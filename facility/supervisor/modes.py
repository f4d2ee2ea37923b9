"""The store's modes, ordered by severity: the supervisor only ever holds one."""

from __future__ import annotations

import enum


class StoreMode(enum.StrEnum):
    """Least to most severe; ``severity`` orders them (a higher mode wins).

    normal: everything on. conserve: save power (GPU caps, analytics cameras
    off). degraded: cooling trouble, checkout-critical work only. closing:
    entry locked, shoppers inside finish and are settled. shutdown: ledger
    flushed, host shutdown signalled before the battery ends.
    """

    NORMAL = "normal"
    CONSERVE = "conserve"
    DEGRADED = "degraded"
    CLOSING = "closing"
    SHUTDOWN = "shutdown"

    @property
    def severity(self) -> int:
        """0 for normal up to 4 for shutdown."""
        return _ORDER.index(self)

    def worse(self, other: StoreMode) -> StoreMode:
        """The more severe of the two."""
        return self if self.severity >= other.severity else other


_ORDER: tuple[StoreMode, ...] = tuple(StoreMode)
