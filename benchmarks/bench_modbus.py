"""Modbus polling benchmarks: driver vs bare pymodbus, a 1,000-cell fleet, RTU wire use.

    .venv/bin/python benchmarks/bench_modbus.py [--part tcp-throughput|fleet|rtu|all]
        [--seconds N] [--rounds N] [--json FILE] [--profile] [--sim-procs 1|2|4] [--no-19200]

Three parts, each against a baseline measured in the same run:

1. tcp-throughput: sequential reads/s of one mc10 (one 22-register FC4 read)
   with bare pymodbus, with ``ModbusScale.read()`` and with the coordinator's
   ``poll_once`` (bus publish to a draining subscriber included).
2. fleet: 100 shelf controllers x 10 cells polled at 10 Hz over Modbus TCP
   (1,000 polls/s, 10,000 cell samples/s): achieved rate, our CPU, sample age
   and inter-sample interval, against the CPU of a bare pymodbus loop doing
   the same reads.
3. rtu: transactions/s of one mc10 on a paced RTU line at 115200 and 19200
   baud against the wire limit, driver and bare pymodbus.

The simulators run as subprocesses (``python -m sim_devices shelf serve``) so
their CPU is not ours. Timings are printed, never asserted: the script exits
0 unless something crashes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import yaml
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from devices.bus import Bus, Subscription
from devices.coordinator import PollingCoordinator
from devices.modbus.link import RtuLink, TcpLink
from devices.profiles import get_profile
from devices.scale import ModbusScale, ShelfView, ShelfWeights
from sim_devices.control import ControlClient
from sim_devices.process import SimulatorProcess, SimulatorProcessError

CELLS = range(10)
REGISTERS = 22  # 10 float32 weights + stable mask + overload mask
UNIT_ID = 1
ROUNDS = 3  # alternating rounds per measurement in parts 1 and 3 (--rounds)
FLEET_SHELVES = 100
FLEET_RATE_HZ = 10.0
FLEET_WARMUP_S = 2.0
SIM_PROCS = 1  # one simulator process keeps up with 1,000 req/s here (see --sim-procs)

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


# helpers ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    """Print a plain text table."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def goal(text: str, met: bool) -> None:
    print(f"  goal {text}: {'met' if met else 'NOT met'}")


def mc10_unit() -> dict[str, Any]:
    return {"unit_id": UNIT_ID, "model": "mc10", "cells": len(CELLS), "dead_load_g": 1500}


class SimProcess:
    """A simulator process with its CPU and line counters, for the report."""

    def __init__(self, scenario: dict[str, Any], workdir: Path, name: str) -> None:
        self.name = name
        scenario_path = workdir / f"{name}.yaml"
        scenario_path.write_text(yaml.safe_dump(scenario), encoding="utf-8")
        self._stderr_path = workdir / f"{name}.stderr"
        self._process: SimulatorProcess | None = None
        self._scenario_path = scenario_path
        self._ps: psutil.Process | None = None
        self.servers: list[dict[str, Any]] = []
        self.control_port = 0

    async def start(self) -> None:
        with self._stderr_path.open("wb") as stderr:
            self._process = SimulatorProcess(self._scenario_path, stderr=stderr, ready_timeout_s=60)
            try:
                ready = await self._process.start()
            except SimulatorProcessError as exc:
                tail = self._stderr_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"simulator {self.name} did not start: {exc}\n{tail}") from exc
        self.servers = ready["servers"]
        self.control_port = ready["control_port"]
        self._ps = psutil.Process(self._process.pid)

    def cpu_s(self) -> float:
        """User + system CPU seconds used so far."""
        if self._ps is None:
            return 0.0
        times = self._ps.cpu_times()
        return times.user + times.system

    async def stats(self) -> list[dict[str, Any]]:
        """Per-server counters from the control port."""
        async with ControlClient(self.control_port) as control:
            return await control.stats()

    async def stop(self) -> None:
        if self._process is not None:
            await self._process.stop()


@contextlib.asynccontextmanager
async def simulators(scenarios: list[dict[str, Any]], prefix: str) -> Any:
    """Start one simulator process per scenario; terminate them all on the way out."""
    with tempfile.TemporaryDirectory(prefix="bench_modbus_") as tmp:
        procs = [SimProcess(s, Path(tmp), f"{prefix}{i}") for i, s in enumerate(scenarios)]
        try:
            await asyncio.gather(*(p.start() for p in procs))
            yield procs
        finally:
            for proc in procs:
                await proc.stop()


