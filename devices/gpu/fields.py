"""The fields of a GPU reading, declared as data: which NVML call fills which fields.

Each field is read on its own, so one query a GPU does not support costs
that field, not the reading. Static fields (identity, limits range,
thresholds) are read until they succeed once, then kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from devices.gpu.api import LEGACY_REASONS_FUNCTION, NvmlApi, text
from devices.gpu.nvml_errors import FUNCTION_NOT_FOUND, error_code
from devices.gpu.reading import decode_reasons

# NVML ABI constants (nvml.h) for the calls below.
TEMPERATURE_GPU = 0
THRESHOLD_SHUTDOWN = 0
THRESHOLD_SLOWDOWN = 1
THRESHOLD_GPU_MAX = 3
CLOCK_SM = 1

EVENT_REASONS_FUNCTION = "nvmlDeviceGetCurrentClocksEventReasons"

Value = float | str | tuple[str, ...] | None
_MIB = 2**20


@dataclass
class GpuSlot:
    """What the driver keeps per GPU between polls.

    Changed on the NVML thread, except ``device_id`` (named before polling
    starts) and ``handle`` (dropped after an NVML error, fetched again there).
    """

    index: int
    device_id: str
    handle: object | None = None
    uuid: str | None = None
    name: str | None = None
    static: dict[str, Value] = field(default_factory=dict)
    unsupported: set[str] = field(default_factory=set)
    legacy_reasons: bool = False


Reader = Callable[[NvmlApi, GpuSlot, object], tuple[Value, ...]]


@dataclass(frozen=True, slots=True)
class Field:
    """``names`` of GpuReading filled by one NVML ``function`` (or its older ``fallback``)."""

    names: tuple[str, ...]
    function: str
    read: Reader
    static: bool = False
    fallback: str | None = None

    def available_in(self, nvml: NvmlApi) -> bool:
        """Whether this nvidia-ml-py has the call at all (old releases lack newer ones)."""
        names = (self.function,) if self.fallback is None else (self.function, self.fallback)
        return any(getattr(nvml, name, None) is not None for name in names)


def _w(mw: int) -> float:
    return mw / 1000


def _reasons(nvml: NvmlApi, slot: GpuSlot, handle: object) -> tuple[Value, ...]:
    """Event reasons; for good the pre-R535 name when the library or pynvml lacks the new one."""
    current = getattr(nvml, EVENT_REASONS_FUNCTION, None)
    if current is not None and not slot.legacy_reasons:
        try:
            return (decode_reasons(current(handle)),)
        except Exception as exc:
            if error_code(exc) != FUNCTION_NOT_FOUND or not hasattr(nvml, LEGACY_REASONS_FUNCTION):
                raise
            slot.legacy_reasons = True
    mask: int = getattr(nvml, LEGACY_REASONS_FUNCTION)(handle)
    return (decode_reasons(mask),)


FIELDS: tuple[Field, ...] = (
    Field(("name",), "nvmlDeviceGetName", lambda n, s, h: (text(n.nvmlDeviceGetName(h)),), True),
    Field(("uuid",), "nvmlDeviceGetUUID", lambda n, s, h: (text(n.nvmlDeviceGetUUID(h)),), True),
    Field(
        ("power_w",),
        "nvmlDeviceGetPowerUsage",
        lambda n, s, h: (_w(n.nvmlDeviceGetPowerUsage(h)),),
    ),
    Field(
        ("power_limit_w",),
        "nvmlDeviceGetEnforcedPowerLimit",
        lambda n, s, h: (_w(n.nvmlDeviceGetEnforcedPowerLimit(h)),),
    ),
    Field(
        ("limit_min_w", "limit_max_w"),
        "nvmlDeviceGetPowerManagementLimitConstraints",
        lambda n, s, h: tuple(_w(v) for v in n.nvmlDeviceGetPowerManagementLimitConstraints(h)),
        True,
    ),
    Field(
        ("default_limit_w",),
        "nvmlDeviceGetPowerManagementDefaultLimit",
        lambda n, s, h: (_w(n.nvmlDeviceGetPowerManagementDefaultLimit(h)),),
        True,
    ),
    Field(
        ("temperature_c",),
        "nvmlDeviceGetTemperature",
        lambda n, s, h: (float(n.nvmlDeviceGetTemperature(h, TEMPERATURE_GPU)),),
    ),
    Field(
        ("max_operating_c",),
        "nvmlDeviceGetTemperatureThreshold",
        lambda n, s, h: (float(n.nvmlDeviceGetTemperatureThreshold(h, THRESHOLD_GPU_MAX)),),
        True,
    ),
    Field(
        ("slowdown_c",),
        "nvmlDeviceGetTemperatureThreshold",
        lambda n, s, h: (float(n.nvmlDeviceGetTemperatureThreshold(h, THRESHOLD_SLOWDOWN)),),
        True,
    ),
    Field(
        ("shutdown_c",),
        "nvmlDeviceGetTemperatureThreshold",
        lambda n, s, h: (float(n.nvmlDeviceGetTemperatureThreshold(h, THRESHOLD_SHUTDOWN)),),
        True,
    ),
    Field(
        ("util_gpu_pct", "util_mem_pct"),
        "nvmlDeviceGetUtilizationRates",
        lambda n, s, h: _utilisation(n, h),
    ),
    Field(
        ("memory_used_mib", "memory_total_mib"),
        "nvmlDeviceGetMemoryInfo",
        lambda n, s, h: _memory(n, h),
    ),
    Field(
        ("fan_pct",), "nvmlDeviceGetFanSpeed", lambda n, s, h: (float(n.nvmlDeviceGetFanSpeed(h)),)
    ),
    Field(
        ("energy_j",),
        "nvmlDeviceGetTotalEnergyConsumption",
        lambda n, s, h: (n.nvmlDeviceGetTotalEnergyConsumption(h) / 1000,),
    ),
    Field(
        ("sm_clock_mhz",),
        "nvmlDeviceGetClockInfo",
        lambda n, s, h: (float(n.nvmlDeviceGetClockInfo(h, CLOCK_SM)),),
    ),
    Field(
        ("throttle_reasons",),
        EVENT_REASONS_FUNCTION,
        _reasons,
        fallback=LEGACY_REASONS_FUNCTION,
    ),
)
"""In reading order; identity (name, uuid) first: it is read when NVML is opened."""


def _utilisation(nvml: NvmlApi, handle: object) -> tuple[Value, ...]:
    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
    return float(rates.gpu), float(rates.memory)


def _memory(nvml: NvmlApi, handle: object) -> tuple[Value, ...]:
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    return info.used / _MIB, info.total / _MIB
