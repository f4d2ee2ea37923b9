"""Bus messages -> InfluxDB line-protocol points.

Converters are registered per message type together with the series they can
write (:class:`SeriesSpec`), so the set of names a dashboard may query is data:
:data:`KNOWN_SERIES` holds ``<measurement>_<field>``, the name VictoriaMetrics
gives a field written over ``/api/v2/write``.

Rules every converter follows:

- a field the message has as ``None`` (the device did not say) is omitted, never
  written as 0; a NaN or infinite value is omitted too (InfluxDB refuses them);
- every field is written as a float, booleans as 0.0/1.0: InfluxDB fixes a field's
  type at its first write, and an int written once and a float later would be
  refused for the rest of the shard;
- tags are ``store`` and ``device`` (the message's ``source``) plus what identifies
  the series inside the device (shelf, cell, GPU index, line ...); an empty tag
  value is left out, as line protocol has no empty tag values;
- a point with no field left is not written.

Timestamps: readings carry ``t_mono`` (monotonic seconds). A :class:`WallClockAnchor`
taken once at startup pairs one ``time.time_ns()`` with one ``time.monotonic()``; every
point is stamped ``anchor_wall + (t_mono - anchor_mono)``. A wall-clock step after
startup (NTP correcting a rack that booted with a wrong clock) therefore does not
move or reorder telemetry; the next restart takes a fresh anchor.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from devices.bus import Message
from devices.camera.quality import CameraProblem, CameraStatus
from devices.crac.messages import CracAlarm, CracReading
from devices.esl.model import EslSnapshot, TagStatus
from devices.gpu.reading import GpuReading
from devices.health import HealthChanged, HealthState
from devices.scale import ShelfWeights
from devices.ups.state import BatteryStatus, GridEvent, UpsReading, UpsStatus
from facility.supervisor.decisions import ModeChanged

FieldValue = float | int | bool | None

# Numeric health codes: dashboards threshold on them (0 green, 1 amber, 2 red).
HEALTH_CODES: Mapping[HealthState, float] = {
    HealthState.ONLINE: 0.0,
    HealthState.DEGRADED: 1.0,
    HealthState.OFFLINE: 2.0,
}


@dataclass(frozen=True, slots=True)
class WallClockAnchor:
    """One pairing of wall clock and monotonic clock, taken once at startup."""

    wall_ns: int
    mono_s: float

    @classmethod
    def now(cls) -> WallClockAnchor:
        """Anchor at this moment."""
        return cls(wall_ns=time.time_ns(), mono_s=time.monotonic())

    def to_ns(self, t_mono: float) -> int:
        """Unix nanoseconds of a monotonic timestamp."""
        return self.wall_ns + round((t_mono - self.mono_s) * 1e9)


@dataclass(frozen=True, slots=True)
class Point:
    """One line-protocol point; ``fields`` hold only finite floats."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    fields: tuple[tuple[str, float], ...]
    time_ns: int

    def line(self) -> str:
        """The point in line protocol (nanosecond precision)."""
        head = _escape_measurement(self.measurement)
        if self.tags:
            head += "," + ",".join(f"{_escape_key(k)}={_escape_key(v)}" for k, v in self.tags)
        body = ",".join(f"{_escape_key(k)}={v!r}" for k, v in self.fields)
        return f"{head} {body} {self.time_ns}"


# Tag keys, values and field names repeat on every point: escaping each once is a third
# of the conversion cost saved.
@functools.lru_cache(maxsize=8192)
def _escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


@functools.lru_cache(maxsize=8192)
def _escape_key(text: str) -> str:
    # Tag keys, tag values and field keys escape the same three characters; a newline
    # cannot be escaped in line protocol at all and would split the point.
    return (
        text.replace("\\", "\\\\")
        .replace(",", "\\,")
        .replace("=", "\\=")
        .replace(" ", "\\ ")
        .replace("\n", " ")
    )


