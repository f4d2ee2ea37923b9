"""Read every GPU through the walkout NVML driver and print what it sees as JSON.

    .venv/bin/python benchmarks/gpu_check.py [--reads N] [--no-probe] [--fake MODEL[xCOUNT]]

By default it uses the real pynvml, unchanged: on a host with NVIDIA GPUs it
prints the inventory, one reading per GPU, whether the power limit can be
set (probed without changing it), and the cost of a reading: the median time
of one GPU's reading through the driver (its NVML thread, per-field error
handling) against the same NVML calls made directly, measured in the same
run. On a host without the driver it prints the "unavailable" state and its
reason. ``--fake t4x2`` runs the same against the fake NVML instead.

Exit status 0 unless the script itself fails; timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import statistics
import sys
import time
from typing import Any

from devices.errors import DeviceError
from devices.gpu import GpuReading, NvmlApi, NvmlGpus, real_nvml
from devices.gpu.fields import CLOCK_SM, TEMPERATURE_GPU


def _parse_fake(spec: str) -> NvmlApi:
    from sim_devices.fake_nvml import FakeNvml, get_model

    match = re.fullmatch(r"(.+)x(\d+)", spec)
    name, count = (match.group(1), int(match.group(2))) if match else (spec, 1)
    fake = FakeNvml([get_model(name)] * count)
    for index in range(fake.count):
        fake.set_load(index, 100.0 * (index + 1) / fake.count)
    return fake


def _direct_read(nvml: NvmlApi, handle: object) -> None:
    """The NVML calls a polled reading makes (static fields are cached), made directly."""
    calls = (
        lambda: nvml.nvmlDeviceGetPowerUsage(handle),
        lambda: nvml.nvmlDeviceGetEnforcedPowerLimit(handle),
        lambda: nvml.nvmlDeviceGetTemperature(handle, TEMPERATURE_GPU),
        lambda: nvml.nvmlDeviceGetUtilizationRates(handle),
        lambda: nvml.nvmlDeviceGetMemoryInfo(handle),
        lambda: nvml.nvmlDeviceGetFanSpeed(handle),
        lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle),
        lambda: nvml.nvmlDeviceGetClockInfo(handle, CLOCK_SM),
        lambda: nvml.nvmlDeviceGetCurrentClocksEventReasons(handle),
    )
    for call in calls:
        try:
            call()
        except Exception as exc:
            if getattr(exc, "value", None) is None:
                raise


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


async def check(nvml: NvmlApi | None, reads: int, probe: bool) -> dict[str, Any]:
    """Everything the driver can tell about this host's GPUs."""
    out: dict[str, Any] = {"nvml": "fake" if nvml is not None else "pynvml"}
    async with NvmlGpus(nvml) as gpus:
        inventory = await gpus.open()
        out["inventory"] = dataclasses.asdict(inventory)
        if not inventory.available:
            return out
        results = await gpus.read_all()
        out["gpus"] = [
            dataclasses.asdict(r) if isinstance(r, GpuReading) else {"index": i, "error": str(r)}
            for i, r in results.items()
        ]
        if probe:
            out["power_limit_access"] = []
            for index in results:
                try:
                    access = dataclasses.asdict(await gpus.can_set_power_limit(index))
                except DeviceError as exc:
                    access = {"index": index, "error": str(exc)}
                out["power_limit_access"].append(access)
        api = nvml if nvml is not None else real_nvml()
        timing = []
        for index, result in results.items():
            if not isinstance(result, GpuReading):
                continue
            driver_s, direct_s = [], []
            try:
                handle = api.nvmlDeviceGetHandleByIndex(index)
            except Exception as exc:
                timing.append({"index": index, "error": f"{exc}"})
                continue
            for _ in range(reads):
                start = time.perf_counter()
                await gpus.read(index)
                driver_s.append(time.perf_counter() - start)
                start = time.perf_counter()
                _direct_read(api, handle)
                direct_s.append(time.perf_counter() - start)
            timing.append(
                {
                    "index": index,
                    "reads": reads,
                    "driver_read_ms_median": _median_ms(driver_s),
                    "direct_calls_ms_median": _median_ms(direct_s),
                    "driver_over_direct": round(
                        statistics.median(driver_s) / statistics.median(direct_s), 2
                    ),
                }
            )
        out["timing"] = timing
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reads", type=int, default=50, help="readings per GPU for timing")
    parser.add_argument("--no-probe", action="store_true", help="skip the power-limit probe")
    parser.add_argument("--fake", metavar="MODEL[xCOUNT]", help="use the fake NVML (e.g. t4x2)")
    args = parser.parse_args(argv)
    nvml = _parse_fake(args.fake) if args.fake else None
    result = asyncio.run(check(nvml, max(1, args.reads), not args.no_probe))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
