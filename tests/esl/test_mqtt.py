"""The MQTT driver against emulated tags on a real Mosquitto broker.

mosquitto_sub and mosquitto_pub are the independent peers: they see and
write the schema's JSON without either of our implementations in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from devices.errors import DeviceConnectionError
from devices.esl.model import PushOutcome, TagContent, TagMode
from devices.esl.mqtt import MqttEsl
from sim_devices.esl.mqtt_tags import MqttTagEmulator

from .conftest import STORE
from .esltools import Mosquitto, wait_until

MILK = TagContent(sku="4006381333931", name="Whole milk 1 l", price=Decimal("1.29"))
MILK_CANONICAL = (
    '{"currency":"EUR","layout":"standard","name":"Whole milk 1 l","price":"1.29",'
    '"sku":"4006381333931"}'
)
MILK_HASH = hashlib.sha256(MILK_CANONICAL.encode()).hexdigest()[:32]

needs_clients = pytest.mark.skipif(
    shutil.which("mosquitto_sub") is None or shutil.which("mosquitto_pub") is None,
    reason="mosquitto-clients are not installed: they are the independent peers",
)


@pytest.fixture
async def driver(mosquitto: Mosquitto, mqtt_tags: MqttTagEmulator) -> AsyncIterator[MqttEsl]:
    async with MqttEsl(
        "esl-mqtt", "127.0.0.1", mosquitto.port, STORE, ack_timeout_s=0.4, retries=2
    ) as esl:
        yield esl


async def test_push_is_acked_with_the_hash_of_the_content(
    driver: MqttEsl, mqtt_tags: MqttTagEmulator
) -> None:
    result = await driver.push_content("t001", MILK)
    assert result.outcome is PushOutcome.ACKED
    assert result.content_hash == MILK_HASH
    assert result.attempts == 1
    tag = mqtt_tags.tag("t001")
    assert tag.content == json.loads(MILK_CANONICAL)
    assert tag.battery.millivolts < 3000  # a refresh costs charge
    await wait_until(lambda: driver.states["t001"].content_hash == MILK_HASH, what="state")
    assert driver.states["t001"].battery_mv == tag.battery.millivolts


async def test_a_tag_that_never_acks_times_out_after_the_retries(
    driver: MqttEsl, mqtt_tags: MqttTagEmulator
) -> None:
    mqtt_tags.set_fault("t002", "miss_acks")
    result = await driver.push_content("t002", MILK)
    assert result.outcome is PushOutcome.TIMEOUT
    assert not result.acked
    assert result.attempts == 3  # the first send and two retries
    assert "no ack after 3 sends" in result.reason
    tag = mqtt_tags.tag("t002")
    assert tag.received == 3  # the same request id three times ...
    assert tag.applied == 1  # ... applied once


async def test_a_refusal_fails_at_once_without_retries(
    driver: MqttEsl, mqtt_tags: MqttTagEmulator
) -> None:
    mqtt_tags.set_fault("t003", "ack_error")
    result = await driver.push_content("t003", MILK)
    assert result.outcome is PushOutcome.FAILED
    assert "display controller fault" in result.reason
    assert mqtt_tags.tag("t003").received == 1


async def test_content_the_tag_cannot_show_is_refused_with_its_reason(
    driver: MqttEsl, mqtt_tags: MqttTagEmulator
) -> None:
    fancy = TagContent(sku="1", name="n", price=Decimal("1"), layout="fancy")
    result = await driver.push_content("t004", fancy)
    assert result.outcome is PushOutcome.FAILED
    assert "unknown layout 'fancy'" in result.reason
    assert mqtt_tags.tag("t004").content is None


async def test_mode_and_timed_message(driver: MqttEsl, mqtt_tags: MqttTagEmulator) -> None:
    assert (await driver.push_content("t005", MILK)).acked
    assert (await driver.set_mode("t005", TagMode.DIMMED)).acked
    assert mqtt_tags.tag("t005").mode == "dimmed"
    result = await driver.show_message("t005", "Fresh bread in aisle 3", 0.3)
    assert result.acked
    assert mqtt_tags.tag("t005").message == "Fresh bread in aisle 3"
    await wait_until(lambda: mqtt_tags.tag("t005").message is None, what="message ended")
    await wait_until(lambda: driver.states["t005"].extra.get("message", "x") is None, what="state")
    assert driver.states["t005"].mode is TagMode.DIMMED


async def test_read_returns_every_tags_retained_state(
    driver: MqttEsl, mqtt_tags: MqttTagEmulator
) -> None:
    await wait_until(lambda: len(driver.states) == 20, what="20 states")
    snapshot = await driver.read()
    by_id = snapshot.by_id()
    assert sorted(by_id) == [f"t{n:03d}" for n in range(20)]
    assert by_id["t000"].battery_mv == 3000
    assert by_id["t000"].battery_pct == 100
    assert by_id["t000"].mode is TagMode.NORMAL
    assert by_id["t000"].rssi_dbm == mqtt_tags.tag("t000").rssi


async def test_broker_restart_mid_push_resends_and_acks_after_reconnect(
    mosquitto: Mosquitto, mqtt_tags: MqttTagEmulator
) -> None:
    targets = ["t010", "t011", "t012"]
    for tag_id in targets:
        mqtt_tags.set_fault(tag_id, "offline")  # hears the first send, answers nothing
    async with MqttEsl(
        "esl-mqtt", "127.0.0.1", mosquitto.port, STORE, ack_timeout_s=1.0, retries=3
    ) as esl:
        pushes = [asyncio.create_task(esl.push_content(t, MILK)) for t in targets]
        await wait_until(
            lambda: all(mqtt_tags.tag(t).received == 1 for t in targets), what="first sends arrived"
        )
        mosquitto.stop()
        await wait_until(lambda: not esl.connected and not mqtt_tags.connected, what="both down")
        assert esl.pending_count == 3  # kept, not failed
        for tag_id in targets:
            mqtt_tags.set_fault(tag_id, "none")
        mosquitto.start()
        results = await asyncio.gather(*pushes)
        assert [r.outcome for r in results] == [PushOutcome.ACKED] * 3
        assert esl.stats.connects == 2
        for tag_id in targets:
            assert mqtt_tags.tag(tag_id).received >= 2  # re-sent after the reconnect
            assert mqtt_tags.tag(tag_id).content_hash == MILK_HASH


async def test_commands_issued_while_the_broker_is_down_wait_for_it(
    mosquitto: Mosquitto, mqtt_tags: MqttTagEmulator
) -> None:
    async with MqttEsl("esl-mqtt", "127.0.0.1", mosquitto.port, STORE, ack_timeout_s=1.0) as esl:
        mosquitto.stop()
        await wait_until(lambda: not esl.connected, what="driver saw the broker go")
        push = asyncio.create_task(esl.push_content("t013", MILK))
        with pytest.raises(DeviceConnectionError, match="no broker connection"):
            await esl.read()
        mosquitto.start()
        result = await push
        assert result.acked
        assert result.attempts >= 1


async def test_not_sent_within_max_wait_is_a_failure_not_a_timeout(
    mosquitto: Mosquitto, mqtt_tags: MqttTagEmulator
) -> None:
    async with MqttEsl(
        "esl-mqtt", "127.0.0.1", mosquitto.port, STORE, ack_timeout_s=1.0, max_wait_s=0.5
    ) as esl:
        mosquitto.stop()
        await wait_until(lambda: not esl.connected, what="driver saw the broker go")
        result = await esl.push_content("t014", MILK)
    assert result.outcome is PushOutcome.FAILED
    assert "broker unreachable" in result.reason
    assert result.attempts == 0


async def test_unreachable_broker_fails_connect_and_leaves_nothing_running(
    free_tcp_port: int,
) -> None:
    esl = MqttEsl("esl-mqtt", "127.0.0.1", free_tcp_port, STORE, connect_timeout_s=0.5)
    with pytest.raises(DeviceConnectionError, match="not reachable"):
        await esl.connect()
    assert not esl.connected
    with pytest.raises(DeviceConnectionError, match="not started"):
        await esl.push_content("t000", MILK)


@needs_clients
async def test_mosquitto_sub_sees_the_command_json(mosquitto: Mosquitto, driver: MqttEsl) -> None:
    sub = await asyncio.create_subprocess_exec(
        "mosquitto_sub",
        "-h",
        "127.0.0.1",
        "-p",
        str(mosquitto.port),
        "-v",
        "-q",
        "1",
        "-t",
        f"walkout/esl/{STORE}/+/cmd",
        "-t",
        f"walkout/esl/{STORE}/probe",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert sub.stdout is not None
        # Subscribed once a probe comes back (both filters go in one SUBSCRIBE).
        async with asyncio.timeout(10):
            while True:
                pub = await asyncio.create_subprocess_exec(
                    "mosquitto_pub",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(mosquitto.port),
                    "-t",
                    f"walkout/esl/{STORE}/probe",
                    "-m",
                    "probe",
                )
                await pub.wait()
                try:
                    async with asyncio.timeout(0.2):
                        line = await sub.stdout.readline()
                        break
                except TimeoutError:
                    continue
        assert line.strip().endswith(b"probe")
        assert (await driver.push_content("t006", MILK)).acked
        async with asyncio.timeout(10):
            while True:
                line = await sub.stdout.readline()
                if b"/cmd " in line:
                    break
        topic, _, payload = line.decode().strip().partition(" ")
        assert topic == f"walkout/esl/{STORE}/t006/cmd"
        command = json.loads(payload)
        assert command["v"] == 1
        assert command["op"] == "content"
        assert command["mode"] == "normal"
        assert command["hash"] == MILK_HASH
        assert command["content"] == json.loads(MILK_CANONICAL)
        assert isinstance(command["id"], str)
        assert command["id"]
    finally:
        sub.terminate()
        await sub.wait()


@needs_clients
async def test_garbage_from_the_wire_is_counted_and_ignored(
    mosquitto: Mosquitto, driver: MqttEsl
) -> None:
    async def publish(topic: str, payload: str, *extra: str) -> None:
        pub = await asyncio.create_subprocess_exec(
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(mosquitto.port),
            "-t",
            topic,
            "-m",
            payload,
            *extra,
        )
        assert await pub.wait() == 0

    await publish(f"walkout/esl/{STORE}/t007/ack", "not json")
    await publish(f"walkout/esl/{STORE}/t007/ack", '{"id": 5, "ok": "yes"}')
    await publish(f"walkout/esl/{STORE}/t007/state", "[1, 2]")
    await wait_until(lambda: driver.stats.bad_payloads >= 3, what="three bad payloads")
    await publish(
        f"walkout/esl/{STORE}/shelf9/state",
        '{"v": 1, "battery_mv": 2710, "battery_pct": "lots", "mode": "party"}',
        "-r",
    )
    await wait_until(lambda: "shelf9" in driver.states, what="the peer's state")
    state = driver.states["shelf9"]
    assert state.battery_mv == 2710
    assert state.battery_pct is None  # not a number: unknown, not guessed
    assert state.mode is None
    assert (await driver.push_content("t007", MILK)).acked  # still working
