"""The UPS itself: grid, inverter, battery energy, alarms, self-test and timed control.

Time comes from an injectable clock (monotonic seconds). Between two changes
of its inputs (grid, load, a timer) the battery energy moves linearly, so
:meth:`UpsModel.update` integrates exactly, segment by segment, stopping at
every moment something happens on the way: the battery reaching the
low-runtime threshold, running empty, filling up, a countdown ending, a
self-test finishing, a one-minute on-battery reminder. A test can therefore
jump a manual clock by an hour and still see each alarm stamped at the
second it would have happened, and each event in order.

Readings follow RFC 1628 (UPS-MIB) units: whole volts, tenths of hertz and
amperes, minutes of runtime (rounded up, so "runtime <= upsConfigLowBattTime"
and "battery low" always agree), percent of charge and of rated load.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim_devices.ups.config import UpsParams

log = logging.getLogger(__name__)

Clock = Callable[[], float]

REMINDER_S = 60.0
"""RFC 1628: upsTrapOnBattery is resent every minute while on battery."""

IMMINENT_S = 5.0
"""RFC 1628: upsAlarmShutdownImminent means the load loses power within 5 seconds."""

_REL = 1e-9
"""Relative tolerance when comparing energy against a threshold the segment was cut at."""

_MAX_SEGMENTS = 100_000


class ModelError(Exception):
    """A request the UPS refuses (a test while on battery, a bad value); the message says why."""


class Alarm(enum.IntEnum):
    """The upsWellKnownAlarms (1.3.6.1.2.1.33.1.6.3.x)."""

    BATTERY_BAD = 1
    ON_BATTERY = 2
    LOW_BATTERY = 3
    DEPLETED_BATTERY = 4
    TEMP_BAD = 5
    INPUT_BAD = 6
    OUTPUT_BAD = 7
    OUTPUT_OVERLOAD = 8
    ON_BYPASS = 9
    BYPASS_BAD = 10
    OUTPUT_OFF_AS_REQUESTED = 11
    UPS_OFF_AS_REQUESTED = 12
    CHARGER_FAILED = 13
    UPS_OUTPUT_OFF = 14
    UPS_SYSTEM_OFF = 15
    FAN_FAILURE = 16
    FUSE_FAILURE = 17
    GENERAL_FAULT = 18
    DIAGNOSTIC_TEST_FAILED = 19
    COMMUNICATIONS_LOST = 20
    AWAITING_POWER = 21
    SHUTDOWN_PENDING = 22
    SHUTDOWN_IMMINENT = 23
    TEST_IN_PROGRESS = 24


class BatteryStatus(enum.IntEnum):
    """The upsBatteryStatus."""

    UNKNOWN = 1
    NORMAL = 2
    LOW = 3
    DEPLETED = 4


class OutputSource(enum.IntEnum):
    """The upsOutputSource."""

    OTHER = 1
    NONE = 2
    NORMAL = 3
    BYPASS = 4
    BATTERY = 5
    BOOSTER = 6
    REDUCER = 7


class SelfTestKind(enum.IntEnum):
    """The upsWellKnownTests (1.3.6.1.2.1.33.1.7.7.x)."""

    NO_TESTS_INITIATED = 1
    ABORT_TEST_IN_PROGRESS = 2
    GENERAL_SYSTEMS_TEST = 3
    QUICK_BATTERY_TEST = 4
    DEEP_BATTERY_CALIBRATION = 5


class SelfTestResult(enum.IntEnum):
    """The upsTestResultsSummary."""

    DONE_PASS = 1
    DONE_WARNING = 2
    DONE_ERROR = 3
    ABORTED = 4
    IN_PROGRESS = 5
    NO_TESTS_INITIATED = 6


class ShutdownType(enum.IntEnum):
    """The upsShutdownType: turn off the output only, or the whole UPS."""

    OUTPUT = 1
    SYSTEM = 2


class AudibleStatus(enum.IntEnum):
    """The upsConfigAudibleStatus."""

    DISABLED = 1
    ENABLED = 2
    MUTED = 3


class EventKind(enum.StrEnum):
    """What the agent turns into notifications (and the log into lines)."""

    ON_BATTERY = "on_battery"
    ON_BATTERY_REMINDER = "on_battery_reminder"
    OFF_BATTERY = "off_battery"
    OUTPUT_OFF = "output_off"
    OUTPUT_ON = "output_on"
    ALARM_ADDED = "alarm_added"
    ALARM_REMOVED = "alarm_removed"
    TEST_COMPLETED = "test_completed"


@dataclass(frozen=True, slots=True)
class UpsEvent:
    """A transition at model time ``t`` (clock seconds); alarms carry their table row."""

    kind: EventKind
    t: float
    alarm_id: int | None = None
    alarm: Alarm | None = None


@dataclass(frozen=True, slots=True)
class AlarmEntry:
    """One row of upsAlarmTable; ``time_ticks`` is sysUpTime when it was detected."""

    alarm_id: int
    alarm: Alarm
    time_ticks: int


@dataclass(frozen=True, slots=True)
class LineReading:
    """One phase of the input, output or bypass table, in UPS-MIB units."""

    frequency_dhz: int
    voltage_v: int
    current_da: int
    power_w: int
    percent_load: int = 0


@dataclass(frozen=True, slots=True)
class UpsReadings:
    """Everything an SNMP read needs, taken at one instant."""

    uptime_ticks: int
    battery_status: BatteryStatus
    seconds_on_battery: int
    minutes_remaining: int
    charge_pct: int
    battery_voltage_dv: int
    battery_current_da: int
    battery_temp_c: int
    line_bads: int
    input_lines: tuple[LineReading, ...]
    output_source: OutputSource
    output_frequency_dhz: int
    output_lines: tuple[LineReading, ...]
    bypass_frequency_dhz: int
    bypass_lines: tuple[LineReading, ...]
    alarms: tuple[AlarmEntry, ...]
    test_id: SelfTestKind
    test_spin_lock: int
    test_result: SelfTestResult
    test_detail: str
    test_start_ticks: int
    test_elapsed_ticks: int
    shutdown_type: ShutdownType
    shutdown_after_s: int
    startup_after_s: int
    reboot_after_s: int
    auto_restart: bool
    config_input_voltage_v: int
    config_input_freq_dhz: int
    config_output_voltage_v: int
    config_output_freq_dhz: int
    config_output_va: int
    config_output_power_w: int
    low_batt_time_min: int
    audible: AudibleStatus
    low_transfer_v: int
    high_transfer_v: int


class UpsModel:
    """A UPS with a grid input, an energy-store battery and the RFC 1628 control surface.

    Every input change first integrates up to the current clock reading under
    the old conditions, then applies the change, so the order of calls is the
    order of events in model time. Events queue up for :meth:`drain_events`.
    """

    def __init__(self, params: UpsParams | None = None, clock: Clock | None = None) -> None:
        self.params = params if params is not None else UpsParams()
        self._clock: Clock = clock if clock is not None else time.monotonic
        p = self.params
        self._t = self._clock()
        self._t0 = self._t
        # grid
        self.grid_present = True
        self.input_voltage_v = p.nominal_voltage_v
        self.input_frequency_hz = p.nominal_frequency_hz
        # load and battery
        self.load_w = p.load_w
        self.energy_wh = p.battery_capacity_wh * p.initial_charge_pct / 100.0
        self.ambient_temp_c = p.ambient_temp_c
        self.battery_failed = False
        self.overload_fault = False
        # configuration the agent may SET
        self.ident_name = p.name
        self.attached_devices = p.attached_devices
        self.low_batt_time_min = p.low_batt_time_min
        self.low_transfer_v = p.low_transfer_v
        self.high_transfer_v = p.high_transfer_v
        self.config_input_voltage_v = round(p.nominal_voltage_v)
        self.config_input_freq_dhz = round(p.nominal_frequency_hz * 10)
        self.config_output_voltage_v = round(p.nominal_voltage_v)
        self.config_output_freq_dhz = round(p.nominal_frequency_hz * 10)
        self.audible = AudibleStatus.ENABLED
        self.auto_restart = p.auto_restart
        self.shutdown_type = ShutdownType.OUTPUT
        # output
        self.output_on = True
        self._off_reason: str | None = None  # depleted | shutdown | reboot
        self._system_off = False
        self._restart_on_power = False
        self._shutdown_at: float | None = None
        self._startup_at: float | None = None
        self._reboot_on_at: float | None = None
        # on battery bookkeeping
        self.line_bads = 0
        self.discharged_wh = 0.0
        self._input_was_ok = True
        self._on_battery_since: float | None = None
        self._next_reminder: float | None = None
        # self-test
        self.test_id = SelfTestKind.NO_TESTS_INITIATED
        self.test_result = SelfTestResult.NO_TESTS_INITIATED
        self.test_detail = "no test initiated"
        self.test_spin_lock = 0
        self._test_start: float | None = None
        self._test_end: float | None = None
        self._test_elapsed_s = 0.0
        # alarms
        self._alarms: dict[Alarm, AlarmEntry] = {}
        self._next_alarm_id = 1
        self._events: list[UpsEvent] = []
        self._evaluate()

    # --- time -----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """Model time of the last update (clock seconds)."""
        return self._t

    def ticks(self, t: float | None = None) -> int:
        """The sysUpTime in hundredths of a second at ``t`` (default: the last update)."""
        at = self._t if t is None else t
        return int((at - self._t0) * 100) % 2**32

    def update(self) -> None:
        """Bring the model up to the clock's current reading."""
        target = self._clock()
        segments = 0
        while target > self._t and segments < _MAX_SEGMENTS:
            segments += 1
            step, snap = self._next_stop(target)
            self._integrate(step - self._t, snap)
            self._t = step
            self._evaluate()

    def drain_events(self) -> list[UpsEvent]:
        """Events up to the clock's current reading not yet drained, oldest first."""
        self.update()
        events, self._events = self._events, []
        return events

    # --- derived state --------------------------------------------------------------------

    @property
    def input_ok(self) -> bool:
        """Mains present and inside the voltage and frequency window."""
        p = self.params
        return (
            self.grid_present
            and self.low_transfer_v <= self.input_voltage_v <= self.high_transfer_v
            and abs(self.input_frequency_hz - p.nominal_frequency_hz) <= p.frequency_tolerance_hz
        )

    @property
    def on_battery(self) -> bool:
        """The inverter runs the load from the battery."""
        return self.output_on and not self.input_ok

    @property
    def test_running(self) -> bool:
        """A self-test is in progress."""
        return self._test_end is not None

    @property
    def drain_w(self) -> float:
        """Battery power the present load would take on battery (W)."""
        return self.load_w / self.params.inverter_efficiency

    def _energy_rate(self) -> float:
        """Wh per second the battery gains (positive) or loses under present conditions."""
        if self.on_battery:
            return -self.drain_w / 3600.0
        if self.input_ok and self.energy_wh < self.params.battery_capacity_wh:
            return self.params.charge_power_w / 3600.0
        return 0.0

    def _low_energy_wh(self) -> float:
        return self.low_batt_time_min * self.drain_w / 60.0

    def _imminent_energy_wh(self) -> float:
        return IMMINENT_S * self.drain_w / 3600.0

    def runtime_min_exact(self) -> float:
        """Minutes the battery would carry the present load, unrounded (inf without load)."""
        if self.battery_failed:
            return 0.0
        if self.drain_w <= 0:
            return math.inf
        return self.energy_wh * 60.0 / self.drain_w

    @property
    def minutes_remaining(self) -> int:
        """The upsEstimatedMinutesRemaining: rounded up, capped at ``max_runtime_min``."""
        exact = self.runtime_min_exact()
        if math.isinf(exact):
            return self.params.max_runtime_min
        return min(self.params.max_runtime_min, max(0, math.ceil(exact * (1 - _REL) - 1e-12)))

    @property
    def charge_pct(self) -> int:
        """The upsEstimatedChargeRemaining."""
        return round(100.0 * self.energy_wh / self.params.battery_capacity_wh)

    @property
    def depleted(self) -> bool:
        """No usable energy: empty, or a failed battery."""
        return self.battery_failed or self.energy_wh <= self.params.battery_capacity_wh * _REL

    @property
    def battery_status(self) -> BatteryStatus:
        """The upsBatteryStatus: low when the runtime is at or below upsConfigLowBattTime."""
        if self.depleted:
            return BatteryStatus.DEPLETED
        if self.minutes_remaining <= self.low_batt_time_min:
            return BatteryStatus.LOW
        return BatteryStatus.NORMAL

    @property
    def output_source(self) -> OutputSource:
        """The upsOutputSource."""
        if not self.output_on:
            return OutputSource.NONE
        if not self.input_ok:
            return OutputSource.BATTERY
        if self.params.topology == "line-interactive":
            if self.input_voltage_v < self.params.boost_below_v:
                return OutputSource.BOOSTER
            if self.input_voltage_v > self.params.trim_above_v:
                return OutputSource.REDUCER
        return OutputSource.NORMAL

    @property
    def load_pct(self) -> float:
        """Load in percent of the rating (the larger of W and VA ratios); 0 when off."""
        if not self.output_on:
            return 0.0
        p = self.params
        va = self.load_w / p.power_factor
        return 100.0 * max(self.load_w / p.rating_w, va / p.rating_va)

    @property
    def output_voltage_v(self) -> float:
        """RMS output voltage: regulated on battery, boost/trim and online; else the mains."""
        if not self.output_on:
            return 0.0
        if self.output_source == OutputSource.NORMAL and self.params.topology == "line-interactive":
            return self.input_voltage_v
        return self.params.nominal_voltage_v

    @property
    def charging(self) -> bool:
        """The charger is putting energy into the battery."""
        return self._energy_rate() > 0

    @property
    def battery_voltage_v(self) -> float:
        """Rough lead-acid curve: 1.95-2.15 V/cell at rest, less under load, 2.25-2.30 on charge."""
        cells = self.params.battery_nominal_v / 2.0
        soc = self.energy_wh / self.params.battery_capacity_wh
        if self.battery_failed:
            per_cell = 1.60
        elif self.on_battery:
            per_cell = 1.95 + 0.20 * soc - 0.15 * min(self.load_pct / 100.0, 1.5)
        elif self.charging:
            per_cell = 2.30
        elif self.input_ok:
            per_cell = 2.25
        else:
            per_cell = 1.95 + 0.20 * soc
        return cells * per_cell

    @property
    def battery_current_a(self) -> float:
        """Discharge positive, charge negative."""
        volts = self.battery_voltage_v
        if volts <= 0:
            return 0.0
        if self.on_battery:
            return self.drain_w / volts
        if self.charging:
            return -self.params.charge_power_w / volts
        return 0.0

    @property
    def battery_temp_c(self) -> float:
        """Ambient plus a little heat from charging or discharging."""
        temp = self.ambient_temp_c
        if self.on_battery:
            temp += 8.0 * min(self.load_pct / 100.0, 1.5)
        elif self.charging:
            temp += 3.0
        return temp

    @property
    def seconds_on_battery(self) -> float:
        """Time since the transfer to battery, 0 when not on battery."""
        if self._on_battery_since is None:
            return 0.0
        return self._t - self._on_battery_since

    @property
    def alarms(self) -> tuple[AlarmEntry, ...]:
        """The upsAlarmTable rows in id order."""
        return tuple(sorted(self._alarms.values(), key=lambda e: e.alarm_id))

    # --- inputs (bench / control API) ----------------------------------------------------

    def cut_grid(self) -> None:
        """Mains gone: the inverter takes over from the battery."""
        self.update()
        self.grid_present = False
        self._evaluate()

    def restore_grid(self) -> None:
        """Mains back at the voltage and frequency last set."""
        self.update()
        self.grid_present = True
        self._evaluate()

    def set_input(self, voltage_v: float | None = None, frequency_hz: float | None = None) -> None:
        """Sag, swell or frequency drift of the mains (grid stays present)."""
        if voltage_v is not None and not 0 <= voltage_v <= 1000:
            raise ModelError(f"input voltage {voltage_v} V is outside 0..1000")
        if frequency_hz is not None and not 0 <= frequency_hz <= 100:
            raise ModelError(f"input frequency {frequency_hz} Hz is outside 0..100")
        self.update()
        if voltage_v is not None:
            self.input_voltage_v = float(voltage_v)
        if frequency_hz is not None:
            self.input_frequency_hz = float(frequency_hz)
        self._evaluate()

    def set_load_w(self, load_w: float) -> None:
        """Load on the output in watts."""
        if not 0 <= load_w <= 100 * self.params.rating_w:
            raise ModelError(f"load {load_w} W is outside 0..{100 * self.params.rating_w:g}")
        self.update()
        self.load_w = float(load_w)
        self._evaluate()

    def set_charge_pct(self, charge_pct: float) -> None:
        """Put the battery at a state of charge (0-100 %)."""
        if not 0 <= charge_pct <= 100:
            raise ModelError(f"charge {charge_pct} % is outside 0..100")
        self.update()
        self.energy_wh = self.params.battery_capacity_wh * charge_pct / 100.0
        self._evaluate()

    def set_ambient_temp_c(self, temp_c: float) -> None:
        """Room temperature around the battery."""
        if not -40 <= temp_c <= 100:
            raise ModelError(f"ambient temperature {temp_c} C is outside -40..100")
        self.update()
        self.ambient_temp_c = float(temp_c)
        self._evaluate()

    def set_battery_failed(self, failed: bool) -> None:
        """A dead string: no runtime, status depleted, upsAlarmBatteryBad."""
        self.update()
        self.battery_failed = failed
        self._evaluate()

    def set_overload_fault(self, on: bool) -> None:
        """Force upsAlarmOutputOverload whatever the load (a failing output stage)."""
        self.update()
        self.overload_fault = on
        self._evaluate()

    # --- SNMP-writable objects ------------------------------------------------------------

    def check_test(self, kind: SelfTestKind) -> str | None:
        """Why ``kind`` cannot be started now, or None if it can."""
        self.update()
        if kind == SelfTestKind.ABORT_TEST_IN_PROGRESS:
            return None if self.test_running else "no test in progress to abort"
        if kind == SelfTestKind.NO_TESTS_INITIATED:
            return "upsTestNoTestsInitiated cannot be started"
        if self.test_running:
            return "a test is already in progress"
        if not self.input_ok or not self.output_on:
            return "the UPS cannot test its battery while not on line power"
        return None

    def start_test(self, kind: SelfTestKind) -> None:
        """The upsTestId SET: start a test, or abort the one in progress."""
        problem = self.check_test(kind)
        if problem is not None:
            raise ModelError(problem)
        if kind == SelfTestKind.ABORT_TEST_IN_PROGRESS:
            self._finish_test(SelfTestResult.ABORTED, "aborted on request")
            self._evaluate()
            return
        duration = (
            self.params.deep_test_duration_s
            if kind == SelfTestKind.DEEP_BATTERY_CALIBRATION
            else self.params.test_duration_s
        )
        self.test_id = kind
        self.test_result = SelfTestResult.IN_PROGRESS
        self.test_detail = "test in progress"
        self._test_start = self._t
        self._test_end = self._t + duration
        self._evaluate()

    def spin_lock_matches(self, value: int) -> bool:
        """TestAndIncr check of upsTestSpinLock."""
        return value == self.test_spin_lock

    def advance_spin_lock(self) -> None:
        """A successful SET of upsTestSpinLock increments it (wrapping to 0 after 2^31-1)."""
        self.test_spin_lock = (self.test_spin_lock + 1) % 2**31

    def set_low_batt_time(self, minutes: int) -> None:
        """The upsConfigLowBattTime."""
        self.update()
        self.low_batt_time_min = minutes
        self._evaluate()

    def check_transfer_points(self, low_v: float | None, high_v: float | None) -> str | None:
        """Why these transfer points are refused, or None."""
        low = self.low_transfer_v if low_v is None else float(low_v)
        high = self.high_transfer_v if high_v is None else float(high_v)
        if not low < self.params.nominal_voltage_v < high:
            return (
                f"transfer points {low:g}/{high:g} V must bracket "
                f"the nominal {self.params.nominal_voltage_v:g} V"
            )
        return None

    def set_transfer_points(self, low_v: float | None = None, high_v: float | None = None) -> None:
        """The upsConfigLow/HighVoltageTransferPoint."""
        problem = self.check_transfer_points(low_v, high_v)
        if problem is not None:
            raise ModelError(problem)
        low = self.low_transfer_v if low_v is None else float(low_v)
        high = self.high_transfer_v if high_v is None else float(high_v)
        self.update()
        self.low_transfer_v, self.high_transfer_v = low, high
        self._evaluate()

    def set_shutdown_type(self, kind: ShutdownType) -> None:
        """The upsShutdownType."""
        self.shutdown_type = kind

    def set_auto_restart(self, on: bool) -> None:
        """The upsAutoRestart."""
        self.auto_restart = on

    def set_audible(self, status: AudibleStatus) -> None:
        """The upsConfigAudibleStatus."""
        self.audible = status

    def shutdown_after(self, seconds: int) -> None:
        """The upsShutdownAfterDelay: -1 aborts the countdown, 0 turns off now."""
        self.update()
        self._shutdown_at = None if seconds < 0 else self._t + seconds
        self._evaluate()

    def startup_after(self, seconds: int) -> None:
        """The upsStartupAfterDelay: -1 aborts the countdown."""
        self.update()
        self._startup_at = None if seconds < 0 else self._t + seconds
        self._evaluate()

    def reboot_with_duration(self, seconds: int) -> None:
        """The upsRebootWithDuration: output off now, back on after ``seconds``; -1 aborts."""
        self.update()
        if seconds < 0:
            self._reboot_on_at = None
        else:
            self._turn_off("reboot")
            self._reboot_on_at = self._t + seconds
        self._evaluate()

    def _countdown(self, at: float | None) -> int:
        return -1 if at is None else max(0, math.ceil(at - self._t - 1e-9))

    # --- integration ----------------------------------------------------------------------

    def _next_stop(self, target: float) -> tuple[float, float | None]:
        """Earliest moment before ``target`` where something happens, and the energy to snap to."""
        best = target
        snap: float | None = None
        rate = self._energy_rate()
        if rate != 0:
            thresholds = [0.0, self.params.battery_capacity_wh]
            if self.drain_w > 0:
                thresholds += [self._low_energy_wh(), self._imminent_energy_wh()]
            for threshold in thresholds:
                gap = threshold - self.energy_wh
                if abs(gap) <= self.params.battery_capacity_wh * _REL:
                    continue
                if (gap > 0) == (rate > 0):
                    at = self._t + gap / rate
                    if at < best:
                        best, snap = at, threshold
        timers = [self._shutdown_at, self._startup_at, self._reboot_on_at, self._test_end]
        if self._shutdown_at is not None:
            timers.append(self._shutdown_at - IMMINENT_S)
        if self._next_reminder is not None:
            timers.append(self._next_reminder)
        for due in timers:
            if due is not None and self._t < due < best:
                best, snap = due, None
        return best, snap

    def _integrate(self, dt: float, snap: float | None) -> None:
        before = self.energy_wh
        if snap is not None:
            self.energy_wh = snap
        elif dt > 0:
            cap = self.params.battery_capacity_wh
            self.energy_wh = min(cap, max(0.0, self.energy_wh + self._energy_rate() * dt))
        if self.energy_wh < before:
            self.discharged_wh += before - self.energy_wh

    # --- state machine --------------------------------------------------------------------

    def _turn_off(self, reason: str) -> None:
        if not self.output_on:
            self._off_reason = self._off_reason or reason
            return
        self.output_on = False
        self._off_reason = reason
        self._system_off = reason != "depleted" and self.shutdown_type == ShutdownType.SYSTEM
        # RFC 1628 upsAutoRestart: restart when power returns if the output went off
        # during a power loss (depleted battery or a timed shutdown on battery).
        self._restart_on_power = self.auto_restart and not self.input_ok
        self._emit(EventKind.OUTPUT_OFF)
        log.info("UPS output off (%s)", reason)

    def _turn_on(self) -> None:
        if self.output_on:
            return
        self.output_on = True
        self._off_reason = None
        self._system_off = False
        self._restart_on_power = False
        self._emit(EventKind.OUTPUT_ON)
        log.info("UPS output on")

    def _finish_test(self, result: SelfTestResult, detail: str) -> None:
        assert self._test_start is not None
        self._test_elapsed_s = self._t - self._test_start
        self._test_end = None
        self.test_result = result
        self.test_detail = detail
        self._emit(EventKind.TEST_COMPLETED)

    def _evaluate(self) -> None:
        """Apply whatever is due at ``self._t`` and bring the alarm table up to date."""
        t = self._t
        eps = 1e-9
        if self._test_end is not None:
            if not self.input_ok:
                self._finish_test(SelfTestResult.ABORTED, "aborted: input power lost")
            elif t >= self._test_end - eps:
                if self.battery_failed:
                    self._finish_test(SelfTestResult.DONE_ERROR, "battery failed: replace battery")
                elif self.charge_pct < 50:
                    self._finish_test(SelfTestResult.DONE_WARNING, "battery charge below 50 %")
                else:
                    self._finish_test(SelfTestResult.DONE_PASS, "battery ok")
        if self._shutdown_at is not None and t >= self._shutdown_at - eps:
            self._shutdown_at = None
            self._turn_off("shutdown")
        for attr in ("_startup_at", "_reboot_on_at"):
            at = getattr(self, attr)
            if at is not None and t >= at - eps:
                setattr(self, attr, None)
                if self.input_ok or not self.depleted:
                    self._turn_on()
                else:
                    self._restart_on_power = True
        if not self.output_on and self._restart_on_power and self.input_ok:
            self._turn_on()
        if self.on_battery and self.depleted:
            self._turn_off("depleted")
        # RFC 1628 upsInputLineBads: counts transitions of the input into out-of-tolerance
        if self._input_was_ok and not self.input_ok:
            self.line_bads = (self.line_bads + 1) % 2**32
        self._input_was_ok = self.input_ok
        # battery bookkeeping
        if self.on_battery and self._on_battery_since is None:
            self._on_battery_since = t
            self._next_reminder = t + REMINDER_S
            self._emit(EventKind.ON_BATTERY)
            log.info("UPS on battery (line bads %d)", self.line_bads)
        elif not self.on_battery and self._on_battery_since is not None:
            self._on_battery_since = None
            self._next_reminder = None
            self._emit(EventKind.OFF_BATTERY)
            log.info("UPS off battery")
        elif self._next_reminder is not None and t >= self._next_reminder - eps:
            self._next_reminder += REMINDER_S
            self._emit(EventKind.ON_BATTERY_REMINDER)
        self._sync_alarms(self._wanted_alarms())

    def _wanted_alarms(self) -> set[Alarm]:
        wanted: set[Alarm] = set()
        if self.battery_failed:
            wanted.add(Alarm.BATTERY_BAD)
        if self.on_battery:
            wanted.add(Alarm.ON_BATTERY)
            if self.energy_wh <= self._imminent_energy_wh() * (1 + _REL):
                wanted.add(Alarm.SHUTDOWN_IMMINENT)
        if self.minutes_remaining <= self.low_batt_time_min:
            wanted.add(Alarm.LOW_BATTERY)
        if self.depleted:
            wanted.add(Alarm.DEPLETED_BATTERY)
        if self.battery_temp_c > self.params.temp_bad_c:
            wanted.add(Alarm.TEMP_BAD)
        if not self.input_ok:
            wanted.add(Alarm.INPUT_BAD)
        if self.output_on and (self.overload_fault or self.load_pct > 100.0):
            wanted.add(Alarm.OUTPUT_OVERLOAD)
        if not self.output_on:
            wanted.add(Alarm.UPS_OUTPUT_OFF)
            if self._off_reason in ("shutdown", "reboot"):
                wanted.add(
                    Alarm.UPS_OFF_AS_REQUESTED
                    if self._system_off
                    else Alarm.OUTPUT_OFF_AS_REQUESTED
                )
            if self._system_off:
                wanted.add(Alarm.UPS_SYSTEM_OFF)
            if self._restart_on_power and not self.input_ok:
                wanted.add(Alarm.AWAITING_POWER)
        if self._shutdown_at is not None:
            wanted.add(Alarm.SHUTDOWN_PENDING)
            if self._shutdown_at - self._t <= IMMINENT_S + 1e-9:
                wanted.add(Alarm.SHUTDOWN_IMMINENT)
        if self.test_result == SelfTestResult.DONE_ERROR:
            wanted.add(Alarm.DIAGNOSTIC_TEST_FAILED)
        if self.test_running:
            wanted.add(Alarm.TEST_IN_PROGRESS)
        return wanted

    def _sync_alarms(self, wanted: set[Alarm]) -> None:
        for alarm in sorted(set(self._alarms) - wanted):
            entry = self._alarms.pop(alarm)
            self._emit(EventKind.ALARM_REMOVED, entry.alarm_id, alarm)
        for alarm in sorted(wanted - set(self._alarms)):
            entry = AlarmEntry(self._next_alarm_id, alarm, self.ticks())
            self._next_alarm_id = self._next_alarm_id % (2**31 - 1) + 1
            self._alarms[alarm] = entry
            self._emit(EventKind.ALARM_ADDED, entry.alarm_id, alarm)

    def _emit(
        self, kind: EventKind, alarm_id: int | None = None, alarm: Alarm | None = None
    ) -> None:
        self._events.append(UpsEvent(kind, self._t, alarm_id, alarm))

    # --- readings -------------------------------------------------------------------------

    def _lines(
        self, total_w: float, volts: float, freq_hz: float, pct: float
    ) -> tuple[LineReading, ...]:
        n = self.params.phases
        per_w = total_w / n
        per_va = per_w / self.params.power_factor
        current = per_va / volts if volts > 0 else 0.0
        return tuple(
            LineReading(
                frequency_dhz=round(freq_hz * 10),
                voltage_v=round(volts),
                current_da=round(current * 10),
                power_w=round(per_w),
                percent_load=round(pct),
            )
            for _ in range(n)
        )

    def readings(self) -> UpsReadings:
        """A consistent snapshot at the current clock reading (updates first)."""
        self.update()
        p = self.params
        grid_v = self.input_voltage_v if self.grid_present else 0.0
        grid_f = self.input_frequency_hz if self.grid_present else 0.0
        input_w = 0.0
        if self.input_ok:
            input_w = (self.load_w if self.output_on else 0.0) / p.inverter_efficiency
            if self.charging:
                input_w += p.charge_power_w
        out_w = self.load_w if self.output_on else 0.0
        out_v = self.output_voltage_v
        if not self.output_on:
            out_f = 0.0
        elif self.input_ok and p.topology == "line-interactive":
            out_f = self.input_frequency_hz
        else:
            out_f = p.nominal_frequency_hz
        test_elapsed = (
            self._t - self._test_start
            if self.test_running and self._test_start is not None
            else self._test_elapsed_s
        )
        return UpsReadings(
            uptime_ticks=self.ticks(),
            battery_status=self.battery_status,
            seconds_on_battery=int(self.seconds_on_battery),
            minutes_remaining=self.minutes_remaining,
            charge_pct=self.charge_pct,
            battery_voltage_dv=round(self.battery_voltage_v * 10),
            battery_current_da=round(self.battery_current_a * 10),
            battery_temp_c=round(self.battery_temp_c),
            line_bads=self.line_bads,
            input_lines=self._lines(input_w, grid_v, grid_f, 0.0),
            output_source=self.output_source,
            output_frequency_dhz=round(out_f * 10),
            output_lines=self._lines(out_w, out_v, out_f, self.load_pct),
            bypass_frequency_dhz=round(grid_f * 10),
            bypass_lines=self._lines(0.0, grid_v, grid_f, 0.0),
            alarms=self.alarms,
            test_id=self.test_id,
            test_spin_lock=self.test_spin_lock,
            test_result=self.test_result,
            test_detail=self.test_detail,
            test_start_ticks=self.ticks(self._test_start) if self._test_start is not None else 0,
            test_elapsed_ticks=round(test_elapsed * 100),
            shutdown_type=self.shutdown_type,
            shutdown_after_s=self._countdown(self._shutdown_at),
            startup_after_s=self._countdown(self._startup_at),
            reboot_after_s=self._countdown(self._reboot_on_at),
            auto_restart=self.auto_restart,
            config_input_voltage_v=self.config_input_voltage_v,
            config_input_freq_dhz=self.config_input_freq_dhz,
            config_output_voltage_v=self.config_output_voltage_v,
            config_output_freq_dhz=self.config_output_freq_dhz,
            config_output_va=round(p.rating_va),
            config_output_power_w=round(p.rating_w),
            low_batt_time_min=self.low_batt_time_min,
            audible=self.audible,
            low_transfer_v=round(self.low_transfer_v),
            high_transfer_v=round(self.high_transfer_v),
        )

    def state(self) -> dict[str, Any]:
        """The whole state as JSON-ready data (control API ``state``)."""
        r = self.readings()
        return {
            "t": self._t,
            "uptime_s": r.uptime_ticks / 100,
            "grid_present": self.grid_present,
            "input_ok": self.input_ok,
            "input_voltage_v": self.input_voltage_v,
            "input_frequency_hz": self.input_frequency_hz,
            "output_on": self.output_on,
            "output_source": r.output_source.name.lower(),
            "on_battery": self.on_battery,
            "seconds_on_battery": self.seconds_on_battery,
            "load_w": self.load_w,
            "load_pct": self.load_pct,
            "output_voltage_v": self.output_voltage_v,
            "energy_wh": self.energy_wh,
            "charge_pct": r.charge_pct,
            "charge_pct_exact": 100.0 * self.energy_wh / self.params.battery_capacity_wh,
            "runtime_min": r.minutes_remaining,
            "runtime_min_exact": _finite(self.runtime_min_exact()),
            "battery_status": r.battery_status.name.lower(),
            "battery_voltage_v": r.battery_voltage_dv / 10,
            "battery_current_a": r.battery_current_da / 10,
            "battery_temp_c": r.battery_temp_c,
            "battery_failed": self.battery_failed,
            "overload_fault": self.overload_fault,
            "charging": self.charging,
            "line_bads": self.line_bads,
            "low_batt_time_min": self.low_batt_time_min,
            "alarms": [
                {
                    "id": a.alarm_id,
                    "alarm": a.alarm.name.lower(),
                    "code": int(a.alarm),
                    "time_ticks": a.time_ticks,
                }
                for a in r.alarms
            ],
            "test": {
                "id": r.test_id.name.lower(),
                "result": r.test_result.name.lower(),
                "detail": r.test_detail,
                "running": self.test_running,
            },
            "shutdown_after_s": r.shutdown_after_s,
            "startup_after_s": r.startup_after_s,
            "reboot_after_s": r.reboot_after_s,
            "auto_restart": self.auto_restart,
            "phases": self.params.phases,
        }


def _finite(value: float) -> float | None:
    return None if math.isinf(value) else value
