"""Telemetry throughput against a real VictoriaMetrics on loopback.

1. baselines, bare influxdb-client async write loops, one request at a time:
   (a) posting pre-encoded line-protocol batches (the transport's ceiling),
   (b) building influxdb_client ``Point`` objects from the same readings (what a
   loop without walkout's converters does);
2. the TelemetryWriter: GPU readings published on the bus, converted, batched,
   written (the same points and batch size as the baseline);
3. replay: the same number of points published while the server is down (all go
   to the disk buffer), then the server is started and the backlog drained.

Prints points/s for each and the writer/baseline ratio, measured in this run.
Usage: python benchmarks/bench_telemetry.py [--points N] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write.point import Point

from devices.backoff import Backoff
from devices.bus import Bus
from devices.gpu.reading import GpuReading
from facility.telemetry.buffer import DiskBuffer
from facility.telemetry.points import (
    GPU,
    ConverterRegistry,
    PointContext,
    WallClockAnchor,
    convert_gpu_reading,
    encode_batch,
)
from facility.telemetry.writer import TelemetryTarget, TelemetryWriter


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "/usr/bin/victoria-metrics",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.workdir / 'vm'}",
                "-retentionPeriod=100y",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def readings(n: int, offset: int, mono0: float) -> list[GpuReading]:
    return [
        GpuReading(
            source="bench",
            t_mono=mono0 + (offset + i) / 1000,
            index=i % 8,
            power_w=200.0 + i % 50,
            temperature_c=60.0 + i % 20,
        )
        for i in range(n)
    ]


def registry() -> ConverterRegistry:
    reg = ConverterRegistry()
    reg.register(GpuReading, (GPU,), convert_gpu_reading)
    return reg


async def baseline(url: str, msgs: list[GpuReading], batch: int, ctx: PointContext) -> float:
    bodies = [
        encode_batch(p for m in msgs[i : i + batch] for p in convert_gpu_reading(m, ctx))
        for i in range(0, len(msgs), batch)
    ]
    async with InfluxDBClientAsync(url, token="x", org="walkout", timeout=10_000) as client:
        api = client.write_api()
        start = time.perf_counter()
        for body in bodies:
            await api.write(bucket="walkout", record=body)
        return len(msgs) / (time.perf_counter() - start)


async def baseline_points(
    url: str, msgs: list[GpuReading], batch: int, anchor: WallClockAnchor
) -> float:
    async with InfluxDBClientAsync(url, token="x", org="walkout", timeout=10_000) as client:
        api = client.write_api()
        start = time.perf_counter()
        for i in range(0, len(msgs), batch):
            points = [
                Point("gpu")  # type: ignore[no-untyped-call]
                .tag("store", "bench")
                .tag("device", m.source)
                .tag("gpu", str(m.index))
                .field("power_w", m.power_w)
                .field("temperature_c", m.temperature_c)
                .time(anchor.to_ns(m.t_mono))
                for m in msgs[i : i + batch]
            ]
            await api.write(bucket="walkout", record=points)
        return len(msgs) / (time.perf_counter() - start)


async def publish_paced(bus: Bus, msgs: list[GpuReading], room: int) -> None:
    """Publish without overrunning the writer's queue (a drop would make the rates unequal)."""
    chunk = 1000
    for i in range(0, len(msgs), chunk):
        # The bus has no "room" event to wait on: poll the queue length.
        while sum(s["queued"] for s in bus.stats().values()) > room - chunk:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        for m in msgs[i : i + chunk]:
            bus.publish_nowait(m)
        await asyncio.sleep(0)


async def wait(check: Callable[[], bool], timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark did not finish")
        await asyncio.sleep(0.002)


async def main(points: int, batch: int) -> None:
    anchor = WallClockAnchor.now()
    ctx = PointContext("bench", anchor)
    queue = 20_000
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = Server(work)
        server.start()
        try:
            base = await baseline(server.url, readings(points, 0, anchor.mono_s), batch, ctx)
            msgs = readings(points, 3 * points, anchor.mono_s)
            base_points = await baseline_points(server.url, msgs, batch, anchor)

            bus = Bus()
            msgs = readings(points, points, anchor.mono_s)
            writer = TelemetryWriter(
                bus,
                TelemetryTarget(server.url),
                DiskBuffer(work / "buf1"),
                store="bench",
                registry=registry(),
                anchor=anchor,
                batch_points=batch,
                flush_interval_s=0.2,
                queue_size=queue,
            )
            async with writer:
                start = time.perf_counter()
                await publish_paced(bus, msgs, queue)
                await wait(lambda: writer.stats().written == points)
                live = points / (time.perf_counter() - start)
                live_stats = writer.stats()

            server.stop()
            bus = Bus()
            msgs = readings(points, 2 * points, anchor.mono_s)
            writer = TelemetryWriter(
                bus,
                TelemetryTarget(server.url),
                DiskBuffer(work / "buf2", max_bytes=1 << 30),
                store="bench",
                registry=registry(),
                anchor=anchor,
                batch_points=batch,
                flush_interval_s=0.2,
                queue_size=queue,
                backoff=Backoff(initial_s=0.05, cap_s=0.05, jitter=0.0),
            )
            async with writer:
                start = time.perf_counter()
                await publish_paced(bus, msgs, queue)
                await wait(lambda: writer.stats().buffered == points)
                buffer_rate = points / (time.perf_counter() - start)
                server.start()
                start = time.perf_counter()
                await wait(lambda: writer.stats().replayed == points)
                replay = points / (time.perf_counter() - start)
                replay_stats = writer.stats()
        finally:
            server.stop()

    print(f"points per run: {points}, batch: {batch} points, VictoriaMetrics on loopback")
    print(f"(a) bare client, pre-encoded    : {base:10.0f} points/s")
    print(f"(b) bare client, Point objects  : {base_points:10.0f} points/s")
    print(
        f"TelemetryWriter (bus -> VM)     : {live:10.0f} points/s  "
        f"ratio {live / base:.2f} vs (a), {live / base_points:.2f} vs (b)"
    )
    print(f"  stats {live_stats}")
    print(f"outage: bus -> disk buffer      : {buffer_rate:10.0f} points/s (fsync per batch)")
    print(
        f"replay after restart            : {replay:10.0f} points/s  "
        f"ratio {replay / base:.2f} vs (a)"
    )
    print(f"  (replay includes <= one 0.05 s backoff wait)  stats {replay_stats}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.points, args.batch))
