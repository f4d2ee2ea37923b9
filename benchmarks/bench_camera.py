"""Camera benchmarks: JPEG frames decoded per core, the event loop while decoding, reconnects.

    .venv/bin/python benchmarks/bench_camera.py [--seconds 4] [--restarts 5] [--json FILE]

1. decode: ``decode_jpeg`` (``cv2.imdecode`` plus the quality probe) on one
   thread, simulator frames at 640x480 and 1280x720, full and half-scale
   decoding: frames per CPU-second of that thread, i.e. frames/s one core
   decodes. Baseline: bare ``cv2.imdecode`` of the same bytes.
2. stream: ``MjpegSource`` reading the camera simulator (its own process,
   ``--loop-frames`` so serving costs it little) as fast as it serves:
   frames delivered per second, CPU of the decode thread and of the event
   loop's thread (HTTP + multipart parsing), frames per CPU-second of this
   whole process, and the drops.
3. loop: lateness of a 5 ms ticker on the event loop while idle (baseline),
   while ``MjpegSource`` decodes 1280x720 on its thread, and while a naive
   reader decodes on the loop itself (what the decode thread avoids).
4. reconnect: the simulator's server goes away for ``--down-s`` and comes
   back on the same port, ``--restarts`` times; the time from the server
   being back to the first new frame, and the whole gap between frames, with
   the source's default backoff and with a tight one.

Figures are printed (and written as JSON with ``--json``), never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import cv2
import numpy as np
import psutil

from devices.backoff import Backoff
from devices.camera.decode import decode_jpeg
from devices.camera.mjpeg import MjpegSource
from devices.camera.multipart import MultipartParser, boundary_from_content_type
from sim_devices.camera.scene import Scene
from sim_devices.camera.simulator import CameraSimulator
from sim_devices.camera.view import CameraView, encode_jpeg

RESOLUTIONS = ((640, 480), (1280, 720))
ROOT = Path(__file__).resolve().parents[1]


def thread_cpu_s(thread: threading.Thread | None) -> float:
    """CPU seconds a thread of this process has used (Linux per-thread clock)."""
    if thread is None or thread.ident is None:
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, ProcessLookupError):
        return 0.0


def sample_jpegs(width: int, height: int, count: int = 30, quality: int = 80) -> list[bytes]:
    scene = Scene(seed=7)
    scene.add_walkers(6)
    view = CameraView(scene, width, height, noise=2.0, seed=7)
    jpegs = []
    for seq in range(count):
        scene.step(1 / 15)
        jpegs.append(encode_jpeg(view.render(scene.snapshot(), seq, time.time()), quality))
    return jpegs


def rate(fn: Any, jpegs: list[bytes], seconds: float) -> float:
    """Calls of ``fn`` per CPU-second of this thread, cycling through ``jpegs``."""
    count, start = 0, time.thread_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fn(jpegs[count % len(jpegs)])
        count += 1
    return count / (time.thread_time() - start)


def bench_decode(seconds: float) -> list[dict[str, Any]]:
    print("\n1. decode on one thread: frames per CPU-second (= frames/s per core)")
    print(f"   {'resolution':>10} {'KiB/frame':>9} {'imdecode':>9} {'+probe':>8} {'reduce=2':>9}")
    rows = []
    for width, height in RESOLUTIONS:
        jpegs = sample_jpegs(width, height)
        size_kib = statistics.mean(len(j) for j in jpegs) / 1024

        span = seconds / 3
        bare = rate(
            lambda b: cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR), jpegs, span
        )
        full = rate(decode_jpeg, jpegs, span)
        half = rate(lambda b: decode_jpeg(b, 2), jpegs, span)
        rows.append(
            {
                "resolution": f"{width}x{height}",
                "jpeg_kib": round(size_kib, 1),
                "imdecode_per_core": round(bare, 1),
                "decode_probe_per_core": round(full, 1),
                "reduce2_per_core": round(half, 1),
                "ratio_vs_bare": round(full / bare, 3),
            }
        )
        print(
            f"   {width}x{height:<5} {size_kib:>9.1f} {bare:>9.1f} {full:>8.1f} {half:>9.1f}"
            f"   (decode+probe / bare imdecode = {full / bare:.2f})"
        )
    return rows


@contextlib.asynccontextmanager
async def sim_process(width: int, height: int, fps: float) -> AsyncIterator[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_devices.camera", "serve", "--width", str(width),
        "--height", str(height), "--fps", str(fps), "--loop-frames", "30", "--walkers", "6",
        "--log-level", "WARNING", stdout=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready = json.loads(await proc.stdout.readline())
        ready["pid"] = proc.pid
        yield ready
    finally:
        proc.terminate()
        await proc.wait()


class Ticker:
    """A 5 ms periodic task that records how late each wake-up is."""

    def __init__(self, period_s: float = 0.005) -> None:
        self.period_s = period_s
        self.late_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period_s
            await asyncio.sleep(self.period_s)
            self.late_ms.append((loop.time() - due) * 1000)

    def start(self) -> None:
        self.late_ms.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> dict[str, float]:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        values = sorted(self.late_ms) or [0.0]
        return {
            "p50_ms": round(values[len(values) // 2], 3),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 3),
            "max_ms": round(values[-1], 3),
        }


async def consume(source: MjpegSource, seconds: float) -> int:
    count = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await source.read()
        count += 1
    return count


async def bench_stream(seconds: float) -> list[dict[str, Any]]:
    print("\n2. MjpegSource against the simulator (own process), as fast as it serves")
    rows = []
    for width, height in RESOLUTIONS:
        async with sim_process(width, height, 1000) as ready:
            sim = psutil.Process(ready["pid"])
            source = MjpegSource("bench", ready["url"], queue_size=8)
            async with source:
                await source.read()
                decoder = next(t for t in threading.enumerate() if t.name == "camera-decode-bench")
                main = threading.main_thread()
                before = (thread_cpu_s(decoder), thread_cpu_s(main), time.process_time())
                sim_before = sim.cpu_times()
                frames_before, stats_before = source.stats.frames, dict(source.stats.as_dict())
                start = time.monotonic()
                await consume(source, seconds)
                elapsed = time.monotonic() - start
                decode_cpu = thread_cpu_s(decoder) - before[0]
                loop_cpu = thread_cpu_s(main) - before[1]
                process_cpu = time.process_time() - before[2]
                sim_after = sim.cpu_times()
                frames = source.stats.frames - frames_before
                dropped = source.stats.dropped_decode - int(stats_before["dropped_decode"])
        sim_cpu = (sim_after.user + sim_after.system) - (sim_before.user + sim_before.system)
        row = {
            "resolution": f"{width}x{height}",
            "frames_per_s": round(frames / elapsed, 1),
            "decode_thread_cpu": round(decode_cpu / elapsed, 3),
            "loop_thread_cpu": round(loop_cpu / elapsed, 3),
            "frames_per_cpu_s_decode_thread": round(frames / decode_cpu, 1) if decode_cpu else None,
            "frames_per_cpu_s_process": round(frames / process_cpu, 1) if process_cpu else None,
            "dropped_decode": dropped,
            "simulator_cpu": round(sim_cpu / elapsed, 3),
        }
        rows.append(row)
        print(
            f"   {row['resolution']:<9} {row['frames_per_s']:>7.1f} frames/s; decode thread "
            f"{row['decode_thread_cpu']:.2f} core, loop thread {row['loop_thread_cpu']:.2f} core; "
            f"{row['frames_per_cpu_s_decode_thread']} frames per decode-CPU-s, "
            f"{row['frames_per_cpu_s_process']} per process-CPU-s; {dropped} dropped while the "
            f"decoder was busy (simulator used {row['simulator_cpu']:.2f} core)"
        )
    return rows


async def naive_reader(url: str, seconds: float) -> int:
    """Reads MJPEG and decodes every frame on the event loop (what not to do)."""
    count = 0
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        parser = MultipartParser(boundary_from_content_type(response.headers["Content-Type"]))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for part in parser.feed(await response.content.readany()):
                if decode_jpeg(part.body) is not None:
                    count += 1
    return count


async def bench_loop(seconds: float) -> dict[str, Any]:
    print("\n3. event-loop responsiveness (5 ms ticker lateness) while decoding 1280x720")
    ticker = Ticker()
    result: dict[str, Any] = {}
    async with sim_process(1280, 720, 1000) as ready:
        ticker.start()
        await asyncio.sleep(seconds)
        result["idle"] = await ticker.stop()
        source = MjpegSource("bench", ready["url"], queue_size=8)
        async with source:
            await source.read()
            ticker.start()
            frames = await consume(source, seconds)
            result["decode_thread"] = {**await ticker.stop(), "frames_per_s": frames / seconds}
        ticker.start()
        frames = await naive_reader(ready["url"], seconds)
        result["decode_on_loop"] = {**await ticker.stop(), "frames_per_s": frames / seconds}
    for name, row in result.items():
        fps = f", {row['frames_per_s']:.0f} frames/s" if "frames_per_s" in row else ""
        print(
            f"   {name:<15} lateness p50 {row['p50_ms']:.2f} ms, p99 {row['p99_ms']:.2f} ms, "
            f"max {row['max_ms']:.2f} ms{fps}"
        )
    base = max(result["idle"]["p99_ms"], 0.01)
    print(
        f"   p99 against idle: decode thread {result['decode_thread']['p99_ms'] / base:.1f}x, "
        f"decode on the loop {result['decode_on_loop']['p99_ms'] / base:.1f}x"
    )
    return result


async def bench_reconnect(restarts: int, down_s: float) -> dict[str, Any]:
    print(f"\n4. reconnect after the server goes away for {down_s:g} s ({restarts} times)")
    results: dict[str, Any] = {}
    for label, backoff in (
        ("default backoff (0.2 s doubling to 10 s)", None),
        ("tight backoff (0.05 s doubling to 0.5 s)", Backoff(initial_s=0.05, cap_s=0.5)),
    ):
        after_up: list[float] = []
        gaps: list[float] = []
        async with CameraSimulator(fps=20, width=320, height=240) as sim:
            source = MjpegSource("bench", sim.server.url, backoff=backoff)
            async with source:
                last = await source.read()
                for _ in range(restarts):
                    reconnects = source.stats.reconnects
                    sim.set_fault("restart", down_s=down_s)  # clears server.up at once
                    await sim.server.up.wait()
                    up_at = time.monotonic()
                    frame = await source.read()
                    while source.stats.reconnects == reconnects or frame.t_mono < up_at:
                        last = frame
                        frame = await source.read()
                    after_up.append(frame.t_mono - up_at)
                    gaps.append(frame.t_mono - last.t_mono)
                    last = frame
        results[label] = {
            "after_server_back_s": [round(v, 3) for v in after_up],
            "median_after_back_s": round(statistics.median(after_up), 3),
            "median_gap_s": round(statistics.median(gaps), 3),
        }
        print(
            f"   {label}: first frame {statistics.median(after_up):.3f} s (median; max "
            f"{max(after_up):.3f} s) after the server was back; frame gap median "
            f"{statistics.median(gaps):.3f} s"
        )
    return results


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    print(f"cores: {psutil.cpu_count()}, OpenCV {cv2.__version__}, numpy {np.__version__}")
    return {
        "decode": bench_decode(args.seconds),
        "stream": await bench_stream(args.seconds),
        "loop": await bench_loop(args.seconds),
        "reconnect": await bench_reconnect(args.restarts, args.down_s),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measuring time per figure")
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--down-s", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    # The reconnect part takes cameras down on purpose: their ERROR lines are expected.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("devices.camera").setLevel(logging.CRITICAL)
    results = asyncio.run(main_async(args))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
