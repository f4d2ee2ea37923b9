"""Faults the simulated UPS can show: on the wire (its SNMP agent) and in the unit itself."""

from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_SLOW_DELAY_S = 2.0
"""Longer than the 1 s per-try timeout net-snmp and pysnmp use by default."""


class WireFault(enum.StrEnum):
    """How the agent misbehaves on the network.

    ``silent`` drops every request (a hung management card); ``slow`` answers
    after ``delay_s``; ``garbage`` answers with bytes that are not SNMP;
    ``wrong_request_id`` answers correctly but with another request-id, which
    a manager must discard as a stray reply.
    """

    NONE = "none"
    SILENT = "silent"
    SLOW = "slow"
    GARBAGE = "garbage"
    WRONG_REQUEST_ID = "wrong_request_id"


class DeviceFault(enum.StrEnum):
    """Faults of the unit, switched on and off independently of each other."""

    BATTERY_FAILED = "battery_failed"
    OVERLOAD = "overload"


FAULT_MODES = tuple(m.value for m in WireFault) + tuple(d.value for d in DeviceFault)


@dataclass
class WireFaultState:
    """The wire fault in force; ``delay_s`` is used by ``slow`` only."""

    mode: WireFault = WireFault.NONE
    delay_s: float = DEFAULT_SLOW_DELAY_S

    def as_dict(self) -> dict[str, object]:
        """JSON form for the control API."""
        return {"mode": self.mode.value, "delay_s": self.delay_s}


GARBAGE_REPLY = b"\x30\x0e\x02\x01\x01\x04\x03\xde\xad\xbe\xa2\x04\x02\x02\x7f\xff"
"""A SEQUENCE that starts like a v2c message, then an INTEGER cut short inside a
Response PDU: every parser must reject it, none may crash on it."""
