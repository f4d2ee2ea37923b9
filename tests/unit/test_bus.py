import asyncio
from dataclasses import dataclass
from typing import ClassVar

import pytest

from devices.bus import Bus, Message


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample(Message):
    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(Message):
    durable: ClassVar[bool] = True
    value: int


async def test_telemetry_drops_oldest_and_counts():
    bus = Bus()
    sub = bus.subscribe(Sample, maxsize=3)
    for n in range(5):
        await bus.publish(Sample(source="s", t_mono=n, value=n))
    got = [sub.get_nowait() for _ in range(3)]
    assert [m.value for m in got] == [2, 3, 4]
    assert sub.dropped == 2


async def test_durable_event_evicts_telemetry_not_itself():
    bus = Bus()
    sub = bus.subscribe(maxsize=2)
    await bus.publish(Sample(source="s", t_mono=0, value=0))
    await bus.publish(Event(source="s", t_mono=1, value=1))
    await bus.publish(Event(source="s", t_mono=2, value=2))
    assert [sub.get_nowait().value, sub.get_nowait().value] == [1, 2]
    assert sub.dropped == 1


async def test_durable_event_waits_for_room_and_is_delivered():
    bus = Bus()
    sub = bus.subscribe(Event, maxsize=1)
    await bus.publish(Event(source="s", t_mono=0, value=0))
    blocked = asyncio.create_task(bus.publish(Event(source="s", t_mono=1, value=1)))
    await asyncio.sleep(0)
    assert not blocked.done()
    assert (await sub.get()).value == 0
    await blocked
    assert (await sub.get()).value == 1
    assert sub.dropped == 0


async def test_telemetry_dropped_when_queue_full_of_events():
    bus = Bus()
    sub = bus.subscribe(maxsize=1)
    await bus.publish(Event(source="s", t_mono=0, value=0))
    await bus.publish(Sample(source="s", t_mono=1, value=1))
    assert sub.dropped == 1
    assert len(sub) == 1


async def test_subscription_filters_by_type_and_close_ends_iteration():
    bus = Bus()
    events = bus.subscribe(Event)
    await bus.publish(Sample(source="s", t_mono=0, value=0))
    await bus.publish(Event(source="s", t_mono=0, value=7))
    events.close()
    assert [m.value for m in [m async for m in events]] == [7]
    await bus.publish(Event(source="s", t_mono=0, value=8))  # closed: no longer delivered
    assert len(events) == 0


async def test_publish_nowait_refuses_durable():
    with pytest.raises(TypeError, match="durable"):
        Bus().publish_nowait(Event(source="s", t_mono=0, value=0))


async def test_close_releases_blocked_publisher():
    bus = Bus()
    sub = bus.subscribe(Event, maxsize=1)
    await bus.publish(Event(source="s", t_mono=0, value=0))
    blocked = asyncio.create_task(bus.publish(Event(source="s", t_mono=1, value=1)))
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(blocked, 1)
