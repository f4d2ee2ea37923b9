"""``walkout scale tare|zero|calibrate``: commission a shelf's load cells."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from devices.scale import CellCalibration, ModbusScale
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load, run_device_call
from walkout.config import CalibrationEntry, Shelf, StoreConfig, load_calibration, save_calibration
from walkout.runtime import Runtime

app = typer.Typer(help="Tare, zero and calibrate shelf scales.", no_args_is_help=True)


def _shelf(cfg: StoreConfig, shelf_id: str) -> Shelf:
    try:
        return cfg.shelf(shelf_id)
    except KeyError as exc:
        raise fail(str(exc.args[0]), EXIT_CONFIG) from None


def _device_command(name: str, shelf_id: str, config: Path) -> None:
    cfg = load(config)
    shelf = _shelf(cfg, shelf_id)
    runtime = Runtime(cfg)

    async def go() -> None:
        try:
            scale = runtime.scale_for_unit(shelf.unit, shelf.cells)
            await scale.connect()
            await scale.command(name, shelf.cells)
        finally:
            await runtime.close()

    run_device_call(go())
    console.print(f"[green]{name} done[/] on shelf {shelf.id} ({shelf.unit}, cells {shelf.cells})")


@app.command("tare")
def tare(
    shelf: Annotated[str, typer.Argument(help="shelf id")], config: Path = CONFIG_OPTION
) -> None:
    """Tare the shelf's cells on the device: what is on them now reads as 0."""
    _device_command("tare", shelf, config)


@app.command("zero")
def zero(
    shelf: Annotated[str, typer.Argument(help="shelf id")], config: Path = CONFIG_OPTION
) -> None:
    """Zero the shelf's (empty) cells on the device."""
    _device_command("zero", shelf, config)


@app.command("calibrate")
def calibrate(
    shelf_id: Annotated[str, typer.Argument(metavar="SHELF", help="shelf id")],
    known_g: Annotated[float, typer.Option("--known-g", help="reference weight in grams", min=1)],
    cell: Annotated[
        list[int] | None, typer.Option(help="cell(s) to calibrate; default: all of the shelf")
    ] = None,
    config: Path = CONFIG_OPTION,
) -> None:
    """Two-point calibration of each cell with a known weight, saved to the calibration file."""
    cfg = load(config)
    shelf = _shelf(cfg, shelf_id)
    cells = cell or shelf.cells
    foreign = [c for c in cells if c not in shelf.cells]
    if foreign:
        raise fail(
            f"cells {foreign} are not on shelf {shelf.id} (its cells: {shelf.cells})", EXIT_CONFIG
        )
    runtime = Runtime(cfg)
    results: dict[int, CellCalibration] = {}

    async def point(scale: ModbusScale, c: int, prompt: str) -> float:
        # In a thread: the event loop keeps serving the open link while the installer works.
        await asyncio.to_thread(
            typer.prompt, prompt, default="", show_default=False, prompt_suffix=" [Enter] "
        )
        value = await scale.sample_cell(c)
        console.print(f"  cell {c}: {value:.2f} g raw")
        return value

    async def go() -> None:
        try:
            scale = runtime.scale_for_unit(shelf.unit, shelf.cells)
            await scale.connect()
            for c in cells:
                zero_raw = await point(scale, c, f"Empty cell {c} of shelf {shelf.id}, then press")
                span_raw = await point(
                    scale, c, f"Put {known_g:g} g right above cell {c}, then press"
                )
                try:
                    results[c] = CellCalibration.from_two_points(zero_raw, span_raw, known_g)
                except ValueError as exc:
                    raise fail(f"cell {c}: {exc}", EXIT_CONFIG) from None
        finally:
            await runtime.close()

    run_device_call(go())
    stored = load_calibration(cfg.calibration_file)
    units = {u: dict(cells_) for u, cells_ in stored.units.items()}
    now = dt.datetime.now(dt.UTC)
    for c, cal in results.items():
        units.setdefault(shelf.unit, {})[c] = CalibrationEntry(
            zero_raw_g=cal.zero_raw_g, gain=cal.gain, known_g=known_g, calibrated_at=now
        )
        console.print(f"cell {c}: gain {cal.gain:.5f}, zero {cal.zero_raw_g:.2f} g raw")
    save_calibration(cfg.calibration_file, stored.model_copy(update={"units": units}))
    console.print(f"[green]saved[/] {cfg.calibration_file}")
