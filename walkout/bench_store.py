"""The store-devices act of the bench: gates, price tags and a camera.

Simulators on loopback speak the real protocols: an OSDP reader/controller
(libosdp, secure channel) on a pty at the entry, a digital-I/O module on
Modbus TCP at the exit, MQTT price tags on a Mosquitto broker the bench
starts itself, and an MJPEG camera. walkout's drivers and the gate state
machine run against them while a script plays shoppers and a price change;
the report compares what walkout published with what happened.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import subprocess
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from devices.bus import Message
from devices.camera.config import CameraConfig, CameraRole
from devices.camera.factory import open_source
from devices.esl.model import TagContent
from devices.gate.io import ExitRequested
from devices.gate.machine import Admitted, Entered, Exited, GateMode, Refused
from sim_devices.camera.simulator import CameraSimulator
from sim_devices.dio.simulator import DioSimSpec, DioSimulator
from sim_devices.esl.mqtt_tags import MqttTagEmulator
from sim_devices.osdp_pd.device import OsdpPdSimulator, PdSpec
from walkout.config import StoreConfig, parse_config
from walkout.gate_wiring import GateWiring
from walkout.runtime import Runtime, make_tag_backend, make_tag_fleet

SCBK = bytes(range(16))
MEMBER_CARD = ("123456C0", 26)  # 26-bit card; walkout reads it as right-aligned hex 048D15B
MEMBER_CREDENTIAL = "048D15B"
STRANGER_CARD = ("ABCDEF00", 26)
TAGS = [f"tag{n:02d}" for n in range(12)]
SILENT_TAGS = ("tag03", "tag07")  # told to miss every ack
CAMERA_SECONDS = 2.0


@dataclass
class StoreResult:
    """What walkout published, with wall times relative to the act's start."""

    done: dict[str, float] = field(default_factory=dict)
    events: list[tuple[float, Message]] = field(default_factory=list)
    tags_acked: int = 0
    tags_failed: list[str] = field(default_factory=list)
    tags_skipped: str = ""
    camera_frames: int = 0
    camera_fps: float = 0.0
    camera_size: str = ""
    exit_released_in_emergency: bool = False


def store_config(workdir: Path, pty: str, dio_port: int, mqtt_port: int | None) -> StoreConfig:
    """store.yaml of the act: OSDP entry, digital-I/O exit, MQTT tags."""
    key = workdir / "entry.scbk"
    key.write_text(SCBK.hex() + "\n")
    key.chmod(0o600)
    allow = workdir / "allow.yaml"
    allow.write_text(f"credentials:\n  - {{credential: {MEMBER_CREDENTIAL}, group_size: 2}}\n")
    data: dict[str, Any] = {
        "store": {"id": "bench-store"},
        "modbus": {
            "buses": [{"id": "exit-io", "type": "tcp", "host": "127.0.0.1", "port": dio_port}]
        },
        "gates": {
            "check": {"type": "allow_list", "path": str(allow)},
            "osdp_lines": [{"id": "door-bus", "port": pty}],
            "gates": [
                {
                    "id": "entry",
                    "role": "entry",
                    "controller": {
                        "type": "osdp",
                        "line": "door-bus",
                        "address": 0,
                        "scbk": {"file": str(key)},
                    },
                },
                {
                    "id": "exit",
                    "role": "exit",
                    "controller": {
                        "type": "dio",
                        "bus": "exit-io",
                        "wiring": {"lock_coil": 1, "passage_input": 1, "exit_request_input": 2},
                    },
                },
            ],
        },
    }
    if mqtt_port is not None:
        data["esl"] = {
            "backend": {"type": "mqtt", "port": mqtt_port, "ack_timeout_s": 0.5},
            "retries": 1,
        }
    return parse_config(data, "bench store", workdir)


