"""In-process bus for typed readings and events.

Two delivery classes, chosen by the message type:

- telemetry (``durable = False``): a slow subscriber loses the *oldest*
  telemetry messages in its queue, counted in ``dropped``; a weight sample from
  a second ago is worth less than the one just read.
- durable events (``durable = True``): never dropped. When a subscriber's
  queue is full of durable events the publisher waits: backpressure reaches
  the driver instead of a take event vanishing from a shopper's cart.

Order is kept per subscriber: messages come out in the order they went in.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of everything published on the bus.

    ``t_mono`` is the monotonic time at which the source observed the thing,
    not the time of publishing: replay and the checkout engine run on it.
    """

    durable: ClassVar[bool] = False
    source: str
    t_mono: float


class Subscription:
    """One subscriber's bounded queue; iterate it with ``async for``."""

    def __init__(self, bus: Bus, types: tuple[type[Message], ...], maxsize: int, name: str) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.name = name
        self.types = types
        self.maxsize = maxsize
        self.dropped = 0
        self._bus = bus
        self._queue: deque[Message] = deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def wants(self, message: Message) -> bool:
        """Whether this subscriber asked for messages of this type."""
        return isinstance(message, self.types)

    def put_nowait_telemetry(self, message: Message) -> None:
        """Queue a telemetry message, evicting the oldest telemetry when full."""
        if self._closed:
            return
        if len(self._queue) >= self.maxsize and not self._evict_oldest_telemetry():
            self.dropped += 1
            return
        self._queue.append(message)
        self._readable.set()

    async def put(self, message: Message) -> None:
        """Queue ``message``; a durable one waits for room instead of being dropped."""
        if not message.durable:
            self.put_nowait_telemetry(message)
            return
        while len(self._queue) >= self.maxsize and not self._closed:
            if self._evict_oldest_telemetry():
                break
            self._writable.clear()
            await self._writable.wait()
        if self._closed:
            return
        self._queue.append(message)
        self._readable.set()

    def _evict_oldest_telemetry(self) -> bool:
        for index, queued in enumerate(self._queue):
            if not queued.durable:
                del self._queue[index]
                self.dropped += 1
                return True
        return False

    async def get(self) -> Message:
        """Next message, waiting for one; raises ``EOFError`` once closed and empty."""
        while not self._queue:
            if self._closed:
                raise EOFError(f"subscription {self.name!r} is closed")
            self._readable.clear()
            await self._readable.wait()
        message = self._queue.popleft()
        self._writable.set()
        return message

    def get_nowait(self) -> Message | None:
        """Next message if one is queued, else None."""
        if not self._queue:
            return None
        message = self._queue.popleft()
        self._writable.set()
        return message

    def close(self) -> None:
        """Stop receiving; a waiting publisher and a waiting reader are released."""
        self._closed = True
        self._bus.unsubscribe(self)
        self._readable.set()
        self._writable.set()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.get()
            except EOFError:
                return


class Bus:
    """Fan-out of messages to subscribers by type."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self.published = 0

    def subscribe(self, *types: type[Message], maxsize: int = 1000, name: str = "") -> Subscription:
        """Subscribe to the given message types (all messages when none given)."""
        sub = Subscription(
            self, types or (Message,), maxsize, name or f"sub{len(self._subscriptions)}"
        )
        self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Remove ``sub``; publishing no longer reaches it."""
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)

    async def publish(self, message: Message) -> None:
        """Deliver to every matching subscriber.

        Returns at once for telemetry; for a durable event it may wait until a
        full subscriber has room.
        """
        self.published += 1
        for sub in tuple(self._subscriptions):
            if sub.wants(message):
                await sub.put(message)

    def publish_nowait(self, message: Message) -> None:
        """Deliver telemetry from synchronous code; durable events must be awaited."""
        if message.durable:
            raise TypeError(f"{type(message).__name__} is durable: use 'await bus.publish()'")
        self.published += 1
        for sub in tuple(self._subscriptions):
            if sub.wants(message):
                sub.put_nowait_telemetry(message)

    def stats(self) -> dict[str, dict[str, int]]:
        """Queue length and drop count per subscriber, for telemetry about the bus."""
        return {s.name: {"queued": len(s), "dropped": s.dropped} for s in self._subscriptions}


async def serve_ticking(
    subscription: Subscription,
    feed: Callable[[Message], Awaitable[None]],
    tick: Callable[[], Awaitable[None]],
    tick_s: float,
    *,
    ready: asyncio.Event,
    name: str,
    start: Callable[[], Awaitable[None]] | None = None,
    also: Mapping[str, Callable[[], Coroutine[Any, Any, None]]] | None = None,
) -> None:
    """A service's loop: ``feed`` every message of ``subscription``, ``tick`` every ``tick_s``.

    Services decide on event time but must let deadlines pass while the store
    is quiet, so each runs a message loop and a tick side by side. ``start``
    runs first (restoring state, a first judgement); ``ready`` is set after
    it and cleared, with ``subscription`` closed, on every way out. ``also``
    names more loops to run alongside (task name -> coroutine function).
    Runs until cancelled, or until one of them raises.
    """
    try:
        if start is not None:
            await start()
        ready.set()
        async with asyncio.TaskGroup() as group:
            group.create_task(_every(tick_s, tick), name=f"{name}-tick")
            for task_name, loop in (also or {}).items():
                group.create_task(loop(), name=task_name)
            async for message in subscription:
                await feed(message)
    finally:
        ready.clear()
        subscription.close()


async def _every(period_s: float, job: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(period_s)
        await job()
