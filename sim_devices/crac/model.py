"""A precision air conditioner (CRAC) and the room it cools, as one lumped thermal model.

The room is one air node (the CRAC's return air) with an effective heat
capacity ``C`` that includes the racks' and the building's thermal mass::

    C dT/dt = IT load + GPU load + UA (T_outdoor - T) + fan heat + heater - cooling

Cooling comes from ``n`` compressors of fixed sensible capacity, staged by an
on/off controller with hysteresis around the setpoint (DX units with fixed
scrolls) or modulated by a proportional controller (variable-speed or
digital-scroll units). The supply air is the return air cooled across the
coil: ``T_supply = T - Q / (rho c_p V)`` for the airflow ``V`` the fan gives,
seen through a sensor with a first-order lag, so without airflow it drifts
back to the return air temperature.

Moisture is tracked as absolute humidity (g water per kg dry air): air
exchange with outdoors pulls it towards outdoor moisture, the cooling coil
condenses a share of its capacity (1 - sensible heat ratio), a steam
humidifier adds it, and a seeded random walk makes it drift. Relative
humidity follows from temperature (Magnus formula), so a room that heats up
gets drier in %RH as real rooms do.

Everything is computed lazily from an injected clock: the state is
integrated up to "now" whenever it is read or changed, in steps of at most
``max_step_s`` simulated seconds (the controller is evaluated every step).
``speed`` runs simulated time faster than the clock (time acceleration).
"""

from __future__ import annotations

import enum
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Clock = Callable[[], float]

AIR_DENSITY_KG_M3 = 1.2
AIR_CP_J_PER_KG_K = 1006.0
LATENT_HEAT_J_PER_KG = 2.45e6
ATMOSPHERE_PA = 101_325.0
TEMP_ALARM_HYSTERESIS_K = 1.0
HUMIDITY_ALARM_HYSTERESIS_PCT = 3.0
FULL_CAPACITY_AIRFLOW = 0.5
"""Below this fraction of nominal airflow the coil cannot deliver its full capacity."""
FILTER_CLOGGED_AIRFLOW = 0.6
"""Airflow left by a clogged filter, as a fraction of what the fan would move."""


class ControlMode(enum.StrEnum):
    """Which air temperature the unit regulates to its setpoint."""

    RETURN = "return"
    SUPPLY = "supply"


class Controller(enum.StrEnum):
    """How cooling follows the temperature error."""

    HYSTERESIS = "hysteresis"
    PROPORTIONAL = "proportional"


class Refusal(enum.StrEnum):
    """How the unit refuses a remote write it will not carry out.

    ``exception``: a Modbus exception response (1 in local mode, 3 for a
    value out of range). ``ignore``: the write is acknowledged and silently
    dropped, as many units do in local mode; only a read-back shows it.
    """

    EXCEPTION = "exception"
    IGNORE = "ignore"


