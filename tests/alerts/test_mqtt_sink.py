import asyncio
import json
import subprocess
from pathlib import Path

import aiomqtt
import pytest
from peers.mosquitto import running_broker

from devices.backoff import Backoff
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.sinks import MqttSink

from .scenario import lifecycle

pytestmark = pytest.mark.peer


def retained(port: int, topic: str) -> list[tuple[str, str]]:
    """Retained messages now on the broker, read by mosquitto_sub (the independent peer)."""
    proc = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-v",
         "--retained-only", "-W", "1"],
        capture_output=True, text=True, timeout=10, check=False,
    )  # fmt: skip
    out = []
    for line in proc.stdout.splitlines():
        t, _, payload = line.partition(" ")
        out.append((t, payload))
    return out


async def test_topics_retain_and_clear(tmp_path: Path, free_tcp_port: int) -> None:
    events = lifecycle()
    firing, escalated, acked, resolved = events
    seen: list[tuple[str, str]] = []
    with running_broker(free_tcp_port, tmp_path) as broker:
        async with aiomqtt.Client("127.0.0.1", broker.port, identifier="watcher") as watcher:
            # A live subscriber sees every event, retained or not; SUBACK is awaited.
            await watcher.subscribe("walkout/alerts/#", qos=1)

            async def watch() -> None:
                async for msg in watcher.messages:
                    assert isinstance(msg.payload, bytes)
                    payload = msg.payload.decode()
                    seen.append((str(msg.topic), json.loads(payload)["event"] if payload else ""))
                    if len(seen) == 6:
                        return

            watching = asyncio.create_task(watch())
            try:
                sink = MqttSink("127.0.0.1", broker.port, identifier="walkout-alerts-test")
                async with AlertDispatcher([sink], max_attempts=1) as dispatcher:
                    await dispatcher.deliver(firing)
                    await dispatcher.drain()
                    assert dispatcher.stats["mqtt"].delivered == 1
                    got = await asyncio.to_thread(retained, broker.port, "walkout/alerts/#")
                    assert [t for t, _ in got] == ["walkout/alerts/info/1"]
                    assert json.loads(got[0][1])["event"] == "firing"

                    await dispatcher.deliver(escalated)
                    await dispatcher.deliver(acked)
                    await dispatcher.drain()
                    got = await asyncio.to_thread(retained, broker.port, "walkout/alerts/#")
                    assert [t for t, _ in got] == ["walkout/alerts/warning/1"]
                    assert json.loads(got[0][1])["alert"]["state"] == "acknowledged"

                    await dispatcher.deliver(resolved)
                    await dispatcher.drain()
                    assert await asyncio.to_thread(retained, broker.port, "walkout/alerts/#") == []
                async with asyncio.timeout(10):
                    await watching
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
    assert seen == [
        ("walkout/alerts/info/1", "firing"),
        ("walkout/alerts/info/1", ""),  # cleared on escalation
        ("walkout/alerts/warning/1", "escalated"),
        ("walkout/alerts/warning/1", "acknowledged"),
        ("walkout/alerts/warning/1", "resolved"),
        ("walkout/alerts/warning/1", ""),  # retained message cleared
    ]


async def test_broker_down_is_reported_then_reconnects(tmp_path: Path, free_tcp_port: int) -> None:
    firing = lifecycle()[0]
    sink = MqttSink("127.0.0.1", free_tcp_port, timeout_s=1)
    async with AlertDispatcher([sink], max_attempts=1) as dispatcher:
        await dispatcher.deliver(firing)
        await dispatcher.drain()
        assert dispatcher.stats["mqtt"].failed == 1
        with running_broker(free_tcp_port, tmp_path):
            await dispatcher.deliver(firing)
            await dispatcher.drain()
            assert dispatcher.stats["mqtt"].delivered == 1
            await sink.aclose()


async def test_broker_restart_between_events(tmp_path: Path, free_tcp_port: int) -> None:
    firing, escalated, _, resolved = lifecycle()
    sink = MqttSink("127.0.0.1", free_tcp_port, timeout_s=1)
    fast = lambda: Backoff(initial_s=0.01, cap_s=0.05, jitter=0.0)  # noqa: E731
    with running_broker(free_tcp_port, tmp_path) as broker:
        async with AlertDispatcher([sink], max_attempts=3, backoff=fast) as dispatcher:
            await dispatcher.deliver(firing)
            await dispatcher.drain()
            broker.stop()
            await dispatcher.deliver(escalated)  # every attempt fails: reported
            await dispatcher.drain()
            assert dispatcher.stats["mqtt"].failed == 1
            broker.start()
            await dispatcher.deliver(resolved)  # reconnects
            await dispatcher.drain()
            assert dispatcher.stats["mqtt"].delivered == 2
            assert dispatcher.stats["mqtt"].failed == 1
        got = await asyncio.to_thread(retained, broker.port, "walkout/alerts/#")
    # The broker lost everything with its restart (no persistence); the resolution left
    # no retained message behind.
    assert got == []
