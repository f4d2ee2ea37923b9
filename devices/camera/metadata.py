"""Smart cameras' person detections over MQTT: walkout's camera metadata schema, versions 1 and 2.

Cameras that run their own detector (or a small adapter next to one) publish
each analysed frame::

    walkout/cameras/<camera>/detections    camera -> store, QoS 0 or 1, not retained

    {"v": 1,                               required: schema version
     "ts": 1767225600.123,                 optional: the camera's wall clock, seconds
     "frame": 1234,                        optional: the camera's frame number, >= 0
     "width": 1280, "height": 720,         optional: the image size the boxes refer to
     "people": [                           required, at most 256 entries, [] when nobody
       {"id": 17,                          the camera's track id (int >= 0), or null
        "box": [x1, y1, x2, y2],           pixels, finite, x2 > x1 and y2 > y1
        "score": 0.93,                     0..1
        "keypoints": [[x, y, s], ...]}]}   optional: exactly 17 points in COCO order
                                           (wrists are 9 and 10), s 0..1, 0 = not seen

Version 2 is version 1 with ``"v": 2`` and one more optional key per person::

       {"id": 17, "box": [...], "score": 0.93,
        "embedding": [0.12, -0.03, ...]}   optional: 8 to 512 finite floats, not all 0

``embedding`` is the camera's (or its adapter's) re-identification vector of
that person in this frame, from a re-identification model run on the
person's crop. Only its direction matters: walkout compares vectors by
cosine similarity, so any scale (unit length or not) will do. It is what
tells two people apart after their track ids swapped (occlusion, crossing);
see :mod:`vision_core.tracking.reid`. Every camera of a store must use the
same model (same length, same space), or the vectors do not compare: the
tracking ignores, and logs, vectors of another length than the first one it
saw. Leave the key out when the model gave nothing for that person (it is
never ``null``). A version 1 payload with ``embedding`` is refused, like any
other unknown key. A 128-float vector is about 1.3 KB of JSON per person, so
``max_payload`` bounds how many people with long vectors fit one message.

``<camera>`` is one topic level of ``A-Z a-z 0-9 _ . -`` (at most 64). The
payload is one UTF-8 JSON object of at most ``max_payload`` bytes (256 KiB
by default). Keys outside the schema are refused: the schema is closed, and a
new field means a new ``v``. A camera publishes every analysed frame, with
an empty ``people`` list when nobody is there, so silence means trouble: a
camera silent for ``stall_after_s`` is reported stalled.

Bad payloads (not JSON, not the schema, too large, an unknown camera) are
counted per kind and logged once per camera and kind; they never end the
subscription. Valid ones become :class:`~devices.camera.detection.PersonDetections`
with ``t_mono`` the arrival time (camera clocks are not trusted for ordering).
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.camera.detection import COCO_KEYPOINTS, Detection, PersonDetections
from devices.camera.quality import QualityLimits
from devices.camera.subscriber import CAMERA_ID as CAMERA_ID
from devices.camera.subscriber import (
    CameraSubscriber,
    PayloadError,
    SubscriptionStats,
)

SCHEMA_VERSION = 2
"""The newest schema version understood; every older one is still accepted."""
MAX_PAYLOAD = 256 * 1024
MAX_PEOPLE = 256
EMBEDDING_LENGTH = (8, 512)
"""Shortest and longest re-identification vector accepted (schema version 2)."""

METADATA_LIMITS = QualityLimits(stall_after_s=3.0, min_fps=None, black_luma=None, frozen_diff=None)
"""Quality checks that make sense without pixels: silence only."""

_Finite = Annotated[float, Field(allow_inf_nan=False)]
_Unit = Annotated[float, Field(ge=0.0, le=1.0)]


class _PersonV1(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[int, Field(ge=0)] | None = None
    box: tuple[_Finite, _Finite, _Finite, _Finite]
    score: _Unit
    keypoints: (
        Annotated[
            tuple[tuple[_Finite, _Finite, _Unit], ...],
            Field(min_length=len(COCO_KEYPOINTS), max_length=len(COCO_KEYPOINTS)),
        ]
        | None
    ) = None

    @model_validator(mode="after")
    def _box_order(self) -> Self:
        x1, y1, x2, y2 = self.box
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"box must have x2 > x1 and y2 > y1, got {list(self.box)}")
        return self


class _PersonV2(_PersonV1):
    embedding: Annotated[
        tuple[_Finite, ...],
        Field(min_length=EMBEDDING_LENGTH[0], max_length=EMBEDDING_LENGTH[1]),
    ] = ()

    @field_validator("embedding")
    @classmethod
    def _has_direction(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not any(value):
            raise ValueError("embedding is all zeros: it has no direction")
        return value


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ts: _Finite | None = None
    frame: Annotated[int, Field(ge=0)] | None = None
    width: Annotated[int, Field(gt=0)] | None = None
    height: Annotated[int, Field(gt=0)] | None = None


class _PayloadV1(_Header):
    v: Literal[1]
    people: Annotated[tuple[_PersonV1, ...], Field(max_length=MAX_PEOPLE)]


class _PayloadV2(_Header):
    v: Literal[2]
    people: Annotated[tuple[_PersonV2, ...], Field(max_length=MAX_PEOPLE)]


_PAYLOAD: TypeAdapter[_PayloadV1 | _PayloadV2] = TypeAdapter(
    Annotated[_PayloadV1 | _PayloadV2, Field(discriminator="v")]
)
_VERSIONS = (1, 2)
"""Schema versions understood; also how pydantic names the member in an error's location."""


