"""``walkout gpu check``: what the rack's GPUs report and whether walkout may cap them."""

from __future__ import annotations

import re
from typing import Annotated

import typer
from rich.table import Table as RichTable

from devices.errors import DeviceError
from devices.gpu import GpuReading, NvmlApi, NvmlGpus, PowerLimitAccess
from walkout.cli.common import EXIT_CONFIG, EXIT_DEVICE, console, fail, run_device_call

app = typer.Typer(help="NVIDIA GPUs through NVML.", no_args_is_help=True)


def _fake(spec: str) -> NvmlApi:
    """``t4x2``: a fake NVML with two T4 boards (for demos and tests of this command)."""
    from sim_devices.fake_nvml import FakeNvml, get_model

    match = re.fullmatch(r"(.+?)(?:x(\d+))?", spec)
    assert match is not None  # the pattern matches any non-empty text
    name, count = match.group(1), int(match.group(2) or 1)
    try:
        model = get_model(name)
    except ValueError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    fake = FakeNvml([model] * count)
    for index in range(count):
        fake.set_load(index, 60.0)
    return fake


def _w(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} W"


def _c(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} °C"


def _row(reading: GpuReading, access: PowerLimitAccess) -> list[str]:
    limits = (
        f"{_w(reading.limit_min_w)} .. {_w(reading.limit_max_w)}"
        if reading.limit_min_w is not None
        else "-"
    )
    reasons = reading.throttle_reasons
    return [
        str(reading.index),
        reading.name or "-",
        _w(reading.power_w),
        _w(reading.power_limit_w),
        limits,
        _c(reading.temperature_c),
        f"{_c(reading.max_operating_c)} / {_c(reading.slowdown_c)} / {_c(reading.shutdown_c)}",
        "-" if reading.util_gpu_pct is None else f"{reading.util_gpu_pct:.0f} %",
        "unknown" if reasons is None else (", ".join(reasons) or "none"),
        "yes" if access.allowed else f"no: {access.reason}",
    ]


@app.command("check")
def check(
    fake: Annotated[
        str | None,
        typer.Option(help="read a fake NVML instead, e.g. 't4x2' (demo and tests)"),
    ] = None,
) -> None:
    """Per GPU: power, limit and its range, temperatures, throttle reasons, capping allowed."""
    nvml = _fake(fake) if fake else None

    async def go() -> tuple[str, list[tuple[GpuReading, PowerLimitAccess]], list[str]]:
        async with NvmlGpus(nvml) as gpus:
            inventory = gpus.inventory
            assert inventory is not None  # set by entering the context
            if not inventory.available:
                raise fail(f"no GPUs to check: {inventory.reason}", EXIT_DEVICE)
            rows: list[tuple[GpuReading, PowerLimitAccess]] = []
            failed: list[str] = []
            for index, result in (await gpus.read_all()).items():
                if isinstance(result, DeviceError):
                    failed.append(f"GPU {index}: {result}")
                    continue
                rows.append((result, await gpus.can_set_power_limit(index)))
            return inventory.driver_version or "unknown", rows, failed

    driver, rows, failed = run_device_call(go())
    table = RichTable(
        "#",
        "name",
        "power",
        "limit",
        "limit range",
        "temp",
        "max-op / slowdown / shutdown",
        "util",
        "throttle reasons",
        "can cap",
        title=f"GPUs (driver {driver})",
    )
    for reading, access in rows:
        table.add_row(*_row(reading, access))
    console.print(table)
    for line in failed:
        console.print(f"[red]{line}[/]")
    if failed:
        raise typer.Exit(EXIT_DEVICE)
