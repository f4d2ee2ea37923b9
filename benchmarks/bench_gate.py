"""OSDP gate benchmarks: time to come online, credential-to-open latency, idle CPU.

    .venv/bin/python benchmarks/bench_gate.py [--cards N] [--connects N] [--idle-s S]
        [--baud 115200] [--json FILE]

The simulated PD runs as a subprocess (``python -m sim_devices.osdp_pd serve``)
so its CPU and GIL are not ours; both processes read CLOCK_MONOTONIC, so the
simulator's timestamps (card handed to libosdp, relay changed) and the
driver's compare directly.

1. connect: ``OsdpGate.connect()`` until online with secure channel (ID, CAP,
   CHLNG/CCRYPT, SCRYPT/RMAC_I), repeated.
2. credential-to-open: a card at the PD -> ``CredentialPresented`` on the
   bus -> ``pulse_open`` -> the PD's relay opens. Split into: PD to driver
   (event stamped by the line thread), driver to bus subscriber, command to
   relay at the PD, acknowledgement back. Baseline in the same run: libosdp's
   own ``osdp.ControlPanel`` (its 20 ms refresh thread) with the pulse
   submitted from a worker thread as soon as the card event arrives.
3. idle CPU: this process's CPU with one PD online and nothing happening,
   driver vs the same baseline.

Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import osdp
import psutil
import serial
from pydantic import SecretBytes

from devices.bus import Bus
from devices.gate.io import CredentialPresented
from devices.gate.osdp import OsdpGate
from devices.gate.osdp_config import OsdpGateSettings, OsdpLineSettings
from sim_devices.control import ControlClient

REPO_ROOT = Path(__file__).resolve().parents[1]
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
ADDRESS = 1
PULSE_MS = 300
CARD_BITS = 26
PHASE_S = 0.2  # cards come at a random moment of the poll cycle, not right after a command


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary_ms(values: list[float]) -> dict[str, float]:
    """Median, p95 and max in milliseconds."""
    return {
        "median_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(pct(values, 95) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def row(name: str, values: list[float]) -> str:
    s = summary_ms(values)
    return f"  {name:<34} {s['median_ms']:>8.1f} {s['p95_ms']:>8.1f} {s['max_ms']:>8.1f}"


class SimProcess:
    """``python -m sim_devices.osdp_pd serve`` with its ready file."""

    def __init__(self, workdir: Path, baud: int) -> None:
        self.workdir = workdir
        self.baud = baud
        self.proc: asyncio.subprocess.Process | None = None
        self.ready: dict[str, Any] = {}

    async def start(self) -> dict[str, Any]:
        key_file = self.workdir / "scbk"
        key_file.write_text(KEY.hex())
        ready_file = self.workdir / "ready.json"
        with (self.workdir / "sim.log").open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sim_devices.osdp_pd", "serve",
                "--address", str(ADDRESS), "--scbk-file", str(key_file),
                "--baudrate", str(self.baud), "--watchdog-s", "0",
                "--ready-file", str(ready_file), "--log-level", "WARNING",
                cwd=REPO_ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while not ready_file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start; see sim.log")
            await asyncio.sleep(0.05)
        self.ready = json.loads(ready_file.read_text())
        return self.ready

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def relay_opened_after(control: ControlClient, t0: float, timeout_s: float = 3.0) -> float:
    """Time the PD's relay went to "open" after ``t0`` (simulator's own record)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        (state,) = (await control.request("state"))["pds"]
        for change in state["relay_changes"]:
            if change["t"] > t0 and change["passage"] == "open":
                return float(change["t"])
        await asyncio.sleep(0.005)
    raise TimeoutError("relay did not open")


# --- the driver -----------------------------------------------------------------------------