class CommandRefused(Exception):
    """A remote command the unit does not carry out; ``reason`` is ``local`` or ``range``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class FaultError(ValueError):
    """An unknown fault name."""


@dataclass(frozen=True)
class CracParams:
    """The unit: equipment, controller and the limits its panel allows.

    Defaults describe a ~15 kW downflow DX unit with two scroll compressors,
    two electric reheat stages and a steam humidifier, controlling return air.
    """

    compressors: int = 2
    compressor_capacity_w: float = 7500.0
    heater_stages: int = 2
    heater_stage_w: float = 3000.0
    humidifier: bool = True
    humidifier_g_per_s: float = 0.3
    airflow_m3_s: float = 1.2
    fan_min_pct: float = 60.0
    fan_power_w: float = 800.0
    controller: Controller = Controller.HYSTERESIS
    control_mode: ControlMode = ControlMode.RETURN
    stage_step_k: float = 1.0
    proportional_band_k: float = 4.0
    heat_offset_k: float = 2.0
    humidity_band_pct: float = 5.0
    sensible_heat_ratio: float = 0.97
    supply_sensor_tau_s: float = 20.0
    return_setpoint_c: float = 24.0
    supply_setpoint_c: float = 18.0
    humidity_setpoint_pct: float = 45.0
    return_setpoint_range_c: tuple[float, float] = (18.0, 30.0)
    supply_setpoint_range_c: tuple[float, float] = (14.0, 24.0)
    humidity_setpoint_range_pct: tuple[float, float] = (30.0, 70.0)
    high_return_limit_c: float = 30.0
    low_return_limit_c: float = 15.0
    high_supply_limit_c: float = 27.0
    low_supply_limit_c: float = 10.0
    high_humidity_limit_pct: float = 70.0
    low_humidity_limit_pct: float = 20.0
    latch_equipment_alarms: bool = True

    def __post_init__(self) -> None:
        if self.compressors < 1:
            raise ValueError("a CRAC needs at least one compressor")
        if self.heater_stages < 0:
            raise ValueError("heater_stages must be >= 0")
        if not 0 < self.fan_min_pct <= 100:
            raise ValueError("fan_min_pct must be in (0, 100]")
        if self.airflow_m3_s <= 0 or self.compressor_capacity_w <= 0:
            raise ValueError("airflow and compressor capacity must be > 0")
        for low, high in (
            self.return_setpoint_range_c,
            self.supply_setpoint_range_c,
            self.humidity_setpoint_range_pct,
        ):
            if not low < high:
                raise ValueError(f"setpoint range {low}..{high} is empty")

    @property
    def cooling_capacity_w(self) -> float:
        """Total sensible capacity with every compressor running."""
        return self.compressors * self.compressor_capacity_w


@dataclass(frozen=True)
class RoomParams:
    """The room and its surroundings.

    ``heat_capacity_j_per_k`` is effective: air alone (150 m3: 180 kJ/K)
    would heat several kelvin a minute; racks, floor and walls slow it down.
    """

    heat_capacity_j_per_k: float = 400_000.0
    leakage_w_per_k: float = 50.0
    volume_m3: float = 150.0
    air_changes_per_h: float = 0.5
    outdoor_c: float = 30.0
    outdoor_moisture_g_per_kg: float = 10.0
    initial_c: float = 24.0
    initial_rh_pct: float = 45.0
    moisture_noise_g_per_kg: float = 0.05
    """Random-walk drift of moisture per sqrt(hour)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.heat_capacity_j_per_k <= 0 or self.volume_m3 <= 0:
            raise ValueError("heat capacity and volume must be > 0")
        if not 0 < self.initial_rh_pct <= 100:
            raise ValueError("initial_rh_pct must be in (0, 100]")


def saturation_pressure_pa(temp_c: float) -> float:
    """Water vapour saturation pressure over water (Magnus, Alduchov-Eskridge constants)."""
    return 610.94 * math.exp(17.625 * temp_c / (temp_c + 243.04))


def moisture_g_per_kg(temp_c: float, rh_pct: float) -> float:
    """Absolute humidity of air at ``temp_c`` and ``rh_pct``."""
    vapour = saturation_pressure_pa(temp_c) * rh_pct / 100.0
    return 622.0 * vapour / (ATMOSPHERE_PA - vapour)


def relative_humidity_pct(temp_c: float, moisture: float) -> float:
    """Relative humidity of air at ``temp_c`` holding ``moisture`` g/kg."""
    vapour = moisture * ATMOSPHERE_PA / (622.0 + moisture)
    return 100.0 * vapour / saturation_pressure_pa(temp_c)


def compressor_fault(index: int) -> str:
    """Fault (and alarm stem) name of compressor ``index`` (1-based)."""
    return f"compressor_{index}"


EQUIPMENT_FAULTS = ("fan", "filter", "water_leak", "power", "return_sensor")
"""Faults besides compressors; ``compressor`` in a request means every compressor."""

_FAULT_ALARM = {
    "fan": "fan_failure",
    "filter": "filter_clogged",
    "water_leak": "water_leak",
    "power": "power_failure",
    "return_sensor": "return_sensor_failure",
}


