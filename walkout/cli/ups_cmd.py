"""``walkout ups check``: what a UPS says about its power, battery and alarms.

Works for SNMP units (UPS-MIB or PowerNet) and for units read through an
existing NUT server. Exit status 1 when the unit is not on line or reports
an alarm, so a commissioning script can stop on it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.errors import DeviceError
from devices.ups.nut import NutUps
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading, UpsStatus
from walkout.cli.common import (
    CONFIG_OPTION,
    EXIT_CONFIG,
    EXIT_DEVICE,
    console,
    fail,
    load,
    run_device_call,
)
from walkout.config import SecretError, StoreConfig
from walkout.config import SnmpUps as SnmpUpsConfig
from walkout.ups_wiring import UpsWiring

app = typer.Typer(help="UPS units (SNMP or NUT).", no_args_is_help=True)

EXIT_NOT_OK = 1


def _num(value: float | None, unit: str, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _show(reading: UpsReading, title: str, identity: str) -> None:
    table = RichTable("reading", "value", title=title)
    runtime = "-" if reading.runtime_s is None else f"{reading.runtime_s / 60:.1f} min"
    rows = [
        ("status", str(reading.status)),
        ("unit", identity or "-"),
        ("battery", str(reading.battery_status)),
        ("charge", _num(reading.charge_pct, " %", 0)),
        ("runtime left", runtime),
        ("on battery for", _num(reading.seconds_on_battery, " s", 0)),
        ("battery voltage", _num(reading.battery_voltage_v, " V")),
        ("battery temperature", _num(reading.battery_temperature_c, " °C")),
        ("load", _num(reading.load_pct, " %", 0)),
        ("output power", _num(reading.output_power_w, " W", 0)),
        (
            "input line bads",
            "-" if reading.input_line_bads is None else str(reading.input_line_bads),
        ),
    ]
    for line in reading.input_lines:
        rows.append(
            (
                f"input {line.index}",
                f"{_num(line.voltage_v, ' V')} {_num(line.frequency_hz, ' Hz')}",
            )
        )
    for out in reading.output_lines:
        rows.append(
            (
                f"output {out.index}",
                f"{_num(out.voltage_v, ' V')} {_num(out.current_a, ' A')} "
                f"{_num(out.load_pct, ' %', 0)}",
            )
        )
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@app.command("check")
def check(
    ups: Annotated[str, typer.Argument(help="UPS id from store.yaml, e.g. ups-1")],
    self_test: Annotated[
        bool, typer.Option("--self-test", help="also start the battery self-test (SNMP units)")
    ] = False,
    config: Path = CONFIG_OPTION,
) -> None:
    """Read the UPS once: status, runtime, battery, lines, alarms."""
    cfg = load(config)
    entry = next((u for u in cfg.facility.ups if u.id == ups), None)
    if entry is None:
        known = ", ".join(u.id for u in cfg.facility.ups) or "none"
        raise fail(f"no UPS {ups!r} in the config (known: {known})", EXIT_CONFIG)
    if self_test and not isinstance(entry, SnmpUpsConfig):
        raise fail("--self-test needs an SNMP unit (NUT's commands are not used)", EXIT_CONFIG)
    single = cfg.model_copy(
        update={"facility": cfg.facility.model_copy(update={"ups": [entry], "traps": None})}
    )

    async def go() -> tuple[UpsReading, float, str, str, bool]:
        wiring = _wiring(single)
        try:
            driver: SnmpUps | NutUps = wiring.snmp[0] if wiring.snmp else wiring.nut[0]
            await driver.connect()
            start = time.monotonic()
            reading = await driver.read()
            latency = time.monotonic() - start
            identity = ""
            tested = False
            if wiring.snmp:
                snmp = wiring.snmp[0]
                if snmp.identity is not None:
                    who = snmp.identity
                    identity = " ".join(p for p in (who.manufacturer, who.model) if p)
                if self_test:
                    await snmp.self_test()
                    tested = True
            return reading, latency, driver.address, identity, tested
        finally:
            await wiring.close()

    try:
        reading, latency, address, identity, tested = run_device_call(go())
    except SecretError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    _show(reading, f"{ups} at {address} (via {reading.via})", identity)
    console.print(f"read in {latency * 1000:.1f} ms")
    if tested:
        console.print("self-test started: its result shows in the next checks")
    problems = []
    if reading.status is not UpsStatus.ON_LINE:
        problems.append(f"status is {reading.status}")
    if reading.alarms:
        problems.append(f"alarms active: {', '.join(reading.alarms)}")
    if problems:
        console.print(f"[bold red]{'; '.join(problems)}[/]")
        raise typer.Exit(EXIT_NOT_OK)
    console.print("alarms: none")


def _wiring(config: StoreConfig) -> UpsWiring:
    """The one configured UPS's driver (no trap port, no polling)."""
    bus = Bus()
    try:
        return UpsWiring.build(config, bus, PollingCoordinator(bus))
    except DeviceError as exc:
        raise fail(str(exc), EXIT_DEVICE) from None
