"""Faults a simulated unit can be told to show, switchable at run time."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FaultMode(enum.StrEnum):
    """How a unit misbehaves on the wire.

    ``corrupt_crc`` only exists as such on RTU; on Modbus TCP (no CRC) the
    same switch sends a reply whose MBAP length field is one short, the TCP
    equivalent of a frame the master must reject.
    """

    NONE = "none"
    SILENT = "silent"
    LATE = "late"
    CORRUPT_CRC = "corrupt_crc"
    WRONG_UNIT = "wrong_unit"


DEFAULT_LATE_DELAY_S = 1.0
"""Long enough to exceed the usual 0.2-0.5 s master timeouts."""


@dataclass
class Fault:
    """The fault currently applied to one unit; mutated by the control API.

    ``delay_s`` is only used by ``late``. A ``silent`` unit does not act on
    requests at all (a dead device executes no writes either); the other
    faults act on the request and only spoil or delay the reply.
    """

    mode: FaultMode = FaultMode.NONE
    delay_s: float = DEFAULT_LATE_DELAY_S

    def as_dict(self) -> dict[str, object]:
        """JSON form for the control API."""
        return {"mode": self.mode.value, "delay_s": self.delay_s}


def wrong_unit_id(unit_id: int) -> int:
    """A different, still valid unit address (1..247) to put in a faulty reply."""
    return unit_id + 1 if unit_id < 247 else 1