async def bench_connect(path: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        gate = OsdpGate(
            "bench", OsdpGateSettings(address=ADDRESS, scbk=SecretBytes(KEY)),
            line=OsdpLineSettings(port=path), bus=Bus(),
        )  # fmt: skip
        start = time.monotonic()
        await gate.connect()
        times.append(time.monotonic() - start)
        await gate.close()
    return times


async def bench_driver_latency(
    path: str, control: ControlClient, cards: int, idle_s: float, refresh_s: float
) -> tuple[dict[str, list[float]], float]:
    bus = Bus()
    sub = bus.subscribe(CredentialPresented, name="bench")
    gate = OsdpGate(
        "bench", OsdpGateSettings(address=ADDRESS, scbk=SecretBytes(KEY)),
        line=OsdpLineSettings(port=path, refresh_s=refresh_s), bus=bus,
    )  # fmt: skip
    parts: dict[str, list[float]] = {
        "total": [], "pd_to_driver": [], "driver_to_bus": [], "command_to_relay": [], "ack": [],
    }  # fmt: skip
    await gate.connect()
    try:
        await gate.lock()
        rng = random.Random(1)
        for n in range(cards):
            await asyncio.sleep(rng.uniform(0, PHASE_S))
            value = (0x100000 + n) << 6
            answer = await control.request("card", hex=f"{value:08X}", bits=CARD_BITS)
            t_card = float(answer["t"])
            async with asyncio.timeout(3):
                cred = await sub.get()
            t_bus = time.monotonic()
            assert isinstance(cred, CredentialPresented)
            await gate.pulse_open(PULSE_MS)
            t_ack = time.monotonic()
            t_open = await relay_opened_after(control, t_card)
            parts["total"].append(t_open - t_card)
            parts["pd_to_driver"].append(cred.t_mono - t_card)
            parts["driver_to_bus"].append(t_bus - cred.t_mono)
            parts["command_to_relay"].append(t_open - t_bus)
            parts["ack"].append(t_ack - t_open)
            await gate.lock()
        cpu = await idle_cpu(idle_s)
    finally:
        await gate.close()
        sub.close()
    return parts, cpu


async def idle_cpu(seconds: float) -> float:
    me = psutil.Process()
    before = me.cpu_times()
    await asyncio.sleep(seconds)
    after = me.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100.0 * used / seconds


# --- the baseline: libosdp's own ControlPanel wrapper ----------------------------------------


class _SerialChannel(osdp.Channel):  # type: ignore[misc]
    def __init__(self, port: serial.Serial) -> None:
        super().__init__()
        self.port = port

    def read(self, max_bytes: int) -> bytes:
        waiting = self.port.in_waiting
        return bytes(self.port.read(min(max_bytes, waiting))) if waiting else b""

    def write(self, buf: bytes) -> int:
        return int(self.port.write(buf) or 0)

    def flush(self) -> None:
        pass


async def bench_baseline(
    path: str, control: ControlClient, cards: int, idle_s: float
) -> tuple[list[float], float]:
    port = serial.Serial(path, 115200, timeout=0)
    cards_seen: queue.SimpleQueue[float] = queue.SimpleQueue()

    def on_event(_pd: int, event: dict[str, Any]) -> int:
        if event.get("event") == osdp.Event.CardRead:
            cards_seen.put(time.monotonic())
        return 0

    cp = osdp.ControlPanel(
        [osdp.PDInfo(ADDRESS, _SerialChannel(port), scbk=KEY, flags=[osdp.LibFlag.EnforceSecure])],
        log_level=osdp.LogLevel.Error, event_handler=on_event,
    )  # fmt: skip
    stop = threading.Event()

    def opener() -> None:  # pulse as soon as a card shows up, like an app thread would
        while not stop.is_set():
            try:
                cards_seen.get(timeout=0.1)
            except queue.Empty:
                continue
            cp.submit_command(ADDRESS, {
                "command": osdp.Command.Output, "output_no": 0,
                "control_code": 6, "timer_count": PULSE_MS // 100,
            })  # fmt: skip

    cp.start()
    worker = threading.Thread(target=opener, name="baseline-opener")
    worker.start()
    totals: list[float] = []
    try:
        deadline = time.monotonic() + 10
        while not (cp.is_online(ADDRESS) and cp.is_sc_active(ADDRESS)):
            if time.monotonic() > deadline:
                raise RuntimeError("baseline CP did not come online")
            await asyncio.sleep(0.01)
        lock = {"command": osdp.Command.Output, "output_no": 0, "control_code": 2, "timer_count": 0}
        cp.submit_command(ADDRESS, lock)
        await asyncio.sleep(0.2)
        rng = random.Random(1)
        for n in range(cards):
            await asyncio.sleep(rng.uniform(0, PHASE_S))
            value = (0x200000 + n) << 6
            answer = await control.request("card", hex=f"{value:08X}", bits=CARD_BITS)
            t_card = float(answer["t"])
            t_open = await relay_opened_after(control, t_card)
            totals.append(t_open - t_card)
            cp.submit_command(ADDRESS, lock)
        cpu = await idle_cpu(idle_s)
    finally:
        stop.set()
        worker.join()
        cp.teardown()
        port.close()
    return totals, cpu


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimProcess(Path(tmp), args.baud)
        ready = await sim.start()
        try:
            path = ready["path"]
            async with ControlClient(ready["control_port"]) as control:
                connects = await bench_connect(path, args.connects)
                parts, cpu = await bench_driver_latency(
                    path, control, args.cards, args.idle_s, args.refresh_s
                )
                base_totals, base_cpu = await bench_baseline(path, control, args.cards, args.idle_s)
        finally:
            await sim.stop()

    print(f"\nOSDP gate, one PD at {args.baud} baud on a pty, secure channel, simulator in a")
    print(f"separate process; {args.cards} cards at random moments, pulse {PULSE_MS} ms, driver")
    print(f"refresh_s {args.refresh_s}\n")
    print(f"  {'':<34} {'median':>8} {'p95':>8} {'max':>8}   (ms)")
    print(row(f"connect to online+SC (x{args.connects})", connects))
    print(row("card -> relay open: OsdpGate", parts["total"]))
    print(row("  PD -> driver (line thread)", parts["pd_to_driver"]))
    print(row("  driver -> bus subscriber", parts["driver_to_bus"]))
    print(row("  pulse_open -> relay at PD", parts["command_to_relay"]))
    print(row("  relay -> pulse_open returns", parts["ack"]))
    print(row("card -> relay open: osdp.ControlPanel", base_totals))
    ratio = statistics.median(parts["total"]) / statistics.median(base_totals)
    print(f"\n  median latency OsdpGate / libosdp's own ControlPanel: {ratio:.2f}x")
    print(f"  idle CPU, one PD online: OsdpGate {cpu:.1f} %, osdp.ControlPanel {base_cpu:.1f} %")
    return {
        "connect": summary_ms(connects),
        "driver": {k: summary_ms(v) for k, v in parts.items()},
        "baseline_total": summary_ms(base_totals),
        "latency_ratio": round(ratio, 3),
        "idle_cpu_percent": {"driver": round(cpu, 2), "baseline": round(base_cpu, 2)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=30)
    parser.add_argument("--connects", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=5.0)
    parser.add_argument("--baud", type=int, default=115200)
    parser.add_argument(
        "--refresh-s", type=float, default=0.01, help="OsdpLineSettings.refresh_s of the driver"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
