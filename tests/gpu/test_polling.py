"""GPUs polled by the coordinator onto the bus, and the check script end to end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from peers.gpu_boards import ROUND

from devices.bus import Bus, Message, Subscription
from devices.coordinator import PollingCoordinator
from devices.gpu import GpuReading, NvmlGpus
from devices.health import HealthChanged, HealthState
from sim_devices.fake_nvml import FakeNvml

from .test_real_pynvml import HAS_NVML

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


async def _until(sub: Subscription, wanted: Callable[[Message], bool], timeout_s: float) -> Message:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await sub.get()
            if wanted(message):
                return message


async def test_a_lost_gpu_goes_offline_while_the_others_keep_publishing() -> None:
    fake = FakeNvml([ROUND, ROUND, ROUND])
    fake.set_load(2, 100)
    bus = Bus()
    sub = bus.subscribe(GpuReading, HealthChanged, maxsize=10_000)
    async with NvmlGpus(fake) as gpus:
        coordinator = PollingCoordinator(bus, offline_backoff_cap_s=0.5)
        for device in gpus.devices():
            coordinator.add(device, 50.0, lambda reading: [reading])
        task = asyncio.create_task(coordinator.run())
        try:
            seen: set[str] = set()

            def all_read(message: Message) -> bool:
                if isinstance(message, GpuReading):
                    seen.add(message.source)
                return seen == {"gpu0", "gpu1", "gpu2"}

            await _until(sub, all_read, 5.0)
            fake.lose(1)
            offline = await _until(
                sub,
                lambda m: (
                    isinstance(m, HealthChanged)
                    and m.health.device_id == "gpu1"
                    and m.health.state is HealthState.OFFLINE
                ),
                5.0,
            )
            assert isinstance(offline, HealthChanged)
            assert "lost" in offline.health.reason
            later = await _until(
                sub, lambda m: isinstance(m, GpuReading) and m.source == "gpu2", 5.0
            )
            assert isinstance(later, GpuReading)
            assert later.power_w == 90.0
            assert later.t_mono > offline.t_mono
            fake.reset(1)
            back = await _until(
                sub,
                lambda m: (
                    isinstance(m, HealthChanged)
                    and m.health.device_id == "gpu1"
                    and m.health.state is HealthState.ONLINE
                ),
                5.0,
            )
            assert isinstance(back, HealthChanged)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    sub.close()


def _run_script(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(HAS_NVML, reason="this host has an NVIDIA driver")
def test_check_script_on_a_host_without_gpus_prints_the_unavailable_state() -> None:
    result = _run_script()
    assert result["nvml"] == "pynvml"
    inventory = result["inventory"]
    assert isinstance(inventory, dict)
    assert inventory["available"] is False
    assert inventory["reason"] == "NVML library not found: no NVIDIA driver on this host"
    assert "gpus" not in result


def test_check_script_against_the_fake_prints_readings_probe_and_timing() -> None:
    start = time.monotonic()
    result = _run_script("--fake", "l4x2", "--reads", "3")
    assert time.monotonic() - start < 30
    gpus = result["gpus"]
    assert isinstance(gpus, list)
    assert [g["name"] for g in gpus] == ["NVIDIA L4", "NVIDIA L4"]
    assert [g["util_gpu_pct"] for g in gpus] == [50.0, 100.0]
    assert gpus[1]["throttle_reasons"] == ["SwPowerCap"]
    access = result["power_limit_access"]
    assert isinstance(access, list)
    assert [a["allowed"] for a in access] == [True, True]
    timing = result["timing"]
    assert isinstance(timing, list)
    assert [t["reads"] for t in timing] == [3, 3]
    assert all(t["driver_read_ms_median"] > 0 for t in timing)
