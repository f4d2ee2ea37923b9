"""The running checkout: bus in, engine and ledger, bus out.

Wiring only; every decision is in the engine. Inputs are durable on the
bus (gate events, shelf changes, track samples): a slow checkout makes the
publishers wait, it never loses a take. Each message's outputs are
published in order, under one lock with the ticks, so a receipt never
reaches the bus before the lines it was settled on.

Store time between messages. Deadlines (attribution waits, the settlement
deadline) must pass while the store is quiet, but the engine runs on the
messages' ``t_mono``, not on this process's clock: a replay feeds times
from another day. A tick therefore uses the latest event time seen plus the
monotonic time elapsed since that event arrived. Live, that is the store's
clock; in a replay faster than real time the events' own times run ahead
and the elapsed part stays small, so ticks never outrun the replay by more
than the pauses between its messages. Before the first message there is no
store time and ticks do nothing.

Ledger writes are synchronous SQLite commits (fsync for money events) in
the event loop: the journal's connection belongs to this thread, and each
commit takes milliseconds. A journal that cannot be written ends ``run``
with its error (charging without a record is worse than stopping); a
message the engine refuses (unknown shelf, unknown session) is logged and
counted in ``rejected``, and the service goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from devices.bus import Bus, Message, serve_ticking
from devices.gate.machine import MACHINE_EVENTS
from vision_core.checkout.engine import CheckoutEngine
from vision_core.checkout.messages import TrackRelabelled, TrackSample
from vision_core.ledger.ledger import Ledger
from vision_core.shelf_events import ShelfChange
from vision_core.store_clock import StoreClock

_LOGGER = logging.getLogger(__name__)

INPUT_TYPES: tuple[type[Message], ...] = (
    *MACHINE_EVENTS,
    ShelfChange,
    TrackSample,
    TrackRelabelled,
)
"""What the service subscribes to (ledger events are its outputs, never its inputs)."""


class CheckoutService:
    """Runs a ``CheckoutEngine`` on live bus messages until cancelled."""

    def __init__(
        self,
        bus: Bus,
        ledger: Ledger,
        engine: CheckoutEngine,
        *,
        tick_s: float = 0.5,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if tick_s <= 0:
            raise ValueError(f"tick_s must be > 0, got {tick_s}")
        if engine.ledger is not ledger:
            raise ValueError("the engine writes to another ledger than the one given")
        self.bus = bus
        self.ledger = ledger
        self.engine = engine
        self.rejected = 0
        self._tick_s = tick_s
        self._queue_size = queue_size
        self._clock = StoreClock(clock)
        self._lock = asyncio.Lock()
        self.ready = asyncio.Event()  # set once subscribed

    def store_time(self) -> float | None:
        """Latest event time plus the clock's time since it arrived; None before any event."""
        return self._clock.now()

    async def run(self) -> None:
        """Serve until cancelled (or until the journal fails); unsubscribes on every path."""
        subscription = self.bus.subscribe(*INPUT_TYPES, maxsize=self._queue_size, name="checkout")
        await serve_ticking(
            subscription, self.feed, self.tick, self._tick_s, ready=self.ready, name="checkout"
        )

    async def feed(self, message: Message) -> None:
        """Handle one input message (what ``run`` does with each bus message)."""
        async with self._lock:
            self._clock.observe(message.t_mono)
            try:
                outputs = self.engine.feed(message)
            except ValueError:
                self.rejected += 1
                _LOGGER.exception("checkout: %s refused", type(message).__name__)
                return
            await self._publish(outputs)

    async def tick(self) -> None:
        """Let store time pass through the engine."""
        async with self._lock:
            now = self.store_time()
            if now is None:
                return
            await self._publish(self.engine.tick(now))

    async def _publish(self, outputs: list[Message]) -> None:
        for message in outputs:
            await self.bus.publish(message)
