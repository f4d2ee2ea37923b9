"""Checkout telemetry: ledger and shelf events -> InfluxDB points for the store dashboard.

These converters live in walkout because ``facility`` (which owns the
telemetry writer and the converter registry) may not import ``vision_core``.
:func:`full_registry` is the facility's default registry plus these; its
``known_series()`` is what the dashboards are checked against.

Series (``<measurement>_<field>``, tagged by ``store``):

- ``checkout_sessions_open``, ``checkout_sessions_awaiting_receipt``,
  ``checkout_reviews_open``: gauges, written with every event that changes them;
- ``checkout_session_opened``, ``checkout_session_closed``,
  ``checkout_review_requested``, ``checkout_review_resolved``: 1 per event, so a
  dashboard counts them with ``count_over_time``;
- ``checkout_group_size`` (people on the bill, at the open);
- ``checkout_exit_to_receipt_s``: from ``SessionClosed`` to ``ReceiptSettled``
  (event time, ``t_mono``), written with the receipt when the close was seen;
- ``checkout_receipt_total`` (in the receipt's currency, tag ``currency``),
  ``checkout_receipt_lines``, ``checkout_receipt_items`` (units);
- ``checkout_line_added_qty``, ``checkout_line_put_back_qty``,
  ``checkout_line_confidence`` (of the attribution);
- ``shelf_change_delta_g`` (signed: negative is a take), ``shelf_change_abs_g``,
  ``shelf_change_duration_s``, ``shelf_change_position_m``, tagged by ``device``
  (the scale), ``shelf`` and ``kind`` (take/put).

Checkout points carry no ``device`` tag: ledger events come from gates and from
the ledger itself, and a gauge split by whoever reported the change would be
several stale lines instead of one.

The gauges are counted by this process: they start at 0 when walkout starts, so
sessions opened before a restart are not in them until the runtime passes the
replayed ledger's open sessions to :class:`CheckoutTelemetry`. A ledger event
seen a second time (same ``event_id``, e.g. redelivered) writes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from facility.telemetry.points import (
    ConverterRegistry,
    FieldValue,
    Point,
    PointContext,
    SeriesSpec,
    default_registry,
)
from vision_core.ledger.events import (
    LedgerEvent,
    LineAdded,
    LinePutBack,
    ReceiptSettled,
    ReviewRequested,
    ReviewResolved,
    SessionClosed,
    SessionOpened,
)
from vision_core.shelf_events import ShelfChange

CHECKOUT = SeriesSpec(
    "checkout",
    ("store",),
    (
        "sessions_open",
        "sessions_awaiting_receipt",
        "reviews_open",
        "session_opened",
        "session_closed",
        "review_requested",
        "review_resolved",
        "group_size",
        "exit_to_receipt_s",
    ),
)
CHECKOUT_RECEIPT = SeriesSpec(
    "checkout_receipt", ("store", "currency"), ("total", "lines", "items")
)
CHECKOUT_LINE = SeriesSpec("checkout_line", ("store",), ("added_qty", "put_back_qty", "confidence"))
SHELF_CHANGE = SeriesSpec(
    "shelf_change",
    ("store", "device", "shelf", "kind"),
    ("delta_g", "abs_g", "duration_s", "position_m"),
)

SEEN_EVENTS_KEPT = 4096
"""Recent ``event_id``s remembered to skip a redelivered event."""
CLOSED_SESSIONS_KEPT = 4096
"""Closed sessions waiting for a receipt whose close time is kept (oldest forgotten first)."""


def _no_device() -> dict[str, str]:
    # An empty tag value is left out of the point: this removes the ``device`` tag.
    return {"device": ""}


class CheckoutTelemetry:
    """The converters for the checkout's events, with the counts the gauges need.

    One instance per telemetry writer (the writer converts on one task, so no lock).
    """

    def __init__(self, open_sessions: Iterable[str] = ()) -> None:
        self._open: set[str] = set(open_sessions)
        self._closed_at: OrderedDict[str, float] = OrderedDict()
        self._reviews: set[tuple[str, str]] = set()
        self._seen: OrderedDict[str, None] = OrderedDict()

    @property
    def sessions_open(self) -> int:
        """Sessions with someone in the store."""
        return len(self._open)

    @property
    def sessions_awaiting_receipt(self) -> int:
        """Closed sessions whose receipt is not settled yet."""
        return len(self._closed_at)

    def _first_time(self, event: LedgerEvent) -> bool:
        if event.event_id in self._seen:
            return False
        self._seen[event.event_id] = None
        if len(self._seen) > SEEN_EVENTS_KEPT:
            self._seen.popitem(last=False)
        return True

    def _checkout(
        self, ctx: PointContext, event: LedgerEvent, **fields: FieldValue
    ) -> Point | None:
        return ctx.point("checkout", event, fields, **_no_device())

    def session_opened(self, event: SessionOpened, ctx: PointContext) -> list[Point]:
        """The open-sessions gauge goes up; one ``session_opened`` mark."""
        if not self._first_time(event):
            return []
        self._open.add(event.session_id)
        point = self._checkout(
            ctx,
            event,
            sessions_open=len(self._open),
            session_opened=1,
            group_size=event.group_size,
        )
        return [point] if point else []

    def session_closed(self, event: SessionClosed, ctx: PointContext) -> list[Point]:
        """Open goes down, awaiting-receipt up; the close time is kept for the latency."""
        if not self._first_time(event):
            return []
        self._open.discard(event.session_id)
        self._closed_at[event.session_id] = event.t_mono
        if len(self._closed_at) > CLOSED_SESSIONS_KEPT:
            self._closed_at.popitem(last=False)
        point = self._checkout(
            ctx,
            event,
            sessions_open=len(self._open),
            sessions_awaiting_receipt=len(self._closed_at),
            session_closed=1,
        )
        return [point] if point else []

    def receipt_settled(self, event: ReceiptSettled, ctx: PointContext) -> list[Point]:
        """The receipt's figures, and the time from the session's close to it."""
        if not self._first_time(event):
            return []
        closed_at = self._closed_at.pop(event.session_id, None)
        self._open.discard(event.session_id)
        gauges = self._checkout(
            ctx,
            event,
            sessions_open=len(self._open),
            sessions_awaiting_receipt=len(self._closed_at),
            exit_to_receipt_s=None if closed_at is None else event.t_mono - closed_at,
        )
        receipt = ctx.point(
            "checkout_receipt",
            event,
            {
                "total": float(event.total),  # exact in the ledger; a chart needs no more
                "lines": len(event.lines),
                "items": sum(line.qty for line in event.lines),
            },
            currency=event.currency,
            **_no_device(),
        )
        return [p for p in (gauges, receipt) if p is not None]

    def review_requested(self, event: ReviewRequested, ctx: PointContext) -> list[Point]:
        """An item waits for a person."""
        if not self._first_time(event):
            return []
        self._reviews.add((event.session_id, event.item_id))
        point = self._checkout(ctx, event, reviews_open=len(self._reviews), review_requested=1)
        return [point] if point else []

    def review_resolved(self, event: ReviewResolved, ctx: PointContext) -> list[Point]:
        """A person decided an item."""
        if not self._first_time(event):
            return []
        self._reviews.discard((event.session_id, event.item_id))
        point = self._checkout(ctx, event, reviews_open=len(self._reviews), review_resolved=1)
        return [point] if point else []

    def line_added(self, event: LineAdded, ctx: PointContext) -> list[Point]:
        """Units taken, with the attribution's confidence."""
        if not self._first_time(event):
            return []
        fields: dict[str, FieldValue] = {"added_qty": event.qty, "confidence": event.confidence}
        point = ctx.point("checkout_line", event, fields, **_no_device())
        return [point] if point else []

    def line_put_back(self, event: LinePutBack, ctx: PointContext) -> list[Point]:
        """Units put back, with the attribution's confidence."""
        if not self._first_time(event):
            return []
        fields: dict[str, FieldValue] = {
            "put_back_qty": event.qty,
            "confidence": event.confidence,
        }
        point = ctx.point("checkout_line", event, fields, **_no_device())
        return [point] if point else []


