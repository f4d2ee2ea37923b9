"""A fake NVML (the ``pynvml`` API) with a power and thermal model of each GPU.

NVML is an in-process C library, not a network protocol: a driver takes the
fake in place of the ``pynvml`` module (dependency injection). Its errors are
pynvml's own exception classes. See ``fake.py`` for the faults it can show
and ``physics.py`` for the model.
"""

from sim_devices.clock import AcceleratedClock
from sim_devices.fake_nvml.fake import BoardState, FakeHandle, FakeNvml, nvml_error
from sim_devices.fake_nvml.models import A100_PCIE_40GB, L4, MODELS, T4, GpuModel, get_model
from sim_devices.fake_nvml.physics import GpuPhysics

__all__ = [
    "A100_PCIE_40GB",
    "L4",
    "MODELS",
    "T4",
    "AcceleratedClock",
    "BoardState",
    "FakeHandle",
    "FakeNvml",
    "GpuModel",
    "GpuPhysics",
    "get_model",
    "nvml_error",
]
