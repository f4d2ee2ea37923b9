"""The bridge against a real Mosquitto with passwords and ACLs, watched by separate clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

import facility.mqtt_bridge.bridge as bridge_module
from devices.bus import Bus
from devices.crac import CracReading
from devices.gate.machine import Entered, GateMode, GateModeChanged
from devices.gpu import GpuReading
from devices.health import Health, HealthChanged, HealthState
from devices.ups.state import UpsReading, UpsStatus
from facility.mqtt_bridge import (
    BridgeAuthError,
    BridgeSettings,
    CommandMessage,
    DemandResponseCommand,
    FireAlarmCommand,
    MqttBridge,
)
from mqtt_bridge.broker import USERS, AuthMosquitto, Relay, auth_broker
from mqtt_bridge.ha_schema import validate_all

pytestmark = pytest.mark.peer
WAIT_S = 10.0
SENDERS = {"bms": ["fire_alarm", "demand_response"], "ops": ["mode_override", "alert_ack"]}


def settings(port: int, **kw: object) -> BridgeSettings:
    values: dict[str, object] = {
        "store_id": "s1",
        "port": port,
        "username": "walkout",
        "password": USERS["walkout"],
        "senders": SENDERS,
        "backoff_initial_s": 0.05,
        "backoff_cap_s": 0.5,
        "keepalive_s": 5,
    }
    return BridgeSettings.model_validate(values | kw)


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)  # polling a condition with a deadline


@contextlib.asynccontextmanager
async def running(bridge: MqttBridge) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(bridge.run(), name="bridge-under-test")
    try:
        await wait_until(lambda: bridge.connected.is_set() or task.done(), "bridge connect")
        if task.done():
            task.result()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Watcher:
    """A separate MQTT client that records everything it receives."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.seen: list[aiomqtt.Message] = []

    async def pump(self) -> None:
        async for msg in self.client.messages:
            self.seen.append(msg)

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.seen if str(m.topic) == topic]

    def latest(self) -> dict[str, bytes]:
        return {str(m.topic): m.payload for m in self.seen}

    async def wait_for(self, topic: str, payload: bytes | None = None) -> bytes:
        def found() -> bool:
            return any(payload is None or p == payload for p in self.payloads(topic))

        await wait_until(found, f"{topic} = {payload!r}")
        return self.payloads(topic)[-1]


@contextlib.asynccontextmanager
async def watcher(port: int, user: str, *topics: str, v5: bool = False) -> AsyncIterator[Watcher]:
    proto = aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311
    async with aiomqtt.Client(
        "127.0.0.1", port, username=user, password=USERS[user], protocol=proto
    ) as client:
        w = Watcher(client)
        for topic in topics:
            await client.subscribe(topic, qos=1)
        task = asyncio.create_task(w.pump())
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task


@pytest.fixture
def broker(free_tcp_port: int, tmp_path: Path) -> Iterator[AuthMosquitto]:
    with auth_broker(free_tcp_port, tmp_path) as b:
        yield b


async def feed(bus: Bus) -> None:
    await bus.publish(
        UpsReading(
            source="ups-1", t_mono=1, status=UpsStatus.ON_BATTERY, charge_pct=87.5,
            runtime_s=1320.0, load_pct=41.0, input_v=None, via="snmp:ietf",
        )
    )  # fmt: skip
    await bus.publish(
        CracReading(source="crac-1", t_mono=1, supply_air_c=18.5, return_air_c=29.0, alarms=())
    )
    await bus.publish(GpuReading(source="gpu0", t_mono=1, index=0, temperature_c=71.0,
                                 power_w=250.5, name="NVIDIA H100"))  # fmt: skip
    await bus.publish(Entered(source="entry-1", t_mono=1, session_id="x", credential="***",
                              person=1, group_size=1))  # fmt: skip
    await bus.publish(GateModeChanged(source="entry-1", t_mono=2, mode=GateMode.ENTRY_LOCKED,
                                      previous=GateMode.NORMAL))  # fmt: skip
    await bus.publish(HealthChanged(source="ups-1", t_mono=1,
                                    health=Health("ups-1", HealthState.ONLINE)))  # fmt: skip


EXPECTED_STATES = {
    "walkout/s1/ups/ups-1/state", "walkout/s1/crac/crac-1/state", "walkout/s1/gpu/gpu0/state",
    "walkout/s1/gate/entry-1/state", "walkout/s1/health/ups-1/state", "walkout/s1/store/state",
}  # fmt: skip


