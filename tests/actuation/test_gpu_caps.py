"""CapGpus through the real NVML driver against the fake NVML (physical model, same API)."""

from __future__ import annotations

import pynvml
from peers.gpu_boards import ROUND

from devices.bus import Bus
from devices.gpu import NvmlGpus
from facility.actuation import Actuator
from facility.actuation.adapters import NvmlGpuCapper
from facility.supervisor import CapGpus, StoreMode
from sim_devices.clock import ManualClock
from sim_devices.fake_nvml import FakeNvml

from .conftest import Outcomes, running, stop

# Settable range 50-90 W; the default limit is the maximum.
BOARD = ROUND


def cap(*targets: tuple[str, float]) -> CapGpus:
    return CapGpus(
        source="supervisor", t_mono=0.0, mode=StoreMode.CONSERVE, reason="t", targets=targets
    )


async def test_caps_are_applied_and_read_back(bus: Bus, outcomes: Outcomes) -> None:
    fake = FakeNvml([BOARD, BOARD], clock=ManualClock())
    async with NvmlGpus(fake) as gpus:
        actuator = Actuator(bus, gpus=NvmlGpuCapper(gpus.devices()))
        task = await running(actuator)
        try:
            await bus.publish(cap(("gpu0", 70.0), ("gpu1", 55.5)))
            outcome = await outcomes.next("cap_gpus")
        finally:
            await stop(task)
    assert outcome.ok
    assert outcome.verified
    assert outcome.source == "actuation.cap_gpus"
    assert outcome.mode is StoreMode.CONSERVE
    assert outcome.failed == ()
    assert fake.state(0).limit_w == 70.0
    assert fake.state(1).limit_w == 55.5
    assert "gpu0: 70 W" in outcome.detail
    assert "gpu1: 55.5 W" in outcome.detail


async def test_a_gpu_that_cannot_be_capped_fails_while_the_others_are_capped(
    bus: Bus, outcomes: Outcomes
) -> None:
    fake = FakeNvml([BOARD, BOARD, BOARD], clock=ManualClock())
    fake.inject_error(1, "nvmlDeviceSetPowerManagementLimit", pynvml.NVML_ERROR_NO_PERMISSION)
    async with NvmlGpus(fake) as gpus:
        actuator = Actuator(bus, gpus=NvmlGpuCapper(gpus.devices()))
        outcome = await actuator.execute(cap(("gpu0", 60.0), ("gpu1", 60.0), ("gpu2", 65.0)))
    assert not outcome.ok
    assert not outcome.verified
    assert outcome.failed == ("gpu1",)
    assert fake.state(0).limit_w == 60.0
    assert fake.state(1).limit_w == 90.0  # untouched: still its default
    assert fake.state(2).limit_w == 65.0
    assert "gpu1:" in outcome.detail
    assert "gpu2: 65 W" in outcome.detail


async def test_a_lower_limit_in_force_fails_the_read_back(bus: Bus) -> None:
    fake = FakeNvml([BOARD], clock=ManualClock())
    fake.set_external_limit(0, 52.0)  # the chassis holds the board lower than we ask
    async with NvmlGpus(fake) as gpus:
        outcome = await Actuator(bus, gpus=NvmlGpuCapper(gpus.devices())).execute(
            cap(("gpu0", 70.0))
        )
    assert not outcome.ok
    assert outcome.failed == ("gpu0",)
    assert "52" in outcome.detail


async def test_an_unknown_gpu_id_fails_by_name(bus: Bus) -> None:
    fake = FakeNvml([BOARD], clock=ManualClock())
    async with NvmlGpus(fake) as gpus:
        outcome = await Actuator(bus, gpus=NvmlGpuCapper(gpus.devices())).execute(
            cap(("gpu0", 80.0), ("gpu7", 80.0))
        )
    assert outcome.failed == ("gpu7",)
    assert "no GPU with source id 'gpu7' (known: gpu0)" in outcome.detail
    assert fake.state(0).limit_w == 80.0
