"""The facility act of the bench: the rack's UPS, cooling and GPUs through trouble.

Simulators on loopback, coupled as in a real room: the fake GPUs' heat goes
into the CRAC simulator's room model, and the CRAC's supply air is the GPUs'
inlet air. Facility time runs ``SPEED`` times faster than the wall clock so a
compressor failure warms the room visibly within seconds. The real runtime
polls everything (Modbus for the CRAC, SNMP with traps for the UPS, NVML for
the GPUs) while a script breaks things; the report compares what walkout
published with what the script did.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devices.bus import Message
from devices.crac import CracAlarm, CracReading
from devices.gpu import GpuReading
from devices.health import HealthChanged
from devices.ups.state import GridEvent, UpsReading, UpsStatus, UpsTrap
from sim_devices.clock import AcceleratedClock
from sim_devices.crac import CracSimulator
from sim_devices.fake_nvml import T4, FakeNvml
from sim_devices.ups import UpsSimulator
from walkout.config import parse_config
from walkout.runtime import open_runtime

SPEED = 30.0
"""Facility seconds per wall second (room and GPU thermals, battery drain)."""

GPUS = 4
GPU_UTILISATION_PCT = 85.0
COUPLING_PERIOD_S = 0.1

# (wall seconds after start, action); the report expects what each one causes.
SCRIPT: tuple[tuple[float, str], ...] = (
    (2.5, "compressor_fail"),  # after the GPUs have warmed up (their time constant: ~1 s wall)
    (4.0, "grid_cut"),
    (6.0, "grid_restore"),
    (7.0, "compressor_repair"),
)
DURATION_S = 9.0


@dataclass
class FacilityResult:
    """What walkout published during the act, with wall times relative to its start."""

    done: dict[str, float] = field(default_factory=dict)
    """Script action -> wall time it was performed."""
    ups: list[tuple[float, UpsReading]] = field(default_factory=list)
    grid: list[tuple[float, GridEvent]] = field(default_factory=list)
    traps: list[tuple[float, UpsTrap]] = field(default_factory=list)
    crac: list[tuple[float, CracReading]] = field(default_factory=list)
    alarms: list[tuple[float, CracAlarm]] = field(default_factory=list)
    gpus: list[tuple[float, GpuReading]] = field(default_factory=list)
    health: list[str] = field(default_factory=list)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def facility_store(crac_port: int, ups_port: int, trap_port: int) -> dict[str, Any]:
    """store.yaml of the act: one CRAC on Modbus TCP, one UPS on SNMP with traps, the GPUs."""
    return {
        "store": {"id": "bench-facility"},
        "modbus": {"buses": [{"id": "bms", "type": "tcp", "host": "127.0.0.1", "port": crac_port}]},
        "facility": {
            "crac": [{"id": "crac-1", "bus": "bms", "unit_id": 1, "profile": "pcw1", "rate_hz": 4}],
            "ups": [
                {
                    "id": "ups-1",
                    "type": "snmp",
                    "agent": {"host": "127.0.0.1", "port": ups_port, "timeout_s": 0.5},
                    "rate_hz": 1,
                }
            ],
            "traps": {"host": "127.0.0.1", "port": trap_port, "communities": ["public"]},
            "gpus": {"enabled": True, "rate_hz": 4},
        },
    }


async def _couple(crac: CracSimulator, gpus: FakeNvml) -> None:
    """The room: GPU heat into the CRAC's room model, its supply air into the GPUs."""
    while True:
        crac.crac.gpu_load_w = sum(gpus.state(i).power_w for i in range(gpus.count))
        gpus.set_inlet_air(crac.crac.supply_air_c)
        await asyncio.sleep(COUPLING_PERIOD_S)


async def _play(ups: UpsSimulator, crac: CracSimulator, t0: float, done: dict[str, float]) -> None:
    for at_s, action in SCRIPT:
        await asyncio.sleep(max(0.0, t0 + at_s - time.monotonic()))
        if action == "compressor_fail":
            crac.crac.set_fault("compressor")
        elif action == "compressor_repair":
            crac.crac.set_fault("compressor", False)
        elif action == "grid_cut":
            ups.cut_grid()
        elif action == "grid_restore":
            ups.restore_grid()
        done[action] = time.monotonic() - t0


def _record(result: FacilityResult, message: Message, at: float) -> None:
    if isinstance(message, UpsReading):
        result.ups.append((at, message))
    elif isinstance(message, GridEvent):
        result.grid.append((at, message))
    elif isinstance(message, UpsTrap):
        result.traps.append((at, message))
    elif isinstance(message, CracAlarm):
        result.alarms.append((at, message))
    elif isinstance(message, CracReading):
        result.crac.append((at, message))
    elif isinstance(message, GpuReading):
        result.gpus.append((at, message))
    elif isinstance(message, HealthChanged):
        h = message.health
        result.health.append(f"{h.device_id}: {h.state} {h.reason}".strip())


