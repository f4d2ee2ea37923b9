"""The simulated store bench: simulators on loopback, the real runtime against them.

The bench starts the shelf simulator as its own process (it speaks Modbus TCP
and RTU over a pty exactly as shelf controllers do), writes a store config
that points at it, runs the same runtime ``walkout run`` would, plays a
script of takes and put-backs through the simulator's control port and
compares what the runtime detected with the script's ground truth.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from rich.console import Console
from rich.table import Table

from devices.health import HealthChanged
from devices.scale import ShelfWeights
from sim_devices.control import ControlClient
from sim_devices.process import SimulatorProcess
from vision_core.shelf_events import ShelfChange, ShelfChangeDetector
from walkout.bench_facility import facility_act
from walkout.bench_store import store_act
from walkout.config import StoreConfig, parse_config
from walkout.runtime import open_runtime

_LOGGER = logging.getLogger(__name__)

_NOISE = {"sigma_g": 0.5, "drift_g_per_h": 2.0}

SCENARIO: dict[str, Any] = {
    "name": "bench",
    "servers": [
        {
            "kind": "tcp",
            "host": "127.0.0.1",
            "port": 0,
            "units": [
                {
                    "unit_id": 1,
                    "model": "mc10",
                    "cells": 4,
                    "length_m": 1.2,
                    "dead_load_g": 1800,
                    "offsets_g": [35, -20, 12, 50],
                    **_NOISE,
                    "items": [
                        {"weight_g": 355, "position_m": 0.15, "label": "cola-can"},
                        {"weight_g": 500, "position_m": 0.9, "label": "water-05l"},
                    ],
                }
            ],
        },
        {
            "kind": "tcp",
            "host": "127.0.0.1",
            "port": 0,
            "units": [
                {
                    "unit_id": 1,
                    "model": "mc10",
                    "cells": 4,
                    "length_m": 1.2,
                    "dead_load_g": 1800,
                    **_NOISE,
                    "items": [{"weight_g": 180, "position_m": 0.3, "label": "crisps"}],
                }
            ],
        },
        {
            "kind": "rtu",
            "baudrate": 19200,
            "parity": "N",
            "stopbits": 1,
            "units": [
                {
                    "unit_id": 3,
                    "model": "mc10",
                    "cells": 2,
                    "length_m": 0.8,
                    "dead_load_g": 900,
                    **_NOISE,
                    "items": [{"weight_g": 240, "position_m": 0.45, "label": "sandwich"}],
                },
                {
                    "unit_id": 4,
                    "model": "tx1",
                    "dead_load_g": 600,
                    "sigma_g": 0.3,
                    "items": [{"weight_g": 1000, "position_m": 0.0, "label": "coffee-beans"}],
                },
            ],
        },
    ],
}

# shelf id -> (simulator server index, unit id, cells, length)
SHELVES = {
    "A1": (0, 1, [0, 1, 2, 3], 1.2),
    "A2": (1, 1, [0, 1, 2, 3], 1.2),
    "B1": (2, 3, [0, 1], 0.8),
    "C1": (2, 4, [0], 0.4),
}


@dataclass(frozen=True)
class Step:
    """One scripted hand at a shelf: ``at_s`` after the script starts."""

    at_s: float
    shelf: str
    kind: Literal["take", "put"]
    grams: float
    position_m: float
    label: str | None = None


SCRIPT = [
    Step(1.5, "A1", "take", 355, 0.15, "cola-can"),
    Step(2.5, "A2", "put", 250, 0.9),
    Step(3.5, "B1", "take", 240, 0.45, "sandwich"),
    Step(4.5, "C1", "take", 250, 0.0),
    Step(5.5, "A1", "put", 355, 0.6),  # a put-back onto another spot of the shelf
    Step(6.5, "A2", "take", 180, 0.3, "crisps"),
    Step(7.5, "B1", "put", 240, 0.2),
]


@dataclass
class BenchResult:
    """What the runtime saw while the script played."""

    samples: dict[str, int] = field(default_factory=dict)
    changes: dict[str, list[ShelfChange]] = field(default_factory=dict)
    health: list[str] = field(default_factory=list)
    started_s: float = 0.0
    ended_s: float = 0.0


def bench_config(ready: dict[str, Any], workdir: Path) -> StoreConfig:
    """A store config whose buses point at the running simulator."""
    servers = ready["servers"]
    buses: list[dict[str, Any]] = [
        {"id": "gw-a1", "type": "tcp", "host": "127.0.0.1", "port": servers[0]["port"]},
        {"id": "gw-a2", "type": "tcp", "host": "127.0.0.1", "port": servers[1]["port"]},
        {
            "id": "rs485-1",
            "type": "rtu",
            "port": servers[2]["path"],
            "baudrate": 19200,
            "parity": "N",
            "timeout_s": 0.2,
        },
    ]
    bus_of_server = {0: "gw-a1", 1: "gw-a2", 2: "rs485-1"}
    units = []
    shelves = []
    for shelf_id, (server, unit_id, cells, length) in SHELVES.items():
        unit = f"u-{shelf_id.lower()}"
        profile = "tx1" if shelf_id == "C1" else "mc10"
        units.append(
            {"id": unit, "bus": bus_of_server[server], "unit_id": unit_id, "profile": profile}
        )
        shelves.append({"id": shelf_id, "unit": unit, "cells": cells, "length_m": length})
    data = {
        "store": {"id": "bench"},
        "modbus": {"buses": buses, "units": units},
        "shelves": shelves,
    }
    return parse_config(data, "bench store", workdir)


async def play(control: ControlClient, script: list[Step], t0: float) -> None:
    """Perform each step at its time through the simulator's control port."""
    for step in script:
        await asyncio.sleep(max(0.0, t0 + step.at_s - time.monotonic()))
        server, unit, _, _ = SHELVES[step.shelf]
        if step.kind == "put":
            await control.put(unit, step.grams, step.position_m, server=server)
        elif step.label is not None:
            await control.take(unit, label=step.label, server=server)
        else:
            await control.take_g(unit, step.grams, step.position_m, server=server)


