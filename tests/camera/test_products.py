"""Shelf cameras' product sightings: the schema, the driver against mosquitto, reconnects."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from peers.mosquitto import Mosquitto

from devices.bus import Bus
from devices.camera.products import (
    MAX_SIGHTINGS,
    ProductsSeen,
    ProductsSource,
    SeenProduct,
    parse_products,
)
from devices.camera.quality import CameraProblem, CameraStatus, QualityLimits
from devices.camera.subscriber import PayloadError
from devices.errors import DeviceTimeoutError

from .camtools import wait_status, wait_until

TOPIC = "walkout/cameras/cam-a1/products"
SHELVES = {"cam-a1": "A1"}


def _payload(**overrides: Any) -> bytes:
    data: dict[str, Any] = {
        "v": 1,
        "ts": 1767225600.5,
        "sightings": [
            {"sku": "crisps-salt", "confidence": 0.93, "kind": "take"},
            {"sku": "crisps-paprika", "confidence": 0.4},
        ],
    }
    data.update(overrides)
    return json.dumps(data).encode()


def _sighting(**fields: Any) -> bytes:
    return _payload(sightings=[{"sku": "a", "confidence": 0.5, **fields}])


def test_a_valid_payload_becomes_products_seen_on_the_configured_shelf() -> None:
    message = parse_products("cam-a1", "A1", _payload(), 12.5)
    assert message == ProductsSeen(
        source="cam-a1",
        t_mono=12.5,
        shelf_id="A1",
        sightings=(SeenProduct("crisps-salt", 0.93, "take"), SeenProduct("crisps-paprika", 0.4)),
        source_ts=1767225600.5,
    )
    heartbeat = parse_products("cam-a1", "A1", b'{"v": 1, "sightings": []}', 1.0)
    assert heartbeat.sightings == ()
    assert heartbeat.source_ts is None


@pytest.mark.parametrize(
    ("payload", "kind", "message"),
    [
        (b'{"v": 1, "sightings": [', "bad_json", "Invalid JSON"),
        (b"\xff\xfe", "bad_json", "Invalid JSON"),
        (_payload(v=2), "bad_schema", "v: Input should be 1, got 2"),
        (_payload(v=True), "bad_schema", "v: Input should be 1, got true"),
        (_payload(v="1"), "bad_schema", 'v: Input should be 1, got "1"'),
        (json.dumps({"sightings": []}).encode(), "bad_schema", "v: Field required"),
        (json.dumps({"v": 1}).encode(), "bad_schema", "sightings: Field required"),
        (_sighting(confidence=0), "bad_schema", "sightings.0.confidence: .*greater than 0"),
        (_sighting(confidence=1.01), "bad_schema", "sightings.0.confidence: .*less than or equal"),
        (_sighting(confidence="0.5"), "bad_schema", "sightings.0.confidence: .*valid number"),
        (_sighting(confidence=True), "bad_schema", "sightings.0.confidence"),
        (_sighting(kind="drop"), "bad_schema", "sightings.0.kind: Input should be 'take' or 'put'"),
        (_sighting(sku=""), "bad_schema", "sightings.0.sku"),
        (_sighting(sku="a\nb"), "bad_schema", "sightings.0.sku"),
        (_sighting(sku="x" * 129), "bad_schema", "sightings.0.sku"),
        (_sighting(colour="red"), "bad_schema", "sightings.0.colour: Extra inputs"),
        (_payload(frame=3), "bad_schema", "frame: Extra inputs are not permitted"),
        (b'{"v": 1, "ts": NaN, "sightings": []}', "bad_schema", "ts: Input should be a finite"),
        (
            _payload(sightings=[{"sku": "a", "confidence": 0.5}] * (MAX_SIGHTINGS + 1)),
            "bad_schema",
            "sightings: .*at most 16",
        ),
        (b"[1, 2]", "bad_schema", "Input should be an object"),
        (b"x" * 20_000, "oversize", "20000 bytes refused"),
    ],
)
def test_bad_payloads_are_refused_with_the_reason(payload: bytes, kind: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        parse_products("cam-a1", "A1", payload, 0.0)
    assert caught.value.kind == kind


def test_messages_of_cameras_not_configured_are_refused() -> None:
    source = ProductsSource("shelfcams", "127.0.0.1", 1, shelves=SHELVES)
    assert source.handle("walkout/cameras/cam-b1/products", _payload()) is None
    assert source.handle("walkout/cameras/cam-a1/detections", _payload()) is None
    assert source.stats.unknown_camera == 2
    accepted = source.handle(TOPIC, bytearray(_payload()))
    assert accepted is not None
    assert (accepted.source, accepted.shelf_id) == ("cam-a1", "A1")
    with pytest.raises(ValueError, match="topic level"):
        ProductsSource("shelfcams", "127.0.0.1", 1, shelves={"a/b": "A1"})
    with pytest.raises(ValueError, match="at least one camera"):
        ProductsSource("shelfcams", "127.0.0.1", 1, shelves={})


async def test_the_driver_takes_mosquitto_pub_sightings_and_counts_each_bad_kind(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = Bus()
    sub = bus.subscribe(ProductsSeen)
    caplog.set_level(logging.WARNING, logger="devices.camera.products")
    async with ProductsSource(
        "shelfcams", "127.0.0.1", mosquitto.port, shelves=SHELVES, bus=bus, read_timeout_s=10
    ) as source:
        await source.wait_connected(10)
        mosquitto.publish(TOPIC, _payload())
        first = await source.read()
        assert first.sightings[0] == SeenProduct("crisps-salt", 0.93, "take")
        assert sub.get_nowait() == first
        mosquitto.publish(TOPIC, b'{"v": 1, "sightings": [')
        mosquitto.publish(TOPIC, b"not json at all")
        mosquitto.publish(TOPIC, _sighting(confidence=2))
        mosquitto.publish(TOPIC, _payload(v=2))
        mosquitto.publish(TOPIC, _sighting(kind="drop"))
        big = tmp_path / "big.json"
        big.write_bytes(b'{"v": 1, "pad": "' + b"x" * 20_000 + b'", "sightings": []}')
        mosquitto.publish(TOPIC, file=big)
        mosquitto.publish("walkout/cameras/cam-b1/products", _payload())  # not subscribed
        mosquitto.publish(TOPIC, _sighting(sku="after"))
        after = await source.read()  # still subscribed: the bad ones changed nothing
        assert after.sightings == (SeenProduct("after", 0.5),)
    stats = source.stats
    assert (stats.bad_json, stats.bad_schema, stats.oversize, stats.unknown_camera) == (2, 3, 1, 0)
    assert (stats.messages, stats.accepted) == (8, 2)
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 3  # once per camera and kind, not per message
    assert any("sightings.0.confidence" in w for w in warnings)
    assert all(w.startswith("shelfcams: refused") for w in warnings)


async def test_a_silent_camera_stalls_and_a_restarted_broker_is_reconnected(
    mosquitto: Mosquitto,
) -> None:
    bus = Bus()
    statuses = bus.subscribe(CameraStatus)
    limits = QualityLimits(stall_after_s=0.5, min_fps=None, black_luma=None, frozen_diff=None)
    source = ProductsSource(
        "shelfcams", "127.0.0.1", mosquitto.port, shelves=SHELVES, bus=bus, limits=limits
    )
    async with source:
        await source.wait_connected(10)
        mosquitto.publish(TOPIC, b'{"v": 1, "sightings": []}')  # a heartbeat
        assert (await source.read()).sightings == ()
        await wait_status(statuses, lambda s: s.problems == (), what="cam-a1 online")
        stalled = await wait_status(statuses, lambda s: CameraProblem.STALLED in s.problems)
        assert stalled.camera_id == "cam-a1"
        mosquitto.stop()
        await wait_until(lambda: not source.connected, what="disconnected")
        await wait_status(statuses, lambda s: CameraProblem.DISCONNECTED in s.problems)
        mosquitto.start()
        await source.wait_connected(15)
        mosquitto.publish(TOPIC, _sighting(sku="back"))
        message = await source.read()
        assert message.sightings[0].sku == "back"
        await wait_status(statuses, lambda s: s.problems == (), what="cam-a1 back")
    assert (source.stats.reconnects, source.stats.disconnects) == (1, 1)


async def test_read_times_out_with_the_feed_named() -> None:
    async with ProductsSource(
        "shelfcams", "127.0.0.1", 1, shelves=SHELVES, read_timeout_s=0.05
    ) as source:
        with pytest.raises(DeviceTimeoutError, match="no product sightings within"):
            await source.read()


async def test_closing_ends_iteration() -> None:
    source = ProductsSource("shelfcams", "127.0.0.1", 1, shelves=SHELVES)
    await source.connect()
    source.handle(TOPIC, _payload())
    await source.close()
    got = [message async for message in source]
    assert len(got) == 1
    await source.close()  # safe twice
    assert not asyncio.get_running_loop().is_closed()


async def test_a_flood_past_the_incoming_queue_is_counted_and_logged_once_per_burst(
    mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    flood = 3000
    caplog.set_level(logging.INFO)
    source = ProductsSource(
        "shelfcams", "127.0.0.1", mosquitto.port, shelves=SHELVES, incoming_queue_size=8
    )
    async with source:
        await source.wait_connected(10)
        lines = b'{"v": 1, "sightings": []}\n' * flood
        # mosquitto_pub -l sends one message per line. Run in the foreground on purpose:
        # the loop is blocked meanwhile, so the broker's messages pile up in the socket
        # and reach the client faster than they are handled, as after any busy spell.
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(mosquitto.port), "-t", TOPIC, "-l"]
        subprocess.run(args, input=lines, check=True, timeout=20)  # noqa: ASYNC221
        stats = source.stats
        await wait_until(lambda: stats.messages + stats.dropped_incoming == flood, what="all")
        ended = re.compile(r"keeps up again: (\d+) messages discarded")
        await wait_until(
            lambda: any(ended.search(r.getMessage()) for r in caplog.records), what="burst end"
        )
    assert stats.dropped_incoming > 0
    assert stats.accepted == stats.messages
    texts = [r.getMessage() for r in caplog.records]
    assert not [t for t in texts if "Message queue is full" in t]  # aiomqtt's own, per message
    queue_lines = [t for t in texts if "incoming MQTT queue" in t]
    assert len(queue_lines) == 2, queue_lines  # one burst: where it started, what it cost
    assert queue_lines[0].startswith("shelfcams: incoming MQTT queue full (8 messages)")
    end = ended.search(queue_lines[1])
    assert end is not None
    assert int(end[1]) == stats.dropped_incoming
