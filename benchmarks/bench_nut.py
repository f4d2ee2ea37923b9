"""upsd round trips on loopback: walkout's NUT client against a bare socket client and upsc.

    .venv/bin/python benchmarks/bench_nut.py [-n 200]

A real upsd and a dummy-ups driver (started with the test suite's launcher,
tests/ups_nut/nutserver.py) serve one UPS of 25 variables. Prints medians
and 99th percentiles of sequential round trips, the ratio of walkout's
``NutUps.read`` to a bare blocking socket client's ``LIST VAR`` (both in this
run, same upsd), and what the client costs without its TCP_QUICKACK (upsd's
Nagle meeting our delayed ACK). Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devices.ups import nut
from devices.ups.nut import NutConnection, NutUps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ups_nut.nutserver import UPSC, DevFile, NutServer, UpsSection, nut_missing

UPS1 = {
    "ups.status": "OL",
    "battery.charge": "87.5",
    "battery.runtime": "1520",
    "battery.voltage": "27.1",
    "input.voltage": "229.4",
    "input.frequency": "49.98",
    "output.voltage": "230.0",
    "output.current": "1.7",
    "ups.load": "23",
    "ups.realpower": "380",
    "ups.id": "rack A",
    "ups.serial": "AS1234 5678",
}


def stats(samples_s: list[float]) -> str:
    ordered = sorted(samples_s)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1e3:7.3f} ms   p99 {p99 * 1e3:7.3f} ms"


def bare_list_var(port: int, count: int, *, quickack: bool) -> list[float]:
    """A minimal blocking client: one socket, LIST VAR, read to END."""
    out = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = sock.makefile("rb")
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(b"LIST VAR ups1\n")
            while True:
                line = reader.readline()
                if quickack:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                if line.startswith(b"END") or line.startswith(b"ERR") or not line:
                    break
            out.append(time.perf_counter() - start)
    return out


async def walkout_reads(port: int, count: int) -> tuple[list[float], list[float]]:
    list_var, get_var = [], []
    async with NutConnection("127.0.0.1", port) as conn:
        ups = NutUps("ups1", conn, "ups1")
        for _ in range(count):
            start = time.perf_counter()
            await ups.read()
            list_var.append(time.perf_counter() - start)
        for _ in range(count):
            start = time.perf_counter()
            await conn.get_var("ups1", "ups.status")
            get_var.append(time.perf_counter() - start)
    return list_var, get_var


def timed_runs(fn: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=200, help="round trips per figure")
    args = parser.parse_args()
    reason = nut_missing()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        dev = DevFile(workdir / "ups1.dev", UPS1)
        section = UpsSection("ups1", "dummy-ups", {"port": str(dev.path), "pollinterval": "1"})
        with NutServer(workdir, [section]) as server:
            count = args.n
            variables = len(server.upsc("ups1"))
            print(f"upsd {server.query('VER')[0]}; LIST VAR ups1 has {variables} variables")
            print(f"{count} sequential round trips each, loopback:")
            bare = bare_list_var(server.port, count, quickack=True)
            print(f"  bare socket client, LIST VAR (quick ACK)    {stats(bare)}")
            slow = bare_list_var(server.port, min(count, 50), quickack=False)
            print(f"  bare socket client, LIST VAR (delayed ACK)  {stats(slow)}")
            list_var, get_var = asyncio.run(walkout_reads(server.port, count))
            print(f"  walkout NutUps.read (LIST VAR + mapping)    {stats(list_var)}")
            print(f"  walkout get_var (GET VAR)                   {stats(get_var)}")
            original = nut._quick_ack
            nut._quick_ack = lambda sock: None  # what the client costs without it
            try:
                no_ack, _ = asyncio.run(walkout_reads(server.port, min(count, 50)))
            finally:
                nut._quick_ack = original
            print(f"  walkout NutUps.read without quick ACK       {stats(no_ack)}")
            assert UPSC is not None
            upsc = timed_runs(
                lambda: subprocess.run(
                    [UPSC, f"ups1@127.0.0.1:{server.port}"], capture_output=True, check=True
                ),
                min(count, 50),
            )
            print(f"  upsc process (spawn + LIST VAR)             {stats(upsc)}")
            ratio = statistics.median(list_var) / statistics.median(bare)
            print(f"walkout LIST VAR / bare client LIST VAR (median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
