"""A Modbus TCP digital-I/O module: 8 coils (relay outputs), 8 discrete inputs.

Modelled on the common 8DI/8DO DIN-rail modules that drive door relays:

- coils 0..7 (FC1/FC5/FC15) are the relay outputs, discrete inputs 0..7 (FC2)
  the opto inputs; register ``0x0100`` (holding, read-only) holds the model
  id ``0x0808``.
- timed outputs done by the module itself ("flash" commands): writing ``N``
  to holding register ``0x0200 + k`` switches coil ``k`` on now and off after
  ``N`` x 100 ms; ``0x0400 + k`` switches it off now and on again after
  ``N`` x 100 ms. Any later write to the same coil cancels the timer. Some
  modules lack this (``pulse_registers=False``): those addresses then answer
  exception 2, and a master has to time the pulse itself.
- a communication watchdog: with register ``0x0300`` set to ``N`` (x 100 ms,
  0 = off), ``N`` x 100 ms without a request puts every coil into its safe
  state, like real modules do when their master dies. The safe state of a
  door relay is the one that frees the door.

Time is read from an injectable clock and applied lazily (on every access and
on the simulator's ticker), so a unit test can step the clock by hand and a
timer or watchdog expiry lands exactly when it should.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sim_devices.modbus_pdu import BitTable, ExceptionCode, ModbusError, Table

log = logging.getLogger(__name__)

Clock = Callable[[], float]

MODEL_REGISTER = 0x0100
MODEL_ID = 0x0808
"""Model id register value: 8 inputs, 8 outputs."""

PULSE_ON_BASE = 0x0200
PULSE_OFF_BASE = 0x0400
WATCHDOG_REGISTER = 0x0300
TICK_S = 0.1
"""Unit of the pulse and watchdog registers (100 ms, as on the common modules)."""


@dataclass(frozen=True)
class ModuleSpec:
    """What kind of module is simulated.

    ``safe_state`` is where each coil goes when the watchdog trips (default:
    every relay de-energised). ``watchdog_s`` is the power-up watchdog
    setting; 0 disables it until a master writes the register.
    """

    coils: int = 8
    inputs: int = 8
    pulse_registers: bool = True
    watchdog_s: float = 0.0
    safe_state: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.coils <= 64 or not 1 <= self.inputs <= 64:
            raise ValueError("a module has 1..64 coils and 1..64 inputs")
        if self.safe_state is not None and len(self.safe_state) != self.coils:
            raise ValueError(f"safe_state needs {self.coils} values")
        if not 0 <= self.watchdog_s <= 0xFFFF * TICK_S:
            raise ValueError(f"watchdog_s must be 0..{0xFFFF * TICK_S:.1f}")


@dataclass
class _Window:
    """An input held active from ``start_s`` to ``end_s`` (a person in the beam)."""

    start_s: float
    end_s: float


@dataclass
class ModuleStats:
    """Counters for the control API and tests."""

    requests: int = 0
    coil_writes: int = 0
    ignored_writes: int = 0
    pulses: int = 0
    watchdog_trips: int = 0
    last_trip_s: float | None = None


class IoModule:
    """The module as the Modbus server sees it (a ``BitUnit``)."""

    def __init__(self, spec: ModuleSpec | None = None, *, clock: Clock = time.monotonic) -> None:
        self.spec = spec or ModuleSpec()
        self._clock = clock
        self.coils = [False] * self.spec.coils
        self.changed_s: dict[int, float] = {}  # coil -> module time of its last change
        self.safe_state = list(self.spec.safe_state or [False] * self.spec.coils)
        self.levels = [False] * self.spec.inputs  # static levels set by the control API
        self._windows: list[list[_Window]] = [[] for _ in range(self.spec.inputs)]
        self._timers: dict[int, tuple[float, bool]] = {}  # coil -> (deadline, value after)
        self.watchdog_s = self.spec.watchdog_s
        self._last_request_s = clock()
        self._tripped = False
        # faults
        self.coil_writes_ignored = False
        self.stuck: dict[int, bool] = {}
        self.stats = ModuleStats()

    # time ---------------------------------------------------------------------------

    def now(self) -> float:
        """The module's clock."""
        return self._clock()

    def advance(self) -> None:
        """Apply every timer and watchdog expiry due by now, in time order."""
        now = self._clock()
        trip_at = math.inf
        if self.watchdog_s > 0 and not self._tripped:
            trip_at = self._last_request_s + self.watchdog_s
        horizon = min(now, trip_at)
        for coil, (deadline, value) in sorted(self._timers.items(), key=lambda kv: kv[1][0]):
            if deadline <= horizon:
                self._set_coil(coil, value, deadline)
                del self._timers[coil]
        if trip_at <= now:
            self._trip(trip_at)
        for windows in self._windows:
            windows[:] = [w for w in windows if w.end_s > now]

    def _trip(self, at_s: float) -> None:
        self._tripped = True
        self._timers.clear()
        for coil, value in enumerate(self.safe_state):
            self._set_coil(coil, value, at_s)
        self.stats.watchdog_trips += 1
        self.stats.last_trip_s = at_s
        log.warning(
            "watchdog: no request for %.1f s, coils to safe state %s",
            self.watchdog_s,
            "".join("1" if c else "0" for c in self.coils),
        )

    def _request(self) -> None:
        """Every request that reaches the model feeds the watchdog."""
        self.advance()
        self._last_request_s = self._clock()
        self._tripped = False
        self.stats.requests += 1

    def power_cycle(self) -> None:
        """Power lost and back: relays drop, timers and inputs' memory are gone."""
        now = self._clock()
        for coil in range(self.spec.coils):
            self._set_coil(coil, False, now)
        self._timers.clear()
        self.watchdog_s = self.spec.watchdog_s
        self._last_request_s = self._clock()
        self._tripped = False

    # inputs ---------------------------------------------------------------------------

    def input_level(self, index: int) -> bool:
        """What input ``index`` reads now (stuck fault, then static level or a window)."""
        if index in self.stuck:
            return self.stuck[index]
        now = self._clock()
        return self.levels[index] or any(w.start_s <= now < w.end_s for w in self._windows[index])

    def hold_input(self, index: int, start_s: float, end_s: float) -> None:
        """Make input ``index`` active from ``start_s`` to ``end_s`` (module clock)."""
        self._check_input(index)
        self._windows[index].append(_Window(start_s, end_s))

    def set_input(self, index: int, value: bool) -> None:
        """Set the static level of input ``index``."""
        self._check_input(index)
        self.levels[index] = value

    def _check_input(self, index: int) -> None:
        if not 0 <= index < self.spec.inputs:
            raise ValueError(f"no input {index} (have 0..{self.spec.inputs - 1})")

    # BitUnit --------------------------------------------------------------------------

    def read_bits(self, table: BitTable, address: int, count: int) -> list[bool]:
        """FC1/FC2."""
        self._request()
        size = self.spec.coils if table is BitTable.COILS else self.spec.inputs
        if address + count > size:
            raise ModbusError(
                ExceptionCode.ILLEGAL_DATA_ADDRESS, f"{table} {address}+{count} past {size}"
            )
        if table is BitTable.COILS:
            return self.coils[address : address + count]
        return [self.input_level(i) for i in range(address, address + count)]

    def write_bits(self, address: int, values: Sequence[bool]) -> None:
        """FC5/FC15: set coils (cancelling their timers) unless the output stage ignores it."""
        self._request()
        if address + len(values) > self.spec.coils:
            raise ModbusError(
                ExceptionCode.ILLEGAL_DATA_ADDRESS,
                f"coils {address}+{len(values)} past {self.spec.coils}",
            )
        self.stats.coil_writes += 1
        if self.coil_writes_ignored:
            self.stats.ignored_writes += 1
            return
        now = self._clock()
        for offset, value in enumerate(values):
            self._set_coil(address + offset, bool(value), now)
            self._timers.pop(address + offset, None)

    def _set_coil(self, coil: int, value: bool, at_s: float) -> None:
        if self.coils[coil] != value:
            self.coils[coil] = value
            self.changed_s[coil] = at_s

    # ModbusUnit -----------------------------------------------------------------------

    def _register_map(self) -> dict[int, Callable[[], int]]:
        regs: dict[int, Callable[[], int]] = {
            MODEL_REGISTER: lambda: MODEL_ID,
            WATCHDOG_REGISTER: lambda: round(self.watchdog_s / TICK_S),
        }
        if self.spec.pulse_registers:
            for coil in range(self.spec.coils):
                regs[PULSE_ON_BASE + coil] = self._remaining_ticks(coil)
                regs[PULSE_OFF_BASE + coil] = self._remaining_ticks(coil)
        return regs

    def _remaining_ticks(self, coil: int) -> Callable[[], int]:
        def remaining() -> int:
            timer = self._timers.get(coil)
            if timer is None:
                return 0
            return max(0, math.ceil(round((timer[0] - self._clock()) / TICK_S, 6)))

        return remaining

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """FC3 over the map; the module has no input registers."""
        self._request()
        regs = self._register_map() if table is Table.HOLDING else {}
        missing = [a for a in range(address, address + count) if a not in regs]
        if missing:
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS, f"{table} {missing[0]}")
        return [regs[a]() for a in range(address, address + count)]

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """FC6/FC16: the watchdog setting and the timed-output commands."""
        self._request()
        regs = self._register_map()
        for offset, value in enumerate(values):
            where = address + offset
            if where not in regs or where == MODEL_REGISTER:
                raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS, f"holding {where}")
            if where != WATCHDOG_REGISTER and value == 0:
                raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, "pulse of 0 ticks")
        for offset, value in enumerate(values):
            where = address + offset
            if where == WATCHDOG_REGISTER:
                self.watchdog_s = value * TICK_S
                log.info("watchdog set to %.1f s", self.watchdog_s)
            elif where >= PULSE_OFF_BASE:
                self._pulse(where - PULSE_OFF_BASE, False, value)
            else:
                self._pulse(where - PULSE_ON_BASE, True, value)

    def _pulse(self, coil: int, value: bool, ticks: int) -> None:
        self.stats.coil_writes += 1
        if self.coil_writes_ignored:
            self.stats.ignored_writes += 1
            return
        self.stats.pulses += 1
        now = self._clock()
        self._set_coil(coil, value, now)
        self._timers[coil] = (now + ticks * TICK_S, not value)

    # control API -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """JSON form of everything a test may want to assert on."""
        self.advance()
        now = self._clock()
        return {
            "coils": list(self.coils),
            "inputs": [self.input_level(i) for i in range(self.spec.inputs)],
            "timers": {str(c): round(d - now, 3) for c, (d, _) in self._timers.items()},
            "changed_s": {str(c): t for c, t in self.changed_s.items()},
            "watchdog_s": self.watchdog_s,
            "watchdog_tripped": self._tripped,
            "idle_s": round(now - self._last_request_s, 3),
            "faults": {
                "coil_writes_ignored": self.coil_writes_ignored,
                "stuck": {str(k): v for k, v in self.stuck.items()},
            },
            "stats": {
                "requests": self.stats.requests,
                "coil_writes": self.stats.coil_writes,
                "ignored_writes": self.stats.ignored_writes,
                "pulses": self.stats.pulses,
                "watchdog_trips": self.stats.watchdog_trips,
            },
        }
