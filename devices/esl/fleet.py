"""The store's price tags as one thing: bulk price changes, store modes, shelf messages.

The fleet sits on one :class:`~devices.esl.backend.TagBackend` (an
OpenEPaperLink AP or walkout's MQTT schema) and adds what a store needs on
top of single-tag pushes:

- bulk changes with progress ``(done, total, failures)``, a bounded number
  in flight and an optional start rate (an AP is a small microcontroller);
- one store-wide tag mode, set by the supervisor (``no_animations`` in
  conserve, ``dimmed`` in degraded, ``blank`` when closed); later pushes use
  it too;
- short messages on the tags of one shelf (the checkout engine calls this on
  dwell events), limited per shelf (one at a time, then a cool-down) and
  store-wide (a token bucket), and only while the store mode is ``normal``.

Changes to one tag are serialised, so a message cannot overtake a price
change on the same tag. Every result goes to the bus when one is given
(``TagPushResult`` is durable: a tag left on an old price must be seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from devices.bus import Bus
from devices.errors import DeviceError
from devices.esl.backend import TagBackend
from devices.esl.model import PushOutcome, TagContent, TagMode, TagPushResult
from devices.esl.ratelimit import TokenBucket

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BulkProgress:
    """Where a bulk change stands; ``last`` is the result that just came in."""

    done: int
    total: int
    failures: int
    last: TagPushResult | None = None


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Every tag's result of one bulk change."""

    results: Mapping[str, TagPushResult]
    elapsed_s: float

    @property
    def failures(self) -> int:
        """Tags that did not confirm the change (failed or timed out)."""
        return sum(1 for r in self.results.values() if not r.acked)

    @property
    def not_updated(self) -> list[str]:
        """Ids of the tags that did not confirm, sorted."""
        return sorted(t for t, r in self.results.items() if not r.acked)


class MessageOutcome(enum.StrEnum):
    """How a shelf message request ended."""

    SHOWN = "shown"  # every tag of the shelf confirmed
    PARTIAL = "partial"  # some did
    FAILED = "failed"  # none did
    RATE_LIMITED = "rate_limited"  # not sent; try again after retry_after_s
    REFUSED = "refused"  # not sent: the store mode shows no messages


@dataclass(frozen=True, slots=True)
class ShelfMessageResult:
    """The answer to one shelf message request."""

    shelf_id: str
    outcome: MessageOutcome
    reason: str = ""
    retry_after_s: float = 0.0
    results: tuple[TagPushResult, ...] = ()


ProgressCallback = Callable[[BulkProgress], None]


