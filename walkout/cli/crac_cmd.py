"""``walkout crac check|setpoint|power``: commission a precision air-conditioning unit."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table as RichTable

from devices.crac import CracReading, ModbusCrac
from devices.crac.snmp import SnmpCrac
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load, run_device_call
from walkout.config import StoreConfig
from walkout.runtime import Runtime

app = typer.Typer(help="Precision air conditioning (CRAC) units.", no_args_is_help=True)

T = TypeVar("T")
EXIT_ALARMS = 1
UnitArg = Annotated[str, typer.Argument(help="cooling unit id from store.yaml, e.g. crac-1")]


def _with_crac(
    cfg: StoreConfig, unit: str, action: Callable[[ModbusCrac | SnmpCrac], Awaitable[T]]
) -> T:
    """Run ``action`` on the unit's driver; the link is closed on every path."""
    try:
        cfg.crac(unit)
    except KeyError as exc:
        raise fail(str(exc.args[0]), EXIT_CONFIG) from None

    async def go() -> T:
        runtime = Runtime(cfg)
        try:
            crac = runtime.crac(unit)
            await crac.connect()
            return await action(crac)
        finally:
            await runtime.close()

    return run_device_call(go())


def _fmt(value: float | bool | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.1f}{unit}"


def _show(reading: CracReading, title: str) -> None:
    table = RichTable("reading", "value", title=title)
    compressors = (
        "-"
        if reading.compressors_on is None
        else " ".join("on" if c else "off" for c in reading.compressors_on)
    )
    rows = [
        ("unit on", _fmt(reading.unit_on)),
        ("local mode", _fmt(reading.local_mode)),
        ("supply air", _fmt(reading.supply_air_c, " °C")),
        ("return air", _fmt(reading.return_air_c, " °C")),
        ("delta T", _fmt(reading.delta_t_k, " K")),
        ("humidity", _fmt(reading.humidity_pct, " %")),
        ("supply setpoint", _fmt(reading.supply_setpoint_c, " °C")),
        ("return setpoint", _fmt(reading.return_setpoint_c, " °C")),
        ("fan", _fmt(reading.fan_pct, " %")),
        ("compressors", compressors),
        ("heater", _fmt(reading.heater_on)),
        ("humidifier", _fmt(reading.humidifier_on)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@app.command("check")
def check(unit: UnitArg, config: Path = CONFIG_OPTION) -> None:
    """Read the unit once: temperatures, humidity, setpoints, fan, compressors, alarms.

    Exit status 1 when the unit reports an active alarm.
    """
    cfg = load(config)

    async def read(crac: ModbusCrac | SnmpCrac) -> tuple[CracReading, float, str]:
        start = time.monotonic()
        reading = await crac.read()
        return reading, time.monotonic() - start, crac.address

    reading, latency, address = _with_crac(cfg, unit, read)
    _show(reading, f"{unit} at {address} ({cfg.crac(unit).profile})")
    console.print(f"read in {latency * 1000:.1f} ms")
    if reading.alarms is None:
        console.print("alarms: the profile maps none")
    elif reading.alarms:
        console.print(f"[bold red]alarms active:[/] {', '.join(reading.alarms)}")
        raise typer.Exit(EXIT_ALARMS)
    else:
        console.print("alarms: none")


@app.command("setpoint")
def setpoint(
    unit: UnitArg,
    celsius: Annotated[float, typer.Argument(help="new air temperature setpoint in °C")],
    config: Path = CONFIG_OPTION,
) -> None:
    """Change the setpoint and verify it by reading it back."""
    cfg = load(config)
    applied = _with_crac(cfg, unit, lambda crac: crac.set_setpoint(celsius))
    console.print(f"{unit}: setpoint now {applied:.1f} °C (read back)")


@app.command("power")
def power(
    unit: UnitArg,
    state: Annotated[str, typer.Argument(help="on or off")],
    config: Path = CONFIG_OPTION,
) -> None:
    """Switch the unit on or off and verify by reading its state back."""
    if state not in ("on", "off"):
        raise fail(f"state must be 'on' or 'off', not {state!r}", EXIT_CONFIG)
    cfg = load(config)
    _with_crac(cfg, unit, lambda crac: crac.set_unit_on(state == "on"))
    console.print(f"{unit}: unit is {state} (read back)")