async def test_retained_state_and_discovery_reach_mosquitto_sub(broker: AuthMosquitto) -> None:
    bus = Bus()
    bridge = MqttBridge(settings(broker.port), bus)
    async with running(bridge):
        await feed(bus)
        bridge.set_store_mode("conserve", "grid loss")
        bridge.set_active_alerts(2)
        bridge.set_occupancy(5)
        await wait_until(lambda: bridge.pending == 0 and len(bridge.cache.payloads) == 6, "flush")
        # 16 discovery configs + 6 states + availability, all retained: read by the
        # independent client, which exits once it has that many.
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "ha",
            "-P", USERS["ha"], "-t", "walkout/#", "-t", "homeassistant/#", "--retained-only",
            "-C", "23", "-W", "10", "-F", "%t\t%p",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
    assert proc.returncode == 0, out
    got = dict(line.split("\t", 1) for line in out.decode().splitlines())
    assert got["walkout/s1/bridge/availability"] == "online"
    assert set(got) >= EXPECTED_STATES
    ups = json.loads(got["walkout/s1/ups/ups-1/state"])
    assert (ups["status"], ups["charge_pct"], ups["runtime_s"], ups["input_v"]) == (
        "on_battery", 87.5, 1320.0, None,
    )  # fmt: skip
    store = json.loads(got["walkout/s1/store/state"])
    assert store == {"mode": "conserve", "mode_reason": "grid loss", "active_alerts": 2,
                     "occupancy": 5}  # fmt: skip
    gate = json.loads(got["walkout/s1/gate/entry-1/state"])
    assert (gate["mode"], gate["entries"]) == ("entry_locked", 1)
    assert "x" not in got["walkout/s1/gate/entry-1/state"].replace("exits", "")  # no session id
    configs = {t: p.encode() for t, p in got.items() if t.startswith("homeassistant/")}
    assert len(configs) == 16
    assert validate_all(configs) == []


async def test_home_assistant_birth_republishes_discovery(broker: AuthMosquitto) -> None:
    bus = Bus()
    # Not retained: only a republish can deliver the configs to a late subscriber.
    bridge = MqttBridge(settings(broker.port, discovery_retain=False), bus)
    async with running(bridge):
        await feed(bus)
        await wait_until(lambda: bridge.pending == 0 and len(bridge.cache.payloads) == 6, "flush")
        async with watcher(broker.port, "ha", "homeassistant/+/+/+/config") as ha:
            await ha.client.publish("homeassistant/status", b"offline", qos=1)
            await ha.client.publish("homeassistant/status", b"online", qos=1)
            await wait_until(lambda: len(ha.latest()) == 16, "16 discovery configs")
            assert all(not m.retain for m in ha.seen)
    assert validate_all(ha.latest()) == []


async def test_commands_good_and_bad_get_replies(broker: AuthMosquitto) -> None:
    bus = Bus()
    commands = bus.subscribe(CommandMessage, name="supervisor")
    bridge = MqttBridge(settings(broker.port, max_command_bytes=256), bus)
    async with watcher(broker.port, "bms", "walkout/s1/cmd/+/reply", v5=True) as bms:
        # A retained command left on the broker would fire again on every reconnect:
        # the bridge finds it when it subscribes and refuses it.
        await bms.client.publish(
            "walkout/s1/cmd/demand_response",
            json.dumps({"from": "bms", "minutes": 5, "correlation_id": "r1"}),
            qos=1,
            retain=True,
        )
        await _commands(bridge, bms, broker.port)
    got = [commands.get_nowait() for _ in range(len(commands))]
    commands.close()
    assert len(got) == 2  # the rejected ones changed nothing
    assert isinstance(got[0], FireAlarmCommand)
    assert (got[0].sender, got[0].correlation_id, got[0].active) == ("bms", "req-1", True)
    assert isinstance(got[1], DemandResponseCommand)
    assert (got[1].minutes, got[1].correlation_id) == (30, "p1")


async def _commands(bridge: MqttBridge, bms: Watcher, port: int) -> None:
    async with running(bridge):
        props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        props.CorrelationData = b"req-1"
        await bms.client.publish(
            "walkout/s1/cmd/fire_alarm", json.dumps({"from": "bms"}), qos=1, properties=props
        )
        reply = json.loads(await bms.wait_for("walkout/s1/cmd/fire_alarm/reply"))
        assert reply == {"ok": True, "command": "fire_alarm", "correlation_id": "req-1",
                         "error": None}  # fmt: skip
        assert bms.seen[-1].properties.CorrelationData == b"req-1"  # type: ignore[union-attr]
        bad = [
            ("demand_response", {"from": "bms", "minutes": 0, "correlation_id": "b1"}, "minutes"),
            (
                "mode_override",
                {"from": "bms", "mode": "normal", "minutes": 5, "correlation_id": "b2"},
                "not allowed",
            ),
            ("launch", {"from": "bms", "correlation_id": "b3"}, "unknown command"),
            ("alert_ack", {"from": "ops", "id": "x" * 300, "correlation_id": "b4"}, "over the"),
        ]
        for name, payload, _ in bad:
            await bms.client.publish(f"walkout/s1/cmd/{name}", json.dumps(payload), qos=1)
        await bms.client.publish("walkout/s1/cmd/fire_alarm", b"\x00garbage", qos=1)
        await wait_until(
            lambda: (
                len(bms.payloads("walkout/s1/cmd/fire_alarm/reply")) == 2
                and len(bms.payloads("walkout/s1/cmd/alert_ack/reply")) == 1
            ),
            "replies to the bad commands",
        )
        assert bridge.commands_rejected == 6
        replies = {
            (json.loads(p)["command"], json.loads(p)["correlation_id"]): json.loads(p)
            for m in bms.seen
            if (p := m.payload) and str(m.topic).endswith("/reply")
        }
        # An oversized payload is not parsed at all: no correlation id to echo.
        for (name, _, reason), cid in zip(bad, ("b1", "b2", "b3", None), strict=True):
            assert replies[name, cid]["ok"] is False, name
            assert reason in replies[name, cid]["error"], replies[name, cid]
        assert "not JSON" in replies["fire_alarm", None]["error"]
        assert "retained" in replies["demand_response", "r1"]["error"]
        # The independent peer: mosquitto_pub (MQTT 3.1.1, correlation id in the payload).
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-u", "bms",
            "-P", USERS["bms"], "-q", "1", "-t", "walkout/s1/cmd/demand_response",
            "-m", json.dumps({"from": "bms", "minutes": 30, "correlation_id": "p1"}),
        )  # fmt: skip
        assert await proc.wait() == 0
        await wait_until(lambda: bridge.commands_accepted == 2, "second good command")
        await wait_until(lambda: "p1" in str(bms.payloads("walkout/s1/cmd/demand_response/reply")),
                         "reply p1")  # fmt: skip