async def cancel_and_wait(tasks: list[asyncio.Task[Any]]) -> int:
    """Cancel ``tasks`` and wait for them; returns how many had to be cancelled again.

    On Python 3.11 ``asyncio.wait_for`` (used by pymodbus for every reply)
    swallows a cancellation that lands in the loop iteration the reply
    arrives in, and the task carries on as if nothing happened. Cancelling
    once is then not enough to stop a polling loop.
    """
    again = 0
    for task in tasks:
        task.cancel()
    pending = {t for t in tasks if not t.done()}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.5)
        again += len(pending)
        for task in pending:
            task.cancel()
    return again


async def drain(sub: Subscription) -> None:
    async for _ in sub:
        pass


class Rate:
    """Calls per second and our CPU microseconds per call of one timed loop."""

    def __init__(self, calls: int, wall_s: float, cpu_s: float) -> None:
        self.per_s = calls / wall_s
        self.cpu_us = 1e6 * cpu_s / max(calls, 1)


async def count_for(seconds: float, step: Callable[[], Awaitable[Any]]) -> Rate:
    """Call ``step`` back to back for ``seconds``."""
    n = 0
    cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        await step()
        n += 1
    return Rate(n, time.perf_counter() - start, time.process_time() - cpu)


# part 1: TCP throughput ----------------------------------------------------------------


async def part_tcp_throughput(seconds: float, rounds: int) -> dict[str, Any]:
    print("\n=== Part 1: sequential TCP polling throughput, driver vs bare pymodbus ===")
    scenario = {
        "servers": [{"kind": "tcp", "host": "127.0.0.1", "port": 0, "units": [mc10_unit()]}]
    }
    async with simulators([scenario], "tcp") as (sim,):
        port = sim.servers[0]["port"]
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1.0, retries=0)
        link = TcpLink("bench", "127.0.0.1", port, timeout_s=1.0)
        scale = ModbusScale("shelf", link, UNIT_ID, get_profile("mc10"), CELLS)
        bus = Bus()
        sub = bus.subscribe(ShelfWeights, name="drain")
        coordinator = PollingCoordinator(bus)
        view = ShelfView("shelf", scale.cells, CELLS, {})
        job = coordinator.add(scale, 1000.0, lambda r: (view(r),))
        drainer = asyncio.create_task(drain(sub))
        try:
            if not await client.connect():
                raise RuntimeError(f"bare client cannot connect to 127.0.0.1:{port}")
            await link.connect()

            async def bare() -> None:
                reply = await client.read_input_registers(0, count=REGISTERS, device_id=UNIT_ID)
                if reply.isError() or len(reply.registers) != REGISTERS:
                    raise RuntimeError(f"bad reply {reply}")

            async def driver() -> None:
                await scale.read()

            async def coord() -> None:
                if not await coordinator.poll_once(job):
                    raise RuntimeError("poll failed")

            variants = {
                "bare pymodbus": bare,
                "ModbusScale.read": driver,
                "coordinator.poll_once": coord,
            }
            for step in variants.values():  # warm up connections and code paths
                await count_for(0.3, step)
            rates: dict[str, list[Rate]] = {name: [] for name in variants}
            for _ in range(rounds):  # alternate, so drift hits every variant alike
                for name, step in variants.items():
                    rates[name].append(await count_for(seconds / rounds, step))
        finally:
            sub.close()
            await drainer
            await link.close()
            client.close()

    base = statistics.median(r.per_s for r in rates["bare pymodbus"])
    base_cpu = statistics.median(r.cpu_us for r in rates["bare pymodbus"])
    rows = []
    result: dict[str, Any] = {"rounds": rounds, "seconds_per_round": seconds / rounds}
    for name, values in rates.items():
        med = statistics.median(r.per_s for r in values)
        cpu = statistics.median(r.cpu_us for r in values)
        rows.append(
            [
                name,
                f"{med:.0f}",
                " ".join(f"{r.per_s:.0f}" for r in values),
                f"{med / base:.2f}x",
                f"{1e6 / med:.0f}",
                f"{cpu:.0f}",
                f"{cpu / base_cpu:.2f}x",
            ]
        )
        result[name] = {
            "reads_per_s": med,
            "rounds": [r.per_s for r in values],
            "ratio": med / base,
            "cpu_us_per_read": cpu,
            "cpu_ratio": cpu / base_cpu,
        }
    table(
        f"sequential reads, one path at a time, median of {rounds} alternating rounds",
        ["path", "reads/s", "rounds", "vs bare", "wall us/read", "CPU us/read", "CPU vs bare"],
        rows,
    )
    print(f"  bus: {bus.published} published, {sub.dropped} dropped")
    for name in ("ModbusScale.read", "coordinator.poll_once"):
        goal(f">= 0.9x bare ({name} {result[name]['ratio']:.2f}x)", result[name]["ratio"] >= 0.9)
    return result


