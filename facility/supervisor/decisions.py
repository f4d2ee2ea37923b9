"""What the supervisor publishes: mode changes with their reasons, and actions as data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message
from facility.supervisor.modes import StoreMode

Figure = tuple[str, float | str | bool | None]
"""One named figure behind a decision (a reading or a prediction), units in the name."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeChanged(Message):
    """The store changed mode; durable, because ops and the ledger must see every change.

    ``rule`` names the rule that drove the change (``"recovered"`` when the
    store steps down because nothing holds it up any more); ``figures``
    are the readings and predictions that rule used; ``active`` every rule
    that held at that moment.
    """

    durable: ClassVar[bool] = True
    previous: StoreMode
    mode: StoreMode
    rule: str
    explanation: str
    figures: tuple[Figure, ...] = ()
    active: tuple[str, ...] = ()

    def figure(self, name: str) -> float | str | bool | None:
        """One figure by name (KeyError when the rule did not give it)."""
        for key, value in self.figures:
            if key == name:
                return value
        raise KeyError(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionRequest(Message):
    """Something the actuation layer should do now, and the mode it serves."""

    durable: ClassVar[bool] = True
    mode: StoreMode
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CapGpus(ActionRequest):
    """Set each GPU's power limit (``targets``: GPU source id and watts, sorted by id)."""

    targets: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SetCameras(ActionRequest):
    """Switch the camera fleet to a profile (``all``, ``checkout_only``, ``checkout_low_fps``)."""

    profile: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetScreens(ActionRequest):
    """Shelf screens' content mode (``normal``, ``static``, ``off``)."""

    screens: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetEntry(ActionRequest):
    """Lock or unlock the *entry*; exits are never locked by the supervisor."""

    locked: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class FlushLedger(ActionRequest):
    """Flush the ledger to stable storage now."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownHost(ActionRequest):
    """Shut the host down ``after_s`` seconds from ``t_mono``."""

    after_s: float


Decision = ModeChanged | ActionRequest
