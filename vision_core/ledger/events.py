"""Checkout events: what the journal stores and the bus carries.

Every event names itself with an ``event_id`` chosen by whoever observed it
(derived from the observation, e.g. the shelf event or gate passage it comes
from), so a redelivered event is recognised and stored once. ``money`` marks
the events that change what a shopper pays; the journal fsyncs those before
acknowledging them.

Prices are :class:`~decimal.Decimal` (never float: 0.1 + 0.2 is not a price),
quantities whole units.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any, ClassVar

from devices.bus import Message


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerEvent(Message):
    """Base of the journal's events (``t_mono``: when the thing happened in the store)."""

    durable: ClassVar[bool] = True
    money: ClassVar[bool] = True
    event_id: str
    session_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionOpened(LedgerEvent):
    """A credential was admitted: one bill for up to ``group_size`` people.

    ``credential`` is stored redacted (see :func:`vision_core.ledger.carts.redact`).
    """

    credential: str
    group_size: int
    currency: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(LedgerEvent):
    """One person of the session went in (``member``: a stable id within the session)."""

    money: ClassVar[bool] = False
    member: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberExited(LedgerEvent):
    """One person of the session went out (the gate cannot tell which one)."""

    member: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionClosed(LedgerEvent):
    """Nobody of the session is in the store any more (or the operator closed it)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LineAdded(LedgerEvent):
    """A member took ``qty`` units of ``sku``.

    ``evidence``: ids of the shelf events (and frames) that support it;
    ``confidence``: of the attribution to this session, 0..1;
    ``unit_weight_g``: lets a put-back on another shelf be matched by weight;
    ``weighed_g``: what the scale measured for these units, when the change was
    this line alone. Units of one product differ (an apple is 155-205 g, a
    sandwich 230 +- 6 g), and a unit weighs the same when it comes back: the
    measured weight tells two units of a cart apart where the product's does not.
    """

    member: str
    sku: str
    qty: int
    unit_price: Decimal
    evidence: tuple[str, ...]
    confidence: float
    unit_weight_g: float | None = None
    weighed_g: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinePutBack(LedgerEvent):
    """A member put ``qty`` units of ``sku`` back, on any shelf.

    Which line leaves the cart is decided by the cart (the most recent add of
    that sku by anyone in the group), the same way on replay.
    """

    member: str
    sku: str
    qty: int
    evidence: tuple[str, ...]
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributionPending(LedgerEvent):
    """A shelf event may belong to this session but is not decided yet: it blocks the receipt."""

    item_id: str
    evidence: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributionResolved(LedgerEvent):
    """A pending item is decided (any line it led to is its own ``LineAdded``/``LinePutBack``)."""

    item_id: str
    outcome: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewRequested(LedgerEvent):
    """An item could not be decided in time and waits for a person; it still blocks the receipt."""

    item_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewResolved(LedgerEvent):
    """A person decided a review item (``resolution``: what they decided, for the audit)."""

    item_id: str
    resolution: str
    reviewer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptLine:
    """One line of a receipt, with the evidence that put it there."""

    sku: str
    qty: int
    unit_price: Decimal
    amount: Decimal
    member: str
    evidence: tuple[str, ...]
    confidence: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptSettled(LedgerEvent):
    """The bill of a closed session with every item resolved; it is settled once."""

    currency: str
    lines: tuple[ReceiptLine, ...]
    total: Decimal


EVENT_TYPES: dict[str, type[LedgerEvent]] = {
    cls.__name__: cls
    for cls in (
        SessionOpened,
        MemberJoined,
        MemberExited,
        SessionClosed,
        LineAdded,
        LinePutBack,
        AttributionPending,
        AttributionResolved,
        ReviewRequested,
        ReviewResolved,
        ReceiptSettled,
    )
}
_NESTED: dict[str, type[Any]] = {"ReceiptLine": ReceiptLine}


class EventDecodeError(ValueError):
    """A stored payload does not decode to a known event."""


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    if isinstance(value, ReceiptLine):
        return {
            "$type": "ReceiptLine",
            **{f.name: _encode(getattr(value, f.name)) for f in fields(value)},
        }
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot journal a value of type {type(value).__name__}: {value!r}")


def _decode(value: object) -> object:
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if isinstance(value, dict):
        if "$dec" in value:
            return Decimal(value["$dec"])
        cls = _NESTED[value.pop("$type")]
        return cls(**{k: _decode(v) for k, v in value.items()})
    return value


def encode_event(event: LedgerEvent) -> tuple[str, str]:
    """``(kind, payload)``: the type name and a canonical JSON of every field.

    Canonical (sorted keys, no spaces) so the same event always has the same
    bytes: duplicates are recognised by comparing payloads, and checksums are
    stable.
    """
    kind = type(event).__name__
    if EVENT_TYPES.get(kind) is not type(event):
        raise TypeError(f"{kind} is not a journal event type")
    body = {f.name: _encode(getattr(event, f.name)) for f in fields(event)}
    return kind, json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)


def decode_event(kind: str, payload: str) -> LedgerEvent:
    """Inverse of :func:`encode_event`."""
    cls = EVENT_TYPES.get(kind)
    if cls is None:
        raise EventDecodeError(f"unknown event kind {kind!r}")
    try:
        body = json.loads(payload)
        decoded: dict[str, Any] = {k: _decode(v) for k, v in body.items()}
        return cls(**decoded)
    except (ValueError, TypeError, KeyError) as exc:
        raise EventDecodeError(f"{kind} payload does not decode: {exc}") from exc
