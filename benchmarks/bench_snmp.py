"""SNMP UPS polling benchmark: 20 UPS agents at 1 Hz, our CPU and read latency.

    .venv/bin/python benchmarks/bench_snmp.py [--agents 20] [--seconds 20] [--rate 1]
        [--recording eastpower-istars-swv053] [--json FILE]

The agents are 20 communities on ONE snmpsim-command-responder (a
subprocess, so its CPU is not counted), each serving a copy of a real
3-phase UPS-MIB recording from snmpsim-data. Two phases, same agents, same
rate, same OIDs:

1. driver: ``SnmpUps`` (one pysnmp engine and socket per UPS) polled by the
   ``PollingCoordinator`` at ``--rate`` Hz, readings published on the bus to
   a draining subscriber;
2. baseline: bare pysnmp hlapi (``get_cmd`` + ``bulk_cmd`` on one shared
   engine, MIB lookup as the hlapi does by default) sending the same GET
   and GETBULK per UPS per period, results thrown away.

Reported per phase: CPU seconds of this process per wall second
(``psutil``: user + system), polls achieved per second, read latency p50/p99
(one read = every transaction of one poll), failures; and the driver/baseline
CPU ratio. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import bz2
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import snmpsim_data
from pyasn1.codec.ber import decoder, encoder
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    bulk_cmd,
    get_cmd,
)
from pysnmp.proto.api import v2c

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.snmp import Community, SnmpTarget
from devices.ups.profile import ResolvedProfile
from devices.ups.snmp import SnmpUps
from devices.ups.state import UpsReading
from devices.ups.trap_poll import emit_reading

RECORDINGS = Path(snmpsim_data.__file__).parent / "data" / "UPS"
RESPONDER = Path(sys.executable).parent / "snmpsim-command-responder"
WARMUP_S = 2.0

logging.getLogger("devices").setLevel(logging.ERROR)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def probe(port: int, community: str) -> bool:
    """One v2c GET sysDescr.0; True when anything decodable comes back in 0.25 s."""
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.1.0", v2c.null)])
    v2c.apiMessage.set_pdu(message, pdu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.25)
        sock.sendto(encoder.encode(message), ("127.0.0.1", port))
        try:
            decoder.decode(sock.recv(65535), asn1Spec=v2c.Message())
        except TimeoutError:
            return False
    return True


@contextlib.contextmanager
def snmpsim(recording: str, agents: int) -> Any:
    """snmpsim serving ``agents`` copies of ``recording`` as communities ups-01, ups-02 ..."""
    source = next(p for p in RECORDINGS.iterdir() if p.name.startswith(recording + ".snmprec"))
    text = source.read_bytes()
    if source.name.endswith(".bz2"):
        text = bz2.decompress(text)
    with tempfile.TemporaryDirectory(prefix="bench-snmp-") as tmp:
        data, cache = Path(tmp, "data"), Path(tmp, "cache")
        data.mkdir()
        cache.mkdir()
        names = [f"ups-{i + 1:02d}" for i in range(agents)]
        for name in names:
            Path(data, f"{name}.snmprec").write_bytes(text)
        port = free_udp_port()
        with Path(tmp, "snmpsim.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    str(RESPONDER),
                    f"--data-dir={data}",
                    f"--cache-dir={cache}",
                    f"--agent-udpv4-endpoint=127.0.0.1:{port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
            )
            try:
                deadline = time.monotonic() + 60
                while not probe(port, names[-1]):
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("snmpsim did not start: see " + str(log.name))
                yield port, names
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


class TimedUps(SnmpUps):
    """``SnmpUps`` that records how long each read took while ``recording`` is set."""

    recording = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.latencies: list[float] = []

    async def read(self) -> UpsReading:
        start = time.perf_counter()
        reading = await super().read()
        if TimedUps.recording:
            self.latencies.append(time.perf_counter() - start)
        return reading


async def measure(seconds: float, body: Callable[[], Awaitable[None]]) -> dict[str, float]:
    """Run ``body`` for a warm-up and ``seconds``; CPU and wall time of the measured part."""
    me = psutil.Process()
    task = asyncio.create_task(body())
    try:
        await asyncio.sleep(WARMUP_S)
        TimedUps.recording = True
        cpu0, wall0 = me.cpu_times(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, wall1 = me.cpu_times(), time.perf_counter()
        TimedUps.recording = False
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    wall = wall1 - wall0
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {"wall_s": wall, "cpu_s": cpu, "cpu_s_per_s": cpu / wall}


async def driver_phase(port: int, names: list[str], rate: float, seconds: float) -> dict[str, Any]:
    bus = Bus()
    sub = bus.subscribe(UpsReading, maxsize=10_000, name="drain")
    coordinator = PollingCoordinator(bus)
    upses = [
        TimedUps(name, SnmpTarget("127.0.0.1", port, timeout_s=1.0, retries=1), Community(name))
        for name in names
    ]
    for ups in upses:
        await ups.connect()  # identification is not part of the polling cost
        coordinator.add(ups, rate, emit_reading)

    async def drain() -> None:
        async for _ in sub:
            pass

    async def body() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(coordinator.run())
            group.create_task(drain())

    polls0 = sum(job.stats.polls for job in coordinator.jobs)
    try:
        result = await measure(seconds, body)
    finally:
        sub.close()
        for ups in upses:
            await ups.close()
    latencies = [x for ups in upses for x in ups.latencies]
    failures = sum(job.stats.failures for job in coordinator.jobs)
    polls = sum(job.stats.polls for job in coordinator.jobs) - polls0
    return {
        **result,
        "reads": len(latencies),
        "polls_total": polls,
        "reads_per_s": len(latencies) / result["wall_s"],
        "latency_p50_ms": pct(latencies, 50) * 1000,
        "latency_p99_ms": pct(latencies, 99) * 1000,
        "failures": failures,
    }


def request_oids(resolved: ResolvedProfile) -> tuple[list[str], list[str]]:
    """The scalar OIDs and the table columns of one poll, from the profile."""
    scalars: list[str] = []
    for spec in resolved.values.values():
        current = spec
        while current is not None:
            scalars.append(current.oid)
            current = current.fallback
    columns: list[str] = []
    for lines in (resolved.input, resolved.output):
        if lines is not None:
            if lines.count:
                scalars.append(lines.count)
            columns += [spec.oid for spec in lines.columns.values()]
    profile = resolved.profile
    if profile.battery_status is not None:
        scalars.append(profile.battery_status.oid)
    scalars.append(profile.status.source.oid)
    if profile.alarms.table:
        columns.append(profile.alarms.table)
    return scalars, columns


async def baseline_phase(
    port: int, names: list[str], rate: float, seconds: float, resolved: ResolvedProfile
) -> dict[str, Any]:
    scalars, columns = request_oids(resolved)
    engine = SnmpEngine()
    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=1.0, retries=1)
    latencies: list[float] = []
    failures = 0

    async def one(name: str, offset: float) -> None:
        nonlocal failures
        auth = CommunityData(name, mpModel=1)
        period = 1.0 / rate
        next_s = time.monotonic() + offset
        while True:
            await asyncio.sleep(max(0.0, next_s - time.monotonic()))
            next_s += period
            start = time.perf_counter()
            err, status, _, _ = await get_cmd(
                engine,
                auth,
                target,
                ContextData(),
                *[ObjectType(ObjectIdentity(o)) for o in scalars],
            )
            err2, status2, _, _ = await bulk_cmd(
                engine,
                auth,
                target,
                ContextData(),
                0,
                10,
                *[ObjectType(ObjectIdentity(o)) for o in columns],
            )
            if err or err2 or int(status) or int(status2):
                failures += 1
            elif TimedUps.recording:
                latencies.append(time.perf_counter() - start)

    async def body() -> None:
        async with asyncio.TaskGroup() as group:
            for i, name in enumerate(names):
                group.create_task(one(name, i / len(names) / rate))

    try:
        result = await measure(seconds, body)
        await asyncio.sleep(0.5)  # let answers still in flight arrive before closing
    finally:
        engine.close_dispatcher()
    return {
        **result,
        "reads": len(latencies),
        "reads_per_s": len(latencies) / result["wall_s"],
        "latency_p50_ms": pct(latencies, 50) * 1000,
        "latency_p99_ms": pct(latencies, 99) * 1000,
        "failures": failures,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with snmpsim(args.recording, args.agents) as (port, names):
        probe_ups = SnmpUps("probe", SnmpTarget("127.0.0.1", port), Community(names[0]))
        async with probe_ups:
            resolved = probe_ups.resolved
        assert resolved is not None
        driver = await driver_phase(port, names, args.rate, args.seconds)
        baseline = await baseline_phase(port, names, args.rate, args.seconds, resolved)
    return {
        "agents": args.agents,
        "rate_hz": args.rate,
        "seconds": args.seconds,
        "recording": args.recording,
        "cpu_cores_of_machine": psutil.cpu_count(),
        "driver": driver,
        "baseline_bare_pysnmp_hlapi": baseline,
        "cpu_ratio_driver_vs_baseline": driver["cpu_s_per_s"] / baseline["cpu_s_per_s"]
        if baseline["cpu_s_per_s"]
        else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=1.0, help="polls per second per UPS")
    parser.add_argument("--recording", default="eastpower-istars-swv053")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not RESPONDER.exists():
        sys.exit(f"needs {RESPONDER} (pip: snmpsim, in requirements/dev.txt)")
    result = asyncio.run(main_async(args))
    print(
        f"SNMP UPS polling: {args.agents} agents (communities on one snmpsim, recording "
        f"{args.recording}) at {args.rate:g} Hz, {args.seconds:g} s per phase"
    )
    header = f"{'phase':<28}{'CPU s/s':>9}{'reads/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'fail':>6}"
    print(header)
    for label, key in (
        ("driver (SnmpUps+coordinator)", "driver"),
        ("baseline (bare pysnmp hlapi)", "baseline_bare_pysnmp_hlapi"),
    ):
        r = result[key]
        print(
            f"{label:<28}{r['cpu_s_per_s']:>9.3f}{r['reads_per_s']:>9.1f}"
            f"{r['latency_p50_ms']:>9.2f}{r['latency_p99_ms']:>9.2f}{r['failures']:>6d}"
        )
    print(f"CPU ratio driver / baseline: {result['cpu_ratio_driver_vs_baseline']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