async def test_last_will_when_the_link_dies_then_back_online(broker: AuthMosquitto) -> None:
    relay = Relay(broker.port)
    await relay.start()
    try:
        bridge = MqttBridge(settings(relay.port), Bus())
        avail = "walkout/s1/bridge/availability"
        async with watcher(broker.port, "ha", avail) as ha, running(bridge):
            await ha.wait_for(avail, b"online")
            relay.cut()  # no DISCONNECT reaches the broker: it publishes the will
            await ha.wait_for(avail, b"offline")
            await wait_until(lambda: bridge.connects == 2, "reconnect")
            await wait_until(lambda: ha.payloads(avail)[-1] == b"online", "online again")
            assert ha.payloads(avail)[-3:] == [b"online", b"offline", b"online"]
    finally:
        await relay.close()


async def test_broker_restart_republishes_state_and_discovery(broker: AuthMosquitto) -> None:
    bus = Bus()
    bridge = MqttBridge(settings(broker.port), bus)
    async with running(bridge):
        await feed(bus)
        await wait_until(lambda: bridge.pending == 0 and len(bridge.cache.payloads) == 6, "flush")
        broker.stop()  # persistence false: every retained message is gone
        await wait_until(lambda: not bridge.connected.is_set(), "bridge notices")
        broker.start()
        await wait_until(lambda: bridge.connects == 2 and bridge.pending == 0, "republish")
        async with watcher(broker.port, "ha", "walkout/#", "homeassistant/#") as ha:
            await wait_until(lambda: len(ha.latest()) == 23, "23 retained messages")
    latest = ha.latest()
    assert set(latest) >= EXPECTED_STATES
    assert latest["walkout/s1/bridge/availability"] == b"online"
    assert json.loads(latest["walkout/s1/gpu/gpu0/state"])["power_w"] == 250.5


async def test_stopping_says_offline(broker: AuthMosquitto) -> None:
    bridge = MqttBridge(settings(broker.port), Bus())
    avail = "walkout/s1/bridge/availability"
    async with running(bridge):
        pass
    async with watcher(broker.port, "ha", avail) as ha:
        assert await ha.wait_for(avail) == b"offline"


async def test_wrong_credentials_are_a_clear_error(broker: AuthMosquitto) -> None:
    bridge = MqttBridge(settings(broker.port, password="nope"), Bus())
    with pytest.raises(BridgeAuthError, match=rf"127.0.0.1:{broker.port} refused user 'walkout'"):
        async with asyncio.timeout(WAIT_S):
            await bridge.run()


async def test_a_command_flood_past_the_incoming_queue_is_counted_and_logged_once(
    broker: AuthMosquitto, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge_module, "INCOMING_QUEUE_SIZE", 8)
    caplog.set_level(logging.INFO)
    flood = 2000
    bridge = MqttBridge(settings(broker.port), Bus())
    async with running(bridge):
        lines = b'{"from": "bms"}\n' * flood  # refused (no minutes), each with a reply
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "bms",
                "-P", USERS["bms"], "-t", "walkout/s1/cmd/demand_response", "-l"]  # fmt: skip
        # in the foreground on purpose: the loop is blocked meanwhile, so the broker's
        # messages pile up in the socket and arrive faster than they are handled
        subprocess.run(args, input=lines, check=True, timeout=20)  # noqa: ASYNC221
        await wait_until(
            lambda: bridge.commands_rejected + bridge.dropped_incoming == flood, "every command"
        )
    assert bridge.dropped_incoming > 0
    texts = [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if "Message queue is full" in t]  # aiomqtt's own, per message
    queue_lines = [t for t in texts if "incoming MQTT queue" in t]
    assert len(queue_lines) == 2, queue_lines  # where the burst started, what it cost
    assert queue_lines[0].startswith("mqtt-bridge: incoming MQTT queue full (8 messages)")
    assert f": {bridge.dropped_incoming} messages discarded" in queue_lines[1]