def encode_batch(points: Iterable[Point]) -> bytes:
    """Points as one line-protocol body."""
    return "\n".join(p.line() for p in points).encode()


@dataclass(frozen=True, slots=True)
class PointContext:
    """What every point needs besides the message: the store and the clock anchor."""

    store: str
    anchor: WallClockAnchor

    def point(
        self,
        measurement: str,
        message: Message,
        fields: Mapping[str, FieldValue],
        **tags: str,
    ) -> Point | None:
        """A point for ``message``: store/device tags added, unknown fields left out."""
        clean: list[tuple[str, float]] = []
        for name, value in fields.items():
            if value is None:
                continue
            number = float(value)
            if math.isfinite(number):
                clean.append((name, number))
        if not clean:
            return None
        all_tags = {"store": self.store, "device": message.source, **tags}
        return Point(
            measurement,
            tuple(sorted((k, v) for k, v in all_tags.items() if v)),
            tuple(clean),
            self.anchor.to_ns(message.t_mono),
        )


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """A measurement a converter writes, with its tag keys and every field it may carry."""

    measurement: str
    tags: tuple[str, ...]
    fields: tuple[str, ...]

    def names(self) -> frozenset[str]:
        """The series names VictoriaMetrics makes of it: ``<measurement>_<field>``."""
        return frozenset(f"{self.measurement}_{f}" for f in self.fields)


M = TypeVar("M", bound=Message)
Converter = Callable[[Any, PointContext], list[Point]]


class ConverterRegistry:
    """Message type -> converter, looked up along the type's MRO."""

    def __init__(self) -> None:
        self._converters: dict[type[Message], Converter] = {}
        self._series: dict[type[Message], tuple[SeriesSpec, ...]] = {}

    def register(
        self,
        message_type: type[M],
        series: Sequence[SeriesSpec],
        converter: Callable[[M, PointContext], list[Point]],
    ) -> None:
        """Convert ``message_type`` with ``converter``, which writes only ``series``."""
        if message_type in self._converters:
            raise ValueError(f"a converter for {message_type.__name__} is already registered")
        self._converters[message_type] = converter
        self._series[message_type] = tuple(series)

    def types(self) -> tuple[type[Message], ...]:
        """Every registered message type (what the writer subscribes to)."""
        return tuple(self._converters)

    def series(self) -> tuple[SeriesSpec, ...]:
        """Every declared series."""
        return tuple(s for specs in self._series.values() for s in specs)

    def known_series(self) -> frozenset[str]:
        """Every ``<measurement>_<field>`` name the registered converters can write."""
        return frozenset().union(*(s.names() for s in self.series()))

    def convert(self, message: Message, context: PointContext) -> list[Point]:
        """Points for one message; none for a type nobody registered."""
        for klass in type(message).__mro__:
            converter = self._converters.get(klass)
            if converter is not None:
                return converter(message, context)
        return []


def _flag(value: bool | None) -> float | None:
    return None if value is None else float(value)


def _points(*maybe: Point | None) -> list[Point]:
    return [p for p in maybe if p is not None]


# --- shelves -----------------------------------------------------------------------------

SHELF_CELL = SeriesSpec(
    "shelf_cell", ("store", "device", "shelf", "cell"), ("weight_g", "stable", "overload")
)
SHELF = SeriesSpec("shelf", ("store", "device", "shelf"), ("total_g", "stable"))


def convert_shelf_weights(msg: ShelfWeights, ctx: PointContext) -> list[Point]:
    """A point per cell (cell = position on the shelf, 0-based) and one for the shelf."""
    points = [
        ctx.point(
            "shelf_cell",
            msg,
            {"weight_g": w, "stable": s, "overload": o},
            shelf=msg.shelf_id,
            cell=str(i),
        )
        for i, (w, s, o) in enumerate(zip(msg.weights_g, msg.stable, msg.overload, strict=False))
    ]
    shelf = ctx.point(
        "shelf", msg, {"total_g": msg.total_g, "stable": msg.all_stable}, shelf=msg.shelf_id
    )
    return _points(*points, shelf)


