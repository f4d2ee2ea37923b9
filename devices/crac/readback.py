"""What every CRAC driver does around a command: wait for the read-back, explain a refusal.

A cooling unit may acknowledge a write and not apply it (local mode at its
panel, a setpoint outside what the panel allows), so every command is
followed by reading the value back until it shows or the verify window ends;
a refusal names what the unit still holds and what its own status says.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from devices.crac.messages import CracCommandError, CracReading
from devices.errors import DeviceError


class CommandReadBack(ABC):
    """Mixin of the CRAC drivers; they provide the attributes and ``read``."""

    device_id: str
    verify_timeout_s: float
    verify_interval_s: float

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the unit is, for messages."""

    @abstractmethod
    async def read(self) -> CracReading:
        """One reading of the unit."""

    async def _verify(
        self, check: Callable[[], Awaitable[tuple[bool, object]]]
    ) -> tuple[bool, object]:
        """Poll ``check`` until it passes or the verify timeout has passed."""
        deadline = time.monotonic() + self.verify_timeout_s
        while True:
            ok, seen = await check()
            if ok or time.monotonic() >= deadline:
                return ok, seen
            await asyncio.sleep(self.verify_interval_s)

    async def _why(self) -> str:
        """What the unit's own status says about a refusal (local mode, alarms), best effort."""
        try:
            reading = await self.read()
        except DeviceError:
            return ""
        parts = []
        if reading.local_mode:
            parts.append("the unit is in local mode (remote commands locked at its panel)")
        if reading.alarms:
            parts.append(f"active alarms: {', '.join(reading.alarms)}")
        return "; " + "; ".join(parts) if parts else ""

    def _error(
        self, message: str, *, requested: object = None, read_back: object = None
    ) -> CracCommandError:
        return CracCommandError(
            message,
            device=self.device_id,
            address=self.address,
            requested=requested,
            read_back=read_back,
        )


def show(value: object, unit: str) -> str:
    """A value as a refusal message shows it: 22.5 °C, on, no value."""
    if value is None:
        return "no value"
    if isinstance(value, bool):
        return "on" if value else "off"
    text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return f"{text} {unit}".rstrip()
