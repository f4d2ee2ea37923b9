import asyncio
from pathlib import Path

from devices.bus import Bus
from devices.ups.state import UpsReading, UpsStatus
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.engine import AlertEngine
from facility.alerts.events import (
    AlertAcknowledged,
    AlertEvent,
    AlertFiring,
    AlertResolved,
    AlertState,
)
from facility.alerts.rules import StateRule
from facility.alerts.service import AlertService
from facility.alerts.store import AlertDb, AlertStore

OB = StateRule(name="ob", message_type=UpsReading, field="status", values=frozenset({"on_battery"}))


class Recorder:
    """A sink that keeps what it was given, to see the service reach the sinks."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    async def send(self, event: AlertEvent) -> None:
        self.events.append(event)

    async def aclose(self) -> None:
        pass


async def test_live_service_ack_from_cli_and_restart(tmp_path: Path) -> None:
    db = tmp_path / "alerts.db"
    bus = Bus()
    watch = bus.subscribe(AlertEvent, name="watch")
    recorder = Recorder()
    try:
        async with AlertStore(db) as store, AlertDispatcher([recorder]) as dispatcher:
            engine = AlertEngine([OB], next_id=await store.next_alert_id())
            service = AlertService(bus, engine, store, dispatcher, ack_poll_s=0.02)
            task = asyncio.create_task(service.run())
            try:
                async with asyncio.timeout(10):
                    await service.ready.wait()
                await bus.publish(UpsReading(source="ups1", t_mono=1, status=UpsStatus.ON_BATTERY))
                async with asyncio.timeout(10):
                    fired = await watch.get()
                assert isinstance(fired, AlertFiring)
                assert fired.alert.id == 1
                # The CLI, another process, acknowledges in the database.
                cli = AlertDb(db)
                try:
                    cli.acknowledge(1, "night-ops")
                finally:
                    cli.close()
                async with asyncio.timeout(10):
                    acked = await watch.get()
                assert isinstance(acked, AlertAcknowledged)
                assert acked.alert.acked_by == "night-ops"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await dispatcher.drain()
            assert [e.kind.value for e in recorder.events] == ["firing", "acknowledged"]

        # Restart: a new engine takes the alert back and resolves it.
        async with AlertStore(db) as store, AlertDispatcher([recorder]) as dispatcher:
            engine = AlertEngine([OB], next_id=await store.next_alert_id())
            service = AlertService(bus, engine, store, dispatcher)
            task = asyncio.create_task(service.run())
            try:
                async with asyncio.timeout(10):
                    await service.ready.wait()
                await bus.publish(UpsReading(source="ups1", t_mono=5, status=UpsStatus.ON_LINE))
                async with asyncio.timeout(10):
                    resolved = await watch.get()
                assert isinstance(resolved, AlertResolved)
                assert resolved.alert.id == 1
                assert resolved.alert.acked_by == "night-ops"
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            stored = await store.get(1)
            assert stored is not None
            assert stored.alert.state is AlertState.RESOLVED
    finally:
        watch.close()


async def test_with_no_sinks_the_service_still_fires_and_keeps_history(tmp_path: Path) -> None:
    bus = Bus()
    watch = bus.subscribe(AlertEvent, name="watch")
    async with AlertStore(tmp_path / "alerts.db") as store, AlertDispatcher([]) as dispatcher:
        service = AlertService(bus, AlertEngine([OB]), store, dispatcher)
        task = asyncio.create_task(service.run())
        try:
            async with asyncio.timeout(10):
                await service.ready.wait()
            await bus.publish(UpsReading(source="ups1", t_mono=1, status=UpsStatus.ON_BATTERY))
            async with asyncio.timeout(10):
                fired = await watch.get()
            assert isinstance(fired, AlertFiring)
            assert [s.alert.id for s in await store.active()] == [fired.alert.id]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    watch.close()
