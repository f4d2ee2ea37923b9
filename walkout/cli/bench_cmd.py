"""``walkout bench``: the whole store on this machine, against simulated devices."""

from __future__ import annotations

from typing import Annotated

import typer


def bench(
    duration: Annotated[float, typer.Option(help="seconds of scripted shopping")] = 12.0,
) -> None:
    """Start the simulators on loopback, run the runtime against them, report what it saw."""
    from walkout.bench import run_bench

    run_bench(duration)
