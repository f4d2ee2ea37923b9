"""The service on a real bus: inputs in, ledger events and receipts out, closed on every path."""

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from devices.bus import Bus, Message
from vision_core.checkout.service import CheckoutService
from vision_core.ledger.events import (
    AttributionPending,
    LedgerEvent,
    ReceiptSettled,
    ReviewRequested,
)
from vision_core.ledger.journal import JournalError

from .scenario import admit, at_shelf, leave, make_engine, open_ledger, shelf_change, walk


class FakeClock:
    """The service's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def next_of(sub, cls: type[Message]) -> Message:
    async with asyncio.timeout(10):
        while True:
            message = await sub.get()
            if isinstance(message, cls):
                return message


async def publish_all(bus: Bus, messages: list[Message]) -> None:
    for message in messages:
        await bus.publish(message)


async def test_receipt_is_published_after_the_shopper_leaves(tmp_path: Path):
    bus = Bus()
    watch = bus.subscribe(LedgerEvent, name="watch")
    me = ("t1", "s1", "s1/1")
    with open_ledger(tmp_path / "l.db") as ledger:
        service = CheckoutService(bus, ledger, make_engine(ledger), tick_s=0.01)
        task = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(10):
                await service.ready.wait()
            await publish_all(
                bus,
                [
                    *admit("s1", 1.0),
                    *walk(9.0, 11.0, {me: at_shelf(2.5)}),
                    shelf_change("A1", -330.0, 0.5, 10.0, 11.0),
                    leave("s1", 20.0),
                ],
            )
            receipt = await next_of(watch, ReceiptSettled)
            assert isinstance(receipt, ReceiptSettled)
            assert [(x.sku, x.qty, x.member) for x in receipt.lines] == [("can-330", 1, "s1/1")]
            assert receipt.total == Decimal("1.29")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            watch.close()
        assert "checkout" not in bus.stats()  # unsubscribed when cancelled
        assert not service.ready.is_set()


async def test_quiet_store_time_runs_on_from_the_last_event(tmp_path: Path):
    bus = Bus()
    watch = bus.subscribe(AttributionPending, ReviewRequested, name="watch")
    clock = FakeClock()
    one, two = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
    with open_ledger(tmp_path / "l.db") as ledger:
        service = CheckoutService(bus, ledger, make_engine(ledger), tick_s=0.01, clock=clock)
        assert service.store_time() is None
        task = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(10):
                await service.ready.wait()
            await publish_all(
                bus,
                [
                    *admit("s1", 1.0),
                    *admit("s2", 2.0),
                    *walk(9.0, 11.0, {one: at_shelf(2.5), two: at_shelf(2.52)}),
                    shelf_change("A1", -330.0, 0.5, 10.0, 11.0),  # a tie: waits to 21.0
                ],
            )
            await next_of(watch, AttributionPending)  # s1's receipt blocked
            await next_of(watch, AttributionPending)  # s2's
            assert service.store_time() == 11.0
            assert watch.get_nowait() is None  # no review before the wait is over
            clock.now += 10.0  # nothing arrives for 10 s: store time 21.0
            first = await next_of(watch, ReviewRequested)
            second = await next_of(watch, ReviewRequested)
            assert {first.session_id, second.session_id} == {"s1", "s2"}
            assert service.store_time() == pytest.approx(21.0)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            watch.close()


async def test_bad_input_is_counted_and_the_service_goes_on(tmp_path: Path):
    bus = Bus()
    watch = bus.subscribe(LedgerEvent, name="watch")
    with open_ledger(tmp_path / "l.db") as ledger:
        service = CheckoutService(bus, ledger, make_engine(ledger), tick_s=0.01)
        task = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(10):
                await service.ready.wait()
            await bus.publish(shelf_change("Z9", -330.0, 0.5, 10.0, 11.0))  # unknown shelf
            await publish_all(bus, admit("s1", 12.0))
            opened = await next_of(watch, LedgerEvent)
            assert opened.session_id == "s1"
            assert service.rejected == 1
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            watch.close()


async def test_a_journal_that_fails_ends_the_service_and_unsubscribes(tmp_path: Path):
    bus = Bus()
    with open_ledger(tmp_path / "l.db") as ledger:
        service = CheckoutService(bus, ledger, make_engine(ledger), tick_s=0.01)
        task = asyncio.create_task(service.run())
        async with asyncio.timeout(10):
            await service.ready.wait()
        ledger.journal.close()  # the disk is gone from under it
        await publish_all(bus, admit("s1", 1.0)[:1])
        with pytest.raises(ExceptionGroup) as failed:
            async with asyncio.timeout(10):
                await task
        assert failed.group_contains(JournalError)
        assert "checkout" not in bus.stats()


def test_service_refuses_an_engine_on_another_ledger(tmp_path: Path):
    with (
        open_ledger(tmp_path / "a.db") as a,
        open_ledger(tmp_path / "b.db") as b,
        pytest.raises(ValueError, match="another ledger"),
    ):
        CheckoutService(Bus(), a, make_engine(b))
