"""What the GPU driver publishes: per-GPU readings, the host's inventory, probe results.

Every field that NVML did not give is ``None``, never a default: a GPU
that does not support a query (a passively cooled board has no fan speed)
names the field in ``unsupported``; a ``None`` not listed there is a value
NVML had no sample for this time (``NoData``/``NotReady``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message

# Clock event (formerly "throttle") reason bits, NVML ABI (nvml.h nvmlClocksEventReason*).
CLOCK_EVENT_REASONS: tuple[tuple[int, str], ...] = (
    (0x0000000000000001, "GpuIdle"),
    (0x0000000000000002, "ApplicationsClocksSetting"),
    (0x0000000000000004, "SwPowerCap"),
    (0x0000000000000008, "HwSlowdown"),
    (0x0000000000000010, "SyncBoost"),
    (0x0000000000000020, "SwThermalSlowdown"),
    (0x0000000000000040, "HwThermalSlowdown"),
    (0x0000000000000080, "HwPowerBrakeSlowdown"),
    (0x0000000000000100, "DisplayClockSetting"),
    (0x0000000000000200, "BoardLimit"),
    (0x0000000000000400, "Reliability"),
)
_KNOWN_MASK = sum(bit for bit, _ in CLOCK_EVENT_REASONS)

THERMAL_REASONS = frozenset({"SwThermalSlowdown", "HwThermalSlowdown"})


def decode_reasons(mask: int) -> tuple[str, ...]:
    """Names of the bits set in an NVML clock event reason mask.

    A bit this table does not know (a newer driver) is kept as
    ``Unknown0x...`` rather than dropped.
    """
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    unknown = mask & ~_KNOWN_MASK
    bit = 1
    while unknown:
        if unknown & bit:
            names.append(f"Unknown0x{bit:X}")
            unknown &= ~bit
        bit <<= 1
    return tuple(names)


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuReading(Message):
    """One poll of one GPU; ``source`` is the GPU's device id, ``index`` its NVML index.

    ``power_limit_w`` is the *enforced* limit (the lowest of every limit in
    force); ``limit_min_w``/``limit_max_w`` bound what can be set.
    ``max_operating_c`` is where the driver starts slowing the GPU down,
    ``slowdown_c`` where the hardware halves clocks, ``shutdown_c`` where
    the board turns itself off. ``energy_j`` counts since the driver loaded.
    """

    durable: ClassVar[bool] = False
    index: int
    uuid: str | None = None
    name: str | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    limit_min_w: float | None = None
    limit_max_w: float | None = None
    default_limit_w: float | None = None
    temperature_c: float | None = None
    max_operating_c: float | None = None
    slowdown_c: float | None = None
    shutdown_c: float | None = None
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    fan_pct: float | None = None
    energy_j: float | None = None
    sm_clock_mhz: float | None = None
    throttle_reasons: tuple[str, ...] | None = None
    unsupported: tuple[str, ...] = ()

    @property
    def power_capped(self) -> bool | None:
        """The power limit is holding clocks down (None: reasons unknown)."""
        if self.throttle_reasons is None:
            return None
        return "SwPowerCap" in self.throttle_reasons

    @property
    def thermal_slowdown(self) -> bool | None:
        """Software or hardware thermal slowdown is engaged (None: reasons unknown)."""
        if self.throttle_reasons is None:
            return None
        return not THERMAL_REASONS.isdisjoint(self.throttle_reasons)


@dataclass(frozen=True, slots=True)
class GpuIdentity:
    """One GPU as found when NVML was opened; ``error`` when it did not answer."""

    index: int
    uuid: str | None = None
    name: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuInventory(Message):
    """The host's GPUs, or why there are none to read.

    ``available`` is False on a host without the NVIDIA driver, without
    GPUs, or where no GPU answered; ``reason`` then says which, in words an
    installer can act on.
    """

    available: bool
    reason: str = ""
    driver_version: str | None = None
    gpus: tuple[GpuIdentity, ...] = ()


@dataclass(frozen=True, slots=True)
class PowerLimitAccess:
    """Whether walkout can change one GPU's power limit, and why not if not."""

    index: int
    allowed: bool
    reason: str
    limit_w: float | None = None
    min_w: float | None = None
    max_w: float | None = None