async def run_facility(workdir: Path) -> FacilityResult:
    """Start the simulators and the runtime, play the script, stop everything."""
    result = FacilityResult()
    clock = AcceleratedClock(SPEED)
    trap_port = _free_udp_port()
    gpus = FakeNvml([T4] * GPUS, clock=clock)
    for index in range(GPUS):
        gpus.set_load(index, GPU_UTILISATION_PCT)
    async with (
        UpsSimulator(port=0, traps=[f"127.0.0.1:{trap_port}/v2c/public"], accel=SPEED) as ups,
        CracSimulator("pcw1", clock=clock) as crac,
    ):
        config = parse_config(
            facility_store(crac.tcp_port, ups.port, trap_port), "bench facility", workdir
        )
        async with open_runtime(config, nvml=gpus) as runtime:
            messages = runtime.bus.subscribe(maxsize=10_000, name="bench-facility")
            t0 = time.monotonic()

            async def consume() -> None:
                async for message in messages:
                    _record(result, message, time.monotonic() - t0)

            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(runtime.run(), name="runtime"),
                    group.create_task(_couple(crac, gpus), name="room"),
                ]
                consumer = group.create_task(consume(), name="bench-consumer")
                await _play(ups, crac, t0, result.done)
                await asyncio.sleep(max(0.0, t0 + DURATION_S - time.monotonic()))
                for task in tasks:
                    task.cancel()
                messages.close()
                await consumer
    return result


def _first(items: list[tuple[float, Any]], after: float, test: Any) -> tuple[float, Any] | None:
    return next(((t, m) for t, m in items if t >= after and test(m)), None)


def _max_temp(result: FacilityResult, start: float, end: float) -> float | None:
    temps = [
        m.temperature_c for t, m in result.gpus if start <= t <= end and m.temperature_c is not None
    ]
    return max(temps) if temps else None


def report_facility(result: FacilityResult, console: Console) -> bool:
    """Print each scripted trouble and what walkout published for it; True if all were seen."""
    rows: list[tuple[str, str, str]] = []
    ok = True

    def expect(what: str, at: float | None, seen: tuple[float, Any] | None, how: str) -> None:
        nonlocal ok
        if at is None or seen is None:
            ok = False
            rows.append((what, "[red]not seen[/]", ""))
            return
        rows.append((what, f"{(seen[0] - at) * 1000:.0f} ms", how))

    fail_at = result.done.get("compressor_fail")
    alarm = _first(
        result.alarms, fail_at or 0.0, lambda m: any("compressor" in a for a in m.raised)
    )
    raised = ", ".join(alarm[1].raised) if alarm else ""
    expect("compressor failure -> CracAlarm raised", fail_at, alarm, raised)
    cut_at = result.done.get("grid_cut")
    on_battery = _first(result.ups, cut_at or 0.0, lambda m: m.status is UpsStatus.ON_BATTERY)
    traps = [t for t, _ in result.traps if cut_at is not None and t >= cut_at]
    expect(
        "grid cut -> UPS reading on_battery",
        cut_at,
        on_battery,
        "trap-triggered poll" if traps and on_battery and traps[0] <= on_battery[0] else "poll",
    )
    start = _first(result.grid, cut_at or 0.0, lambda m: not m.ended)
    expect("grid cut -> GridEvent start", cut_at, start, str(start[1].kind) if start else "")
    restore_at = result.done.get("grid_restore")
    end = _first(result.grid, restore_at or 0.0, lambda m: m.ended)
    expect(
        "grid back -> GridEvent end",
        restore_at,
        end,
        f"lasted {end[1].duration_s:.1f} s" if end and end[1].duration_s else "",
    )
    table = Table("trouble -> what walkout published", "after", "detail", title="Facility")
    for row in rows:
        table.add_row(*row)
    console.print(table)

    supply = [(t, m.supply_air_c) for t, m in result.crac if m.supply_air_c is not None]
    if fail_at is not None and supply:
        before = next((v for t, v in reversed(supply) if t <= fail_at), supply[0][1])
        peak = max(v for t, v in supply if t >= fail_at)
        gpu_before = _max_temp(result, fail_at - 0.5, fail_at)
        gpu_peak = _max_temp(result, fail_at, DURATION_S)
        console.print(
            f"supply air {before:.1f} -> {peak:.1f} °C while the compressors were down; "
            f"hottest GPU {gpu_before or 0:.1f} °C at the failure, {gpu_peak or 0:.1f} °C at worst "
            f"({SPEED:g}x facility time, {GPUS} fake T4 at {GPU_UTILISATION_PCT:g} %)"
        )
    counts = (
        f"{len(result.ups)} UPS, {len(result.crac)} CRAC and {len(result.gpus)} GPU readings, "
        f"{len(result.traps)} trap(s)"
    )
    console.print(counts)
    for line in result.health:
        if "online" not in line:
            console.print(f"health  {line}")
    return ok


async def facility_act(console: Console, workdir: Path) -> bool:
    """Run and report the act; True when every scripted trouble was seen."""
    console.print(
        f"facility: UPS (SNMP + traps), CRAC (Modbus TCP), {GPUS} GPUs (fake NVML), "
        f"{len(SCRIPT)} scripted troubles, {DURATION_S:.0f} s at {SPEED:g}x facility time"
    )
    result = await run_facility(workdir)
    return report_facility(result, console)
