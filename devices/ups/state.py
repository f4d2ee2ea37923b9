"""One normalised UPS state, whatever the source (SNMP UPS-MIB, PowerNet, NUT).

The supervisor decides store modes from these readings, so every field is
honest: ``None`` means the unit did not say (missing OID, ``-1``, a NUT
variable that is absent), never a guessed default. Per-line tables keep every
phase the unit reports, in the unit's own index order.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message


class UpsStatus(enum.StrEnum):
    """Where the load's power comes from, most severe first when several apply.

    The order is the precedence used to fold a unit's flags into one value:
    a unit on battery with a low battery is ``LOW_BATTERY``; a unit that
    reports a fault while on line is ``FAULT``.
    """

    FAULT = "fault"  # output off, overload shutdown, failed self-test that cut the load ...
    LOW_BATTERY = "low_battery"  # on battery and the battery is (nearly) exhausted
    ON_BATTERY = "on_battery"
    BYPASS = "bypass"  # load fed from the mains through the bypass, unprotected
    ON_LINE = "on_line"
    UNKNOWN = "unknown"  # the unit does not report its output source


class BatteryStatus(enum.StrEnum):
    """UPS-MIB upsBatteryStatus, shared by every source."""

    UNKNOWN = "unknown"
    NORMAL = "normal"
    LOW = "low"
    DEPLETED = "depleted"


@dataclass(frozen=True, slots=True)
class InputLine:
    """One input phase as the unit reports it (``index`` is the unit's own table index)."""

    index: int
    voltage_v: float | None = None
    frequency_hz: float | None = None
    current_a: float | None = None


@dataclass(frozen=True, slots=True)
class OutputLine:
    """One output phase as the unit reports it."""

    index: int
    voltage_v: float | None = None
    current_a: float | None = None
    power_w: float | None = None
    load_pct: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsReading(Message):
    """One complete poll of a UPS; ``source`` is the UPS id from store.yaml.

    ``load_pct`` is the highest per-phase load (the phase that trips first);
    ``input_v`` and ``input_hz`` are from the first input line the unit reports.
    ``alarms`` are names such as ``"onBattery"`` or ``"lowBattery"`` (UPS-MIB
    well-known alarm names, or the profile's own names for vendor alarms).
    """

    status: UpsStatus
    battery_status: BatteryStatus = BatteryStatus.UNKNOWN
    seconds_on_battery: float | None = None
    runtime_s: float | None = None
    charge_pct: float | None = None
    battery_voltage_v: float | None = None
    battery_temperature_c: float | None = None
    input_v: float | None = None
    input_hz: float | None = None
    input_lines: tuple[InputLine, ...] = ()
    input_line_bads: int | None = None
    output_lines: tuple[OutputLine, ...] = ()
    load_pct: float | None = None
    output_power_w: float | None = None
    alarms: tuple[str, ...] = ()
    via: str = ""  # "snmp:ietf", "snmp:powernet", "nut" ...


class GridEventKind(enum.StrEnum):
    """Grid trouble seen from the UPS's side."""

    ON_BATTERY = "on_battery"  # transfer to battery ... and back (end)
    SAG = "sag"  # input voltage below the configured band
    SWELL = "swell"  # input voltage above the configured band
    FREQUENCY = "frequency"  # input frequency outside the configured band


@dataclass(frozen=True, slots=True, kw_only=True)
class GridEvent(Message):
    """Start or end of a grid event; durable because the grid log is built from it.

    A start has ``ended=False`` and ``duration_s=None``; its end repeats
    ``started_mono`` and carries the duration. ``worst`` is the extreme value
    seen during the event (lowest voltage of a sag, highest of a swell, the
    frequency furthest from nominal); None for a transfer to battery.
    """

    durable: ClassVar[bool] = True
    kind: GridEventKind
    started_mono: float
    ended: bool = False
    duration_s: float | None = None
    worst: float | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UpsTrap(Message):
    """A UPS trap arrived (it also triggers an immediate poll of that UPS)."""

    durable: ClassVar[bool] = True
    name: str  # "upsTrapOnBattery", "upsTrapAlarmEntryAdded", ...
    oid: str
    sender: str  # "host:port" the datagram came from
    varbinds: tuple[tuple[str, str], ...] = ()
