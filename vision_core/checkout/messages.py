"""What the checkout engine takes and gives on the bus, besides gate and ledger events.

Track samples are durable: they are the evidence of whose hand took an item,
so a slow checkout makes the tracker wait rather than lose them (a lost
sample would turn a clear take into a review). Dwell notices are telemetry:
a price-tag screen that misses one loses nothing on anyone's bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from devices.bus import Message
from vision_core.inference.attribution import FloorSample


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackSample(Message):
    """One shopper track's position at ``sample.t_mono`` (which must equal ``t_mono``).

    ``session_id``: the session the track is bound to, None while unbound (a
    later sample with a session binds it, earlier evidence included);
    ``member``: the group member the track is, e.g. ``"fam/2"`` (lines taken
    by it carry that name; ``"track:<track_id>"`` when None).
    """

    durable: ClassVar[bool] = True
    track_id: str
    session_id: str | None
    sample: FloorSample
    member: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackRelabelled(Message):
    """``track_id``'s samples from ``since_mono`` on were somebody else: ``new_track_id``.

    Re-identification sees a swap only a few samples after it happened
    (:mod:`vision_core.tracking.reid`); those samples already showed the
    other person. They move to the new track, bound to ``session_id``, so
    a take in that gap is evidence for the person who made it, and the old
    track no longer contends for it.
    """

    durable: ClassVar[bool] = True
    track_id: str
    new_track_id: str
    since_mono: float
    session_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ForeignObject(Message):
    """Weight arrived on a shelf that matches nothing in the nearby shoppers' carts (an alert).

    ``item_id``: the shelf event; ``nearby_sessions``: whose carts were tried.
    """

    durable: ClassVar[bool] = True
    shelf_id: str
    item_id: str
    weight_g: float
    nearby_sessions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShelfChangeUnresolved(Message):
    """A shelf event that no session can carry (nobody near it, or its session is settled).

    It is on no bill and in no session's review queue: the store's operators see it.
    """

    durable: ClassVar[bool] = True
    shelf_id: str
    item_id: str
    kind: Literal["take", "put"]
    delta_g: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ShelfDwell(Message):
    """A shopper has stood at a shelf for ``seconds`` (at least the configured dwell time).

    Sent once per visit, when the dwell time is reached (``t_mono``).
    """

    shelf_id: str
    track_id: str
    session_id: str | None
    seconds: float


CHECKOUT_NOTICES: tuple[type[Message], ...] = (ForeignObject, ShelfChangeUnresolved, ShelfDwell)
"""Messages the engine gives besides ledger events."""
