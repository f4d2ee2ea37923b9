"""What the actuator drives, as small protocols: the facility layer names no driver class.

Each port is one kind of equipment as the supervisor's actions see it. The
adapters for walkout's own drivers (NVML, the gate machine, the price-tag
fleet) are in :mod:`facility.actuation.adapters`; cameras and the ledger
are wired by the application. A port method raises any ``Exception`` to
say the action failed; the actuator turns it into a failed outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class GpuCapper(Protocol):
    """Power limits of the host's GPUs, by GPU source id (``gpu0``, as in ``GpuReading``)."""

    async def set_power_limit(self, source: str, watts: float) -> float:
        """Set the GPU's power limit; returns the limit the GPU enforces afterwards (W)."""
        ...

    async def read_power_limit(self, source: str) -> float | None:
        """The enforced limit read back from the GPU (W); None when the GPU does not say."""
        ...


class EntryControl(Protocol):
    """The store's gates as the supervisor and the exit fail-safe use them.

    Only the entry is ever locked; exits stay free in every mode. An
    emergency releases every gate (entries too) and holds them free until
    ``clear_emergency``: nothing else may end it.
    """

    async def set_locked(self, locked: bool, reason: str) -> None:
        """Lock the entry to new shoppers, or open it again; refused during an emergency."""
        ...

    def entry_locked(self) -> bool | None:
        """Read-back: whether the entry refuses new shoppers; None in an emergency."""
        ...

    async def emergency(self, reason: str) -> None:
        """Release every gate and hold it free."""
        ...

    def in_emergency(self) -> bool:
        """Whether every gate is held free now."""
        ...

    async def clear_emergency(self, *, locked: bool, reason: str) -> None:
        """End an emergency: the entry goes to ``locked``, exits back to normal service."""
        ...


@dataclass(frozen=True, slots=True)
class ScreenResult:
    """How many screens took a content mode; ``not_updated`` names those that did not."""

    done: int
    failed: int
    not_updated: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """Screens asked."""
        return self.done + self.failed


class ScreenControl(Protocol):
    """Shelf screens and price tags: ``normal``, ``static`` (no ads or video), ``off``."""

    async def set_screens(self, mode: str) -> ScreenResult:
        """Switch every screen; returns how many confirmed."""
        ...


class CameraControl(Protocol):
    """The camera fleet's profile: ``all``, ``checkout_only``, ``checkout_low_fps``, ``off``."""

    async def set_profile(self, profile: str) -> str | None:
        """Switch profile; returns the profile in force afterwards, None when unknown."""
        ...


class LedgerControl(Protocol):
    """The checkout ledger's journal."""

    async def flush(self) -> None:
        """Write everything journalled so far to stable storage (fsync) before returning."""
        ...
