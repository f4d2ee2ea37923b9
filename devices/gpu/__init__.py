"""NVIDIA GPUs through NVML (nvidia-ml-py): readings, inventory and power limits."""

from devices.gpu.api import NvmlApi, real_nvml
from devices.gpu.nvml import NvmlGpu, NvmlGpus
from devices.gpu.reading import (
    CLOCK_EVENT_REASONS,
    GpuIdentity,
    GpuInventory,
    GpuReading,
    PowerLimitAccess,
    decode_reasons,
)

__all__ = [
    "CLOCK_EVENT_REASONS",
    "GpuIdentity",
    "GpuInventory",
    "GpuReading",
    "NvmlApi",
    "NvmlGpu",
    "NvmlGpus",
    "PowerLimitAccess",
    "decode_reasons",
    "real_nvml",
]
