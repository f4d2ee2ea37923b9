"""``walkout probe`` and ``walkout dump``: read one configured unit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table as RichTable

from devices.fixture import make_fixture
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load, run_device_call
from walkout.cli.snmp_cmd import dump_snmp
from walkout.config import StoreConfig
from walkout.runtime import Runtime


def _runtime_for(config: StoreConfig, device: str) -> Runtime:
    if device not in {u.id for u in config.modbus.units}:
        known = ", ".join(u.id for u in config.modbus.units) or "none"
        raise fail(f"no device {device!r} in the config (known: {known})", EXIT_CONFIG)
    return Runtime(config)


def _number(value: float) -> str:
    """Integers (serial numbers, counts) in full, weights to 0.01 g."""
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def probe(
    device: Annotated[str, typer.Argument(help="unit id from store.yaml, e.g. sc-01")],
    config: Path = CONFIG_OPTION,
) -> None:
    """Connect to one unit, read every point of its profile once and show it."""
    cfg = load(config)
    runtime = _runtime_for(cfg, device)

    async def go() -> tuple[dict[str, float | list[float]], float, str]:
        try:
            scale = runtime.scale_for_unit(device, list(range(cfg.profile(device).max_cells)))
            await scale.connect()
            start = time.monotonic()
            reading = await scale.read()
            latency = time.monotonic() - start
            values, _ = await scale.read_points()
            values["stable"] = [float(s) for s in reading.stable]
            return values, latency, scale.address
        finally:
            await runtime.close()

    values, latency, address = run_device_call(go())
    table = RichTable("point", "value", title=f"{device} at {address} ({cfg.profile(device).name})")
    for name, value in values.items():
        numbers = value if isinstance(value, list) else [value]
        table.add_row(name, ", ".join(_number(v) for v in numbers))
    console.print(table)
    console.print(f"weight read in {latency * 1000:.1f} ms")


def dump(
    device: Annotated[str, typer.Argument(help="unit id from store.yaml")],
    output: Annotated[Path, typer.Option("--output", "-o", help="fixture file to write")],
    config: Path = CONFIG_OPTION,
) -> None:
    """Write a redacted fixture of one device: a Modbus unit (JSON) or an SNMP UPS (.snmprec)."""
    cfg = load(config)
    if any(u.id == device and u.type == "snmp" for u in cfg.facility.ups):
        dump_snmp(device, output, config)  # the simulators and snmpsim replay the file
        return
    runtime = _runtime_for(cfg, device)
    profile = cfg.profile(device)

    async def go() -> dict[str, Any]:
        try:
            scale = runtime.scale_for_unit(device, list(range(profile.max_cells)))
            await scale.connect()
            image = await scale.dump_registers()
            return make_fixture(profile, cfg.unit(device).unit_id, image)
        finally:
            await runtime.close()

    fixture = run_device_call(go())
    output.write_text(json.dumps(fixture, indent=1) + "\n", encoding="utf-8")
    count = sum(len(t) for t in fixture["tables"].values())
    console.print(f"wrote {output}: {count} registers, redacted {fixture['redacted']}")
