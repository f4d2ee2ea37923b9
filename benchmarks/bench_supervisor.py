"""UPS on-battery trap -> store mode change -> actions applied -> MQTT state (goal <= 1 s).

    .venv/bin/python benchmarks/bench_supervisor.py [--rounds N]

The UPS simulator (its own SNMP agent, in this process) loses the grid; the
clock runs from that call to each step of what walkout does about it, all
through the real wiring of ``walkout run``: the trap reaching the bus as a
``GridEvent`` (the baseline: the driver alone), the supervisor's
``ModeChanged`` to conserve, the actuator's outcome for the GPU caps (NVML
limits set and read back on the fake GPUs), and the store state with mode
``conserve`` arriving at an MQTT client subscribed on a Mosquitto of the
benchmark's own. The UPS is polled once every 5 s, so only the trap can make
the goal. Each round restores the grid and waits for normal again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import socket
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import aiomqtt

from devices.bus import Message, Subscription
from devices.ups.state import GridEvent, GridEventKind
from facility.actuation import ActionOutcome
from facility.supervisor import ModeChanged, OnBatteryRule, Policy, StoreMode
from facility.supervisor.policy import DEFAULT_ACTIONS
from sim_devices.fake_nvml import T4, FakeNvml
from sim_devices.ups import UpsSimulator
from walkout.bench_store import _Broker
from walkout.config import parse_config
from walkout.facility_wiring import open_facility
from walkout.runtime import open_runtime

GOAL_S = 1.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def store(ups_port: int, trap_port: int, mqtt_port: int, workdir: Path) -> dict[str, Any]:
    return {
        "store": {"id": "bench-sup"},
        "facility": {
            "ups": [
                {
                    "id": "ups-1",
                    "type": "snmp",
                    "agent": {"host": "127.0.0.1", "port": ups_port, "timeout_s": 0.5},
                    "rate_hz": 0.2,
                }
            ],
            "traps": {"host": "127.0.0.1", "port": trap_port, "communities": ["public"]},
            "gpus": {"enabled": True, "rate_hz": 1.0},
        },
        "supervisor": {"tick_s": 1.0, "shutdown": {"command": ["true"], "dry_run": True}},
        "alerts": {"db": str(workdir / "alerts.db")},
        "mqtt": {"port": mqtt_port},
    }


def policy() -> Policy:
    """Shipped actions; the on-battery rule recovers in 0.5 s and nothing dwells (rounds)."""
    return Policy(
        rules=(OnBatteryRule(recover_s=0.5),),
        min_dwell_s=MappingProxyType(dict.fromkeys(StoreMode, 0.0)),
        actions=DEFAULT_ACTIONS,
        ups_ids=("ups-1",),
    )


async def first(sub: Subscription, test: Any) -> float:
    async for message in sub:
        if test(message):
            return time.monotonic()
    raise RuntimeError("subscription closed")


async def mqtt_mode(client: aiomqtt.Client, mode: str) -> float:
    async for message in client.messages:
        payload = json.loads(bytes(message.payload))
        if payload.get("mode") == mode:
            return time.monotonic()
    raise RuntimeError("MQTT client closed")


@contextlib.asynccontextmanager
async def started(workdir: Path) -> AsyncIterator[tuple[Any, ...]]:
    broker = _Broker(workdir)
    try:
        await broker.ready()
        trap_port = free_udp_port()
        gpus = FakeNvml([T4] * 4)
        async with UpsSimulator(port=0, traps=[f"127.0.0.1:{trap_port}/v2c/public"]) as ups:
            config = parse_config(
                store(ups.port, trap_port, broker.port, workdir), "bench", workdir
            )
            async with (
                open_runtime(config, nvml=gpus) as runtime,
                open_facility(config, runtime, policy=policy()) as facility,
            ):
                tasks = [
                    asyncio.create_task(runtime.run(), name="runtime"),
                    asyncio.create_task(facility.run(), name="facility"),
                ]
                try:
                    async with aiomqtt.Client("127.0.0.1", broker.port) as client:
                        await client.subscribe("walkout/bench-sup/store/state")
                        yield runtime, facility, ups, client
                finally:
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
    finally:
        broker.stop()


def on_battery(message: Message) -> bool:
    return (
        isinstance(message, GridEvent)
        and message.kind is GridEventKind.ON_BATTERY
        and not message.ended
    )


def to_mode(mode: StoreMode) -> Any:
    return lambda m: isinstance(m, ModeChanged) and m.mode is mode


def caps_applied(message: Message) -> bool:
    return isinstance(message, ActionOutcome) and message.kind == "cap_gpus" and message.ok


async def main_async(rounds: int) -> None:
    random.seed(1)
    steps: dict[str, list[float]] = {"trap": [], "mode": [], "caps": [], "mqtt": []}
    with tempfile.TemporaryDirectory(prefix="walkout-bench-sup-") as tmp:
        async with started(Path(tmp)) as (runtime, facility, ups, client):
            await asyncio.wait_for(facility.supervisor.ready.wait(), 10)
            await asyncio.wait_for(mqtt_mode(client, "normal"), 10)
            for _ in range(rounds):
                await asyncio.sleep(random.uniform(0.2, 0.7))  # any phase of the poll/tick
                subs = [runtime.bus.subscribe(maxsize=10_000, name=f"bench{i}") for i in range(3)]
                try:
                    cut = time.monotonic()
                    ups.cut_grid()
                    trap, mode, caps, mqtt = await asyncio.wait_for(
                        asyncio.gather(
                            first(subs[0], on_battery),
                            first(subs[1], to_mode(StoreMode.CONSERVE)),
                            first(subs[2], caps_applied),
                            mqtt_mode(client, "conserve"),
                        ),
                        10,
                    )
                finally:
                    for sub in subs:
                        sub.close()
                for name, at in zip(steps, (trap, mode, caps, mqtt), strict=True):
                    steps[name].append(at - cut)
                back = runtime.bus.subscribe(name="back")
                ups.restore_grid()
                await asyncio.wait_for(first(back, to_mode(StoreMode.NORMAL)), 20)
                back.close()
                await asyncio.wait_for(mqtt_mode(client, "normal"), 10)
    labels = {
        "trap": "GridEvent on the bus (baseline: the driver alone)",
        "mode": "ModeChanged to conserve",
        "caps": "GPU caps set and read back (ActionOutcome)",
        "mqtt": "MQTT store state 'conserve' received",
    }
    print(f"UPS on battery -> ..., {rounds} rounds, UPS polled every 5 s, goal {GOAL_S:g} s")
    base = statistics.median(steps["trap"])
    for name, values in steps.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(
            f"  {labels[name]:<52} p50 {statistics.median(values) * 1000:7.1f} ms  "
            f"p95 {p95 * 1000:7.1f} ms  max {max(values) * 1000:7.1f} ms  "
            f"x{statistics.median(values) / base:5.2f} of baseline"
        )
    worst = max(max(steps["caps"]), max(steps["mqtt"]))
    verdict = "met" if worst <= GOAL_S else "MISSED"
    print(f"  worst action or MQTT latency {worst * 1000:.0f} ms: goal {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main_async(args.rounds))


if __name__ == "__main__":
    main()