MetadataStats = SubscriptionStats
"""Counters of the subscription (the name this feed has always used)."""


class MetadataError(PayloadError):
    """A metadata payload was refused; ``kind`` is the counter it went to."""


def parse_detections(
    camera_id: str, payload: bytes, t_mono: float, *, max_payload: int = MAX_PAYLOAD
) -> PersonDetections:
    """Validate one payload and normalise it; :class:`MetadataError` when refused."""
    MetadataError.check_size(payload, max_payload)
    try:
        data = _PAYLOAD.validate_json(payload)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0] if errors else {"msg": str(exc), "loc": ()}
        loc = tuple(first.get("loc", ()))
        if loc and loc[0] in _VERSIONS:
            loc = loc[1:]  # "people.0.score", not "2.people.0.score"
        message = str(first["msg"])
        if first.get("type") == "union_tag_not_found":
            loc, message = ("v",), "Field required"
        elif first.get("type") == "union_tag_invalid":
            versions = " or ".join(str(v) for v in _VERSIONS)
            given = first["input"].get("v") if isinstance(first["input"], dict) else None
            loc, message = ("v",), f"Input should be {versions}, got {json.dumps(given)}"
        raise MetadataError.from_schema(first.get("type"), loc, message) from None
    detections = tuple(
        Detection(
            camera_id=camera_id,
            t_mono=t_mono,
            box=person.box,
            score=person.score,
            track_id=person.id,
            keypoints=person.keypoints,
            embedding=person.embedding if isinstance(person, _PersonV2) else (),
        )
        for person in data.people
    )
    return PersonDetections(
        source=camera_id,
        t_mono=t_mono,
        camera_id=camera_id,
        detections=detections,
        frame=data.frame,
        source_ts=data.ts,
        width=data.width,
        height=data.height,
    )


class MetadataSource(CameraSubscriber[PersonDetections]):
    """Detections of smart cameras from one broker.

    ``cameras`` lists the cameras to accept (others are counted as
    ``unknown_camera``); None accepts any. Each listed camera gets a
    :class:`~devices.camera.quality.CameraStatus` (stalled when silent),
    published on ``bus`` with every valid message as ``PersonDetections``.
    Messages also go to one consumer through :meth:`read` or ``async for``,
    through a queue of ``queue_size`` that drops the oldest when full.
    The subscription itself (reconnects, counters, stalls) is
    :class:`~devices.camera.subscriber.CameraSubscriber`'s.
    """

    topic_suffix = "detections"
    label = "meta"
    noun = "detections"
    default_max_payload = MAX_PAYLOAD
    default_limits = METADATA_LIMITS

    def parse(self, camera_id: str, payload: bytes, t_mono: float) -> PersonDetections:
        """One payload as ``PersonDetections`` (:func:`parse_detections`)."""
        return parse_detections(camera_id, payload, t_mono, max_payload=self.max_payload)
