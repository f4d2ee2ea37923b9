"""What a CRAC driver publishes: a reading per poll and an event when its alarms change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message
from devices.errors import DeviceCommandError


@dataclass(frozen=True, slots=True, kw_only=True)
class CracReading(Message):
    """One poll of a precision air conditioner; ``source`` is the unit's id.

    Every field is None when the unit's profile does not map it (an in-row
    cooler has no return setpoint or reheat) or the unit reports no value
    (a broken sensor). ``unit_on`` is whether the unit runs (not only
    whether it was told to); ``local_mode``: remote commands are locked out
    at the unit's panel. ``alarms`` are the profile's alarm names, sorted.
    """

    durable: ClassVar[bool] = False
    supply_air_c: float | None = None
    return_air_c: float | None = None
    humidity_pct: float | None = None
    supply_setpoint_c: float | None = None
    return_setpoint_c: float | None = None
    fan_pct: float | None = None
    compressors_on: tuple[bool, ...] | None = None
    heater_on: bool | None = None
    humidifier_on: bool | None = None
    unit_on: bool | None = None
    local_mode: bool | None = None
    alarms: tuple[str, ...] | None = None

    @property
    def compressors_running(self) -> int | None:
        """How many compressors run now."""
        return None if self.compressors_on is None else sum(self.compressors_on)

    @property
    def delta_t_k(self) -> float | None:
        """Return minus supply air: the cooling the unit is doing, in kelvin."""
        if self.return_air_c is None or self.supply_air_c is None:
            return None
        return self.return_air_c - self.supply_air_c


@dataclass(frozen=True, slots=True, kw_only=True)
class CracAlarm(Message):
    """The unit's set of active alarms changed (durable: alert rules must see every change).

    ``raised``/``cleared`` are the difference to the previous reading,
    ``active`` the whole set now.
    """

    durable: ClassVar[bool] = True
    raised: tuple[str, ...]
    cleared: tuple[str, ...]
    active: tuple[str, ...]


class CracCommandError(DeviceCommandError):
    """The unit refused a command or did not apply it; carries what was asked and read back."""

    def __init__(
        self,
        message: str,
        *,
        device: str = "",
        address: str = "",
        requested: object = None,
        read_back: object = None,
    ) -> None:
        super().__init__(message, device=device, address=address)
        self.requested = requested
        self.read_back = read_back


class CracAlarmWatch:
    """Emit function for the polling coordinator: each reading, plus a CracAlarm on change.

    The first reading raises every alarm already active (nothing is known
    before it); a unit whose profile has no alarms never emits one.
    """

    def __init__(self) -> None:
        self._active: frozenset[str] | None = None

    def __call__(self, reading: CracReading) -> list[Message]:
        """Messages for one reading."""
        messages: list[Message] = [reading]
        if reading.alarms is None:
            return messages
        now = frozenset(reading.alarms)
        before = self._active if self._active is not None else frozenset()
        self._active = now
        if now != before:
            messages.append(
                CracAlarm(
                    source=reading.source,
                    t_mono=reading.t_mono,
                    raised=tuple(sorted(now - before)),
                    cleared=tuple(sorted(before - now)),
                    active=tuple(sorted(now)),
                )
            )
        return messages