# --- UPS ---------------------------------------------------------------------------------

UPS = SeriesSpec(
    "ups",
    ("store", "device"),
    (
        "on_battery",
        "fault",
        "battery_low",
        "seconds_on_battery",
        "runtime_s",
        "charge_pct",
        "battery_voltage_v",
        "battery_temperature_c",
        "input_v",
        "input_hz",
        "input_line_bads",
        "load_pct",
        "output_power_w",
        "alarms_active",
    ),
)
UPS_INPUT = SeriesSpec(
    "ups_input", ("store", "device", "line"), ("voltage_v", "frequency_hz", "current_a")
)
UPS_OUTPUT = SeriesSpec(
    "ups_output", ("store", "device", "line"), ("voltage_v", "current_a", "power_w", "load_pct")
)
UPS_GRID = SeriesSpec(
    "ups_grid_event", ("store", "device", "kind"), ("active", "duration_s", "worst")
)

_ON_BATTERY = frozenset({UpsStatus.ON_BATTERY, UpsStatus.LOW_BATTERY})
_BATTERY_LOW = {
    BatteryStatus.NORMAL: False,
    BatteryStatus.LOW: True,
    BatteryStatus.DEPLETED: True,
}


def convert_ups_reading(msg: UpsReading, ctx: PointContext) -> list[Point]:
    """The unit's summary, plus one point per input and output line it reports.

    ``on_battery``/``fault`` are omitted when the unit does not report its output
    source; ``battery_low`` when it does not report a battery status.
    """
    known = msg.status is not UpsStatus.UNKNOWN
    summary = ctx.point(
        "ups",
        msg,
        {
            "on_battery": (msg.status in _ON_BATTERY) if known else None,
            "fault": (msg.status is UpsStatus.FAULT) if known else None,
            "battery_low": _BATTERY_LOW.get(msg.battery_status),
            "seconds_on_battery": msg.seconds_on_battery,
            "runtime_s": msg.runtime_s,
            "charge_pct": msg.charge_pct,
            "battery_voltage_v": msg.battery_voltage_v,
            "battery_temperature_c": msg.battery_temperature_c,
            "input_v": msg.input_v,
            "input_hz": msg.input_hz,
            "input_line_bads": msg.input_line_bads,
            "load_pct": msg.load_pct,
            "output_power_w": msg.output_power_w,
            "alarms_active": len(msg.alarms),
        },
    )
    inputs = [
        ctx.point(
            "ups_input",
            msg,
            {"voltage_v": ln.voltage_v, "frequency_hz": ln.frequency_hz, "current_a": ln.current_a},
            line=str(ln.index),
        )
        for ln in msg.input_lines
    ]
    outputs = [
        ctx.point(
            "ups_output",
            msg,
            {
                "voltage_v": ln.voltage_v,
                "current_a": ln.current_a,
                "power_w": ln.power_w,
                "load_pct": ln.load_pct,
            },
            line=str(ln.index),
        )
        for ln in msg.output_lines
    ]
    return _points(summary, *inputs, *outputs)


def convert_grid_event(msg: GridEvent, ctx: PointContext) -> list[Point]:
    """``active`` 1 at the start of a grid event, 0 at its end (stamped at the end)."""
    return _points(
        ctx.point(
            "ups_grid_event",
            msg,
            {"active": not msg.ended, "duration_s": msg.duration_s, "worst": msg.worst},
            kind=str(msg.kind),
        )
    )


# --- cooling -----------------------------------------------------------------------------

CRAC = SeriesSpec(
    "crac",
    ("store", "device"),
    (
        "supply_air_c",
        "return_air_c",
        "delta_t_k",
        "humidity_pct",
        "supply_setpoint_c",
        "return_setpoint_c",
        "fan_pct",
        "compressors_running",
        "heater_on",
        "humidifier_on",
        "unit_on",
        "local_mode",
        "alarms_active",
    ),
)


