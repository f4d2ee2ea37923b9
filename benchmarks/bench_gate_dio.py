"""Digital-I/O gate latencies: credential to open door, beam edge to PassageSensed.

    .venv/bin/python benchmarks/bench_gate_dio.py [--opens N] [--passages N]

The module simulator runs as a subprocess (``python -m sim_devices.dio serve``);
its clock is the host's monotonic clock, so the moment the lock relay moved
(``changed_s`` in its state) and the moment the beam broke (``beam_start_s``)
compare directly with ours.

1. credential -> open: a CredentialPresented goes on the bus; the gate machine
   runs the allow-list check and pulses the entry (device-side timed output,
   one register write + a coil read-back). Measured to the relay change in the
   module and to ``Admitted`` (the read-back confirmed). Baseline in the same
   run: one bare pymodbus FC5 coil write, the floor of any open command.
2. beam edge -> PassageSensed at 20 Hz polling, with no debounce and with the
   default 40 ms (two samples must agree): to the event reaching a subscriber,
   and how far the event's ``t_mono`` is from the true edge.

Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pymodbus.client import AsyncModbusTcpClient

from devices.bus import Bus
from devices.gate.checks import AllowListCheck
from devices.gate.dio import DioGate
from devices.gate.dio_profile import DioWiring, get_dio_profile
from devices.gate.io import CredentialKind, CredentialPresented, PassageSensed
from devices.gate.machine import Admitted, GateMachine, GateSettings
from sim_devices.control import ControlClient

REPO = Path(__file__).resolve().parents[1]


def summary(name: str, values_s: list[float]) -> str:
    ms = sorted(v * 1000 for v in values_s)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return (
        f"{name:<52} n={len(ms):3d} median {statistics.median(ms):7.2f} ms  "
        f"p95 {p95:7.2f} ms  min {ms[0]:7.2f}  max {ms[-1]:7.2f}"
    )


async def wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.005)


async def baseline_coil_write(port: int, rounds: int) -> list[float]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
    await client.connect()
    try:
        times = []
        for i in range(rounds):
            start = time.monotonic()
            await client.write_coil(3, bool(i % 2), device_id=1)
            times.append(time.monotonic() - start)
        return times
    finally:
        client.close()


async def credential_to_open(
    port: int, control: ControlClient, rounds: int
) -> dict[str, list[float]]:
    bus = Bus()
    admitted = bus.subscribe(Admitted)
    with tempfile.TemporaryDirectory() as tmp:
        allow = Path(tmp) / "allow.txt"
        allow.write_text("\n".join(f"CARD-{i:04d}" for i in range(1000)) + "\n")
        wiring = DioWiring(lock_coil=0, passage_input=0)
        gate = DioGate.tcp("entry", "127.0.0.1", port, bus, get_dio_profile("io8"), wiring)
        settings = GateSettings(open_ms=200)
        to_relay, to_admitted = [], []
        async with gate, GateMachine(bus, AllowListCheck(allow), entries=[gate], settings=settings):
            for i in range(rounds):

                async def locked() -> bool:
                    state = (await control.request("state"))["state"]
                    return bool(state["doors"][0]["locked"])

                await wait_until(locked)
                t0 = time.monotonic()
                await bus.publish(
                    CredentialPresented(
                        source="entry",
                        t_mono=t0,
                        kind=CredentialKind.QR,
                        credential=f"CARD-{i:04d}",
                    )
                )
                event = await admitted.get()
                assert isinstance(event, Admitted)
                to_admitted.append(event.latency_s)
                state = (await control.request("state"))["state"]
                to_relay.append(float(state["module"]["changed_s"]["0"]) - t0)
    return {"relay": to_relay, "admitted": to_admitted}


async def edge_to_passage(
    port: int, control: ControlClient, rounds: int, debounce_ms: int
) -> dict[str, list[float]]:
    bus = Bus()
    sensed = bus.subscribe(PassageSensed)
    wiring = DioWiring(lock_coil=0, passage_input=0, poll_hz=20, debounce_ms=debounce_ms)
    gate = DioGate.tcp("entry", "127.0.0.1", port, bus, get_dio_profile("io8"), wiring)
    to_event, stamp_error = [], []
    async with gate:
        await gate.hold_open()
        for _ in range(rounds):
            answer = await control.request("walk_through", door="entry")
            event = await sensed.get()
            received = time.monotonic()
            beam = float(answer["beam_start_s"])
            to_event.append(received - beam)
            stamp_error.append(event.t_mono - beam)
            # Let the beam clear; a random phase against the 50 ms poll grid, as people have.
            await asyncio.sleep(0.35 + random.uniform(0.0, 0.05))
    return {"event": to_event, "stamp": stamp_error}


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opens", type=int, default=50)
    parser.add_argument("--passages", type=int, default=40)
    args = parser.parse_args()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.dio", "serve", "--log-level", "WARNING",
        cwd=REPO, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = json.loads(await proc.stdout.readline())
        port = ready["port"]
        async with ControlClient(ready["control_port"]) as control:
            base = await baseline_coil_write(port, 200)
            opens = await credential_to_open(port, control, args.opens)
            print(summary("baseline: bare pymodbus FC5 coil write", base))
            print(summary("credential -> lock relay moved (module)", opens["relay"]))
            print(summary("credential -> Admitted (read-back confirmed)", opens["admitted"]))
            ratio = statistics.median(opens["relay"]) / statistics.median(base)
            print(f"{'':52} relay median = {ratio:.1f} x baseline coil write")
            for debounce in (0, 40):
                result = await edge_to_passage(port, control, args.passages, debounce)
                print(summary(f"beam edge -> PassageSensed, 20 Hz, debounce {debounce} ms",
                              result["event"]))  # fmt: skip
                print(summary(f"  PassageSensed.t_mono - true edge (debounce {debounce})",
                              result["stamp"]))  # fmt: skip
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.communicate()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
