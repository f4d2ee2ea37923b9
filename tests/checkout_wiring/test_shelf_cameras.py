"""Shelf cameras in the checkout as ``walkout run`` wires them: store.yaml, the bus, the tie."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from peers.mosquitto import Mosquitto, running_broker

from devices.bus import Bus, Message, Subscription
from devices.camera.products import ProductsSeen, SeenProduct
from devices.gate.machine import Admitted, Entered
from vision_core.ledger.events import LineAdded, ReviewRequested
from walkout.checkout_wiring import CheckoutWiring, open_checkout, shelf_change_service
from walkout.config import ConfigError, StoreConfig, parse_config
from walkout.runtime import Runtime

from .scene import at_shelf, weights

# Two 180 g SKUs side by side: a take at their border (0.8 m) ties on weight and position.
PLANOGRAM = """\
shelves:
  A1:
    length_m: 1.2
    facings:
      - {sku: beer, unit_weight_g: 540, tolerance_g: 12, span_m: [0.0, 0.4], price: "1.99"}
      - {sku: salt, unit_weight_g: 180, tolerance_g: 5, span_m: [0.4, 0.8], price: "1.49"}
      - {sku: paprika, unit_weight_g: 180, tolerance_g: 5, span_m: [0.8, 1.2], price: "1.59"}
  B1:
    length_m: 1.0
    facings:
      - {sku: can-330, unit_weight_g: 330, tolerance_g: 5, span_m: [0.0, 1.0], price: "1.29"}