def convert_crac_reading(msg: CracReading, ctx: PointContext) -> list[Point]:
    """One point per poll; fields the unit's profile does not map stay absent."""
    return _points(
        ctx.point(
            "crac",
            msg,
            {
                "supply_air_c": msg.supply_air_c,
                "return_air_c": msg.return_air_c,
                "delta_t_k": msg.delta_t_k,
                "humidity_pct": msg.humidity_pct,
                "supply_setpoint_c": msg.supply_setpoint_c,
                "return_setpoint_c": msg.return_setpoint_c,
                "fan_pct": msg.fan_pct,
                "compressors_running": msg.compressors_running,
                "heater_on": _flag(msg.heater_on),
                "humidifier_on": _flag(msg.humidifier_on),
                "unit_on": _flag(msg.unit_on),
                "local_mode": _flag(msg.local_mode),
                "alarms_active": None if msg.alarms is None else len(msg.alarms),
            },
        )
    )


CRAC_ALARM = SeriesSpec("crac_alarm", ("store", "device"), ("active", "raised", "cleared"))


def convert_crac_alarm(msg: CracAlarm, ctx: PointContext) -> list[Point]:
    """Counts of the alarm change: how many are active, raised and cleared by it."""
    return _points(
        ctx.point(
            "crac_alarm",
            msg,
            {"active": len(msg.active), "raised": len(msg.raised), "cleared": len(msg.cleared)},
        )
    )


# --- store mode (the facility supervisor) --------------------------------------------------

STORE_MODE = SeriesSpec("store_mode", ("store", "device"), ("level",))


def convert_mode_changed(msg: ModeChanged, ctx: PointContext) -> list[Point]:
    """The mode as its severity (0 normal .. 4 shutdown): a step on the dashboard."""
    return _points(ctx.point("store_mode", msg, {"level": msg.mode.severity}))


# --- GPUs --------------------------------------------------------------------------------

GPU = SeriesSpec(
    "gpu",
    ("store", "device", "gpu"),
    (
        "power_w",
        "power_limit_w",
        "limit_min_w",
        "limit_max_w",
        "default_limit_w",
        "temperature_c",
        "max_operating_c",
        "slowdown_c",
        "shutdown_c",
        "util_gpu_pct",
        "util_mem_pct",
        "memory_used_mib",
        "memory_total_mib",
        "fan_pct",
        "energy_j",
        "sm_clock_mhz",
        "power_capped",
        "thermal_slowdown",
    ),
)


def convert_gpu_reading(msg: GpuReading, ctx: PointContext) -> list[Point]:
    """One point per GPU poll, tagged with the NVML index."""
    return _points(
        ctx.point(
            "gpu",
            msg,
            {
                "power_w": msg.power_w,
                "power_limit_w": msg.power_limit_w,
                "limit_min_w": msg.limit_min_w,
                "limit_max_w": msg.limit_max_w,
                "default_limit_w": msg.default_limit_w,
                "temperature_c": msg.temperature_c,
                "max_operating_c": msg.max_operating_c,
                "slowdown_c": msg.slowdown_c,
                "shutdown_c": msg.shutdown_c,
                "util_gpu_pct": msg.util_gpu_pct,
                "util_mem_pct": msg.util_mem_pct,
                "memory_used_mib": msg.memory_used_mib,
                "memory_total_mib": msg.memory_total_mib,
                "fan_pct": msg.fan_pct,
                "energy_j": msg.energy_j,
                "sm_clock_mhz": msg.sm_clock_mhz,
                "power_capped": _flag(msg.power_capped),
                "thermal_slowdown": _flag(msg.thermal_slowdown),
            },
            gpu=str(msg.index),
        )
    )


