"""``walkout validate``: check a store.yaml without touching any device."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from walkout.cli.common import console, load


def validate(config: Annotated[Path, typer.Argument(help="store.yaml to check")]) -> None:
    """Validate a store.yaml: every problem is listed with the path of its key."""
    cfg = load(config)
    console.print(
        f"[green]ok[/] {config}: store {cfg.store.id}, {len(cfg.modbus.buses)} bus(es), "
        f"{len(cfg.modbus.units)} unit(s), {len(cfg.shelves)} shel(f/ves), "
        f"{sum(len(s.cells) for s in cfg.shelves)} load cell(s)"
    )