"""

BORDER_M = 0.8


def store(tmp_path: Path, shelf_cameras: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    (tmp_path / "planogram.yaml").write_text(PLANOGRAM)
    shelves = [
        {
            "id": "A1",
            "unit": "sc-1",
            "cells": [0, 1],
            "length_m": 1.2,
            "location": {"x_m": 2.0, "y_m": 0.0, "heading_deg": 90},
        },
        {
            "id": "B1",
            "unit": "sc-1",
            "cells": [2],
            "length_m": 1.0,
            "location": {"x_m": 5.0, "y_m": 0.0, "heading_deg": 90},
        },
    ]
    data: dict[str, Any] = {
        "store": {"id": "shelfcam"},
        "modbus": {
            "buses": [{"id": "b", "type": "tcp", "host": "127.0.0.1", "port": 1502}],
            "units": [{"id": "sc-1", "bus": "b", "unit_id": 1, "profile": "mc10"}],
        },
        "shelves": shelves,
        "checkout": {"planogram": "planogram.yaml", "ledger": "ledger.db", "wait_s": 1},
    }
    if shelf_cameras is not None:
        data["shelf_cameras"] = shelf_cameras
    return data


def config_for(tmp_path: Path, port: int = 1883) -> StoreConfig:
    camera = {"id": "cam-a1", "shelf": "A1", "url": f"mqtt://127.0.0.1:{port}"}
    return parse_config(store(tmp_path, [camera]), "test", tmp_path)


# --- store.yaml ---------------------------------------------------------------------------------


def test_a_shelf_camera_is_declared_with_the_shelf_it_watches(tmp_path: Path) -> None:
    config = config_for(tmp_path, 18830)
    (camera,) = config.shelf_cameras
    assert (camera.id, camera.shelf, camera.broker) == ("cam-a1", "A1", ("127.0.0.1", 18830))
    assert camera.stall_after_s == 15.0
    assert parse_config(store(tmp_path), "test", tmp_path).shelf_cameras == []


@pytest.mark.parametrize(
    ("cameras", "problem"),
    [
        (
            [{"id": "c1", "shelf": "Z9"}],
            ("shelf_cameras[0] (id=c1).shelf", "no shelf named 'Z9' (known: A1, B1)"),
        ),
        (
            [{"id": "c1", "shelf": "A1"}, {"id": "c1", "shelf": "B1"}],
            ("shelf_cameras[1] (id=c1).id", "duplicate id"),
        ),
        (
            [{"id": "c1", "shelf": "A1"}, {"id": "c2", "shelf": "A1"}],
            (
                "shelf_cameras[1] (id=c2).shelf",
                "shelf A1 already has camera c1 "
                "(one camera per shelf: a movement both saw would count twice)",
            ),
        ),
    ],
    ids=["unknown-shelf", "duplicate-id", "two-on-one-shelf"],
)
def test_a_shelf_camera_that_contradicts_the_store_is_refused_naming_the_key(
    tmp_path: Path, cameras: list[dict[str, Any]], problem: tuple[str, str]
) -> None:
    # Checked across sections like every other id and reference: the exact key, no
    # pydantic "Value error, ..." wrapper, no echo of the whole list.
    with pytest.raises(ConfigError) as caught:
        parse_config(store(tmp_path, cameras), "test", tmp_path)
    assert caught.value.problems == [problem]
    assert f"  {problem[0]}: {problem[1]}" in str(caught.value).splitlines()


def test_every_shelf_camera_problem_is_listed_at_once(tmp_path: Path) -> None:
    cameras = [
        {"id": "c1", "shelf": "A1"},
        {"id": "c1", "shelf": "Z9"},
        {"id": "c3", "shelf": "A1"},
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config(store(tmp_path, cameras), "test", tmp_path)
    assert [path for path, _ in caught.value.problems] == [
        "shelf_cameras[1] (id=c1).id",
        "shelf_cameras[1] (id=c1).shelf",
        "shelf_cameras[2] (id=c3).shelf",
    ]


@pytest.mark.parametrize(
    ("cameras", "message"),
    [
        ([{"id": "c1", "shelf": "A1", "url": "http://cam"}], r"shelf_cameras\[0\] \(id=c1\)\.url"),
        ([{"id": "c1", "shelf": "A1", "url": "mqtt://h:99999"}], r"\(id=c1\)\.url"),
        ([{"id": "c1", "shelf": "A1", "stall_after_s": 0}], r"\(id=c1\)\.stall_after_s"),
        ([{"id": "c1", "shelf": "A1", "fps": 5}], r"\(id=c1\)\.fps: Extra inputs"),
        ([{"id": "c/1", "shelf": "A1"}], r"\(id=c/1\)\.id"),
        ([{"id": "c1"}], r"\(id=c1\)\.shelf: Field required"),
    ],
    ids=["not-mqtt", "bad-port", "stall", "unknown-key", "not-a-topic-level", "no-shelf"],
)  # fmt: skip
def test_a_bad_shelf_camera_is_refused_naming_the_key(
    tmp_path: Path, cameras: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"shelf_cameras") as caught:
        parse_config(store(tmp_path, cameras), "test", tmp_path)
    assert caught.value.problems
    assert any(re.search(message, f"{path}: {text}") for path, text in caught.value.problems)


def test_a_shelf_camera_id_that_is_also_a_camera_is_refused(tmp_path: Path) -> None:
    data = store(tmp_path, [{"id": "cam-1", "shelf": "A1"}])
    data["cameras"] = [{"id": "cam-1", "role": "ceiling", "url": "mqtt://127.0.0.1:1883"}]
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "test", tmp_path)
    assert caught.value.problems == [
        ("shelf_cameras[0] (id=cam-1).id", "'cam-1' is also in `cameras`: ids are topic names")
    ]


# --- the tie, decided by what came over the bus -------------------------------------------------


@contextlib.asynccontextmanager
async def running(config: StoreConfig, bus: Bus) -> AsyncIterator[CheckoutWiring]:
    async with open_checkout(config, bus) as checkout:
        assert checkout is not None
        shelves = shelf_change_service(config, bus)
        tasks = [asyncio.create_task(checkout.service.run()), asyncio.create_task(shelves.run())]
        try:
            async with asyncio.timeout(10):
                await checkout.service.ready.wait()
                await shelves.ready.wait()
            yield checkout
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def shop_until_the_hand_is_out(bus: Bus, t0: float = 0.0) -> None:
    """A session at the shelf, its hand at the salt/paprika border, the weight gone."""
    gate = {"source": "entry", "credential": "QR-1"}
    await bus.publish(
        Admitted(t_mono=t0 + 1.0, session_id="s1", latency_s=0.1, group_size=1, **gate)
    )
    await bus.publish(Entered(t_mono=t0 + 1.5, session_id="s1", person=1, group_size=1, **gate))
    for i in range(4):
        await bus.publish(weights(t0 + 2.0 + 0.1 * i, (1000.0, 1000.0)))
    for i in range(3):
        await bus.publish(at_shelf(t0 + 2.5 + 0.2 * i, BORDER_M))
    await bus.publish(weights(t0 + 3.0, (950.0, 900.0), stable=False))


async def settle(bus: Bus, t0: float = 0.0) -> None:
    """The board settles: 180 g gone from the border (cell 0 lost 1/3 of it, cell 1 2/3)."""
    for i in range(4):
        await bus.publish(weights(t0 + 3.5 + 0.1 * i, (1000.0 - 60.0, 1000.0 - 120.0)))


async def decision(outcome: Subscription) -> Message:
    async with asyncio.timeout(10):
        return await outcome.get()


@pytest.mark.parametrize("seen", ["salt", "paprika"])
async def test_a_sighting_on_the_bus_decides_a_same_weight_tie(tmp_path: Path, seen: str) -> None:
    config = config_for(tmp_path)
    bus = Bus()
    outcome = bus.subscribe(LineAdded, ReviewRequested, name="outcome")
    async with running(config, bus) as checkout:
        assert checkout.hints is not None
        await shop_until_the_hand_is_out(bus)
        # The camera's message for this movement arrives while the board still moves.
        sighting = SeenProduct(seen, 0.9, "take")
        bus.publish_nowait(
            ProductsSeen(source="cam-a1", t_mono=3.2, shelf_id="A1", sightings=(sighting,))
        )
        await settle(bus)
        line = await decision(outcome)
    assert isinstance(line, LineAdded)
    assert (line.sku, line.qty, line.session_id) == (seen, 1, "s1")
    assert checkout.hints.received == 1


async def test_without_a_sighting_the_tie_goes_to_review(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    bus = Bus()
    outcome = bus.subscribe(LineAdded, ReviewRequested, name="outcome")
    async with running(config, bus):
        await shop_until_the_hand_is_out(bus)
        # A heartbeat (no sightings) changes nothing.
        bus.publish_nowait(ProductsSeen(source="cam-a1", t_mono=3.2, shelf_id="A1", sightings=()))
        await settle(bus)
        review = await decision(outcome)
    assert isinstance(review, ReviewRequested)
    assert "tied" in review.reason


async def test_a_sighting_published_after_the_decision_is_not_used(tmp_path: Path) -> None:
    config = config_for(tmp_path)
    bus = Bus()
    outcome = bus.subscribe(LineAdded, ReviewRequested, name="outcome")
    async with running(config, bus) as checkout:
        await shop_until_the_hand_is_out(bus)
        await settle(bus)
        review = await decision(outcome)
        late = ProductsSeen(
            source="cam-a1", t_mono=3.2, shelf_id="A1", sightings=(SeenProduct("salt", 0.9),)
        )
        bus.publish_nowait(late)
        assert checkout.hints is not None
        assert checkout.hints.drain() == 1  # kept for later changes, too late for this one
    assert isinstance(review, ReviewRequested)


def test_no_shelf_cameras_no_hints(tmp_path: Path) -> None:
    config = parse_config(store(tmp_path), "test", tmp_path)

    async def open_it() -> tuple[object, object]:
        async with open_checkout(config, Bus()) as wiring:
            assert wiring is not None
            return wiring.hints, wiring.engine.sightings

    assert asyncio.run(open_it()) == (None, None)


# --- the whole path: a camera's MQTT message, the runtime's driver, the tie ---------------------


@pytest.fixture
def mosquitto(tmp_path: Path, free_tcp_port: int) -> Iterator[Mosquitto]:
    (tmp_path / "broker").mkdir()
    with running_broker(free_tcp_port, tmp_path / "broker") as broker:
        yield broker


async def test_a_camera_message_over_mqtt_decides_the_tie_in_the_runtime(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    config = config_for(tmp_path, mosquitto.port)
    runtime = Runtime(config)
    outcome = runtime.bus.subscribe(LineAdded, ReviewRequested, name="outcome")
    try:
        await runtime.open_shelf_cameras()
        (source,) = runtime.shelf_cameras
        await source.wait_connected(10)
        async with running(config, runtime.bus) as checkout:
            payload = b'{"v": 1, "sightings": [{"sku": "paprika", "confidence": 0.9}]}'
            await asyncio.to_thread(mosquitto.publish, "walkout/cameras/cam-a1/products", payload)
            message = await source.read()  # what the driver put on the bus, arrival-timed
            assert message.shelf_id == "A1"
            # The shopping around it, on the same clock: the sighting falls while the
            # board moves (3.2 s into the script), before the board settles.
            t0 = message.t_mono - 3.2
            await shop_until_the_hand_is_out(runtime.bus, t0)
            await settle(runtime.bus, t0)
            line = await decision(outcome)
            assert checkout.hints is not None
            assert checkout.hints.received == 1
    finally:
        await runtime.close()
    assert isinstance(line, LineAdded)
    assert line.sku == "paprika"
    assert not source.connected
