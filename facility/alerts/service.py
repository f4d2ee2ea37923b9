"""The running alert service: bus in, engine, store, sinks, bus out.

Wiring only; every decision is in the engine. Per lifecycle event the order
is store first (the history is the record of truth), then the sinks, then
the bus. A clock tick drives timers (absence, escalation) while no message
arrives, and acknowledgements made by the CLI in another process (written to
the store) are picked up every ``ack_poll_s``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from devices.bus import Bus, Message, serve_ticking
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.engine import AlertEngine
from facility.alerts.events import AlertEvent, AlertState
from facility.alerts.store import AlertStore

_LOGGER = logging.getLogger(__name__)


class AlertService:
    """Runs an ``AlertEngine`` on live bus messages until cancelled."""

    def __init__(
        self,
        bus: Bus,
        engine: AlertEngine,
        store: AlertStore,
        dispatcher: AlertDispatcher,
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = 1.0,
        ack_poll_s: float = 2.0,
    ) -> None:
        if tick_s <= 0 or ack_poll_s <= 0:
            raise ValueError("tick_s and ack_poll_s must be > 0")
        self.bus = bus
        self.engine = engine
        self.store = store
        self.dispatcher = dispatcher
        self._clock = clock
        self._tick_s = tick_s
        self._ack_poll_s = ack_poll_s
        self._lock = asyncio.Lock()  # engine calls and their event handling, one at a time
        self.ready = asyncio.Event()  # set once subscribed and restored

    async def run(self) -> None:
        """Restore active alerts from the store, then serve until cancelled."""
        types = tuple(dict.fromkeys(r.message_type for r in self.engine.rules))
        subscription = self.bus.subscribe(*types, name="alerts")
        await serve_ticking(
            subscription,
            self.feed,
            self.tick,
            self._tick_s,
            ready=self.ready,
            name="alerts",
            start=self._restore,
            also={"alerts-ack-sync": self._ack_loop},
        )

    async def _restore(self) -> None:
        active = [s.alert for s in await self.store.active()]
        await self._handle(self.engine.restore(active, self._clock()))
        _LOGGER.info("alerts: %d active alert(s) restored", len(active))

    async def feed(self, message: Message) -> None:
        """Judge one message (what ``run`` does with each bus message)."""
        async with self._lock:
            await self._handle(self.engine.feed(message))

    async def tick(self) -> None:
        """Let the clock's time pass through the engine."""
        async with self._lock:
            await self._handle(self.engine.tick(self._clock()))

    async def acknowledge(self, alert_id: int, by: str) -> None:
        """Acknowledge in this process (raises ``AlertNotFound`` for an inactive id)."""
        async with self._lock:
            event = self.engine.acknowledge(alert_id, by, self._clock())
            if event is not None:
                await self._handle([event])

    async def sync_acks(self) -> None:
        """Apply acknowledgements the CLI wrote to the store."""
        unacked = [a.id for a in self.engine.active() if a.state is AlertState.FIRING]
        for stored in await self.store.acked_since(unacked):
            try:
                await self.acknowledge(stored.alert.id, stored.alert.acked_by or "?")
            except LookupError:  # resolved meanwhile
                continue

    async def _handle(self, events: list[AlertEvent]) -> None:
        for event in events:
            await self.store.record(event)
            await self.dispatcher.deliver(event)
            await self.bus.publish(event)

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(self._ack_poll_s)
            try:
                await self.sync_acks()
            except Exception:  # a locked database now and then must not end alerting
                _LOGGER.exception("alerts: reading acknowledgements from the store failed")
