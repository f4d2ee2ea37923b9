"""Drills: fire alarm from the building, grid flapping, broker restart.

The building's side is Mosquitto's own clients (``mosquitto_pub`` /
``mosquitto_sub``), an independent peer of the bridge.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from devices.gate.machine import GateMode, GateModeChanged
from devices.ups.state import GridEvent, UpsReading, UpsStatus
from facility.supervisor import ModeChanged, StoreMode

from .store import drill_policy, drill_store


def any_payload(payload: dict[str, object]) -> bool:
    return True


async def first_state(
    port: int, topic: str, test: Callable[[dict[str, object]], bool], *, timeout_s: float = 10.0
) -> dict[str, object]:
    """The first payload on ``topic`` passing ``test``, read with a running ``mosquitto_sub``.

    The retained state comes first, then every update: a state that is about to
    change is waited for, not read too early.
    """
    proc = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-t",
        topic,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            while True:
                line = await proc.stdout.readline()
                if not line:
                    raise AssertionError(f"mosquitto_sub ended before a matching {topic}")
                payload: dict[str, object] = json.loads(line)
                if test(payload):
                    return payload
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_fire_alarm_opens_every_exit_within_a_second_and_closes_the_store(
    tmp_path: Path, free_tcp_port: int
) -> None:
    async with drill_store(tmp_path, free_tcp_port) as store:
        assert store.broker is not None
        assert store.facility.bridge is not None
        async with asyncio.timeout(10):
            await store.facility.bridge.connected.wait()
        assert store.dio.door("exit").locked  # normal operation: exits open on request
        sent = time.monotonic()
        await asyncio.to_thread(
            store.broker.publish,
            "walkout/drill/cmd/fire_alarm",
            json.dumps({"from": "fire-panel", "active": True}).encode(),
        )
        t_gate, _ = await store.recorder.wait_for(
            GateModeChanged, lambda m: m.mode is GateMode.EMERGENCY, after=sent
        )
        latency_s = t_gate - sent
        assert latency_s < 1.0, f"exits opened {latency_s:.3f} s after the command"
        # The module itself has every door released, not only the driver's idea of it.
        assert not store.dio.door("exit").locked
        _, mode = await store.recorder.wait_for(
            ModeChanged, lambda m: m.mode is StoreMode.CLOSING, after=sent
        )
        assert mode.rule == "fire_alarm"
        # The store's state over MQTT says closing, for the building to see.
        state = await first_state(
            store.broker.port, "walkout/drill/store/state", lambda s: s["mode"] == "closing"
        )
        assert state["mode"] == "closing"


async def test_grid_flapping_every_second_changes_the_mode_once(
    tmp_path: Path,
) -> None:
    # Conserve must last 30 s once entered: flapping inside that does not flap the store.
    async with drill_store(tmp_path, None, policy=drill_policy(conserve=30.0)) as store:
        start = time.monotonic()
        for _ in range(6):
            store.ups.cut_grid()
            await store.recorder.wait_for(
                GridEvent, lambda e: not e.ended, after=time.monotonic() - 0.01
            )
            store.ups.restore_grid()
            await store.recorder.wait_for(
                UpsReading, lambda r: r.status is UpsStatus.ON_LINE, after=time.monotonic()
            )
        changes = [m for _, m in store.recorder.of(ModeChanged, start)]
        assert [c.mode for c in changes] == [StoreMode.CONSERVE]
        assert changes[0].rule == "on_battery"


async def test_broker_restart_republishes_state_and_discovery(
    tmp_path: Path, free_tcp_port: int
) -> None:
    async with drill_store(tmp_path, free_tcp_port) as store:
        assert store.broker is not None
        assert store.facility.bridge is not None
        bridge = store.facility.bridge
        async with asyncio.timeout(10):
            await bridge.connected.wait()
        await store.recorder.wait_for(UpsReading)
        before = bridge.connects
        store.broker.stop()  # no persistence: every retained message is gone
        store.broker.start()
        # mosquitto_sub waits for each message: retained if already republished, live if not.
        state = await first_state(store.broker.port, "walkout/drill/store/state", any_payload)
        assert state["mode"] == "normal"
        ups = await first_state(store.broker.port, "walkout/drill/ups/ups-1/state", any_payload)
        assert ups["status"] == "on_line"
        availability = await asyncio.to_thread(
            subprocess.run,
            [
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                str(store.broker.port),
                "-t",
                "walkout/drill/bridge/availability",
                "-C",
                "1",
                "-W",
                "5",
            ],
            capture_output=True,
            check=True,
            timeout=10,
        )
        assert availability.stdout.strip() == b"online"
        config = await first_state(
            store.broker.port,
            "homeassistant/sensor/walkout_drill/store_mode/config",
            any_payload,
        )
        assert config["state_topic"] == "walkout/drill/store/state"
        assert bridge.connects > before
