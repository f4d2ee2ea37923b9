"""The driver against the real pynvml, and the fake kept honest against it.

On a host without the NVIDIA driver the real pynvml must give the clear
"unavailable" state; on a host with GPUs (``--run-hardware``) the same
driver reads them. The conformance tests pin the driver's and the fake's
NVML names, signatures and constants to the installed nvidia-ml-py.
"""

from __future__ import annotations

import ctypes
import inspect
import math
import re
from pathlib import Path

import pynvml
import pytest

from devices.errors import DeviceConnectionError
from devices.gpu import (
    CLOCK_EVENT_REASONS,
    GpuReading,
    NvmlApi,
    NvmlGpus,
    decode_reasons,
    nvml_errors,
)
from devices.gpu import fields as driver_fields
from devices.gpu.api import LEGACY_REASONS_FUNCTION
from sim_devices.fake_nvml import T4, FakeNvml, physics
from sim_devices.fake_nvml import fake as fake_module


def _nvml_library_present() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


HAS_NVML = _nvml_library_present()

API_FUNCTIONS = sorted(name for name in dir(NvmlApi) if name.startswith("nvml"))


def test_every_nvml_function_named_in_the_driver_is_in_the_protocol_and_in_pynvml() -> None:
    driver_dir = Path(driver_fields.__file__).parent
    named = {
        token
        for source in driver_dir.glob("*.py")
        for token in re.findall(
            r"\bnvml(?:Init|Shutdown|Device\w+|System\w+)\b", source.read_text()
        )
    }
    assert "nvmlDeviceSetPowerManagementLimit" in named
    assert named - set(API_FUNCTIONS) == {LEGACY_REASONS_FUNCTION}
    missing = sorted(name for name in named if not callable(getattr(pynvml, name, None)))
    assert missing == [], f"not in nvidia-ml-py {pynvml.__file__}: {missing}"


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_every_protocol_function_exists_in_pynvml_with_a_compatible_signature(name: str) -> None:
    assert hasattr(pynvml, name), f"pynvml {pynvml.__file__} has no {name}"
    ours = list(inspect.signature(getattr(NvmlApi, name)).parameters.values())[1:]  # self
    theirs = list(inspect.signature(getattr(pynvml, name)).parameters.values())
    assert [p.name for p in theirs[: len(ours)]] == [p.name for p in ours]
    for mine, real in zip(ours, theirs, strict=False):
        assert real.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        if mine.default is not inspect.Parameter.empty:
            assert real.default is not inspect.Parameter.empty, (
                f"{name}({real.name}) has no default"
            )
    for extra in theirs[len(ours) :]:
        assert extra.default is not inspect.Parameter.empty, f"{name} needs {extra.name}"


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_the_fake_has_the_protocol_signature(name: str) -> None:
    ours = inspect.signature(getattr(NvmlApi, name))
    fakes = inspect.signature(getattr(FakeNvml, name))
    assert [(p.name, p.default) for p in fakes.parameters.values()] == [
        (p.name, p.default) for p in ours.parameters.values()
    ]


def test_the_legacy_reasons_fallback_exists_in_pynvml_and_the_fake() -> None:
    assert callable(getattr(pynvml, LEGACY_REASONS_FUNCTION))
    assert callable(getattr(FakeNvml, LEGACY_REASONS_FUNCTION))
    assert list(inspect.signature(getattr(pynvml, LEGACY_REASONS_FUNCTION)).parameters) == [
        "handle"
    ]


def test_nvml_constants_match_pynvml() -> None:
    # The driver and the fake each carry the NVML ABI values they use; pynvml is the reference.
    for module in (driver_fields, fake_module):
        assert module.TEMPERATURE_GPU == pynvml.NVML_TEMPERATURE_GPU
        assert module.THRESHOLD_SHUTDOWN == pynvml.NVML_TEMPERATURE_THRESHOLD_SHUTDOWN
        assert module.THRESHOLD_SLOWDOWN == pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN
        assert module.THRESHOLD_GPU_MAX == pynvml.NVML_TEMPERATURE_THRESHOLD_GPU_MAX
        assert module.CLOCK_SM == pynvml.NVML_CLOCK_SM
    assert fake_module.CLOCK_MEM == pynvml.NVML_CLOCK_MEM
    for code in (
        "NO_PERMISSION",
        "NOT_SUPPORTED",
        "INVALID_ARGUMENT",
        "UNINITIALIZED",
        "DRIVER_NOT_LOADED",
        "TIMEOUT",
        "LIBRARY_NOT_FOUND",
        "FUNCTION_NOT_FOUND",
        "GPU_IS_LOST",
        "RESET_REQUIRED",
        "LIB_RM_VERSION_MISMATCH",
        "NO_DATA",
        "NOT_READY",
        "UNKNOWN",
    ):
        assert getattr(nvml_errors, code) == getattr(pynvml, f"NVML_ERROR_{code}"), code