class EslFleet:
    """Bulk changes, store mode and shelf messages over one backend.

    ``shelves`` maps shelf ids to the tags on them. ``concurrency`` bounds
    the pushes in flight; ``rate_per_s`` (None: unlimited) paces their start.
    A shelf takes a new message once its previous one has ended plus
    ``shelf_cooldown_s``; store-wide, ``messages_per_minute`` with a burst of
    ``message_burst``. ``clock`` is monotonic seconds (replaceable for replay
    and tests).
    """

    def __init__(
        self,
        backend: TagBackend,
        *,
        shelves: Mapping[str, Sequence[str]] | None = None,
        concurrency: int = 32,
        rate_per_s: float | None = None,
        burst: int = 10,
        shelf_cooldown_s: float = 30.0,
        messages_per_minute: float = 20.0,
        message_burst: int = 3,
        max_message_s: float = 300.0,
        bus: Bus | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.backend = backend
        self.shelves = {k: tuple(v) for k, v in (shelves or {}).items()}
        self.concurrency = concurrency
        self.shelf_cooldown_s = shelf_cooldown_s
        self.max_message_s = max_message_s
        self.bus = bus
        self.mode = TagMode.NORMAL
        self._clock = clock
        self._pace = TokenBucket(rate_per_s, burst, clock=clock) if rate_per_s else None
        self._messages = TokenBucket(messages_per_minute / 60.0, message_burst, clock=clock)
        self._shelf_free_at: dict[str, float] = {}
        self._tag_locks: dict[str, asyncio.Lock] = {}

    # --- bulk -------------------------------------------------------------------------

    async def bulk_update(
        self, changes: Mapping[str, TagContent], *, on_progress: ProgressCallback | None = None
    ) -> BulkResult:
        """Push new content to many tags in the store's current mode."""
        mode = self.mode
        jobs = [
            (tag, partial(self.backend.push_content, tag, content, mode))
            for tag, content in changes.items()
        ]
        return await self._run(jobs, on_progress)

    async def bulk_update_progress(
        self, changes: Mapping[str, TagContent]
    ) -> AsyncIterator[BulkProgress]:
        """:meth:`bulk_update` as an async iterator of progress (last one: done == total).

        Leaving the loop early cancels the tags not yet started; the ones in
        flight end as their backend decides.
        """
        queue: asyncio.Queue[BulkProgress | None] = asyncio.Queue()
        task = asyncio.create_task(self.bulk_update(changes, on_progress=queue.put_nowait))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            while (item := await queue.get()) is not None:
                yield item
            await task
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def set_mode_all(
        self,
        mode: TagMode,
        tags: Sequence[str] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> BulkResult:
        """Set the store mode and switch every tag (or ``tags``) to it."""
        self.mode = mode
        targets = list(self.backend.known_tags() if tags is None else tags)
        jobs = [(tag, partial(self.backend.set_mode, tag, mode)) for tag in targets]
        return await self._run(jobs, on_progress)

    async def _run(
        self,
        jobs: Sequence[tuple[str, Callable[[], Awaitable[TagPushResult]]]],
        on_progress: ProgressCallback | None,
    ) -> BulkResult:
        start = self._clock()
        total = len(jobs)
        results: dict[str, TagPushResult] = {}
        failures = 0
        todo = iter(jobs)

        async def worker() -> None:
            nonlocal failures
            for tag, job in todo:
                if self._pace is not None:
                    await self._pace.take()
                result = await self._guarded(tag, job)
                results[tag] = result
                failures += not result.acked
                if self.bus is not None:
                    await self.bus.publish(result)
                if on_progress is not None:
                    on_progress(BulkProgress(len(results), total, failures, result))

        async with asyncio.TaskGroup() as group:
            for n in range(min(self.concurrency, total)):
                group.create_task(worker(), name=f"esl-bulk-{n}")
        return BulkResult(results, self._clock() - start)

    async def _guarded(
        self, tag: str, job: Callable[[], Awaitable[TagPushResult]]
    ) -> TagPushResult:
        """Run one push under the tag's lock; a raised error becomes a FAILED result."""
        async with self._tag_locks.setdefault(tag, asyncio.Lock()):
            try:
                return await job()
            except (DeviceError, ValueError) as exc:
                return TagPushResult(
                    source=self.backend.name,
                    t_mono=self._clock(),
                    tag_id=tag,
                    outcome=PushOutcome.FAILED,
                    reason=str(exc),
                )

    # --- shelf messages ---------------------------------------------------------------

    async def show_shelf_message(
        self, shelf_id: str, text: str, duration_s: float
    ) -> ShelfMessageResult:
        """Show ``text`` on the tags of ``shelf_id`` for ``duration_s``, if the limits allow.

        A request over a limit is answered ``rate_limited`` at once with the
        seconds to wait; nothing queues up behind it. Unknown shelves and bad
        durations raise ValueError (a configuration or caller bug).
        """
        tags = self.shelves.get(shelf_id)
        if tags is None:
            raise ValueError(f"unknown shelf {shelf_id!r} (known: {sorted(self.shelves)})")
        if not text or not 0 < duration_s <= self.max_message_s:
            raise ValueError(f"a message needs text and 0 < duration_s <= {self.max_message_s:g}")
        if self.mode is not TagMode.NORMAL:
            return ShelfMessageResult(
                shelf_id, MessageOutcome.REFUSED, f"store mode is {self.mode.value}"
            )
        now = self._clock()
        free_at = self._shelf_free_at.get(shelf_id, now)
        if free_at > now:
            return ShelfMessageResult(
                shelf_id,
                MessageOutcome.RATE_LIMITED,
                "this shelf showed a message recently",
                retry_after_s=free_at - now,
            )
        wait_s = self._messages.try_take()
        if wait_s > 0:
            return ShelfMessageResult(
                shelf_id,
                MessageOutcome.RATE_LIMITED,
                "store-wide message rate reached",
                retry_after_s=wait_s,
            )
        self._shelf_free_at[shelf_id] = now + duration_s + self.shelf_cooldown_s
        results = await asyncio.gather(
            *(
                self._guarded(tag, partial(self.backend.show_message, tag, text, duration_s))
                for tag in tags
            )
        )
        if self.bus is not None:
            for result in results:
                await self.bus.publish(result)
        acked = sum(1 for r in results if r.acked)
        if acked == len(results):
            outcome = MessageOutcome.SHOWN
        elif acked:
            outcome = MessageOutcome.PARTIAL
        else:
            outcome = MessageOutcome.FAILED
        return ShelfMessageResult(shelf_id, outcome, results=tuple(results))
