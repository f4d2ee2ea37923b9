"""Power and temperature of one simulated GPU, integrated over time.

Power: ``idle + (full_load - idle) * utilisation``, the dynamic part scaled
down by thermal slowdown, then clipped by the enforced power limit (the cap
sets ``SwPowerCap``).

Temperature, first order: ``dT/dt = (T_air + R_th * P - T) / tau``. Between
two updates the equation is integrated in short steps with its exact
exponential solution, power being held for each step; with constant power
the result is exact whatever the step, so tests can compare it with the
closed form.

Thermal protection, as on real boards:

- above ``max_operating_c`` the driver's software slowdown
  (``SwThermalSlowdown``) lowers clocks in proportion to the excess, down to
  half the dynamic power at ``slowdown_c``;
- at ``slowdown_c`` the hardware slowdown (``HwThermalSlowdown`` +
  ``HwSlowdown``) halves the clocks; it releases ``hysteresis_k`` below;
- at ``shutdown_c`` the board drops off the bus: it is *lost* (draws
  nothing, answers nothing) until reset.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sim_devices.fake_nvml.models import GpuModel

# Clock event reason bits (NVML ABI, nvml.h nvmlClocksEventReason*).
REASON_GPU_IDLE = 0x1
REASON_SW_POWER_CAP = 0x4
REASON_HW_SLOWDOWN = 0x8
REASON_SW_THERMAL = 0x20
REASON_HW_THERMAL = 0x40

MAX_STEP_S = 0.25
"""Longest integration step; tau is tens of seconds, so this is far below it."""

MAX_STEPS = 100_000
"""Cap on steps per update, so a clock jump of days stays cheap (steps grow instead)."""

HW_SLOWDOWN_FACTOR = 0.5
"""Hardware slowdown halves the clocks, so the dynamic power is halved too."""


@dataclass
class GpuPhysics:
    """The physical state of one board; ``advance`` moves it to a new time.

    Inputs (set by the caller, applied from the current time on):
    ``utilisation`` 0..1, ``inlet_c`` (the air the board breathes, e.g. a
    CRAC's supply air), ``limit_w`` (the power-management limit).
    """

    model: GpuModel
    inlet_c: float = 25.0
    utilisation: float = 0.0
    limit_w: float = 0.0
    temperature_c: float = 0.0
    energy_j: float = 0.0
    hysteresis_k: float = 3.0
    lost: bool = False
    hw_slowdown: bool = False

    def __post_init__(self) -> None:
        if self.limit_w == 0.0:
            self.limit_w = self.model.default_limit_w
        if self.temperature_c == 0.0:
            self.temperature_c = self.steady_state_c()

    # --- instantaneous quantities -------------------------------------------------------

    def sw_thermal_factor(self) -> float:
        """Share of the dynamic power the software slowdown leaves (1 below max operating)."""
        m = self.model
        excess = self.temperature_c - m.max_operating_c
        if excess <= 0:
            return 1.0
        return max(0.5, 1.0 - 0.5 * excess / (m.slowdown_c - m.max_operating_c))

    def uncapped_w(self) -> float:
        """Draw before the power cap: idle plus the throttled dynamic part."""
        if self.lost:
            return 0.0
        m = self.model
        dynamic = (m.full_load_w - m.idle_w) * self.utilisation * self.sw_thermal_factor()
        if self.hw_slowdown:
            dynamic *= HW_SLOWDOWN_FACTOR
        return m.idle_w + dynamic

    def power_w(self) -> float:
        """Draw now: the uncapped draw clipped by the enforced limit."""
        return min(self.uncapped_w(), self.limit_w)

    def power_capped(self) -> bool:
        """Whether the limit is holding the board below what the load asks for."""
        return not self.lost and self.uncapped_w() > self.limit_w + 1e-9

    def steady_state_c(self) -> float:
        """Where the temperature goes at the present power: ``T_air + R_th * P``."""
        return self.inlet_c + self.model.r_th_k_per_w * self.power_w()

    def reasons(self) -> int:
        """NVML clock event reason bitmask for the present state."""
        bits = 0
        if self.utilisation <= 0.0:
            bits |= REASON_GPU_IDLE
        if self.power_capped():
            bits |= REASON_SW_POWER_CAP
        if self.temperature_c > self.model.max_operating_c:
            bits |= REASON_SW_THERMAL
        if self.hw_slowdown:
            bits |= REASON_HW_THERMAL | REASON_HW_SLOWDOWN
        return bits

    def sm_clock_mhz(self) -> int:
        """SM clock: boost under load, reduced in proportion to slowdown and capping."""
        m = self.model
        if self.lost:
            return 0
        if self.utilisation <= 0.0:
            return m.idle_sm_clock_mhz
        factor = self.sw_thermal_factor() * (HW_SLOWDOWN_FACTOR if self.hw_slowdown else 1.0)
        uncapped = self.uncapped_w()
        if uncapped > self.limit_w and uncapped > m.idle_w:
            factor *= (self.limit_w - m.idle_w) / (uncapped - m.idle_w)
        return max(m.idle_sm_clock_mhz, round(m.max_sm_clock_mhz * factor))

    # --- time -----------------------------------------------------------------------------

    def advance(self, dt_s: float) -> None:
        """Integrate ``dt_s`` seconds with the inputs as they are now."""
        if dt_s <= 0:
            return
        steps = min(MAX_STEPS, max(1, math.ceil(dt_s / MAX_STEP_S)))
        step = dt_s / steps
        decay = math.exp(-step / self.model.tau_s)
        for _ in range(steps):
            power = self.power_w()
            self.energy_j += power * step
            target = self.inlet_c + self.model.r_th_k_per_w * power
            self.temperature_c = target + (self.temperature_c - target) * decay
            self._protect()

    def _protect(self) -> None:
        m = self.model
        if self.temperature_c >= m.shutdown_c:
            self.lost = True
            self.hw_slowdown = False
        elif self.temperature_c >= m.slowdown_c:
            self.hw_slowdown = True
        elif self.temperature_c < m.slowdown_c - self.hysteresis_k:
            self.hw_slowdown = False
