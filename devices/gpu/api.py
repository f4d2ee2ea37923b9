"""The part of the NVML API (``pynvml``) the GPU driver calls, as a Protocol.

The real ``pynvml`` module satisfies it, and so does the fake NVML in
``sim_devices.fake_nvml``; the driver takes either by injection. Names and
parameters are pynvml's own (a conformance test checks them against the
installed nvidia-ml-py), units are NVML's: mW, mJ, degC, bytes, MHz.

Strings come back as ``str`` from nvidia-ml-py >= 11.515 and as ``bytes``
from older releases, hence ``str | bytes``.

``nvmlDeviceGetCurrentClocksThrottleReasons`` (the pre-R535 name of
``nvmlDeviceGetCurrentClocksEventReasons``) is deliberately not a member:
pynvml has announced its removal, so the driver looks it up with ``getattr``
as a fallback only.
"""

from __future__ import annotations

from typing import Protocol

LEGACY_REASONS_FUNCTION = "nvmlDeviceGetCurrentClocksThrottleReasons"
"""Fallback for drivers older than R535, whose library lacks the event-reasons call."""


class Utilization(Protocol):
    """``c_nvmlUtilization_t``: percent of the last sample period the GPU / memory was busy."""

    @property
    def gpu(self) -> int: ...

    @property
    def memory(self) -> int: ...


class MemoryInfo(Protocol):
    """``c_nvmlMemory_t``: framebuffer memory in bytes."""

    @property
    def total(self) -> int: ...

    @property
    def free(self) -> int: ...

    @property
    def used(self) -> int: ...


class NvmlApi(Protocol):
    """The NVML functions the driver calls; handles are opaque objects."""

    def nvmlInit(self) -> None: ...

    def nvmlShutdown(self) -> None: ...

    def nvmlSystemGetDriverVersion(self) -> str | bytes: ...

    def nvmlDeviceGetCount(self) -> int: ...

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object: ...

    def nvmlDeviceGetName(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetUUID(self, handle: object) -> str | bytes: ...

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int: ...

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int: ...

    def nvmlDeviceGetPowerManagementLimit(self, handle: object) -> int: ...

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: object) -> list[int]: ...

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: object) -> int: ...

    def nvmlDeviceSetPowerManagementLimit(self, handle: object, limit: int) -> None: ...

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int: ...

    def nvmlDeviceGetTemperatureThreshold(self, handle: object, threshold: int) -> int: ...

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> Utilization: ...

    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> MemoryInfo: ...

    def nvmlDeviceGetFanSpeed(self, handle: object) -> int: ...

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int: ...

    def nvmlDeviceGetClockInfo(self, handle: object, type: int) -> int: ...

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: object) -> int: ...


def real_nvml() -> NvmlApi:
    """The installed ``pynvml`` module (importing it needs no NVIDIA library)."""
    import pynvml

    nvml: NvmlApi = pynvml
    return nvml


def text(value: str | bytes) -> str:
    """NVML strings as ``str`` whatever the pynvml release."""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