# --- health, cameras, shelf tags ----------------------------------------------------------

DEVICE_HEALTH = SeriesSpec(
    "device_health", ("store", "device"), ("state", "online", "consecutive_failures")
)


def convert_health_changed(msg: HealthChanged, ctx: PointContext) -> list[Point]:
    """``state`` 0 online / 1 degraded / 2 offline; ``device`` is the device whose health it is."""
    health = msg.health
    point = ctx.point(
        "device_health",
        msg,
        {
            "state": HEALTH_CODES[health.state],
            "online": health.state is HealthState.ONLINE,
            "consecutive_failures": health.consecutive_failures,
        },
        device=health.device_id,
    )
    return _points(point)


_CAMERA_PROBLEM_FIELDS = tuple(f"problem_{p.value}" for p in CameraProblem)
CAMERA = SeriesSpec(
    "camera",
    ("store", "device", "camera"),
    ("state", "fps", "mean_luma", "problems", *_CAMERA_PROBLEM_FIELDS),
)


def convert_camera_status(msg: CameraStatus, ctx: PointContext) -> list[Point]:
    """Health code, measured fps and luma, and one 0/1 field per known problem."""
    fields: dict[str, FieldValue] = {
        "state": HEALTH_CODES[msg.health.state],
        "fps": msg.fps,
        "mean_luma": msg.mean_luma,
        "problems": len(msg.problems),
    }
    for problem in CameraProblem:
        fields[f"problem_{problem.value}"] = problem in msg.problems
    return _points(ctx.point("camera", msg, fields, camera=msg.camera_id))


ESL_TAG = SeriesSpec(
    "esl_tag",
    ("store", "device", "tag"),
    ("battery_mv", "battery_pct", "rssi_dbm", "pending", "update_count", "last_seen_unix_s"),
)


def convert_tag_status(msg: TagStatus, ctx: PointContext) -> list[Point]:
    """One point per tag; ``last_seen_unix_s`` is by the tag's or access point's own clock."""
    return _points(
        ctx.point(
            "esl_tag",
            msg,
            {
                "battery_mv": msg.battery_mv,
                "battery_pct": msg.battery_pct,
                "rssi_dbm": msg.rssi_dbm,
                "pending": msg.pending,
                "update_count": msg.update_count,
                "last_seen_unix_s": msg.last_seen,
            },
            tag=msg.tag_id,
        )
    )


def convert_esl_snapshot(msg: EslSnapshot, ctx: PointContext) -> list[Point]:
    """Every tag of the snapshot, each stamped with its own ``t_mono``."""
    return [p for tag in msg.tags for p in convert_tag_status(tag, ctx)]


def default_registry() -> ConverterRegistry:
    """The converters for every device message walkout publishes as telemetry."""
    registry = ConverterRegistry()
    registry.register(ShelfWeights, (SHELF_CELL, SHELF), convert_shelf_weights)
    registry.register(UpsReading, (UPS, UPS_INPUT, UPS_OUTPUT), convert_ups_reading)
    registry.register(GridEvent, (UPS_GRID,), convert_grid_event)
    registry.register(CracReading, (CRAC,), convert_crac_reading)
    registry.register(CracAlarm, (CRAC_ALARM,), convert_crac_alarm)
    registry.register(GpuReading, (GPU,), convert_gpu_reading)
    registry.register(ModeChanged, (STORE_MODE,), convert_mode_changed)
    registry.register(HealthChanged, (DEVICE_HEALTH,), convert_health_changed)
    registry.register(CameraStatus, (CAMERA,), convert_camera_status)
    registry.register(TagStatus, (ESL_TAG,), convert_tag_status)
    registry.register(EslSnapshot, (), convert_esl_snapshot)  # writes ESL_TAG points
    return registry


KNOWN_SERIES: frozenset[str] = default_registry().known_series()
"""Every ``<measurement>_<field>`` series the default converters can write."""
