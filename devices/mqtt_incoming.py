"""An MQTT client's incoming queue: bounded, each discard counted, logged once per burst.

aiomqtt hands received messages to the subscriber through a bounded
``asyncio.Queue``. When the subscriber falls behind (the loop was busy,
a camera flooded the broker) aiomqtt discards what finds the queue full
and logs a WARNING for every message: thousands of identical lines in a
burst, none of which says how many were lost. :func:`incoming_queue_type`
gives aiomqtt a queue that discards the same messages (the newcomers, as
aiomqtt does) without raising, so aiomqtt logs nothing, and reports each
discard to its owner instead, who counts it and tells an :class:`Overflow`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiomqtt

QUIET_S = 1.0
"""A burst is over after this long without a discard.

Not "when the queue is empty": during a flood the consumer empties and
the client refills it many times a second, and each would be a burst.
"""

REPORT_EVERY_S = 60.0
"""While a burst lasts, how often the running count is logged."""


class Overflow:
    """Discards of one bounded queue, told to the log once per burst.

    One WARNING when a burst starts, one more per ``report_every_s`` while
    it lasts, and one INFO with the count when it ends: after ``quiet_s``
    without a discard (noticed by :meth:`tick`) or when the queue goes away
    (:meth:`end`). Counting every discard is the owner's job (its stats).
    """

    def __init__(
        self,
        name: str,
        capacity: int,
        log: logging.Logger,
        *,
        quiet_s: float = QUIET_S,
        report_every_s: float = REPORT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.capacity = capacity
        self.quiet_s = quiet_s
        self.report_every_s = report_every_s
        self._log = log
        self._clock = clock
        self._burst = 0
        self._started_at = 0.0
        self._last_at = 0.0
        self._reported_at = 0.0
        self._reported = 0

    @property
    def in_burst(self) -> bool:
        """Discards were seen and the burst has not been summed up yet."""
        return self._burst > 0

    def discarded(self) -> None:
        """One message was discarded because the queue was full."""
        now = self._clock()
        self._burst += 1
        self._last_at = now
        if self._burst == 1:
            self._started_at = self._reported_at = now
            self._reported = 1
            self._log.warning(
                "%s: incoming MQTT queue full (%d messages); discarding new messages "
                "(counted, not logged, until it keeps up for %g s)",
                self.name,
                self.capacity,
                self.quiet_s,
            )
        elif now - self._reported_at >= self.report_every_s:
            self._log.warning(
                "%s: incoming MQTT queue still overflowing: %d discarded in the last %.0f s",
                self.name,
                self._burst - self._reported,
                now - self._reported_at,
            )
            self._reported_at = now
            self._reported = self._burst

    def tick(self) -> None:
        """Call now and then: ends a burst that has been quiet for ``quiet_s``."""
        if self._burst and self._clock() - self._last_at >= self.quiet_s:
            self.end()

    def end(self) -> None:
        """Ends the burst, if any, logging how many it discarded."""
        if not self._burst:
            return
        self._log.info(
            "%s: incoming MQTT queue keeps up again: %d messages discarded in %.1f s",
            self.name,
            self._burst,
            self._last_at - self._started_at,
        )
        self._burst = 0


def incoming_queue_type(on_discard: Callable[[], None]) -> type[asyncio.Queue[aiomqtt.Message]]:
    """A queue class for ``aiomqtt.Client(queue_type=...)``: discards reported, not raised.

    ``on_discard`` is called for each message that found the queue full. A
    class, not an instance, because that is what aiomqtt takes; it sizes the
    queue with ``max_queued_incoming_messages``.
    """

    class IncomingQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            if self.full():
                on_discard()
                return
            super().put_nowait(item)

    return IncomingQueue