async def run_store(duration_s: float) -> tuple[BenchResult, StoreConfig]:
    """Start everything, play the script for ``duration_s``, stop everything."""
    result = BenchResult()
    with tempfile.TemporaryDirectory(prefix="walkout-bench-") as tmp:
        workdir = Path(tmp)
        scenario_file = workdir / "scenario.yaml"
        scenario_file.write_text(yaml.safe_dump(SCENARIO), encoding="utf-8")
        async with SimulatorProcess(scenario_file) as simulator:
            ready = simulator.ready
            config = bench_config(ready, workdir)
            async with (
                open_runtime(config) as runtime,
                ControlClient(ready["control_port"]) as control,
            ):
                messages = runtime.bus.subscribe(
                    ShelfWeights, HealthChanged, maxsize=10_000, name="bench"
                )
                detectors = {s.id: ShelfChangeDetector(s.id, s.length_m) for s in config.shelves}
                result.started_s = time.monotonic()

                async def consume() -> None:
                    async for message in messages:
                        if isinstance(message, HealthChanged):
                            h = message.health
                            result.health.append(f"{h.device_id}: {h.state} {h.reason}".strip())
                        elif isinstance(message, ShelfWeights):
                            result.samples[message.shelf_id] = (
                                result.samples.get(message.shelf_id, 0) + 1
                            )
                            for change in detectors[message.shelf_id].feed(message):
                                result.changes.setdefault(change.shelf_id, []).append(change)

                async with asyncio.TaskGroup() as group:
                    poller = group.create_task(runtime.run(), name="runtime")
                    consumer = group.create_task(consume(), name="bench-consumer")
                    await play(control, SCRIPT, result.started_s)
                    await asyncio.sleep(max(0.0, result.started_s + duration_s - time.monotonic()))
                    poller.cancel()
                    messages.close()
                    await consumer
                result.ended_s = time.monotonic()
    return result, config


def match(step: Step, changes: list[ShelfChange], t0: float) -> ShelfChange | None:
    """The first detected change of the step's kind that started after the step."""
    for change in changes:
        if change.kind == step.kind and change.started_mono >= t0 + step.at_s - 0.3:
            return change
    return None


def report(result: BenchResult, console: Console) -> bool:
    """Print what was seen against the script; True when every step was detected."""
    elapsed = result.ended_s - result.started_s
    table = Table("shelf", "samples", "rate Hz", title="Shelf scales")
    for shelf_id in SHELVES:
        count = result.samples.get(shelf_id, 0)
        table.add_row(shelf_id, str(count), f"{count / elapsed:.1f}")
    console.print(table)
    steps = Table(
        "t s",
        "shelf",
        "scripted",
        "detected",
        "error g",
        "position m (true / est.)",
        title="Takes and put-backs",
    )
    ok = True
    used: set[int] = set()
    for step in SCRIPT:
        candidates = [c for c in result.changes.get(step.shelf, []) if id(c) not in used]
        change = match(step, candidates, result.started_s)
        scripted = f"{step.kind} {step.grams:g} g"
        if change is None:
            ok = False
            steps.add_row(f"{step.at_s:.1f}", step.shelf, scripted, "[red]missed[/]", "", "")
            continue
        used.add(id(change))
        error = abs(change.delta_g) - step.grams
        est = "-" if change.position_m is None else f"{change.position_m:.2f}"
        steps.add_row(
            f"{step.at_s:.1f}",
            step.shelf,
            scripted,
            f"{change.kind} {abs(change.delta_g):.1f} g",
            f"{error:+.1f}",
            f"{step.position_m:.2f} / {est}",
        )
    extra = sum(len(v) for v in result.changes.values()) - len(used)
    console.print(steps)
    if extra:
        ok = False
        console.print(f"[red]{extra} change(s) detected that the script did not make[/]")
    for line in result.health:
        console.print(f"health  {line}")
    verdict = "[green]all scripted changes detected[/]" if ok else "[red]bench FAILED[/]"
    console.print(verdict)
    return ok


def run_bench(duration_s: float) -> None:
    """Run the bench and exit non-zero if it did not see what the script did."""
    console = Console()
    script_end = max(step.at_s for step in SCRIPT) + 2.0
    duration_s = max(duration_s, script_end)
    console.print(
        f"walkout bench: {len(SHELVES)} shelves on 2 Modbus TCP controllers and one "
        f"RS-485 line, {len(SCRIPT)} scripted steps, {duration_s:.0f} s"
    )
    result, _ = asyncio.run(run_store(duration_s))
    shelves_ok = report(result, console)
    with tempfile.TemporaryDirectory(prefix="walkout-bench-facility-") as tmp:
        facility_ok = asyncio.run(facility_act(console, Path(tmp)))
    with tempfile.TemporaryDirectory(prefix="walkout-bench-store-") as tmp:
        store_ok = asyncio.run(store_act(console, Path(tmp)))
    if not (shelves_ok and facility_ok and store_ok):
        console.print("[red]bench FAILED[/]")
        raise SystemExit(1)
    console.print("[green]bench passed: shelves, facility and store devices[/]")
