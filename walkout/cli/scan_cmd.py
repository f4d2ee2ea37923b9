"""``walkout scan modbus``: find units on a TCP gateway or an RS-485 line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table as RichTable

from devices.errors import DeviceConnectionError
from devices.modbus.link import ModbusLink, RtuLink, TcpLink
from devices.modbus.scan import ScanHit, parse_unit_range, scan_link
from devices.profiles import builtin_profiles
from walkout.cli.common import (
    EXIT_CONFIG,
    EXIT_DEVICE,
    console,
    err_console,
    fail,
    run_device_call,
)

STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)

app = typer.Typer(help="Find devices on the store's networks and buses.", no_args_is_help=True)


def _parse_bauds(text: str) -> list[int]:
    rates: list[int] = []
    for part in text.split(","):
        if not part.strip():
            continue
        if not part.strip().isdigit() or int(part) not in STANDARD_BAUDS:
            allowed = ", ".join(map(str, STANDARD_BAUDS))
            raise fail(
                f"--baud {part.strip()!r} is not a serial baud rate ({allowed})", EXIT_CONFIG
            )
        rates.append(int(part))
    if not rates:
        raise fail("--baud: give at least one baud rate", EXIT_CONFIG)
    return rates


@app.command("modbus")
def scan_modbus(
    host: Annotated[str | None, typer.Option(help="Modbus TCP host")] = None,
    port: Annotated[int, typer.Option(help="Modbus TCP port", min=1, max=65535)] = 502,
    serial: Annotated[str | None, typer.Option(help="serial port of an RS-485 line")] = None,
    baud: Annotated[
        str, typer.Option(help="baud rates to try on --serial, comma separated")
    ] = "19200,9600",
    parity: Annotated[str, typer.Option(help="N, E or O")] = "E",
    units: Annotated[str, typer.Option(help="unit ids, e.g. 1-32,100")] = "1-32",
    timeout: Annotated[
        float, typer.Option(help="seconds to wait for each reply", min=0.001, max=30)
    ] = 0.1,
) -> None:
    """List the units that answer and the profile each one matches."""
    if (host is None) == (serial is None):
        raise fail("give exactly one of --host or --serial", EXIT_CONFIG)
    try:
        unit_ids = parse_unit_range(units)
    except ValueError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    bauds = _parse_bauds(baud)
    if parity not in ("N", "E", "O"):
        raise fail(f"--parity must be N, E or O, not {parity!r}", EXIT_CONFIG)
    links: list[tuple[str, ModbusLink]] = []
    if host is not None:
        links.append((f"{host}:{port}", TcpLink("scan", host, port, timeout_s=timeout)))
    else:
        assert serial is not None
        for rate in bauds:
            links.append(
                (
                    f"{serial} {rate} 8{parity}1",
                    RtuLink("scan", serial, baudrate=rate, parity=parity, timeout_s=timeout),
                )
            )
    profiles = list(builtin_profiles().values())
    hits: list[tuple[str, ScanHit]] = []

    async def scan_all() -> None:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("scanning", total=len(links) * len(unit_ids))
            for label, link in links:
                progress.update(task, description=f"scanning {label}")
                try:
                    found = await scan_link(
                        link, unit_ids, profiles, lambda n: progress.advance(task, n)
                    )
                except DeviceConnectionError as exc:
                    err_console.print(f"[red]{exc}[/]", highlight=False)
                    continue
                finally:
                    await link.close()
                hits.extend((label, hit) for hit in found)

    run_device_call(scan_all())
    if not hits:
        console.print(f"no unit answered on {len(links)} setting(s) x {len(unit_ids)} unit id(s)")
        raise typer.Exit(EXIT_DEVICE)
    table = RichTable("link", "unit", "profile", "notes")
    for label, hit in hits:
        table.add_row(
            label,
            str(hit.unit_id),
            ", ".join(hit.profiles) or "[yellow]unknown[/]",
            "; ".join(hit.notes),
        )
    console.print(table)
