"""Shelf-label benchmarks: tags updated per second with ack (MQTT, OpenEPaperLink AP), render time.

    .venv/bin/python benchmarks/bench_esl.py [--part render|mqtt|ap|all] [--mqtt-tags 500]
        [--ap-tags 200] [--checkin-s 0.5] [--rounds 3] [--json FILE]

Three parts, each against a baseline measured in the same run:

1. render: ms per tag image (layout + draw + JPEG) for 152x152, 296x128 and
   400x300 panels, against Pillow drawing one rectangle and encoding the
   same size (the floor any renderer pays).
2. mqtt: a bulk price change of N tags through ``EslFleet`` + ``MqttEsl``,
   every tag acked, on a real Mosquitto broker with the tag emulator in its
   own process; baseline: bare aiomqtt publishing the same commands and
   waiting for the same acks with the same number in flight (no retries,
   no bookkeeping).
3. ap: a bulk change of N tags through ``EslFleet`` + ``OeplAccessPoint``
   against the simulated AP in its own process; an ack needs the tag's
   check-in, so the bound is N / check-in interval. Baseline: the same
   uploads without waiting for acks (what the AP's HTTP side can take).

Timings are printed, never asserted: the script exits 0 unless something
crashes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
from PIL import Image

from devices.esl.displays import display_for
from devices.esl.fleet import EslFleet
from devices.esl.model import TagContent, canonical_json, content_hash
from devices.esl.mqtt import MqttEsl
from devices.esl.oepl import OeplAccessPoint
from devices.esl.render import render_tag

STORE = "bench"
CONCURRENCY = 64


def content(n: int, round_: int) -> TagContent:
    return TagContent(
        sku=f"{4000000 + n}",
        name=f"Product number {n}",
        price=Decimal(100 + n + round_) / 100,
        unit_price=f"{(100 + n) / 50:.2f} EUR/kg",
        promo="2 for 1" if n % 3 == 0 else None,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- render -------------------------------------------------------------------------------


def bench_render(rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for hw in (0x00, 0x01, 0x02):
        display = display_for(hw)
        n = 200
        samples, base = [], []
        for r in range(rounds):
            t0 = time.perf_counter()
            for i in range(n):
                # unique names and prices: no cached text measurement helps
                render_tag(content(i + 1000 * r + 100_000 * hw, r), display).encode("jpeg")
            samples.append((time.perf_counter() - t0) / n * 1000)
            t0 = time.perf_counter()
            for _ in range(n):
                image = Image.new("P", (display.width, display.height), 0)
                image.putpalette([255, 255, 255, 0, 0, 0, 255, 0, 0])
                image.paste(1, (5, 5, display.width // 2, display.height // 2))
                buf = io.BytesIO()
                image.convert("RGB").save(buf, "JPEG", quality=95, subsampling=0)
            base.append((time.perf_counter() - t0) / n * 1000)
        ms, floor = statistics.median(samples), statistics.median(base)
        key = f"{display.width}x{display.height}"
        out[key] = {"render_ms": ms, "baseline_ms": floor, "ratio": ms / floor}
        print(
            f"render {key:>8}: {ms:6.2f} ms/image (render+JPEG); "
            f"Pillow rectangle+JPEG {floor:5.2f} ms; ratio {ms / floor:4.1f}x"
        )
    return out


# --- processes ----------------------------------------------------------------------------


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Any:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def simulator(*args: str) -> AsyncIterator[dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sim_devices.esl",
        "serve",
        "--log-level",
        "WARNING",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            line = await proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator gave no ready line")
        yield json.loads(line)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.communicate()


# --- mqtt ---------------------------------------------------------------------------------


async def bare_mqtt_round(port: int, tags: list[str], round_: int) -> float:
    """Publish every command and wait for every ack with bare aiomqtt."""
    prefix = f"walkout/esl/{STORE}"
    waiting: dict[str, asyncio.Future[None]] = {}
    loop = asyncio.get_running_loop()
    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bare-{round_}") as client:
        client.pending_calls_threshold = 1_000_000
        await client.subscribe(f"{prefix}/+/ack", qos=1)

        async def receive() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                fut = waiting.get(json.loads(message.payload)["id"])
                if fut is not None and not fut.done():
                    fut.set_result(None)

        receiver = asyncio.create_task(receive())
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(n: int, tag: str) -> None:
            body = content(n, round_ + 100).to_json()
            rid = f"bare{round_}-{n}"
            payload = canonical_json(
                {
                    "v": 1,
                    "id": rid,
                    "op": "content",
                    "content": body,
                    "hash": content_hash(body),
                    "mode": "normal",
                }
            )
            async with sem:
                waiting[rid] = loop.create_future()
                await client.publish(f"{prefix}/{tag}/cmd", payload, qos=1)
                await asyncio.wait_for(waiting[rid], 30)

        t0 = time.perf_counter()
        await asyncio.gather(*(one(n, t) for n, t in enumerate(tags)))
        elapsed = time.perf_counter() - t0
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await receiver
    return len(tags) / elapsed


async def bench_mqtt(count: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, mosquitto(Path(tmp)) as port:
        async with simulator(
            "--no-ap", "--mqtt-port", str(port), "--mqtt-tags", str(count), "--store", STORE
        ) as ready:
            tags = ready["mqtt"]["tags"]
            driver_rates, bare_rates, failures = [], [], 0
            async with MqttEsl(
                "bench", "127.0.0.1", port, STORE, ack_timeout_s=10.0, max_inflight=CONCURRENCY
            ) as esl:
                fleet = EslFleet(esl, concurrency=CONCURRENCY)
                for r in range(rounds):
                    result = await fleet.bulk_update({t: content(n, r) for n, t in enumerate(tags)})
                    failures += result.failures
                    driver_rates.append(count / result.elapsed_s)
                    bare_rates.append(await bare_mqtt_round(port, tags, r))
    rate, bare = statistics.median(driver_rates), statistics.median(bare_rates)
    print(
        f"mqtt  {count} tags: {rate:7.0f} tags/s acked (EslFleet+MqttEsl, {CONCURRENCY} in "
        f"flight, {failures} failures); bare aiomqtt {bare:7.0f} tags/s; ratio {rate / bare:4.2f}"
    )
    return {
        "tags": count,
        "tags_per_s": rate,
        "baseline_tags_per_s": bare,
        "ratio": rate / bare,
        "failures": failures,
    }


# --- ap -----------------------------------------------------------------------------------


async def bench_ap(count: int, checkin_s: float, rounds: int) -> dict[str, Any]:
    async with simulator("--ap-tags", str(count), "--checkin-s", str(checkin_s)) as ready:
        url, tags = ready["ap"]["url"], ready["ap"]["tags"]
        rates, upload_rates, failures = [], [], 0
        async with OeplAccessPoint("bench", url, ack_timeout_s=checkin_s * 4 + 5) as ap:
            await ap.wait_websocket(10)
            # Waiting for a check-in is most of a push: keep every tag's push open at once.
            fleet = EslFleet(ap, concurrency=count)
            for r in range(rounds):
                result = await fleet.bulk_update({t: content(n, r) for n, t in enumerate(tags)})
                failures += result.failures
                rates.append(count / result.elapsed_s)
                jpegs = [
                    render_tag(
                        content(n, r + 100), display_for(int(ap.statuses[t].hw_type or 0))
                    ).encode("jpeg")
                    for n, t in enumerate(tags)
                ]
                upload_rates.append(await upload_only(url, tags, jpegs))
                await asyncio.sleep(checkin_s * 2)  # let the tags fetch those before the next round
    rate, uploads = statistics.median(rates), statistics.median(upload_rates)
    bound = count / checkin_s
    print(
        f"ap    {count} tags: {rate:7.0f} tags/s acked (EslFleet+OeplAccessPoint, all in "
        f"flight, check-in every {checkin_s:g} s, bound {bound:.0f}/s, {failures} failures); "
        f"uploads without "
        f"ack {uploads:7.0f}/s; acked/bound {rate / bound:4.2f}"
    )
    return {
        "tags": count,
        "checkin_s": checkin_s,
        "tags_per_s": rate,
        "bound_tags_per_s": bound,
        "uploads_per_s": uploads,
        "failures": failures,
    }


async def upload_only(url: str, tags: list[str], jpegs: list[bytes]) -> float:
    sem = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one(tag: str, image: bytes) -> None:
            form = aiohttp.FormData()
            form.add_field("mac", tag)
            form.add_field("dither", "0")
            form.add_field("file", image, filename="image.jpg", content_type="image/jpeg")
            async with sem, session.post(url + "/imgupload", data=form) as response:
                response.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(t, j) for t, j in zip(tags, jpegs, strict=True)))
        return len(tags) / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["render", "mqtt", "ap", "all"], default="all")
    parser.add_argument("--mqtt-tags", type=int, default=500)
    parser.add_argument("--ap-tags", type=int, default=200)
    parser.add_argument("--checkin-s", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    if args.part in ("render", "all"):
        figures["render"] = bench_render(args.rounds)
    if args.part in ("mqtt", "all"):
        figures["mqtt"] = asyncio.run(bench_mqtt(args.mqtt_tags, args.rounds))
    if args.part in ("ap", "all"):
        figures["ap"] = asyncio.run(bench_ap(args.ap_tags, args.checkin_s, args.rounds))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