def test_clock_event_reason_bits_match_pynvml() -> None:
    for bit, name in CLOCK_EVENT_REASONS:
        event = getattr(pynvml, f"nvmlClocksEventReason{name}", None)
        throttle = getattr(pynvml, f"nvmlClocksThrottleReason{name}")
        assert bit == throttle, name
        if event is not None:
            assert bit == event, name
    assert pynvml.nvmlClocksEventReasonGpuIdle == physics.REASON_GPU_IDLE
    assert pynvml.nvmlClocksEventReasonSwPowerCap == physics.REASON_SW_POWER_CAP
    assert pynvml.nvmlClocksEventReasonHwSlowdown == physics.REASON_HW_SLOWDOWN
    assert pynvml.nvmlClocksEventReasonSwThermalSlowdown == physics.REASON_SW_THERMAL
    assert pynvml.nvmlClocksEventReasonHwThermalSlowdown == physics.REASON_HW_THERMAL


def test_decode_reasons_names_every_bit_and_keeps_unknown_ones() -> None:
    assert decode_reasons(0) == ()
    assert decode_reasons(0x4 | 0x40 | 0x8) == ("SwPowerCap", "HwSlowdown", "HwThermalSlowdown")
    assert decode_reasons(0x1 | 0x1000) == ("GpuIdle", "Unknown0x1000")


def test_the_fake_raises_pynvmls_own_exception_classes() -> None:
    fake = FakeNvml([T4])
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(pynvml.NVMLError_NotSupported):
        fake.nvmlDeviceGetFanSpeed(handle)  # a T4 is passively cooled
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetHandleByIndex(1)
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceGetPowerUsage(object())
    with pytest.raises(pynvml.NVMLError_InvalidArgument):
        fake.nvmlDeviceSetPowerManagementLimit(handle, 75000)
    fake.set_root(False)
    with pytest.raises(pynvml.NVMLError_NoPermission):
        fake.nvmlDeviceSetPowerManagementLimit(handle, 65000)
    fake.nvmlShutdown()
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlShutdown()
    broken = FakeNvml([T4], init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    with pytest.raises(pynvml.NVMLError_LibraryNotFound) as err:
        broken.nvmlInit()
    assert isinstance(err.value, pynvml.NVMLError)
    assert err.value.value == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND


def test_the_fake_speaks_nvml_units() -> None:
    fake = FakeNvml([T4])
    fake.nvmlInit()
    handle = fake.nvmlDeviceGetHandleByIndex(0)
    assert fake.nvmlDeviceGetPowerManagementLimitConstraints(handle) == [60000, 70000]
    assert fake.nvmlDeviceGetEnforcedPowerLimit(handle) == 70000
    assert fake.nvmlDeviceGetPowerUsage(handle) == 10000
    assert isinstance(fake.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU), int)
    memory = fake.nvmlDeviceGetMemoryInfo(handle)
    assert memory.total == 15360 * 2**20 == memory.used + memory.free
    assert fake.nvmlDeviceGetName(handle) == "Tesla T4"
    fake.nvmlShutdown()


@pytest.mark.skipif(HAS_NVML, reason="this host has an NVIDIA driver")
async def test_real_pynvml_without_a_driver_is_a_clear_unavailable_state() -> None:
    gpus = NvmlGpus()  # the real pynvml
    inventory = await gpus.open()
    assert inventory.available is False
    assert inventory.reason == "NVML library not found: no NVIDIA driver on this host"
    assert gpus.devices() == []
    with pytest.raises(DeviceConnectionError, match="no NVIDIA driver on this host"):
        await gpus.read(0)
    await gpus.close()


@pytest.mark.hardware
@pytest.mark.skipif(not HAS_NVML, reason="no NVIDIA driver on this host")
async def test_real_gpus_read_sane_values() -> None:
    async with NvmlGpus() as gpus:
        inventory = gpus.inventory
        assert inventory is not None
        assert inventory.available, inventory
        readings = await gpus.read_all()
        access = await gpus.can_set_power_limit(0)
    assert access.reason
    for index, reading in readings.items():
        assert isinstance(reading, GpuReading), f"GPU {index}: {reading}"
        assert reading.name
        assert reading.uuid
        assert reading.uuid.startswith("GPU-")
        if reading.power_w is not None:
            assert 0 < reading.power_w < 2000
        if reading.temperature_c is not None:
            assert 0 < reading.temperature_c < 120
        if reading.limit_min_w is not None and reading.power_limit_w is not None:
            assert reading.limit_min_w <= reading.power_limit_w
        if reading.memory_total_mib is not None:
            assert reading.memory_total_mib > 1024
        for value in (reading.energy_j, reading.util_gpu_pct, reading.sm_clock_mhz):
            assert value is None or (math.isfinite(value) and value >= 0)
