"""Shelf cameras' product sightings over MQTT: walkout's products schema, version 1.

A shelf camera looks down on one shelf and runs a product recogniser on the
hands that reach into it. Its own tracker folds the frames of one hand
movement into one answer, and it publishes one message per movement::

    walkout/cameras/<camera>/products     camera -> store, QoS 0 or 1, not retained

    {"v": 1,                               required: schema version
     "ts": 1767225600.123,                 optional: the camera's wall clock, seconds
     "sightings": [                        required, at most 16 entries
       {"sku": "crisps-salt",              the product recognised, as the planogram names it
        "confidence": 0.93,                (0, 1]: the recogniser's probability it is right
        "kind": "take"}]}                  optional: "take" (left the shelf in the hand),
                                           "put" (went onto the shelf), or null when
                                           the camera cannot tell; absent means null

One movement may carry several sightings (two products in one hand, two
hands). An empty ``sightings`` list is a heartbeat: a camera sends one at
least every few seconds while nobody shops, so silence means trouble, and a
camera silent for ``stall_after_s`` (15 s by default) is reported stalled.

``<camera>`` is one topic level of ``A-Z a-z 0-9 _ . -`` (at most 64); which
shelf it watches is the store's configuration, not the camera's: a camera
moved to another shelf is reconfigured, not reflashed. A ``sku`` is 1 to 128
characters with no control characters; whether the planogram knows it is
for the checkout to judge (a camera that names a SKU the shelf does not
carry still tells it something: none of the candidates is likely). The
payload is one UTF-8 JSON object of at most ``max_payload`` bytes (16 KiB by
default). Keys outside the schema are refused: the schema is closed, and a
new field means a new ``v``.

Bad payloads (not JSON, not the schema, too large, an unknown camera) are
counted per kind and logged once per camera and kind; they never end the
subscription. Valid ones become :class:`ProductsSeen` with ``t_mono`` the
arrival time: camera clocks are not trusted for ordering, and a camera
publishes when the hand has left, so arrival falls within the shelf's
change, which is what the checkout matches sightings against.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal, Unpack

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from devices.bus import Message
from devices.camera.quality import QualityLimits
from devices.camera.subscriber import CameraSubscriber, PayloadError, SubscriberOptions

SCHEMA_VERSION = 1
MAX_PAYLOAD = 16 * 1024
MAX_SIGHTINGS = 16
MAX_SKU = 128

PRODUCTS_LIMITS = QualityLimits(stall_after_s=15.0, min_fps=None, black_luma=None, frozen_diff=None)
"""Silence only; 15 s leaves room for three missed 5-second heartbeats."""

Kind = Literal["take", "put"]


class _Sighting(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: Annotated[str, Field(min_length=1, max_length=MAX_SKU, pattern=r"^[^\x00-\x1f\x7f]+$")]
    confidence: Annotated[float, Field(gt=0.0, le=1.0, strict=True)]
    kind: Kind | None = None


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    ts: Annotated[float, Field(allow_inf_nan=False)] | None = None
    sightings: Annotated[tuple[_Sighting, ...], Field(max_length=MAX_SIGHTINGS)]

    @field_validator("v", mode="before")
    @classmethod
    def _exactly_an_int(cls, value: object) -> object:
        # JSON true and 1.0 equal 1 in Python; a version is the integer or nothing.
        if type(value) is not int:
            raise PydanticCustomError("literal_error", "Input should be 1")
        return value


@dataclass(frozen=True, slots=True)
class SeenProduct:
    """One product a shelf camera recognised in a hand (see the module's schema)."""

    sku: str
    confidence: float
    kind: Kind | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductsSeen(Message):
    """One hand movement a shelf camera recognised, or a heartbeat (no sightings).

    ``source`` is the camera id, ``shelf_id`` the shelf the store's
    configuration says it watches, ``t_mono`` the arrival time, ``source_ts``
    the camera's own clock (reports only).
    """

    shelf_id: str
    sightings: tuple[SeenProduct, ...]
    source_ts: float | None = None


def parse_products(
    camera_id: str, shelf_id: str, payload: bytes, t_mono: float, *, max_payload: int = MAX_PAYLOAD
) -> ProductsSeen:
    """Validate one payload; :class:`~devices.camera.subscriber.PayloadError` when refused."""
    PayloadError.check_size(payload, max_payload)
    try:
        data = _Payload.model_validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0] if errors else {"msg": str(exc), "loc": ()}
        loc = tuple(first.get("loc", ()))
        message = str(first["msg"])
        if first.get("type") == "literal_error" and loc == ("v",):
            given = first["input"]
            message = f"Input should be {SCHEMA_VERSION}, got {json.dumps(given)}"
        raise PayloadError.from_schema(first.get("type"), loc, message) from None
    return ProductsSeen(
        source=camera_id,
        t_mono=t_mono,
        shelf_id=shelf_id,
        sightings=tuple(SeenProduct(s.sku, s.confidence, s.kind) for s in data.sightings),
        source_ts=data.ts,
    )


class ProductsSource(CameraSubscriber[ProductsSeen]):
    """Product sightings of shelf cameras from one broker.

    ``shelves`` maps each camera to the shelf it watches; messages of other
    cameras are counted as ``unknown_camera``. Every valid message, heartbeats
    included, goes on ``bus`` as :class:`ProductsSeen` (telemetry: a
    subscriber that falls behind loses the oldest) and to one reader through
    :meth:`read`; each camera has a status, stalled when silent. The
    subscription (reconnects, counters, stalls) is
    :class:`~devices.camera.subscriber.CameraSubscriber`'s.
    """

    topic_suffix = "products"
    label = "products"
    noun = "product sightings"
    default_max_payload = MAX_PAYLOAD
    default_limits = PRODUCTS_LIMITS

    def __init__(
        self,
        device_id: str,
        host: str,
        port: int = 1883,
        *,
        shelves: Mapping[str, str],
        **options: Unpack[SubscriberOptions],
    ) -> None:
        if not shelves:
            raise ValueError("shelves: expected at least one camera and the shelf it watches")
        for camera, shelf in shelves.items():
            if not isinstance(shelf, str) or not shelf:
                raise ValueError(f"shelves[{camera!r}]: expected a shelf id, got {shelf!r}")
        super().__init__(device_id, host, port, cameras=shelves, **options)
        self.shelves = dict(shelves)

    def parse(self, camera_id: str, payload: bytes, t_mono: float) -> ProductsSeen:
        """One payload as :class:`ProductsSeen` for the camera's shelf."""
        return parse_products(
            camera_id, self.shelves[camera_id], payload, t_mono, max_payload=self.max_payload
        )
