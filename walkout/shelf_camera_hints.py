"""Shelf cameras' sightings from the bus into the checkout's tie-breaking hints.

The shelf cameras' driver (:class:`~devices.camera.products.ProductsSource`,
started by the runtime) publishes each recognised hand movement on the bus
as ``ProductsSeen``. :class:`BusShelfCameraHints` is the checkout's
:class:`~vision_core.inference.shelf_camera.ShelfCameraHints` with a bus
subscription of its own: before it answers anything (a tie's likelihoods,
what was seen put down) it takes every ``ProductsSeen`` already queued. So
a sighting published before the shelf change it explains is decided is
always used, whichever task runs first; one published after the decision is
not used for that change (a camera that reports late, or a broker that
delivers late, leaves the tie a tie and the item goes to review).

No task of its own: the queue is emptied when the hints are asked, which is
on every put-back and every tie. Between those it is bounded (``maxsize``,
the oldest dropped first, counted in the subscription's ``dropped``); a
store quiet for long loses only sightings older than any change to come.
Heartbeats (no sightings) are skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Unpack

from devices.bus import Bus, Subscription
from devices.camera.products import ProductsSeen
from vision_core.inference.shelf_camera import (
    HintOptions,
    ProductSighting,
    ShelfCameraError,
    ShelfCameraHints,
    SightingKind,
)

_LOGGER = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
"""Sightings waiting for the next question; at a few a second, well over the ``keep_s`` of 300 s."""


class BusShelfCameraHints(ShelfCameraHints):
    """Shelf-camera hints that read the bus's ``ProductsSeen`` before each answer."""

    def __init__(
        self, shelves: Mapping[str, Collection[str]], **options: Unpack[HintOptions]
    ) -> None:
        super().__init__(shelves, **options)
        self._subscription: Subscription | None = None
        self.received = 0
        """Sightings taken from the bus and kept."""
        self.refused = 0
        """Sightings that could not be used (a shelf without a camera here, a bad value)."""
        self._complained: set[str] = set()

    def listen(self, bus: Bus, *, maxsize: int = QUEUE_SIZE) -> Subscription:
        """Subscribe to ``ProductsSeen`` on ``bus``; :meth:`close` unsubscribes."""
        if self._subscription is not None:
            raise RuntimeError("these hints already listen to a bus")
        self._subscription = bus.subscribe(ProductsSeen, maxsize=maxsize, name="shelf-cameras")
        return self._subscription

    def close(self) -> None:
        """Stop listening; safe twice."""
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.close()

    def drain(self) -> int:
        """Take every queued ``ProductsSeen`` into the hints; how many sightings were kept."""
        subscription = self._subscription
        kept = 0
        while subscription is not None:
            message = subscription.get_nowait()
            if message is None:
                break
            if isinstance(message, ProductsSeen):
                kept += self._take(message)
        return kept

    def _take(self, message: ProductsSeen) -> int:
        kept = 0
        for seen in message.sightings:
            try:
                self.add(
                    ProductSighting(
                        message.shelf_id, message.t_mono, seen.sku, seen.confidence, seen.kind
                    )
                )
            except ShelfCameraError as exc:
                self.refused += 1
                if message.source not in self._complained:
                    self._complained.add(message.source)
                    _LOGGER.warning(
                        "shelf camera %s: sighting not used: %s (further ones are only counted)",
                        message.source,
                        exc,
                    )
                continue
            kept += 1
        self.received += kept
        return kept

    def sightings(
        self, shelf_id: str, t0: float, t1: float, kind: SightingKind | None = None
    ) -> list[ProductSighting]:
        """As :meth:`ShelfCameraHints.sightings`, after taking what the bus has queued.

        Every answer of the hints (likelihoods, ``seen``, ``put_seen``) goes
        through here, so none of them misses a sighting already published.
        """
        self.drain()
        return super().sightings(shelf_id, t0, t1, kind)