# part 2: fleet ---------------------------------------------------------------------------


def fleet_scenarios(procs: int) -> list[dict[str, Any]]:
    per_proc = FLEET_SHELVES // procs
    server = {"kind": "tcp", "host": "127.0.0.1", "port": 0, "units": [mc10_unit()]}
    return [{"servers": [server] * per_proc} for _ in range(procs)]


class Window:
    """Wall, our CPU and the simulators' CPU over one measurement window."""

    def __init__(self, sims: list[SimProcess]) -> None:
        self._sims = sims
        self.wall_s = self.cpu_s = 0.0
        self.sim_cpu: list[float] = []

    def __enter__(self) -> Window:
        self._wall = time.monotonic()
        self._cpu = time.process_time()
        self._sim = [s.cpu_s() for s in self._sims]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall_s = time.monotonic() - self._wall
        self.cpu_s = time.process_time() - self._cpu
        self.sim_cpu = [
            (s.cpu_s() - before) / self.wall_s
            for s, before in zip(self._sims, self._sim, strict=True)
        ]

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s


class FleetRecorder:
    """Subscriber side of the fleet run: sample age and per-shelf interval."""

    def __init__(self) -> None:
        self.recording = False
        self.messages = 0
        self.ages: list[float] = []
        self.intervals: list[float] = []
        self._last: dict[str, float] = {}

    async def consume(self, sub: Subscription) -> None:
        async for msg in sub:
            assert isinstance(msg, ShelfWeights)
            if not self.recording:
                self._last.pop(msg.shelf_id, None)
                continue
            self.ages.append(time.monotonic() - msg.t_mono)
            self.messages += 1
            last = self._last.get(msg.shelf_id)
            if last is not None:
                self.intervals.append(msg.t_mono - last)
            self._last[msg.shelf_id] = msg.t_mono