class _Broker:
    """A Mosquitto of the bench's own on a free loopback port (never the system's)."""

    def __init__(self, workdir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self._proc = subprocess.Popen(
            ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    async def ready(self, within_s: float = 5.0) -> None:
        deadline = time.monotonic() + within_s
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                await asyncio.sleep(0.05)  # the broker process is starting
                continue
            writer.close()
            await writer.wait_closed()
            return

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


async def _gates(
    result: StoreResult, config: StoreConfig, pd: OsdpPdSimulator, dio: DioSimulator, t0: float
) -> None:
    runtime = Runtime(config)
    sub = runtime.bus.subscribe(
        Admitted, Entered, Exited, Refused, ExitRequested, maxsize=1000, name="bench-store"
    )

    async def consume() -> None:
        async for message in sub:
            result.events.append((time.monotonic() - t0, message))

    consumer = asyncio.create_task(consume())
    try:
        async with GateWiring.build(config, runtime.bus, runtime.link_for_bus) as wiring:
            assert wiring.machine is not None
            steps = (
                ("member card (group of 2)", lambda: pd.card(*MEMBER_CARD)),
                ("two people walk in", lambda: pd.walk_through(2)),
                ("stranger's card", lambda: pd.card(*STRANGER_CARD)),
                ("exit button", lambda: dio.press("exit")),
                ("one person walks out", lambda: dio.walk_through("exit")),
            )
            for name, act in steps:
                await asyncio.sleep(0.8)
                result.done[name] = time.monotonic() - t0
                act()
            await asyncio.sleep(1.2)
            await wiring.machine.set_mode(GateMode.EMERGENCY, "bench: fire alarm")
            result.exit_released_in_emergency = not dio.door("exit").locked
            await wiring.machine.set_mode(GateMode.NORMAL, "bench: all clear")
    finally:
        sub.close()
        await consumer
        await runtime.close()


async def _tags(result: StoreResult, config: StoreConfig, port: int) -> None:
    assert config.esl is not None
    emulator = MqttTagEmulator("127.0.0.1", port, config.store.id, TAGS, reconnect_s=0.1)
    await emulator.start()
    try:
        for tag in SILENT_TAGS:
            emulator.set_fault(tag, "miss_acks")
        backend = make_tag_backend(config.esl, config.store.id)
        fleet = make_tag_fleet(config.esl, backend)
        await backend.connect()
        try:
            prices = {
                tag: TagContent(sku=f"40{n:02d}", name=f"Item {n}", price=Decimal(f"{n}.99"))
                for n, tag in enumerate(TAGS)
            }
            bulk = await fleet.bulk_update(prices)
        finally:
            await backend.close()
        result.tags_acked = len(TAGS) - bulk.failures
        result.tags_failed = bulk.not_updated
    finally:
        await emulator.stop()


async def _camera(result: StoreResult) -> None:
    async with CameraSimulator(fps=15, width=640, height=480) as sim:
        config = CameraConfig(id="cam-1", role=CameraRole.CEILING, url=sim.ready()["url"])
        frames = []
        async with open_source(config) as source:
            start = time.monotonic()
            async for frame in source:
                frames.append(frame)
                if time.monotonic() - start >= CAMERA_SECONDS:
                    break
    result.camera_frames = len(frames)
    if len(frames) > 1:
        span = frames[-1].t_mono - frames[0].t_mono
        result.camera_fps = (len(frames) - 1) / span if span > 0 else 0.0
        height, width = frames[-1].image.shape[:2]
        result.camera_size = f"{width}x{height}"


async def run_store_devices(workdir: Path) -> StoreResult:
    """Start the simulators (and a broker when Mosquitto is installed), play, stop."""
    result = StoreResult()
    async with AsyncExitStack() as stack:
        pd = stack.enter_context(OsdpPdSimulator([PdSpec(address=0, scbk=SCBK)]))
        dio = await stack.enter_async_context(DioSimulator(DioSimSpec()))
        broker: _Broker | None = None
        if shutil.which("mosquitto") is not None:
            broker = _Broker(workdir)
            stack.callback(broker.stop)
            await broker.ready()
        else:
            result.tags_skipped = "mosquitto not installed"
        config = store_config(workdir, pd.path, dio.port, broker.port if broker else None)
        t0 = time.monotonic()
        await _gates(result, config, pd, dio, t0)
        if broker is not None:
            await _tags(result, config, broker.port)
        await _camera(result)
    return result


def _after(result: StoreResult, step: str, kind: type[Message], count: int = 1) -> list[float]:
    at = result.done.get(step)
    if at is None:
        return []
    return [t - at for t, m in result.events if t >= at and isinstance(m, kind)][:count]


def report_store(result: StoreResult, console: Console) -> bool:
    """What each scripted shopper and change led to; True when everything expected was seen."""
    table = Table("happened", "walkout published", "after", title="Store devices")
    ok = True

    def row(step: str, kind: type[Message], count: int, what: str) -> None:
        nonlocal ok
        seen = _after(result, step, kind, count)
        if len(seen) < count:
            ok = False
            table.add_row(step, f"[red]{what}: {len(seen)} of {count}[/]", "")
            return
        table.add_row(step, what, ", ".join(f"{s * 1000:.0f} ms" for s in seen))

    row("member card (group of 2)", Admitted, 1, "Admitted, entry opened")
    row("two people walk in", Entered, 2, "Entered x2")
    row("stranger's card", Refused, 1, "Refused")
    row("exit button", ExitRequested, 1, "ExitRequested, exit opened")
    row("one person walks out", Exited, 1, "Exited")
    table.add_row(
        "fire alarm (emergency mode)",
        "exit released" if result.exit_released_in_emergency else "[red]exit NOT released[/]",
        "",
    )
    ok = ok and result.exit_released_in_emergency
    if result.tags_skipped:
        table.add_row("price change, 12 tags", f"[yellow]skipped: {result.tags_skipped}[/]", "")
    else:
        expected_failures = sorted(SILENT_TAGS)
        tags_ok = result.tags_failed == expected_failures
        ok = ok and tags_ok
        failed = ", ".join(result.tags_failed) or "none"
        text = f"{result.tags_acked} acked; not updated: {failed}"
        table.add_row(
            f"price change, {len(TAGS)} tags ({len(SILENT_TAGS)} never ack)",
            text if tags_ok else f"[red]{text}[/]",
            "",
        )
    camera_ok = result.camera_frames > 1
    ok = ok and camera_ok
    table.add_row(
        f"camera streams {CAMERA_SECONDS:g} s (MJPEG)",
        f"{result.camera_frames} frames {result.camera_size} at {result.camera_fps:.1f}/s",
        "",
    )
    console.print(table)
    return ok


async def store_act(console: Console, workdir: Path) -> bool:
    """Run and report the act; True when every expected event was seen."""
    console.print(
        "store devices: OSDP entry (secure channel, pty), digital-I/O exit (Modbus TCP), "
        f"{len(TAGS)} MQTT price tags, one MJPEG camera"
    )
    # The simulators log what a real device would not say (the exit module's watchdog
    # freeing the door once the bench lets go of it): keep the report readable.
    logging.getLogger("sim_devices").setLevel(logging.ERROR)
    result = await run_store_devices(workdir)
    return report_store(result, console)