class CracModel:
    """One CRAC unit and the room it cools; see the module docstring for the physics.

    Inputs the bench sets: :attr:`it_load_w`, :attr:`gpu_load_w` (fed from the
    GPUs' power draw), :attr:`outdoor_c`. Outputs it reads:
    :attr:`room_air_c` (= return air), :attr:`supply_air_c` (the cold air the
    racks breathe), plus everything the unit reports over Modbus.
    """

    def __init__(
        self,
        params: CracParams | None = None,
        room: RoomParams | None = None,
        *,
        clock: Clock | None = None,
        speed: float = 1.0,
        it_load_w: float = 6000.0,
        max_step_s: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        if max_step_s <= 0:
            raise ValueError("max_step_s must be > 0")
        self.params = params or CracParams()
        self.room = room or RoomParams()
        self._clock: Clock = clock or time.monotonic
        self._speed = speed
        self._clock_ref = self._clock()
        self._sim_ref = 0.0
        self._t = 0.0
        self._max_step_s = max_step_s
        self._rng = random.Random(self.room.seed)
        p = self.params
        # inputs
        self._it_load_w = self._check_load(it_load_w)
        self._gpu_load_w = 0.0
        self._outdoor_c = self.room.outdoor_c
        # settings (the holding registers)
        self._unit_on = True
        self._return_setpoint_c = p.return_setpoint_c
        self._supply_setpoint_c = p.supply_setpoint_c
        self._humidity_setpoint_pct = p.humidity_setpoint_pct
        self._high_return_limit_c = p.high_return_limit_c
        self._low_return_limit_c = p.low_return_limit_c
        self._control_mode = p.control_mode
        self.local_lock = False
        self.refusal = Refusal.EXCEPTION
        # state
        self._temp_c = self.room.initial_c
        self._moisture = moisture_g_per_kg(self._temp_c, self.room.initial_rh_pct)
        self._supply_c = self._temp_c
        self._stages = 0  # compressors the controller asks for
        self._demand = 0.0  # proportional: fraction of total capacity asked for
        self._heater = 0
        self._humidifying = False
        self._faults: set[str] = set()
        self._env_alarms: set[str] = set()
        self._latched: set[str] = set()
        # counters
        self._running_s = [0.0] * p.compressors
        self._starts = [0] * p.compressors
        self._running_prev = [False] * p.compressors
        self._cooling_j = 0.0
        self._heating_j = 0.0
        self._heat_in_j = 0.0
        self._control()
        self._evaluate_alarms()

    # time ---------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        """Simulated seconds per clock second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"speed must be > 0, got {value}")
        self._sync()
        self._sim_ref = self._target_s()
        self._clock_ref = self._clock()
        self._speed = value

    @property
    def sim_time_s(self) -> float:
        """Simulated seconds since the model was made (integrated up to now)."""
        self._sync()
        return self._t

    def _target_s(self) -> float:
        return self._sim_ref + (self._clock() - self._clock_ref) * self._speed

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward by ``seconds`` on top of the clock (integrated)."""
        if seconds < 0:
            raise ValueError("cannot go back in time")
        self._sim_ref += seconds
        self._sync()

    def _sync(self) -> None:
        """Integrate the state up to the clock's now."""
        target = self._target_s()
        while self._t < target - 1e-9:
            dt = min(self._max_step_s, target - self._t)
            self._step(dt)
            self._t += dt

    # inputs -----------------------------------------------------------------------------

    @staticmethod
    def _check_load(watts: float) -> float:
        if not math.isfinite(watts) or watts < 0:
            raise ValueError(f"a load must be a finite number >= 0 W, got {watts}")
        return float(watts)

    @property
    def it_load_w(self) -> float:
        """Heat from the IT equipment other than the GPUs (W)."""
        return self._it_load_w

    @it_load_w.setter
    def it_load_w(self, watts: float) -> None:
        value = self._check_load(watts)
        self._sync()
        self._it_load_w = value

    @property
    def gpu_load_w(self) -> float:
        """Heat from the GPUs (W): the bench feeds it from the GPUs' power draw."""
        return self._gpu_load_w

    @gpu_load_w.setter
    def gpu_load_w(self, watts: float) -> None:
        value = self._check_load(watts)
        self._sync()
        self._gpu_load_w = value

    @property
    def total_load_w(self) -> float:
        """IT plus GPU heat."""
        return self._it_load_w + self._gpu_load_w

    @property
    def outdoor_c(self) -> float:
        """Temperature outside the room's envelope."""
        return self._outdoor_c

    @outdoor_c.setter
    def outdoor_c(self, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError("outdoor temperature must be finite")
        self._sync()
        self._outdoor_c = float(value)

    # faults -------------------------------------------------------------------------------

    def fault_names(self) -> tuple[str, ...]:
        """Every fault this unit can be given."""
        comps = tuple(compressor_fault(i + 1) for i in range(self.params.compressors))
        return ("compressor", *comps, *EQUIPMENT_FAULTS)

    @property
    def faults(self) -> frozenset[str]:
        """Faults in force now (compressors by their own names)."""
        return frozenset(self._faults)

    def set_fault(self, name: str, active: bool = True) -> frozenset[str]:
        """Start or end a fault; ``none`` ends every fault. Returns the faults in force."""
        self._sync()
        if name == "none":
            self._faults.clear()
        else:
            names = self._expand(name)
            if active:
                self._faults.update(names)
            else:
                self._faults.difference_update(names)
        self._control()
        self._evaluate_alarms()
        log.info("faults now %s", sorted(self._faults))
        return self.faults

    def _expand(self, name: str) -> list[str]:
        if name == "compressor":
            return [compressor_fault(i + 1) for i in range(self.params.compressors)]
        if name not in self.fault_names():
            raise FaultError(
                f"unknown fault {name!r} (one of none, {', '.join(self.fault_names())})"
            )
        return [name]

    # settings (what remote writes and the local panel change) ----------------------------------

    def _remote(self, local: bool) -> None:
        if not local and self.local_lock:
            raise CommandRefused("local", "the unit is in local mode: remote commands are locked")

    @staticmethod
    def _in_range(what: str, value: float, bounds: tuple[float, float], unit: str) -> float:
        low, high = bounds
        if not math.isfinite(value) or not low <= value <= high:
            raise CommandRefused(
                "range", f"{what} {value:g} {unit} outside the unit's {low:g}..{high:g} {unit}"
            )
        return float(value)

    @property
    def unit_on(self) -> bool:
        """Whether the unit is switched on (remote or panel); power loss does not change it."""
        return self._unit_on

    def set_unit_on(self, on: bool, *, local: bool = False) -> None:
        """Switch the unit on or off; ``local`` is the unit's own panel, never locked."""
        self._remote(local)
        self._sync()
        self._unit_on = bool(on)
        self._control()

    @property
    def return_setpoint_c(self) -> float:
        """Return air setpoint."""
        return self._return_setpoint_c

    def set_return_setpoint(self, value: float, *, local: bool = False) -> None:
        """Change the return air setpoint (refused outside the panel's range or when locked)."""
        self._remote(local)
        checked = self._in_range(
            "return air setpoint", value, self.params.return_setpoint_range_c, "°C"
        )
        self._sync()
        self._return_setpoint_c = checked
        self._control()

    @property
    def supply_setpoint_c(self) -> float:
        """Supply air setpoint."""
        return self._supply_setpoint_c

    def set_supply_setpoint(self, value: float, *, local: bool = False) -> None:
        """Change the supply air setpoint."""
        self._remote(local)
        checked = self._in_range(
            "supply air setpoint", value, self.params.supply_setpoint_range_c, "°C"
        )
        self._sync()
        self._supply_setpoint_c = checked
        self._control()

    @property
    def humidity_setpoint_pct(self) -> float:
        """Relative humidity setpoint."""
        return self._humidity_setpoint_pct

    def set_humidity_setpoint(self, value: float, *, local: bool = False) -> None:
        """Change the humidity setpoint."""
        self._remote(local)
        checked = self._in_range(
            "humidity setpoint", value, self.params.humidity_setpoint_range_pct, "%RH"
        )
        self._sync()
        self._humidity_setpoint_pct = checked
        self._control()

    @property
    def high_return_limit_c(self) -> float:
        """High return air temperature alarm threshold."""
        return self._high_return_limit_c

    @property
    def low_return_limit_c(self) -> float:
        """Low return air temperature alarm threshold."""
        return self._low_return_limit_c

    def set_return_limits(
        self, *, high_c: float | None = None, low_c: float | None = None, local: bool = False
    ) -> None:
        """Change the return air alarm thresholds (high must stay above low)."""
        self._remote(local)
        high = self._high_return_limit_c if high_c is None else high_c
        low = self._low_return_limit_c if low_c is None else low_c
        self._in_range("high temperature alarm", high, (0.0, 50.0), "°C")
        self._in_range("low temperature alarm", low, (0.0, 50.0), "°C")
        if not low < high:
            raise CommandRefused("range", f"low alarm {low:g} °C not below high alarm {high:g} °C")
        self._sync()
        self._high_return_limit_c, self._low_return_limit_c = float(high), float(low)
        self._evaluate_alarms()

    @property
    def control_mode(self) -> ControlMode:
        """Which temperature is regulated."""
        return self._control_mode

    def set_control_mode(self, mode: ControlMode, *, local: bool = False) -> None:
        """Regulate return or supply air."""
        self._remote(local)
        self._sync()
        self._control_mode = ControlMode(mode)
        self._control()

    def reset_alarms(self, *, local: bool = False) -> frozenset[str]:
        """Acknowledge latched equipment alarms whose cause is gone; returns those left."""
        self._remote(local)
        self._sync()
        self._latched = {a for a in self._latched if a in self._equipment_alarms()}
        return self.alarms

    # controller ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Switched on and powered."""
        return self._unit_on and "power" not in self._faults

    def _healthy(self) -> list[int]:
        return [
            i for i in range(self.params.compressors) if compressor_fault(i + 1) not in self._faults
        ]

    def _airflow_fraction(self) -> float:
        """Airflow as a fraction of nominal: fan speed, a clogged filter, a dead fan."""
        if not self.running or "fan" in self._faults:
            return 0.0
        fraction = self._fan_command_pct() / 100.0
        if "filter" in self._faults:
            fraction *= FILTER_CLOGGED_AIRFLOW
        return fraction

    def _fan_command_pct(self) -> float:
        p = self.params
        if not self.running:
            return 0.0
        if p.controller is Controller.PROPORTIONAL:
            share = self._demand
        else:
            share = self._stages / p.compressors
        return p.fan_min_pct + (100.0 - p.fan_min_pct) * share

    def _controlled_c(self) -> float:
        if self._control_mode is ControlMode.SUPPLY:
            return self._supply_c
        return self._temp_c

    def _setpoint_c(self) -> float:
        if self._control_mode is ControlMode.SUPPLY:
            return self._supply_setpoint_c
        return self._return_setpoint_c

    def _control(self) -> None:
        """One controller evaluation: compressor stages, heater stages, humidifier."""
        p = self.params
        if not self.running:
            self._stages = self._heater = 0
            self._demand = 0.0
            self._humidifying = False
            return
        error = self._controlled_c() - self._setpoint_c()
        if p.controller is Controller.PROPORTIONAL:
            self._demand = min(1.0, max(0.0, 0.5 + error / p.proportional_band_k))
            self._stages = math.ceil(self._demand * p.compressors - 1e-9)
        else:
            # stage k (1-based) starts at (k - 0.5) steps above the setpoint and
            # stops at (k - 1.5) steps: one step of hysteresis per stage.
            step = p.stage_step_k
            stages = self._stages
            while stages < p.compressors and error >= (stages + 0.5) * step:
                stages += 1
            while stages > 0 and error <= (stages - 1.5) * step:
                stages -= 1
            self._stages = stages
            self._demand = stages / p.compressors
        # reheat: stage k starts heat_offset + (k-1) steps below, stops one step higher
        heater = self._heater
        below = -error - p.heat_offset_k
        while heater < p.heater_stages and below >= heater * p.stage_step_k:
            heater += 1
        while heater > 0 and below <= (heater - 2) * p.stage_step_k:
            heater -= 1
        self._heater = heater
        if p.humidifier:
            rh = relative_humidity_pct(self._temp_c, self._moisture)
            if rh <= self._humidity_setpoint_pct - p.humidity_band_pct:
                self._humidifying = True
            elif rh >= self._humidity_setpoint_pct:
                self._humidifying = False

    def _compressors_running(self) -> list[bool]:
        """Which compressors run: the first healthy ones, as many as the controller asks.

        A dead fan trips every compressor (low-pressure/airflow safety).
        """
        running = [False] * self.params.compressors
        if self._airflow_fraction() <= 0:
            return running
        for index in self._healthy()[: self._stages]:
            running[index] = True
        return running

    def _cooling_w(self) -> float:
        p = self.params
        airflow = self._airflow_fraction()
        if airflow <= 0:
            return 0.0
        available = len(self._healthy())
        if p.controller is Controller.PROPORTIONAL:
            units = min(self._demand * p.compressors, available)
        else:
            units = min(self._stages, available)
        return units * p.compressor_capacity_w * min(1.0, airflow / FULL_CAPACITY_AIRFLOW)

    def _heating_w(self) -> float:
        if self._airflow_fraction() <= 0:
            return 0.0  # heater safety thermostat: no airflow, no heat
        return self._heater * self.params.heater_stage_w

    def _fan_heat_w(self) -> float:
        if self._airflow_fraction() <= 0:
            return 0.0
        return self.params.fan_power_w * (self._fan_command_pct() / 100.0) ** 3

    # integration ---------------------------------------------------------------------------

    def _step(self, dt: float) -> None:
        p, room = self.params, self.room
        cooling = self._cooling_w()
        heating = self._heating_w()
        heat_in = (
            self.total_load_w
            + room.leakage_w_per_k * (self._outdoor_c - self._temp_c)
            + self._fan_heat_w()
        )
        self._temp_c += (heat_in + heating - cooling) * dt / room.heat_capacity_j_per_k
        # supply sensor: first-order lag towards the coil's leaving air
        flow = p.airflow_m3_s * self._airflow_fraction()
        if flow > 0:
            target = self._temp_c - (cooling - heating) / (
                AIR_DENSITY_KG_M3 * AIR_CP_J_PER_KG_K * flow
            )
        else:
            target = self._temp_c
        self._supply_c += (target - self._supply_c) * (1 - math.exp(-dt / p.supply_sensor_tau_s))
        # moisture
        air_kg = AIR_DENSITY_KG_M3 * room.volume_m3
        exchange = (
            room.air_changes_per_h / 3600.0 * (room.outdoor_moisture_g_per_kg - self._moisture)
        )
        condensed = cooling * (1 - p.sensible_heat_ratio) / LATENT_HEAT_J_PER_KG * 1000.0
        added = p.humidifier_g_per_s if self._humidifying and flow > 0 else 0.0
        self._moisture += (exchange + (added - condensed) / air_kg) * dt
        self._moisture += room.moisture_noise_g_per_kg * math.sqrt(dt / 3600.0) * self._rng.gauss()
        saturated = moisture_g_per_kg(self._temp_c, 100.0)
        self._moisture = min(max(self._moisture, 0.1), saturated)
        # counters
        running = self._compressors_running()
        for i, on in enumerate(running):
            if on:
                self._running_s[i] += dt
                if not self._running_prev[i]:
                    self._starts[i] += 1
        self._running_prev = running
        self._cooling_j += cooling * dt
        self._heating_j += heating * dt
        self._heat_in_j += heat_in * dt
        self._control()
        self._evaluate_alarms()

    # alarms -------------------------------------------------------------------------------

    def _equipment_alarms(self) -> set[str]:
        """Alarms that the faults in force raise right now."""
        found: set[str] = set()
        for fault in self._faults:
            if fault.startswith("compressor_"):
                found.add(f"{fault}_failure")
            elif fault != "fan" or self._unit_on:  # a stopped fan is only missed when asked to run
                found.add(_FAULT_ALARM[fault])
        return found

    def _evaluate_alarms(self) -> None:
        p = self.params
        rh = relative_humidity_pct(self._temp_c, self._moisture)
        self._hysteresis("high_return_temp", self._temp_c, self._high_return_limit_c, True)
        self._hysteresis("low_return_temp", self._temp_c, self._low_return_limit_c, False)
        self._hysteresis("high_supply_temp", self._supply_c, p.high_supply_limit_c, True)
        self._hysteresis("low_supply_temp", self._supply_c, p.low_supply_limit_c, False)
        self._hysteresis(
            "high_humidity", rh, p.high_humidity_limit_pct, True, HUMIDITY_ALARM_HYSTERESIS_PCT
        )
        self._hysteresis(
            "low_humidity", rh, p.low_humidity_limit_pct, False, HUMIDITY_ALARM_HYSTERESIS_PCT
        )
        if p.latch_equipment_alarms:
            self._latched |= self._equipment_alarms()

    def _hysteresis(
        self,
        name: str,
        value: float,
        limit: float,
        high: bool,
        band: float = TEMP_ALARM_HYSTERESIS_K,
    ) -> None:
        if name in self._env_alarms:
            gone = value <= limit - band if high else value >= limit + band
            if gone:
                self._env_alarms.discard(name)
        elif (value >= limit) if high else (value <= limit):
            self._env_alarms.add(name)

    @property
    def alarms(self) -> frozenset[str]:
        """Active alarms: conditions now, plus latched equipment alarms not yet reset."""
        self._sync()
        return frozenset(self._env_alarms | self._equipment_alarms() | self._latched)

    # outputs ---------------------------------------------------------------------------------

    @property
    def room_air_c(self) -> float:
        """Room (= return) air temperature, the truth the return sensor measures."""
        self._sync()
        return self._temp_c

    @property
    def return_air_c(self) -> float | None:
        """What the return air sensor reports; None while it is broken."""
        self._sync()
        return None if "return_sensor" in self._faults else self._temp_c

    @property
    def supply_air_c(self) -> float:
        """Supply (cold aisle, rack inlet) air temperature as the supply sensor sees it."""
        self._sync()
        return self._supply_c

    @property
    def humidity_pct(self) -> float:
        """Return air relative humidity."""
        self._sync()
        return min(100.0, relative_humidity_pct(self._temp_c, self._moisture))

    @property
    def fan_pct(self) -> float:
        """Fan speed feedback (0 with a dead fan or the unit stopped)."""
        self._sync()
        if "fan" in self._faults:
            return 0.0
        return self._fan_command_pct()

    @property
    def compressors_on(self) -> tuple[bool, ...]:
        """Which compressors are running."""
        self._sync()
        return tuple(self._compressors_running())

    @property
    def heater_stages_on(self) -> int:
        """Electric reheat stages energised."""
        self._sync()
        return self._heater if self._airflow_fraction() > 0 else 0

    @property
    def humidifier_on(self) -> bool:
        """Steam humidifier producing."""
        self._sync()
        return self._humidifying and self._airflow_fraction() > 0

    @property
    def cooling_w(self) -> float:
        """Sensible cooling delivered now."""
        self._sync()
        return self._cooling_w()

    @property
    def cooling_demand_pct(self) -> float:
        """The controller's cooling request, percent of total capacity."""
        self._sync()
        return 100.0 * self._demand

    def compressor_hours(self, index: int) -> float:
        """Run hours of compressor ``index`` (0-based) since the model started."""
        self._sync()
        return self._running_s[index] / 3600.0

    def compressor_running_s(self) -> tuple[float, ...]:
        """Seconds each compressor has run since the model started."""
        self._sync()
        return tuple(self._running_s)

    def stats(self) -> dict[str, Any]:
        """Counters since start: run time and starts per compressor, energy (J)."""
        self._sync()
        return {
            "sim_time_s": self._t,
            "compressor_running_s": list(self._running_s),
            "compressor_starts": list(self._starts),
            "cooling_j": self._cooling_j,
            "heating_j": self._heating_j,
            "heat_in_j": self._heat_in_j,
        }

    def state(self) -> dict[str, Any]:
        """JSON-able snapshot of inputs, settings, outputs and alarms."""
        self._sync()
        return {
            "sim_time_s": self._t,
            "speed": self._speed,
            "it_load_w": self._it_load_w,
            "gpu_load_w": self._gpu_load_w,
            "outdoor_c": self._outdoor_c,
            "room_air_c": self._temp_c,
            "return_air_c": self.return_air_c,
            "supply_air_c": self._supply_c,
            "humidity_pct": self.humidity_pct,
            "fan_pct": self.fan_pct,
            "compressors_on": list(self.compressors_on),
            "heater_stages_on": self.heater_stages_on,
            "humidifier_on": self.humidifier_on,
            "cooling_w": self._cooling_w(),
            "cooling_demand_pct": 100.0 * self._demand,
            "unit_on": self._unit_on,
            "running": self.running,
            "control_mode": self._control_mode.value,
            "return_setpoint_c": self._return_setpoint_c,
            "supply_setpoint_c": self._supply_setpoint_c,
            "humidity_setpoint_pct": self._humidity_setpoint_pct,
            "high_return_limit_c": self._high_return_limit_c,
            "low_return_limit_c": self._low_return_limit_c,
            "local_lock": self.local_lock,
            "refusal": self.refusal.value,
            "faults": sorted(self._faults),
            "alarms": sorted(self.alarms),
        }