def spread_ms(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of seconds, in milliseconds."""
    return {q: 1000 * pct(values, p) for q, p in (("p50", 50), ("p99", 99), ("max", 100))}


def job_totals(coordinator: PollingCoordinator) -> tuple[int, int, int]:
    polls = sum(j.stats.polls for j in coordinator.jobs)
    failures = sum(j.stats.failures for j in coordinator.jobs)
    overruns = sum(j.stats.overruns for j in coordinator.jobs)
    return polls, failures, overruns


async def fleet_walkout(
    ports: list[int], sims: list[SimProcess], seconds: float, profile: bool
) -> dict[str, Any]:
    bus = Bus()
    sub = bus.subscribe(ShelfWeights, maxsize=10_000, name="recorder")
    recorder = FleetRecorder()
    coordinator = PollingCoordinator(bus)
    profile_mc10 = get_profile("mc10")
    links = [TcpLink(f"shelf{i:03d}", "127.0.0.1", port) for i, port in enumerate(ports)]
    for i, link in enumerate(links):
        scale = ModbusScale(f"mc10-{i:03d}", link, UNIT_ID, profile_mc10, CELLS)
        view = ShelfView(f"shelf{i:03d}", scale.cells, CELLS, {})

        def emit(reading: Any, view: ShelfView = view) -> tuple[ShelfWeights]:
            return (view(reading),)

        coordinator.add(scale, FLEET_RATE_HZ, emit)
    consumer = asyncio.create_task(recorder.consume(sub))
    runner: asyncio.Task[None] | None = None
    profiler = cProfile.Profile() if profile else None
    try:
        await asyncio.gather(*(link.connect() for link in links))
        runner = asyncio.create_task(coordinator.run())
        await asyncio.sleep(FLEET_WARMUP_S)
        before = job_totals(coordinator)
        recorder.recording = True
        with Window(sims) as window:
            await asyncio.sleep(seconds)
        recorder.recording = False
        after = job_totals(coordinator)
        if profiler is not None:
            profiler.enable()
            await asyncio.sleep(seconds)
            profiler.disable()
    finally:
        if runner is not None:
            # The coordinator itself honours a cancel that pymodbus swallowed.
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        sub.close()
        await consumer
        await asyncio.gather(*(link.close() for link in links))
    polls, failures, overruns = (a - b for a, b in zip(after, before, strict=True))
    result = {
        "wall_s": window.wall_s,
        "cpu_cores": window.cores,
        "sim_cpu_cores": window.sim_cpu,
        "polls_per_s": polls / window.wall_s,
        "messages_per_s": recorder.messages / window.wall_s,
        "cell_samples_per_s": recorder.messages * len(CELLS) / window.wall_s,
        "failures": failures,
        "overruns": overruns,
        "bus_dropped": sub.dropped,
        "age_ms": spread_ms(recorder.ages),
        "interval_ms": spread_ms(recorder.intervals),
    }
    if profiler is not None:
        result["profile"] = profile_text(profiler)
    return result


def profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    out.write("--- top 10 by cumulative time ---\n")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(10)
    out.write("--- top 10 by own (total) time ---\n")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(10)
    return out.getvalue()


async def fleet_bare(ports: list[int], sims: list[SimProcess], seconds: float) -> dict[str, Any]:
    """The same 1,000 reads/s with bare pymodbus: one task per client on a 100 ms grid."""
    period = 1.0 / FLEET_RATE_HZ
    clients = [AsyncModbusTcpClient("127.0.0.1", port=p, timeout=0.5, retries=0) for p in ports]
    counts = {"reads": 0, "failures": 0, "overruns": 0}
    ages: list[float] = []
    intervals: list[float] = []
    counting = False

    async def poll(client: AsyncModbusTcpClient) -> None:
        next_s = time.monotonic()
        last = None
        while True:
            sent = time.monotonic()
            try:
                reply = await client.read_input_registers(0, count=REGISTERS, device_id=UNIT_ID)
                ok = not reply.isError()
            except Exception:
                ok = False
            now = time.monotonic()
            if counting:
                counts["reads" if ok else "failures"] += 1
                sample = (sent + now) / 2  # as the driver stamps t_mono
                ages.append(now - sample)
                if last is not None:
                    intervals.append(sample - last)
                last = sample
            next_s += period
            if next_s < now:
                skipped = int((now - next_s) / period) + 1
                if counting:
                    counts["overruns"] += skipped
                next_s += skipped * period
            await asyncio.sleep(next_s - now)

    tasks: list[asyncio.Task[None]] = []
    try:
        connected = await asyncio.gather(*(c.connect() for c in clients))
        if not all(connected):
            raise RuntimeError("bare fleet: some clients could not connect")
        tasks = [asyncio.create_task(poll(c)) for c in clients]
        await asyncio.sleep(FLEET_WARMUP_S)
        counting = True
        with Window(sims) as window:
            await asyncio.sleep(seconds)
        counting = False
    finally:
        await cancel_and_wait(tasks)
        for client in clients:
            client.close()
    return {
        "wall_s": window.wall_s,
        "cpu_cores": window.cores,
        "sim_cpu_cores": window.sim_cpu,
        "reads_per_s": counts["reads"] / window.wall_s,
        "failures": counts["failures"],
        "overruns": counts["overruns"],
        "age_ms": spread_ms(ages),
        "interval_ms": spread_ms(intervals),
    }


async def part_fleet(seconds: float, sim_procs: int, profile: bool) -> dict[str, Any]:
    print(
        f"\n=== Part 2: fleet, {FLEET_SHELVES} shelf controllers x {len(CELLS)} cells at "
        f"{FLEET_RATE_HZ:.0f} Hz over Modbus TCP ==="
    )
    per = FLEET_SHELVES // sim_procs
    print(f"  simulator: {sim_procs} process(es) x {per} TCP servers (one mc10 unit each)")
    async with simulators(fleet_scenarios(sim_procs), "fleet") as sims:
        ports = [s["port"] for sim in sims for s in sim.servers]
        ours = await fleet_walkout(ports, sims, seconds, profile)
        bare = await fleet_bare(ports, sims, seconds)

    target_polls = FLEET_SHELVES * FLEET_RATE_HZ

    def sim_cpu(values: list[float]) -> str:
        return " + ".join(f"{v:.2f}" for v in values)

    def ms3(spread: dict[str, float]) -> str:
        return "/".join(f"{v:.1f}" for v in spread.values())

    table(
        f"fleet, {seconds:.0f} s window after {FLEET_WARMUP_S:.0f} s warm-up",
        ["figure", "walkout (coordinator)", "bare pymodbus"],
        [
            ["polls/s (target 1000)", f"{ours['polls_per_s']:.0f}", f"{bare['reads_per_s']:.0f}"],
            [
                "cell samples/s (target 10000)",
                f"{ours['cell_samples_per_s']:.0f}",
                f"{bare['reads_per_s'] * len(CELLS):.0f}",
            ],
            ["our CPU, cores", f"{ours['cpu_cores']:.3f}", f"{bare['cpu_cores']:.3f}"],
            [
                "CPU us per poll",
                f"{1e6 * ours['cpu_cores'] / max(ours['polls_per_s'], 1):.0f}",
                f"{1e6 * bare['cpu_cores'] / max(bare['reads_per_s'], 1):.0f}",
            ],
            [
                "simulator CPU, cores",
                sim_cpu(ours["sim_cpu_cores"]),
                sim_cpu(bare["sim_cpu_cores"]),
            ],
            ["failures", str(ours["failures"]), str(bare["failures"])],
            ["overruns (skipped slots)", str(ours["overruns"]), str(bare["overruns"])],
            ["bus messages dropped", str(ours["bus_dropped"]), "-"],
            ["sample age p50/p99/max ms", ms3(ours["age_ms"]), ms3(bare["age_ms"])],
            ["interval p50/p99/max ms", ms3(ours["interval_ms"]), ms3(bare["interval_ms"])],
        ],
    )
    print(
        "  sample age: now - t_mono (midpoint of the transaction) at the subscriber; "
        "bare: when the read returns"
    )
    ratio = ours["cpu_cores"] / bare["cpu_cores"] if bare["cpu_cores"] > 0 else float("nan")
    print(f"  CPU walkout / bare pymodbus: {ratio:.2f}x")
    busiest = max(max(ours["sim_cpu_cores"]), max(bare["sim_cpu_cores"]))
    if busiest > 0.9:
        print(
            f"  WARNING: a simulator process used {busiest:.2f} cores: it may be the limit; "
            "try --sim-procs 2"
        )
    goal(
        f">= 0.99 x {target_polls:.0f} polls/s ({ours['polls_per_s']:.0f})",
        ours["polls_per_s"] >= 0.99 * target_polls,
    )
    goal(f"<= 0.5 core ({ours['cpu_cores']:.3f})", ours["cpu_cores"] <= 0.5)
    if "profile" in ours:
        print("\n  cProfile of our process over an extra fleet window:")
        print(ours.pop("profile"))
    return {"sim_procs": sim_procs, "walkout": ours, "bare": bare, "cpu_ratio": ratio}


# part 3: RTU ---------------------------------------------------------------------------------


def rtu_theory(baudrate: int, bits_per_char: int = 10) -> dict[str, float]:
    """Wire-limited transactions/s of one FC4 read of 22 registers."""
    request, reply = 8, 5 + 2 * REGISTERS
    t35 = 0.00175 if baudrate > 19200 else 3.5 * bits_per_char / baudrate
    wire = (request + reply) * bits_per_char / baudrate
    return {
        "t35_ms": 1000 * t35,
        "wire_ms": 1000 * wire,
        "tx_per_s_spec": 1 / (wire + 2 * t35),  # t3.5 before the reply and before the next request
        "tx_per_s_one_gap": 1 / (wire + t35),  # a master that does not keep t3.5 itself
    }


async def part_rtu(seconds: float, rounds: int, bauds: list[int]) -> dict[str, Any]:
    print("\n=== Part 3: Modbus RTU on a paced pty line, one mc10 (22-register FC4 read) ===")
    servers = [
        {"kind": "rtu", "baudrate": b, "parity": "N", "stopbits": 1, "units": [mc10_unit()]}
        for b in bauds
    ]
    results: dict[str, Any] = {}
    rows = []
    async with simulators([{"servers": servers}], "rtu") as (sim,):
        for baud, server in zip(bauds, sim.servers, strict=True):
            results[str(baud)] = await _rtu_line(server["path"], baud, seconds, rounds)
            theory = results[str(baud)]["theory"]
            bare = results[str(baud)]["bare pymodbus"]["tx_per_s"]
            for name in ("bare pymodbus", "RtuLink + ModbusScale"):
                figures = results[str(baud)][name]
                rows.append(
                    [
                        f"{baud}",
                        name,
                        f"{theory['tx_per_s_spec']:.1f}",
                        f"{figures['tx_per_s']:.1f}",
                        f"{figures['fraction_of_spec_limit']:.2f}",
                        f"{1000 / figures['tx_per_s']:.2f}",
                        f"{figures['tx_per_s'] / bare:.2f}x",
                    ]
                )
        stats = await sim.stats()
    table(
        f"transactions/s, median of {rounds} alternating rounds "
        "(limit: (8 + 49) chars x 10 bits / baud + 2 x t3.5)",
        ["baud", "path", "limit tx/s", "achieved", "fraction", "ms/tx", "vs bare"],
        rows,
    )
    for baud in bauds:
        t = results[str(baud)]["theory"]
        print(
            f"  {baud}: wire {t['wire_ms']:.2f} ms + 2 x t3.5 {t['t35_ms']:.2f} ms = "
            f"{1000 / t['tx_per_s_spec']:.2f} ms; a master that skips its own t3.5 "
            f"(bare pymodbus) can reach {t['tx_per_s_one_gap']:.1f} tx/s"
        )
    for baud, line in zip(bauds, stats, strict=True):
        print(
            f"  simulator line {baud}: {line['requests']} requests, {line['replies']} replies, "
            f"{line['crc_errors']} CRC errors, {line['dropped_bytes']} dropped bytes"
        )
    print("  (no goal set for RTU: figures for reference)")
    return results


async def _rtu_line(path: str, baud: int, seconds: float, rounds: int) -> dict[str, Any]:
    """Driver and bare pymodbus on one line, alternating; one opener of the pty at a time."""
    link = RtuLink("bench", path, baudrate=baud, timeout_s=0.5)
    scale = ModbusScale("shelf", link, UNIT_ID, get_profile("mc10"), CELLS)
    client = AsyncModbusSerialClient(
        path,
        framer=FramerType.RTU,
        baudrate=baud,
        bytesize=8,
        parity="N",
        stopbits=1,
        timeout=0.5,
        retries=0,
    )

    async def bare() -> None:
        reply = await client.read_input_registers(0, count=REGISTERS, device_id=UNIT_ID)
        if reply.isError():
            raise RuntimeError(f"bad reply {reply}")

    rates: dict[str, list[Rate]] = {"bare pymodbus": [], "RtuLink + ModbusScale": []}
    try:
        for _ in range(rounds):
            if not await client.connect():
                raise RuntimeError(f"cannot open {path}")
            await count_for(0.1, bare)
            rates["bare pymodbus"].append(await count_for(seconds / rounds, bare))
            client.close()
            await link.connect()
            await count_for(0.1, scale.read)
            rates["RtuLink + ModbusScale"].append(await count_for(seconds / rounds, scale.read))
            await link.close()
    finally:
        await link.close()
        client.close()
    theory = rtu_theory(baud)
    result: dict[str, Any] = {"theory": theory}
    for name, values in rates.items():
        med = statistics.median(r.per_s for r in values)
        result[name] = {
            "tx_per_s": med,
            "rounds": [r.per_s for r in values],
            "cpu_us_per_tx": statistics.median(r.cpu_us for r in values),
            "fraction_of_spec_limit": med / theory["tx_per_s_spec"],
        }
    return result


# main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["tcp-throughput", "fleet", "rtu", "all"], default="all")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement (default 5)")
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"alternating rounds (default {ROUNDS})"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--sim-procs",
        type=int,
        choices=[1, 2, 4],
        default=SIM_PROCS,
        help=f"simulator processes for the fleet (default {SIM_PROCS})",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile an extra fleet window and print the top functions",
    )
    parser.add_argument("--no-19200", action="store_true", help="RTU at 115200 baud only")
    args = parser.parse_args(argv)

    print(
        f"walkout Modbus benchmark: python {sys.version.split()[0]}, "
        f"{psutil.cpu_count()} CPUs, {args.seconds:g} s per measurement"
    )
    results: dict[str, Any] = {"seconds": args.seconds, "cpus": psutil.cpu_count()}
    started = time.monotonic()
    if args.part in ("tcp-throughput", "all"):
        results["tcp_throughput"] = asyncio.run(part_tcp_throughput(args.seconds, args.rounds))
    if args.part in ("fleet", "all"):
        results["fleet"] = asyncio.run(part_fleet(args.seconds, args.sim_procs, args.profile))
    if args.part in ("rtu", "all"):
        bauds = [115200] if args.no_19200 else [115200, 19200]
        results["rtu"] = asyncio.run(part_rtu(args.seconds, args.rounds, bauds))
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
