"""Closed-loop GPU power caps on temperature: one PI controller per GPU.

The setpoint is ``margin_k`` below the lowest temperature at which the GPU
starts slowing itself (max operating, else slowdown), and ``crac_margin_k``
lower again while the cooling is degraded: when supply air rises, capping
early is cheaper than the hardware halving the clocks later. The cap comes
down fast (``rate_down_w_per_s``) and goes back up in steps
(``restore_step_w`` every ``restore_interval_s``) only once the GPU is
``restore_band_k`` below its setpoint and the cooling is healthy again, so
a recovering room does not set the caps oscillating.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.gpu.reading import GpuReading


@dataclass(frozen=True, slots=True)
class ThermalConfig:
    """Controller tuning; gains are watts per kelvin (and per kelvin-second)."""

    margin_k: float = 5.0
    crac_margin_k: float = 4.0
    kp_w_per_k: float = 4.0
    ki_w_per_k_s: float = 0.2
    rate_down_w_per_s: float = 5.0
    restore_step_w: float = 5.0
    restore_interval_s: float = 30.0
    restore_band_k: float = 3.0
    min_change_w: float = 1.0
    default_threshold_c: float = 83.0

    def __post_init__(self) -> None:
        for name in (
            "margin_k",
            "crac_margin_k",
            "kp_w_per_k",
            "ki_w_per_k_s",
            "restore_band_k",
            "min_change_w",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"thermal.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("rate_down_w_per_s", "restore_step_w", "restore_interval_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"thermal.{name} must be > 0, got {getattr(self, name)}")


@dataclass
class _GpuLoop:
    floor_w: float
    ceiling_w: float
    cap_w: float
    integral_w: float = 0.0
    last_t: float | None = None
    last_raise_t: float = float("-inf")
    setpoint_c: float = 0.0
    temperature_c: float | None = None


class ThermalController:
    """Desired cap per GPU (by ``GpuReading.source``), updated on each reading."""

    def __init__(self, config: ThermalConfig) -> None:
        self._config = config
        self._loops: dict[str, _GpuLoop] = {}

    def caps(self) -> dict[str, float]:
        """The thermal cap of every GPU seen, watts."""
        return {source: loop.cap_w for source, loop in sorted(self._loops.items())}

    def bounds(self, source: str) -> tuple[float, float] | None:
        """(lowest settable, uncapped) limit of one GPU, watts."""
        loop = self._loops.get(source)
        return None if loop is None else (loop.floor_w, loop.ceiling_w)

    def setpoint_c(self, source: str) -> float | None:
        """The temperature the controller holds that GPU under, last computed."""
        loop = self._loops.get(source)
        return None if loop is None else loop.setpoint_c

    def update(self, reading: GpuReading, *, crac_degraded: bool) -> float | None:
        """Feed one reading; the GPU's new thermal cap, or None without enough to act on."""
        cfg = self._config
        ceiling = reading.default_limit_w or reading.limit_max_w or reading.power_limit_w
        floor = reading.limit_min_w or ceiling
        if ceiling is None or floor is None:
            return None
        loop = self._loops.get(reading.source)
        if loop is None:
            loop = _GpuLoop(floor_w=floor, ceiling_w=ceiling, cap_w=ceiling)
            self._loops[reading.source] = loop
        loop.floor_w, loop.ceiling_w = floor, max(floor, ceiling)
        threshold = reading.max_operating_c or reading.slowdown_c or cfg.default_threshold_c
        if reading.slowdown_c is not None:
            threshold = min(threshold, reading.slowdown_c)
        setpoint = threshold - cfg.margin_k - (cfg.crac_margin_k if crac_degraded else 0.0)
        loop.setpoint_c = setpoint
        temp = reading.temperature_c
        dt = 0.0 if loop.last_t is None else max(0.0, reading.t_mono - loop.last_t)
        loop.last_t = reading.t_mono
        if temp is None:
            return loop.cap_w  # nothing to regulate on: hold, never restore blind
        loop.temperature_c = temp
        error = temp - setpoint  # > 0: too hot
        span = loop.ceiling_w - loop.floor_w
        # Anti-windup: the integral only covers the range the cap can actually move.
        loop.integral_w = min(max(loop.integral_w + cfg.ki_w_per_k_s * error * dt, 0.0), span)
        reduction = max(0.0, cfg.kp_w_per_k * error) + loop.integral_w
        desired = min(max(loop.ceiling_w - reduction, loop.floor_w), loop.ceiling_w)
        if desired < loop.cap_w:
            step = cfg.rate_down_w_per_s * dt if dt > 0 else cfg.rate_down_w_per_s
            loop.cap_w = max(desired, loop.cap_w - step)
        elif desired > loop.cap_w:
            cool = error <= -cfg.restore_band_k and not crac_degraded
            if cool and reading.t_mono - loop.last_raise_t >= cfg.restore_interval_s:
                loop.cap_w = min(desired, loop.cap_w + cfg.restore_step_w)
                loop.last_raise_t = reading.t_mono
        return loop.cap_w
