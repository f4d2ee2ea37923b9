"""Grid loss to a published on-battery reading: with traps, and with polling alone.

    .venv/bin/python benchmarks/bench_ups_events.py [--rounds N] [--rate-hz R]

The UPS simulator (its own SNMP agent, in this process) loses the grid at a
random moment of the poll period; the time runs from that call to the
``UpsReading`` with status on_battery arriving at a bus subscriber of the
real runtime. Both modes run in the same process, alternating, against the
same simulator; the ratio of the medians is printed. Figures only, no goal
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from devices.ups.state import UpsReading, UpsStatus
from sim_devices.ups import UpsSimulator
from walkout.config import parse_config
from walkout.runtime import open_runtime


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def store(ups_port: int, trap_port: int | None, rate_hz: float) -> dict[str, Any]:
    facility: dict[str, Any] = {
        "ups": [
            {
                "id": "ups-1",
                "type": "snmp",
                "agent": {"host": "127.0.0.1", "port": ups_port, "timeout_s": 0.5},
                "rate_hz": rate_hz,
            }
        ]
    }
    if trap_port is not None:
        facility["traps"] = {"host": "127.0.0.1", "port": trap_port, "communities": ["public"]}
    facility["gpus"] = {"enabled": False}
    return {"store": {"id": "bench-ups"}, "facility": facility}


async def wait_status(sub: Any, status: UpsStatus) -> float:
    """Monotonic time at which a reading with ``status`` reached the subscriber."""
    async for message in sub:
        if isinstance(message, UpsReading) and message.status is status:
            return time.monotonic()
    raise RuntimeError("subscription closed")


async def one_mode(traps: bool, rounds: int, rate_hz: float, workdir: Path) -> list[float]:
    trap_port = free_udp_port() if traps else None
    targets = [f"127.0.0.1:{trap_port}/v2c/public"] if trap_port else []
    latencies: list[float] = []
    async with UpsSimulator(port=0, traps=targets) as ups:
        config = parse_config(store(ups.port, trap_port, rate_hz), "bench", workdir)
        async with open_runtime(config) as runtime:
            sub = runtime.bus.subscribe(UpsReading, maxsize=10_000, name="bench")
            task = asyncio.create_task(runtime.run())
            try:
                await asyncio.wait_for(wait_status(sub, UpsStatus.ON_LINE), 10)
                for _ in range(rounds):
                    await asyncio.sleep(random.uniform(0, 1 / rate_hz))  # any phase of the grid
                    cut = time.monotonic()
                    ups.cut_grid()
                    seen = await asyncio.wait_for(wait_status(sub, UpsStatus.ON_BATTERY), 10)
                    latencies.append(seen - cut)
                    ups.restore_grid()
                    await asyncio.wait_for(wait_status(sub, UpsStatus.ON_LINE), 10)
            finally:
                sub.close()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return latencies


def describe(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (
        f"  {name:<14} n={len(values):<3} p50 {statistics.median(values) * 1000:8.1f} ms  "
        f"p95 {p95 * 1000:8.1f} ms  max {max(values) * 1000:8.1f} ms"
    )


async def main_async(rounds: int, rate_hz: float) -> None:
    random.seed(1)
    with tempfile.TemporaryDirectory(prefix="walkout-bench-ups-") as tmp:
        trap: list[float] = []
        poll: list[float] = []
        for _ in range(2):  # alternate, so drift on a shared machine hits both alike
            trap += await one_mode(True, rounds // 2, rate_hz, Path(tmp))
            poll += await one_mode(False, rounds // 2, rate_hz, Path(tmp))
    print(f"grid loss -> on_battery reading on the bus, SNMP poll at {rate_hz:g} Hz")
    print(describe("traps + poll", trap))
    print(describe("polling only", poll))
    ratio = statistics.median(poll) / statistics.median(trap)
    print(f"  polling-only median / trap median: {ratio:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="grid losses per mode")
    parser.add_argument("--rate-hz", type=float, default=1.0, help="UPS poll rate")
    args = parser.parse_args()
    asyncio.run(main_async(args.rounds, args.rate_hz))


if __name__ == "__main__":
    main()
