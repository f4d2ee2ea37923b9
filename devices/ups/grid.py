"""Grid events (transfer to battery, sag, swell, frequency) from a stream of UPS readings.

The detector is pure and synchronous: readings in, ``GridEvent`` start/end
messages out, judged only on the readings' own ``t_mono``. The supervisor
feeds it live readings and the checkout engine's replay feeds it recorded
days; the same readings always give the same events.

Rules, per kind of event:

- A start needs the quantity outside its band (voltage below
  ``nominal * (1 - sag_pct/100)`` ...) on every known reading for at least
  ``min_duration_s``; the event's ``started_mono`` is the first of those
  readings, and the start message is sent by the reading that completes the
  duration.
- An end needs the quantity back inside a narrower return band (the band
  minus the hysteresis): a value sitting on the band edge does not toggle
  the event on every reading. The end's ``duration_s`` runs from the first
  reading outside to the first reading back inside.
- An unknown value (None: the UPS did not report it) neither starts nor ends
  an event, nor breaks a pending start. When an open event's quantity stays
  unknown for ``stale_after_s`` (by reading times, or ``tick``), the event is
  closed with ``detail="data lost"`` and a duration up to the last reading
  that still showed it, rather than left open forever.
- Voltage is judged on every input line the reading has (the lowest for a
  sag, the highest for a swell), so a sag on one phase of three counts.
  Below ``interruption_pct`` of nominal the grid is gone: frequency is then
  not judged (a UPS reports 0 Hz or a stale value for a dead input).
- On battery means ``UpsStatus`` ON_BATTERY or LOW_BATTERY; ON_LINE and BYPASS
  mean mains; FAULT and UNKNOWN say nothing about the mains.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, fields

from devices.ups.state import GridEvent, GridEventKind, UpsReading, UpsStatus

DATA_LOST = "data lost"

_ON_BATTERY = frozenset({UpsStatus.ON_BATTERY, UpsStatus.LOW_BATTERY})
_ON_MAINS = frozenset({UpsStatus.ON_LINE, UpsStatus.BYPASS})


@dataclass(frozen=True, slots=True)
class GridConfig:
    """Bands, hysteresis and timing of the grid event detector (plain data).

    Percentages are of the nominal voltage: with nominal 230 V, ``sag_pct``
    10 and ``voltage_hysteresis_pct`` 2, a sag starts below 207 V and ends at
    211.6 V or above. Frequency works the same in Hz around ``nominal_hz``.
    """

    nominal_v: float = 230.0
    sag_pct: float = 10.0
    swell_pct: float = 10.0
    voltage_hysteresis_pct: float = 2.0
    interruption_pct: float = 10.0
    nominal_hz: float = 50.0
    frequency_band_hz: float = 1.0
    frequency_hysteresis_hz: float = 0.2
    min_duration_s: float = 0.0
    on_battery_min_duration_s: float = 0.0
    stale_after_s: float | None = 60.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"GridConfig.{f.name} must be a finite number, got {value!r}")
        _check(self.nominal_v > 0, "nominal_v must be > 0 V", self.nominal_v)
        _check(0 < self.sag_pct < 100, "sag_pct must be in (0, 100) %", self.sag_pct)
        _check(self.swell_pct > 0, "swell_pct must be > 0 %", self.swell_pct)
        _check(
            0 <= self.voltage_hysteresis_pct < min(self.sag_pct, self.swell_pct),
            "voltage_hysteresis_pct must be >= 0 and below both sag_pct and swell_pct "
            "(the return band must lie inside the band)",
            self.voltage_hysteresis_pct,
        )
        _check(
            0 <= self.interruption_pct < 100 - self.sag_pct,
            "interruption_pct must be >= 0 and below the sag threshold (100 - sag_pct)",
            self.interruption_pct,
        )
        _check(self.nominal_hz > 0, "nominal_hz must be > 0 Hz", self.nominal_hz)
        _check(
            0 < self.frequency_band_hz < self.nominal_hz,
            "frequency_band_hz must be in (0, nominal_hz)",
            self.frequency_band_hz,
        )
        _check(
            0 <= self.frequency_hysteresis_hz < self.frequency_band_hz,
            "frequency_hysteresis_hz must be >= 0 and below frequency_band_hz",
            self.frequency_hysteresis_hz,
        )
        _check(self.min_duration_s >= 0, "min_duration_s must be >= 0 s", self.min_duration_s)
        _check(
            self.on_battery_min_duration_s >= 0,
            "on_battery_min_duration_s must be >= 0 s",
            self.on_battery_min_duration_s,
        )
        if self.stale_after_s is not None:
            _check(
                self.stale_after_s > 0, "stale_after_s must be > 0 s or None", self.stale_after_s
            )

    @property
    def sag_start_v(self) -> float:
        """A sag starts below this voltage."""
        return self.nominal_v * (1 - self.sag_pct / 100)

    @property
    def sag_end_v(self) -> float:
        """A sag ends at or above this voltage."""
        return self.nominal_v * (1 - (self.sag_pct - self.voltage_hysteresis_pct) / 100)

    @property
    def swell_start_v(self) -> float:
        """A swell starts above this voltage."""
        return self.nominal_v * (1 + self.swell_pct / 100)

    @property
    def swell_end_v(self) -> float:
        """A swell ends at or below this voltage."""
        return self.nominal_v * (1 + (self.swell_pct - self.voltage_hysteresis_pct) / 100)

    @property
    def interruption_v(self) -> float:
        """Below this voltage the input is dead, not merely low."""
        return self.nominal_v * self.interruption_pct / 100


def _check(ok: bool, message: str, value: float) -> None:
    if not ok:
        raise ValueError(f"GridConfig.{message}, got {value:g}")


class _State(enum.Enum):
    IDLE = "idle"
    PENDING = "pending"  # outside the band, not yet for min_duration_s
    ACTIVE = "active"


@dataclass
class _Sample:
    value: float
    where: str = ""  # "L2" on a multi-line unit


class _Tracker:
    """Start/end of one kind of event from one quantity."""

    def __init__(
        self,
        kind: GridEventKind,
        *,
        outside: Callable[[float], bool],
        back: Callable[[float], bool],
        worse: Callable[[float, float], bool] | None,
        min_duration_s: float,
        stale_after_s: float | None,
        describe: Callable[[_Sample], str],
    ) -> None:
        self.kind = kind
        self._outside = outside
        self._back = back
        self._worse = worse
        self._min_duration_s = min_duration_s
        self._stale_after_s = stale_after_s
        self._describe = describe
        self.state = _State.IDLE
        self.since = 0.0
        self.worst: float | None = None
        self.last_seen = 0.0  # t of the last reading that showed the event's condition

    def update(self, source: str, t: float, sample: _Sample | None) -> GridEvent | None:
        if sample is None:
            return self._unknown(source, t)
        value = sample.value
        if self.state is _State.IDLE:
            if not self._outside(value):
                return None
            self.state, self.since, self.worst = _State.PENDING, t, None
        elif self.state is _State.PENDING and not self._outside(value):
            self.state = _State.IDLE
            return None
        elif self.state is _State.ACTIVE and self._back(value):
            self.state = _State.IDLE
            return self._event(source, t, ended=True, duration_s=t - self.since, detail="")
        self.last_seen = t
        if self._worse is not None and (self.worst is None or self._worse(value, self.worst)):
            self.worst = value
        if self.state is _State.PENDING and t - self.since >= self._min_duration_s:
            self.state = _State.ACTIVE
            return self._event(
                source, t, ended=False, duration_s=None, detail=self._describe(sample)
            )
        return None

    def _unknown(self, source: str, t: float) -> GridEvent | None:
        """No value now: only staleness can change anything."""
        if (
            self.state is _State.IDLE
            or self._stale_after_s is None
            or t - self.last_seen < self._stale_after_s
        ):
            return None
        was_active = self.state is _State.ACTIVE
        self.state = _State.IDLE
        if not was_active:
            return None
        return self._event(
            source, t, ended=True, duration_s=self.last_seen - self.since, detail=DATA_LOST
        )

    def _event(
        self, source: str, t: float, *, ended: bool, duration_s: float | None, detail: str
    ) -> GridEvent:
        return GridEvent(
            source=source,
            t_mono=t,
            kind=self.kind,
            started_mono=self.since,
            ended=ended,
            duration_s=duration_s,
            worst=self.worst,
            detail=detail,
        )


class GridEventDetector:
    """Grid events of one UPS from its readings, fed in time order.

    ``feed`` returns the events a reading causes (ends before starts, each in
    ``GridEventKind`` order); ``tick`` lets time pass without a reading, so
    an open event can go stale while the UPS is not answering at all.
    """

    def __init__(self, config: GridConfig | None = None) -> None:
        self.config = cfg = config or GridConfig()
        self.source: str | None = None
        self.last_t: float | None = None
        stale = cfg.stale_after_s
        hz_start = cfg.frequency_band_hz
        hz_end = cfg.frequency_band_hz - cfg.frequency_hysteresis_hz
        self._on_battery = _Tracker(
            GridEventKind.ON_BATTERY,
            outside=lambda v: v > 0.5,
            back=lambda v: v < 0.5,
            worse=None,
            min_duration_s=cfg.on_battery_min_duration_s,
            stale_after_s=stale,
            describe=lambda s: "transfer to battery",
        )
        self._sag = _Tracker(
            GridEventKind.SAG,
            outside=lambda v: v < cfg.sag_start_v,
            back=lambda v: v >= cfg.sag_end_v,
            worse=lambda v, w: v < w,
            min_duration_s=cfg.min_duration_s,
            stale_after_s=stale,
            describe=lambda s: (
                f"input {s.value:.1f} V{s.where} below {cfg.sag_start_v:.1f} V"
                f"{' (interruption)' if s.value < cfg.interruption_v else ''}"
            ),
        )
        self._swell = _Tracker(
            GridEventKind.SWELL,
            outside=lambda v: v > cfg.swell_start_v,
            back=lambda v: v <= cfg.swell_end_v,
            worse=lambda v, w: v > w,
            min_duration_s=cfg.min_duration_s,
            stale_after_s=stale,
            describe=lambda s: f"input {s.value:.1f} V{s.where} above {cfg.swell_start_v:.1f} V",
        )
        self._frequency = _Tracker(
            GridEventKind.FREQUENCY,
            outside=lambda v: abs(v - cfg.nominal_hz) > hz_start,
            back=lambda v: abs(v - cfg.nominal_hz) <= hz_end,
            worse=lambda v, w: abs(v - cfg.nominal_hz) > abs(w - cfg.nominal_hz),
            min_duration_s=cfg.min_duration_s,
            stale_after_s=stale,
            describe=lambda s: (
                f"input {s.value:.2f} Hz outside {cfg.nominal_hz:g} +- {hz_start:g} Hz"
            ),
        )
        self._trackers = (self._on_battery, self._sag, self._swell, self._frequency)

    @property
    def open_events(self) -> dict[GridEventKind, float]:
        """Events started and not yet ended: kind -> ``started_mono``."""
        return {t.kind: t.since for t in self._trackers if t.state is _State.ACTIVE}

    def feed(self, reading: UpsReading) -> list[GridEvent]:
        """The events ``reading`` starts or ends."""
        self._advance(reading.t_mono, reading.source)
        low, high = _voltages(reading)
        dead = low is not None and low.value < self.config.interruption_v
        samples = (
            _battery_sample(reading.status),
            low,
            high,
            None if dead else _frequency(reading),
        )
        assert self.source is not None
        events = [
            event
            for tracker, sample in zip(self._trackers, samples, strict=True)
            if (event := tracker.update(self.source, reading.t_mono, sample)) is not None
        ]
        return _ordered(events)

    def tick(self, t_mono: float) -> list[GridEvent]:
        """Let time pass without a reading; ends open events whose data went stale."""
        if self.source is None:
            return []
        self._advance(t_mono, self.source)
        events = [
            event
            for tracker in self._trackers
            if (event := tracker.update(self.source, t_mono, None)) is not None
        ]
        return _ordered(events)

    def _advance(self, t: float, source: str) -> None:
        if self.source is None:
            self.source = source
        elif source != self.source:
            raise ValueError(
                f"grid detector of {self.source!r} fed a reading of {source!r}: "
                "one detector per UPS"
            )
        if self.last_t is not None and t < self.last_t:
            raise ValueError(f"readings out of time order: t_mono {t} after {self.last_t}")
        self.last_t = t


def _ordered(events: list[GridEvent]) -> list[GridEvent]:
    """Ends first (a jump from swell to sag ends one before starting the other)."""
    return [e for e in events if e.ended] + [e for e in events if not e.ended]


def _battery_sample(status: UpsStatus) -> _Sample | None:
    if status in _ON_BATTERY:
        return _Sample(1.0)
    if status in _ON_MAINS:
        return _Sample(0.0)
    return None


def _voltages(reading: UpsReading) -> tuple[_Sample | None, _Sample | None]:
    """Lowest and highest known input voltage (with the line, on a multi-line unit)."""
    known = [
        (line.voltage_v, line.index) for line in reading.input_lines if line.voltage_v is not None
    ]
    if not known:
        if reading.input_v is None:
            return None, None
        return _Sample(reading.input_v), _Sample(reading.input_v)
    several = len(reading.input_lines) > 1
    low = min(known, key=lambda vi: vi[0])
    high = max(known, key=lambda vi: vi[0])
    return (
        _Sample(low[0], f" on L{low[1]}" if several else ""),
        _Sample(high[0], f" on L{high[1]}" if several else ""),
    )


def _frequency(reading: UpsReading) -> _Sample | None:
    if reading.input_hz is not None:
        return _Sample(reading.input_hz)
    for line in reading.input_lines:
        if line.frequency_hz is not None:
            return _Sample(line.frequency_hz)
    return None
