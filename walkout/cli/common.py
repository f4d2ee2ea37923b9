"""What every CLI command shares: the config option and how errors are shown."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from devices.errors import DeviceError, ProfileError
from walkout.config import ConfigError, StoreConfig, load_config

T = TypeVar("T")

# soft_wrap: messages stay one line each in logs and pipes, whatever the width.
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

CONFIG_OPTION = typer.Option(
    Path("store.yaml"), "--config", "-c", envvar="WALKOUT_CONFIG", help="the store's store.yaml"
)

EXIT_CONFIG = 2
EXIT_DEVICE = 3


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code)


def load(path: Path) -> StoreConfig:
    """Load the config or exit with its problems listed."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None


def run_device_call(coro: Coroutine[Any, Any, T]) -> T:
    """Run an async device operation; device errors become a clear message and exit 3."""
    try:
        return asyncio.run(coro)
    except (DeviceError, ProfileError) as exc:
        raise fail(str(exc), EXIT_DEVICE) from None
    except KeyboardInterrupt:
        sys.exit(130)
