"""A door or turnstile wired to the I/O module: a lock relay, a passage beam, a button.

The relay coil decides whether the door is locked (``energised_locks``: a
maglock holds while powered, the usual choice for a fail-safe exit; an
electric strike opens while powered). A person walking through breaks the
passage beam for ``passage_s`` only if the door is open; against a locked
door the attempt is recorded as forced (someone pushing through or
tailgating a closed door) and the beam does not change. People walking one
after another keep a ``gap_s`` of clear beam between them, as they would, so
each person is one input pulse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim_devices.dio.module import IoModule


@dataclass(frozen=True)
class DoorSpec:
    """Wiring of one door to the module (0-based coil and input numbers)."""

    name: str
    lock_coil: int
    passage_input: int
    button_input: int | None = None
    energised_locks: bool = True
    passage_s: float = 0.2
    gap_s: float = 0.15
    press_s: float = 0.2


class Door:
    """One door's physical behaviour on top of the module's coils and inputs."""

    def __init__(self, spec: DoorSpec, module: IoModule) -> None:
        if not 0 <= spec.lock_coil < module.spec.coils:
            raise ValueError(f"door {spec.name}: no coil {spec.lock_coil}")
        for what, index in (("passage", spec.passage_input), ("button", spec.button_input)):
            if index is not None and not 0 <= index < module.spec.inputs:
                raise ValueError(f"door {spec.name}: no {what} input {index}")
        self.spec = spec
        self.module = module
        self.passages = 0
        self.forced = 0
        self.presses = 0
        self._beam_free_s = module.now()
        self._button_free_s = module.now()

    @property
    def locked(self) -> bool:
        """Whether the lock holds now (from the relay coil)."""
        self.module.advance()
        return self.module.coils[self.spec.lock_coil] == self.spec.energised_locks

    def walk_through(self) -> dict[str, Any]:
        """One person tries to pass now; returns whether they did and when the beam breaks."""
        if self.locked:
            self.forced += 1
            return {"passed": False, "forced": True}
        start = max(self.module.now(), self._beam_free_s)
        end = start + self.spec.passage_s
        self.module.hold_input(self.spec.passage_input, start, end)
        self._beam_free_s = end + self.spec.gap_s
        self.passages += 1
        return {
            "passed": True,
            "forced": False,
            "beam_in_s": round(max(0.0, start - self.module.now()), 3),
            "beam_start_s": start,  # module clock (the host's monotonic clock by default)
        }

    def press(self) -> dict[str, Any]:
        """Someone presses the exit button (or steps into the inside presence sensor)."""
        if self.spec.button_input is None:
            raise ValueError(f"door {self.spec.name} has no button")
        start = max(self.module.now(), self._button_free_s)
        end = start + self.spec.press_s
        self.module.hold_input(self.spec.button_input, start, end)
        self._button_free_s = end + self.spec.gap_s
        self.presses += 1
        return {"pressed": True}

    def state(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "name": self.spec.name,
            "locked": self.locked,
            "lock_coil": self.spec.lock_coil,
            "energised_locks": self.spec.energised_locks,
            "passage_input": self.spec.passage_input,
            "button_input": self.spec.button_input,
            "passages": self.passages,
            "forced": self.forced,
            "presses": self.presses,
        }
