"""The NVML driver against the fake NVML."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

import pynvml
import pytest
from peers.gpu_boards import ROUND

from devices.errors import (
    DeviceCommandError,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
)
from devices.gpu import GpuReading, NvmlGpus
from sim_devices.clock import ManualClock
from sim_devices.fake_nvml import A100_PCIE_40GB, T4, FakeNvml

FIELD_GROUPS: dict[str, tuple[str, ...]] = {
    "nvmlDeviceGetName": ("name",),
    "nvmlDeviceGetUUID": ("uuid",),
    "nvmlDeviceGetPowerUsage": ("power_w",),
    "nvmlDeviceGetEnforcedPowerLimit": ("power_limit_w",),
    "nvmlDeviceGetPowerManagementLimitConstraints": ("limit_min_w", "limit_max_w"),
    "nvmlDeviceGetPowerManagementDefaultLimit": ("default_limit_w",),
    "nvmlDeviceGetTemperature": ("temperature_c",),
    "nvmlDeviceGetTemperatureThreshold": ("max_operating_c", "slowdown_c", "shutdown_c"),
    "nvmlDeviceGetUtilizationRates": ("util_gpu_pct", "util_mem_pct"),
    "nvmlDeviceGetMemoryInfo": ("memory_used_mib", "memory_total_mib"),
    "nvmlDeviceGetFanSpeed": ("fan_pct",),
    "nvmlDeviceGetTotalEnergyConsumption": ("energy_j",),
    "nvmlDeviceGetClockInfo": ("sm_clock_mhz",),
    "nvmlDeviceGetCurrentClocksEventReasons": ("throttle_reasons",),
}
VALUE_FIELDS = [n for group in FIELD_GROUPS.values() for n in group]


async def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_reading_matches_the_model(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock, inlet_c=25.0)
    fake.set_load(0, 50, mem_util_pct=30, memory_used_mib=4096)
    clock.advance(600.0)  # settled: 60 W, 25 + 0.5 * 60 = 55 degC
    async with NvmlGpus(fake) as gpus:
        reading = await gpus.read(0)
    assert isinstance(reading, GpuReading)
    assert reading.source == "gpu0"
    assert reading.index == 0
    assert reading.name == "Round Test Board"
    assert reading.uuid is not None
    assert reading.uuid.startswith("GPU-")
    assert reading.power_w == pytest.approx(60.0)
    assert reading.power_limit_w == 90.0
    assert (reading.limit_min_w, reading.limit_max_w, reading.default_limit_w) == (50, 90, 90)
    assert reading.temperature_c == 55.0
    assert (reading.max_operating_c, reading.slowdown_c, reading.shutdown_c) == (80, 90, 95)
    assert (reading.util_gpu_pct, reading.util_mem_pct) == (50.0, 30.0)
    assert (reading.memory_used_mib, reading.memory_total_mib) == (4096.0, 16384.0)
    assert reading.fan_pct == 30.0 + 2.0 * (55.0 - 40.0)
    # idle 20 W for 0 s, then 60 W for 600 s
    assert reading.energy_j == pytest.approx(36000.0, abs=0.01)
    assert reading.sm_clock_mhz == 1500.0
    assert reading.throttle_reasons == ()
    assert reading.power_capped is False
    assert reading.thermal_slowdown is False
    assert reading.unsupported == ()
    assert time.monotonic() - 5 < reading.t_mono <= time.monotonic()


async def test_power_cap_shows_in_the_reasons(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    fake.set_load(0, 100)
    async with NvmlGpus(fake) as gpus:
        reading = await gpus.read(0)
    assert reading.power_w == 90.0
    assert reading.throttle_reasons == ("SwPowerCap",)
    assert reading.power_capped is True


@pytest.mark.parametrize("function", sorted(FIELD_GROUPS))
async def test_an_unsupported_query_costs_only_its_fields(
    clock: ManualClock, function: str
) -> None:
    fake = FakeNvml([ROUND], clock=clock, unsupported={0: {function}})
    async with NvmlGpus(fake) as gpus:
        first = await gpus.read(0)
        calls_after_first = fake.calls[function]
        second = await gpus.read(0)
    missing = FIELD_GROUPS[function]
    for reading in (first, second):
        assert reading.unsupported == missing
        for name in VALUE_FIELDS:
            value = getattr(reading, name)
            assert (value is None) == (name in missing), name
    assert calls_after_first >= 1
    assert fake.calls[function] == calls_after_first  # not asked again


async def test_several_unsupported_fields_are_all_listed(clock: ManualClock) -> None:
    fake = FakeNvml(
        [T4],  # passively cooled: no fan speed
        clock=clock,
        unsupported={0: {"nvmlDeviceGetTotalEnergyConsumption"}},
    )
    async with NvmlGpus(fake) as gpus:
        reading = await gpus.read(0)
    assert reading.unsupported == ("fan_pct", "energy_j")
    assert reading.fan_pct is None
    assert reading.energy_j is None
    assert reading.power_w == 10.0


async def test_no_permission_on_a_query_is_tolerated_like_unsupported(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    fake.inject_error(0, "nvmlDeviceGetTotalEnergyConsumption", pynvml.NVML_ERROR_NO_PERMISSION)
    async with NvmlGpus(fake) as gpus:
        reading = await gpus.read(0)
    assert reading.energy_j is None
    assert reading.unsupported == ("energy_j",)


async def test_no_data_is_unknown_this_time_only(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    fake.inject_error(0, "nvmlDeviceGetTotalEnergyConsumption", pynvml.NVML_ERROR_NO_DATA)
    async with NvmlGpus(fake) as gpus:
        first = await gpus.read(0)
        fake.inject_error(0, "nvmlDeviceGetTotalEnergyConsumption", None)
        clock.advance(10.0)
        second = await gpus.read(0)
    assert first.energy_j is None
    assert first.unsupported == ()
    assert second.energy_j == pytest.approx(200.0)  # 20 W idle * 10 s


async def test_old_driver_without_event_reasons_falls_back_to_throttle_reasons(
    clock: ManualClock,
) -> None:
    fake = FakeNvml(
        [ROUND], clock=clock, missing_functions={"nvmlDeviceGetCurrentClocksEventReasons"}
    )
    fake.set_load(0, 100)
    async with NvmlGpus(fake) as gpus:
        first = await gpus.read(0)
        second = await gpus.read(0)
    assert first.throttle_reasons == ("SwPowerCap",)
    assert second.throttle_reasons == ("SwPowerCap",)
    assert first.unsupported == ()
    assert fake.calls["nvmlDeviceGetCurrentClocksEventReasons"] == 1
    assert fake.calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 2


class _OldPynvml(FakeNvml):
    """Like an nvidia-ml-py from before the event-reasons rename: the new name is absent."""

    def __getattribute__(self, name: str) -> Any:
        if name == "nvmlDeviceGetCurrentClocksEventReasons":
            raise AttributeError(name)
        return super().__getattribute__(name)


async def test_old_pynvml_without_event_reasons_uses_throttle_reasons(clock: ManualClock) -> None:
    fake = _OldPynvml([ROUND], clock=clock)
    fake.set_load(0, 0)
    async with NvmlGpus(fake) as gpus:
        reading = await gpus.read(0)
    assert reading.throttle_reasons == ("GpuIdle",)
    assert reading.unsupported == ()
    assert fake.calls["nvmlDeviceGetCurrentClocksThrottleReasons"] == 1


async def test_set_power_limit_reads_back_the_enforced_limit(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    fake.set_load(0, 100)
    async with NvmlGpus(fake) as gpus:
        enforced = await gpus.set_power_limit(0, 65.0)
        reading = await gpus.read(0)
    assert enforced == 65.0
    assert fake.state(0).management_limit_w == 65.0
    assert reading.power_limit_w == 65.0
    assert reading.power_w == 65.0


@pytest.mark.parametrize("watts", [49.0, 90.5, 250.0, 0.0])
async def test_a_limit_outside_the_range_is_refused_naming_the_range(
    clock: ManualClock, watts: float
) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    async with NvmlGpus(fake) as gpus:
        with pytest.raises(DeviceCommandError, match=r"outside .* range .*: 50-90 W") as err:
            await gpus.set_power_limit(0, watts)
    assert f"{watts:g} W" in str(err.value)
    assert fake.calls["nvmlDeviceSetPowerManagementLimit"] == 0
    assert fake.state(0).management_limit_w == 90.0


async def test_a_non_finite_limit_is_refused(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    async with NvmlGpus(fake) as gpus:
        with pytest.raises(DeviceCommandError, match="finite"):
            await gpus.set_power_limit(0, float("nan"))


async def test_setting_a_limit_without_root_says_root_is_needed(clock: ManualClock) -> None:
    fake = FakeNvml([A100_PCIE_40GB], clock=clock, root=False)
    async with NvmlGpus(fake) as gpus:
        with pytest.raises(DeviceCommandError, match=r"needs root.*nvidia-smi -pl"):
            await gpus.set_power_limit(0, 200.0)
    assert fake.state(0).management_limit_w == 250.0


async def test_a_lower_limit_elsewhere_fails_the_read_back(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    fake.set_external_limit(0, 60.0)
    async with NvmlGpus(fake) as gpus:
        with pytest.raises(DeviceCommandError, match="enforces 60 W: another, lower limit"):
            await gpus.set_power_limit(0, 80.0)
        assert await gpus.set_power_limit(0, 55.0) == 55.0


async def test_probe_says_whether_the_limit_can_be_set_without_changing_it(
    clock: ManualClock,
) -> None:
    fake = FakeNvml([ROUND, ROUND], clock=clock)
    async with NvmlGpus(fake) as gpus:
        await gpus.set_power_limit(1, 70.0)
        as_root = await gpus.can_set_power_limit(1)
        fake.set_root(False)
        as_user = await gpus.can_set_power_limit(1)
    assert as_root.allowed is True
    assert "50-90 W" in as_root.reason
    assert (as_root.limit_w, as_root.min_w, as_root.max_w) == (70.0, 50.0, 90.0)
    assert as_user.allowed is False
    assert "needs root" in as_user.reason
    assert fake.state(1).management_limit_w == 70.0
    assert fake.state(0).management_limit_w == 90.0


async def test_no_nvml_library_is_a_clear_unavailable_state(clock: ManualClock) -> None:
    fake = FakeNvml([T4], clock=clock, init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    gpus = NvmlGpus(fake)
    inventory = await gpus.open()
    assert inventory.available is False
    assert inventory.reason == "NVML library not found: no NVIDIA driver on this host"
    assert inventory.gpus == ()
    assert gpus.devices() == []
    with pytest.raises(DeviceConnectionError, match="NVML library not found"):
        await gpus.read(0)
    with pytest.raises(DeviceConnectionError, match="NVML library not found"):
        await gpus.set_power_limit(0, 65.0)
    await gpus.close()
    await gpus.close()


async def test_driver_not_loaded_and_no_gpus_are_named(clock: ManualClock) -> None:
    not_loaded = FakeNvml([T4], clock=clock, init_error=pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    async with NvmlGpus(not_loaded) as gpus:
        assert gpus.inventory is not None
        assert "kernel driver not loaded" in gpus.inventory.reason
    empty = FakeNvml([], clock=clock)
    async with NvmlGpus(empty) as gpus:
        assert gpus.inventory is not None
        assert gpus.inventory.available is False
        assert gpus.inventory.reason == "NVML found no NVIDIA GPU on this host"
    assert empty.calls["nvmlShutdown"] == 1  # nothing held after an empty open


async def test_inventory_lists_gpus_and_closing_releases_nvml(clock: ManualClock) -> None:
    fake = FakeNvml([T4, A100_PCIE_40GB], clock=clock)
    async with NvmlGpus(fake, device_id="rack1-gpu") as gpus:
        inventory = await gpus.open()
        assert inventory.available
        assert inventory.driver_version == "fake-550.54.15"
        assert [(g.index, g.name, g.error) for g in inventory.gpus] == [
            (0, "Tesla T4", None),
            (1, "NVIDIA A100-PCIE-40GB", None),
        ]
        assert inventory.gpus[0].uuid != inventory.gpus[1].uuid
        assert [d.device_id for d in gpus.devices({1: "big"})] == ["rack1-gpu0", "big"]
    assert fake.calls["nvmlInit"] == fake.calls["nvmlShutdown"] == 1
    with pytest.raises(pynvml.NVMLError_Uninitialized):
        fake.nvmlDeviceGetCount()


async def test_a_gpu_lost_mid_run_fails_alone_and_comes_back_after_reset(
    clock: ManualClock,
) -> None:
    fake = FakeNvml([ROUND, ROUND, ROUND], clock=clock)
    async with NvmlGpus(fake) as gpus:
        assert all(isinstance(r, GpuReading) for r in (await gpus.read_all()).values())
        fake.lose(1)
        results = await gpus.read_all()
        assert isinstance(results[0], GpuReading)
        assert isinstance(results[2], GpuReading)
        lost = results[1]
        assert isinstance(lost, DeviceConnectionError)
        assert "lost" in str(lost)
        assert lost.device == "gpu1"
        fake.reset(1)
        back = await gpus.read(1)
    assert back.power_w == 20.0
    assert fake.calls["nvmlDeviceGetHandleByIndex"] == 3 + 1  # a fresh handle after the loss


async def test_a_gpu_lost_before_open_is_listed_with_its_error(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND, ROUND], clock=clock)
    fake.lose(0)
    async with NvmlGpus(fake) as gpus:
        inventory = gpus.inventory
        assert inventory is not None
        assert inventory.available
        assert inventory.gpus[0].error is not None
        assert "GPU is lost" in inventory.gpus[0].error
        assert inventory.gpus[1].error is None
        with pytest.raises(DeviceConnectionError, match="lost"):
            await gpus.read(0)
        assert (await gpus.read(1)).power_w == 20.0


async def test_an_unknown_nvml_error_is_a_device_error_for_that_gpu(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND, ROUND], clock=clock)
    fake.inject_error(0, "nvmlDeviceGetPowerUsage", pynvml.NVML_ERROR_UNKNOWN)
    async with NvmlGpus(fake) as gpus:
        with pytest.raises(DeviceError, match=r"Unknown Error \(NVML error 999\)") as err:
            await gpus.read(0)
        assert (await gpus.read(1)).power_w == 20.0
    assert not isinstance(err.value, DeviceConnectionError)
    assert "reading GPU 0" in str(err.value)


async def test_a_thermal_trip_through_the_driver(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock, inlet_c=25.0)
    fake.set_load(0, 100)
    clock.advance(600.0)
    async with NvmlGpus(fake) as gpus:
        assert (await gpus.read(0)).throttle_reasons == ("SwPowerCap",)
        fake.set_inlet_air(80.0)  # the room's cooling failed
        seen: set[str] = set()
        error: DeviceError | None = None
        for _ in range(600):
            clock.advance(1.0)
            try:
                reading = await gpus.read(0)
            except DeviceError as exc:
                error = exc
                break
            seen.update(reading.throttle_reasons or ())
    assert {"SwThermalSlowdown", "HwThermalSlowdown", "HwSlowdown"} <= seen
    assert isinstance(error, DeviceConnectionError)
    assert "lost" in str(error)


async def test_a_wedged_nvml_times_out_and_recovers(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    gpus = NvmlGpus(fake, call_timeout_s=0.2)
    await gpus.open()
    try:
        fake.hold_calls()
        with pytest.raises(DeviceTimeoutError, match=r"did not answer within 0\.2 s"):
            await gpus.read(0)
        start = time.monotonic()
        with pytest.raises(DeviceTimeoutError, match="has not returned from reading GPU 0"):
            await gpus.read(0)
        assert time.monotonic() - start < 0.1  # refused at once, not queued behind the hung call
    finally:
        fake.release_calls()
    await _until(lambda: fake.waiting == 0)
    deadline = time.monotonic() + 5.0
    while True:
        try:
            reading = await gpus.read(0)
            break
        except DeviceTimeoutError:
            assert time.monotonic() < deadline, "NVML thread never came back"
            await asyncio.sleep(0.01)
    assert reading.power_w == 20.0
    await gpus.close()


async def test_a_hung_nvml_init_is_reported_not_waited_for(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    fake.hold_calls()
    try:
        inventory = await NvmlGpus(fake, init_timeout_s=0.2).open()
    finally:
        fake.release_calls()
    assert inventory.available is False
    assert "nvmlInit: NVML did not answer within 0.2 s" in inventory.reason
    await _until(lambda: fake.calls["nvmlShutdown"] == 1)  # the late init is still undone


async def test_closing_with_a_hung_call_does_not_block(clock: ManualClock) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    gpus = NvmlGpus(fake, call_timeout_s=0.2)
    await gpus.open()
    fake.hold_calls()
    try:
        with pytest.raises(DeviceTimeoutError):
            await gpus.read(0)
        start = time.monotonic()
        await gpus.close()
        assert time.monotonic() - start < 0.1
        assert fake.calls["nvmlShutdown"] == 0
    finally:
        fake.release_calls()
    await _until(lambda: fake.calls["nvmlShutdown"] == 1)


async def test_an_open_cancelled_inside_nvml_init_leaves_nothing_behind(
    clock: ManualClock,
) -> None:
    fake = FakeNvml([ROUND], clock=clock)
    gpus = NvmlGpus(fake)
    fake.hold_calls()
    try:
        task = asyncio.create_task(gpus.open())
        await _until(lambda: fake.waiting == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert gpus.inventory is None
    finally:
        fake.release_calls()
    await _until(lambda: fake.calls["nvmlShutdown"] == 1)
    assert fake.calls["nvmlInit"] == 1
    assert (await gpus.open()).available  # and it can be opened again
    await gpus.close()
    assert fake.calls["nvmlShutdown"] == 2


async def test_reading_fields_cover_every_value_field() -> None:
    declared = {f.name for f in fields(GpuReading)} - {"source", "t_mono", "index", "unsupported"}
    assert declared == set(VALUE_FIELDS)