def convert_shelf_change(msg: ShelfChange, ctx: PointContext) -> list[Point]:
    """One point per take or put; ``duration_s`` from the first unsettled sample to the settle."""
    point = ctx.point(
        "shelf_change",
        msg,
        {
            "delta_g": msg.delta_g,
            "abs_g": abs(msg.delta_g),
            "duration_s": msg.t_mono - msg.started_mono,
            "position_m": msg.position_m,
        },
        shelf=msg.shelf_id,
        kind=msg.kind,
    )
    return [point] if point else []


def register_checkout(
    registry: ConverterRegistry, telemetry: CheckoutTelemetry | None = None
) -> CheckoutTelemetry:
    """Add the checkout and shelf-event converters to ``registry``; returns their state."""
    state = telemetry or CheckoutTelemetry()
    registry.register(SessionOpened, (CHECKOUT,), state.session_opened)
    registry.register(SessionClosed, (CHECKOUT,), state.session_closed)
    registry.register(ReceiptSettled, (CHECKOUT, CHECKOUT_RECEIPT), state.receipt_settled)
    registry.register(ReviewRequested, (CHECKOUT,), state.review_requested)
    registry.register(ReviewResolved, (CHECKOUT,), state.review_resolved)
    registry.register(LineAdded, (CHECKOUT_LINE,), state.line_added)
    registry.register(LinePutBack, (CHECKOUT_LINE,), state.line_put_back)
    registry.register(ShelfChange, (SHELF_CHANGE,), convert_shelf_change)
    return state


def full_registry(telemetry: CheckoutTelemetry | None = None) -> ConverterRegistry:
    """The facility's default converters plus the checkout's: what ``walkout run`` writes."""
    registry = default_registry()
    register_checkout(registry, telemetry)
    return registry


KNOWN_SERIES: frozenset[str] = full_registry().known_series()
"""Every series walkout can write (facility and checkout): what dashboards may query."""
