"""Plain records: what the store's sensors report, and what really happened.

Sensor records (the stream, time-ordered by ``t``) carry only what a real
sensor could know; ground truth lives in separate records and is never mixed
into the stream. Times are seconds of scenario time (0 = opening); floor
positions are metres on the floor plan; weights are grams. Every record
round-trips through JSON (``as_json`` / ``record_from_json``,
``truth_from_json``) for the JSONL files the command line writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

XY = tuple[float, float]

# sensor stream ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateRecord:
    """A gate event, as the gate machine reports it.

    ``admit``: a credential was accepted for ``group_size`` people (``person`` 0);
    ``enter``: member ``person`` (1-based) of that group passed the entry;
    ``exit``: somebody passed the exit; the gate cannot tell who, so
    ``credential`` and ``session_ref`` are None (ground truth knows).
    ``session_ref`` on admit/enter is the simulator's session key: the
    credential is unique per session, so either one maps it to the engine's own
    session id.
    """

    t: float
    kind: Literal["admit", "enter", "exit"]
    gate_id: str
    credential: str | None
    session_ref: str | None
    person: int
    group_size: int


@dataclass(frozen=True, slots=True)
class WeightRecord:
    """One calibrated sample of every load cell of one shelf (``devices.scale.ShelfWeights``).

    ``cells_g`` is the load on each cell, cell i at ``i * length_m / (cells - 1)``
    from the board's left end (the lever rule), net of the empty board;
    ``stable`` is each cell's motion flag (settling envelope within the band).
    """

    t: float
    shelf_id: str
    cells_g: tuple[float, ...]
    stable: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """One tracker sample of one person on the floor plan (``attribution.FloorSample``).

    ``track_id`` is the tracker's id, which may switch mid-visit (ground truth
    in :class:`TrackTruth`); ``hands_xy`` holds the wrists seen (0, 1 or 2);
    ``appearance`` the person's appearance embedding in this sample (empty
    when the scenario models none).
    """

    t: float
    track_id: str
    body_xy: XY
    hands_xy: tuple[XY, ...]
    appearance: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class ShelfCameraRecord:
    """A shelf camera's recognition of the product in a hand (``shelf_camera.ProductSighting``).

    One per take or put the camera saw at ``shelf_id``: the ``sku`` its
    recogniser named (not always the true one), its ``confidence`` in (0, 1]
    (the probability that the name is right), and ``kind``, the direction the
    hand moved the item. ``t`` is the frame the answer came from, while the
    hand is at the shelf (before the weight settles).
    """

    t: float
    shelf_id: str
    sku: str
    confidence: float
    kind: Literal["take", "put"]


Record = GateRecord | WeightRecord | TrackRecord | ShelfCameraRecord

# ground truth ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShelfEventTruth:
    """A take or put on a shelf: who did it, what, how many, where, when.

    ``weight_g`` is the real weight moved (units vary around their nominal
    weight); ``position_m`` is along the board. ``home_shelf_id`` is where the
    item belongs: a put with ``home_shelf_id != shelf_id`` is a wrong-shelf
    put-back. ``by_child``: done by a child of the group.
    """

    t: float
    session_ref: str
    shopper_id: str
    kind: Literal["take", "put"]
    sku: str
    qty: int
    weight_g: float
    shelf_id: str
    position_m: float
    home_shelf_id: str
    by_child: bool = False


@dataclass(frozen=True, slots=True)
class ShopperTruth:
    """One person: their group's session, whether a child, when they entered and left."""

    shopper_id: str
    session_ref: str
    is_child: bool
    enter_t: float
    exit_t: float


@dataclass(frozen=True, slots=True)
class TrackTruth:
    """Which person a tracker id followed, and from when to when."""

    track_id: str
    shopper_id: str
    session_ref: str
    t_start: float
    t_end: float


@dataclass(frozen=True)
class SessionTruth:
    """One bill: the group that entered on one credential and what it left with.

    ``receipt`` maps SKU to units (only SKUs with at least one unit);
    ``exit_t`` is when the group's last member passed the exit.
    """

    session_ref: str
    credential: str
    group_size: int
    children: int
    admit_t: float
    exit_t: float
    receipt: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreTruth:
    """Everything that really happened in one run."""

    sessions: tuple[SessionTruth, ...]
    events: tuple[ShelfEventTruth, ...]
    shoppers: tuple[ShopperTruth, ...]
    tracks: tuple[TrackTruth, ...]
    peak_in_store: int
    turned_away: int
    occupancy: tuple[tuple[float, int], ...]
    """(t, people inside) at every change."""
    sold_out_takes: int = 0
    """Takes that found their facing empty (there is no restocking)."""


# JSON ---------------------------------------------------------------------------------------

_RECORD_TYPES: dict[str, type[Any]] = {
    "gate": GateRecord,
    "weight": WeightRecord,
    "track": TrackRecord,
    "shelf_camera": ShelfCameraRecord,
    "event": ShelfEventTruth,
    "shopper": ShopperTruth,
    "track_truth": TrackTruth,
    "session": SessionTruth,
}
_TYPE_NAMES = {cls: name for name, cls in _RECORD_TYPES.items()}
_FIELDS = {cls: tuple(cls.__dataclass_fields__) for cls in _RECORD_TYPES.values()}


def as_json(record: Any) -> dict[str, Any]:
    """A record as a JSON object with a ``type`` field; tuples become lists."""
    cls = type(record)
    out: dict[str, Any] = {"type": _TYPE_NAMES[cls]}
    for key in _FIELDS[cls]:
        value = getattr(record, key)
        # receipts are the only mappings; an ABC isinstance check per field is slow
        out[key] = value if not isinstance(value, dict | MappingProxyType) else dict(value)
    return out


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def record_from_json(data: Mapping[str, Any]) -> Any:
    """The record a JSON object (from :func:`as_json`) stands for."""
    kind = data.get("type")
    if kind not in _RECORD_TYPES:
        raise ValueError(f"type: unknown record type {kind!r}")
    cls = _RECORD_TYPES[kind]
    fields = {k: _tuples(v) for k, v in data.items() if k != "type"}
    return cls(**fields)
