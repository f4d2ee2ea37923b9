"""Store-level operations over MQTT tags on a real broker: bulk changes, modes, shelf messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from devices.bus import Bus
from devices.esl.fleet import BulkProgress, EslFleet, MessageOutcome
from devices.esl.model import PushOutcome, TagContent, TagMode, TagPushResult
from devices.esl.mqtt import MqttEsl
from sim_devices.esl.mqtt_tags import MqttTagEmulator

from .conftest import STORE
from .esltools import Mosquitto, wait_until

TAGS = [f"p{n:03d}" for n in range(200)]


def price(n: int) -> TagContent:
    return TagContent(sku=f"sku{n}", name=f"Product {n}", price=Decimal(n) / 100 + Decimal("0.99"))


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def big_store(mosquitto: Mosquitto) -> AsyncIterator[MqttTagEmulator]:
    emulator = MqttTagEmulator("127.0.0.1", mosquitto.port, STORE, TAGS, seed=7)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def esl(mosquitto: Mosquitto, big_store: MqttTagEmulator) -> AsyncIterator[MqttEsl]:
    async with MqttEsl(
        "esl-mqtt", "127.0.0.1", mosquitto.port, STORE, ack_timeout_s=0.5, retries=1
    ) as driver:
        await wait_until(lambda: len(driver.states) == len(TAGS), what="all states")
        yield driver


async def test_bulk_change_of_200_tags_reports_exactly_the_tags_that_missed(
    esl: MqttEsl, big_store: MqttTagEmulator
) -> None:
    missers = big_store.miss_fraction(0.1, seed=3)
    assert len(missers) == 20
    bus = Bus()
    durable = bus.subscribe(TagPushResult, maxsize=1000)
    fleet = EslFleet(esl, concurrency=64, bus=bus)
    progress: list[BulkProgress] = []
    result = await fleet.bulk_update(
        {t: price(n) for n, t in enumerate(TAGS)}, on_progress=progress.append
    )
    assert result.failures == 20
    assert result.not_updated == missers
    assert all(result.results[t].outcome is PushOutcome.TIMEOUT for t in missers)
    assert [p.done for p in progress] == list(range(1, 201))
    assert all(p.total == 200 for p in progress)
    assert progress[-1].failures == 20
    assert [p.failures for p in progress] == sorted(p.failures for p in progress)
    for n, tag_id in enumerate(TAGS):
        assert big_store.tag(tag_id).content == price(n).to_json()  # missers applied it too
    assert len(durable) == 200  # every result reached the bus


async def test_progress_iterator_and_leaving_it_early(
    esl: MqttEsl, big_store: MqttTagEmulator
) -> None:
    fleet = EslFleet(esl, concurrency=4)
    changes = {t: price(n) for n, t in enumerate(TAGS[:40])}
    seen = [p async for p in fleet.bulk_update_progress(changes)]
    assert [p.done for p in seen] == list(range(1, 41))
    assert seen[-1].failures == 0
    partial: list[BulkProgress] = []
    async for p in fleet.bulk_update_progress({t: price(1) for t in TAGS[40:80]}):
        partial.append(p)
        if p.done == 5:
            break
    assert len(partial) == 5
    applied = sum(big_store.tag(t).content == price(1).to_json() for t in TAGS[40:80])
    assert 5 <= applied < 40  # the rest was cancelled, not sent


async def test_mode_change_reaches_every_tag(esl: MqttEsl, big_store: MqttTagEmulator) -> None:
    fleet = EslFleet(esl, concurrency=64)
    result = await fleet.set_mode_all(TagMode.NO_ANIMATIONS)
    assert result.failures == 0
    assert len(result.results) == 200
    assert fleet.mode is TagMode.NO_ANIMATIONS
    assert {big_store.tag(t).mode for t in TAGS} == {"no_animations"}
    later = await fleet.bulk_update({"p000": price(5)})  # later pushes keep the store mode
    assert later.failures == 0
    assert big_store.tag("p000").mode == "no_animations"


async def test_shelf_messages_are_rate_limited_per_shelf_and_store_wide(
    esl: MqttEsl, big_store: MqttTagEmulator
) -> None:
    clock = ManualClock()
    shelves = {"A1": ["p001", "p002"], "A2": ["p003"], "B1": ["p004"], "B2": ["p005"]}
    fleet = EslFleet(
        esl,
        shelves=shelves,
        shelf_cooldown_s=10.0,
        messages_per_minute=2.0,
        message_burst=2,
        clock=clock,
    )
    first = await fleet.show_shelf_message("A1", "Fresh bread", 5.0)
    assert first.outcome is MessageOutcome.SHOWN
    assert [big_store.tag(t).message for t in ("p001", "p002")] == ["Fresh bread"] * 2
    again = await fleet.show_shelf_message("A1", "Fresh bread", 5.0)
    assert again.outcome is MessageOutcome.RATE_LIMITED
    assert again.retry_after_s == pytest.approx(15.0)  # 5 s shown + 10 s cool-down
    assert (await fleet.show_shelf_message("A2", "Cheese", 5.0)).outcome is MessageOutcome.SHOWN
    store_wide = await fleet.show_shelf_message("B1", "Wine", 5.0)
    assert store_wide.outcome is MessageOutcome.RATE_LIMITED  # burst of 2 used up
    assert store_wide.retry_after_s == pytest.approx(30.0)  # 2 per minute
    assert big_store.tag("p004").received == 0  # nothing was sent
    clock.now += 30.0
    assert (await fleet.show_shelf_message("B1", "Wine", 5.0)).outcome is MessageOutcome.SHOWN
    assert (await fleet.show_shelf_message("B2", "Beer", 5.0)).outcome is (
        MessageOutcome.RATE_LIMITED
    )
    clock.now += 30.0
    assert (await fleet.show_shelf_message("A1", "Bread", 5.0)).outcome is MessageOutcome.SHOWN


async def test_shelf_messages_follow_the_store_mode_and_report_dead_tags(
    esl: MqttEsl, big_store: MqttTagEmulator
) -> None:
    clock = ManualClock()
    fleet = EslFleet(esl, shelves={"C1": ["p010", "p011"], "C2": ["p012"]}, clock=clock)
    big_store.set_fault("p011", "ack_error")
    partial = await fleet.show_shelf_message("C1", "Two for one", 10.0)
    assert partial.outcome is MessageOutcome.PARTIAL
    assert [r.acked for r in partial.results] == [True, False]
    big_store.set_fault("p012", "ack_error")
    failed = await fleet.show_shelf_message("C2", "Two for one", 10.0)
    assert failed.outcome is MessageOutcome.FAILED
    fleet.mode = TagMode.DIMMED
    clock.now += 3600
    refused = await fleet.show_shelf_message("C1", "Two for one", 10.0)
    assert refused.outcome is MessageOutcome.REFUSED
    with pytest.raises(ValueError, match="unknown shelf"):
        await fleet.show_shelf_message("Z9", "x", 1.0)
    fleet.mode = TagMode.NORMAL
    with pytest.raises(ValueError, match="duration_s"):
        await fleet.show_shelf_message("C1", "x", 10_000.0)


async def test_bad_tag_ids_end_as_failed_results_not_exceptions(esl: MqttEsl) -> None:
    fleet = EslFleet(esl)
    result = await fleet.bulk_update({"p020": price(1), "bad/id": price(1)})
    assert result.results["p020"].acked
    assert result.results["bad/id"].outcome is PushOutcome.FAILED
    assert "topic level" in result.results["bad/id"].reason
