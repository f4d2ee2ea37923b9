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

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Annotated, Literal, Self

import aiomqtt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.bus import Bus, Message
from devices.camera.detection import COCO_KEYPOINTS, Detection, PersonDetections
from devices.camera.quality import CameraMonitor, CameraStatus, QualityLimits
from devices.camera.worker import cancel_and_wait
from devices.errors import DeviceConnectionError, DeviceTimeoutError
from devices.health import Health, HealthChanged, HealthState

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 2
"""The newest schema version understood; every older one is still accepted."""
MAX_PAYLOAD = 256 * 1024
MAX_PEOPLE = 256
EMBEDDING_LENGTH = (8, 512)
"""Shortest and longest re-identification vector accepted (schema version 2)."""
CAMERA_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

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


@dataclass
class MetadataStats:
    """Counters of the subscription, for telemetry and tests."""

    messages: int = 0
    accepted: int = 0
    bad_json: int = 0
    bad_schema: int = 0
    oversize: int = 0
    unknown_camera: int = 0
    dropped_queue: int = 0
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, int | str]:
        """The counters as a plain dict."""
        return asdict(self)


class MetadataError(ValueError):
    """A metadata payload was refused; ``kind`` is the counter it went to."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


def parse_detections(
    camera_id: str, payload: bytes, t_mono: float, *, max_payload: int = MAX_PAYLOAD
) -> PersonDetections:
    """Validate one payload and normalise it; :class:`MetadataError` when refused."""
    if len(payload) > max_payload:
        raise MetadataError(
            "oversize", f"payload of {len(payload)} bytes refused (limit {max_payload})"
        )
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
        where = ".".join(str(part) for part in loc)
        kind = "bad_json" if first.get("type") == "json_invalid" else "bad_schema"
        detail = f"{where}: {message}" if where else message
        raise MetadataError(kind, detail) from None
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


class MetadataSource(PolledDevice[PersonDetections]):
    """Detections of smart cameras from one broker.

    ``cameras`` lists the cameras to accept (others are counted as
    ``unknown_camera``); None accepts any. Each listed camera gets a
    :class:`~devices.camera.quality.CameraStatus` (stalled when silent),
    published on ``bus`` with every valid message as ``PersonDetections``.
    Messages also go to one consumer through :meth:`read` or ``async for``,
    through a queue of ``queue_size`` that drops the oldest when full.
    """

    def __init__(
        self,
        device_id: str,
        host: str,
        port: int = 1883,
        *,
        cameras: Iterable[str] | None = None,
        topic_root: str = "walkout/cameras",
        qos: int = 0,
        max_payload: int = MAX_PAYLOAD,
        queue_size: int = 256,
        read_timeout_s: float = 10.0,
        limits: QualityLimits = METADATA_LIMITS,
        bus: Bus | None = None,
        backoff: Backoff | None = None,
        connect_timeout_s: float = 10.0,
        keepalive_s: int = 30,
        username: str | None = None,
        password: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(device_id)
        wanted = None if cameras is None else frozenset(cameras)
        for camera in wanted or ():
            if not CAMERA_ID.match(camera):
                raise ValueError(f"camera id {camera!r} is not one topic level of [A-Za-z0-9_.-]")
        if queue_size < 1 or max_payload < 1 or qos not in (0, 1, 2):
            raise ValueError("need queue_size >= 1, max_payload >= 1 and qos 0, 1 or 2")
        self.host = host
        self.port = port
        self.cameras = wanted
        self.topic_root = topic_root.rstrip("/")
        self.qos = qos
        self.max_payload = max_payload
        self.queue_size = queue_size
        self.read_timeout_s = read_timeout_s
        self.limits = limits
        self.bus = bus
        self.backoff = backoff or Backoff(initial_s=0.2, cap_s=10.0)
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.stats = MetadataStats()
        self.address = f"mqtt://{host}:{port}/{self.topic_root}"
        self._username = username
        self._password = password
        self._clock = clock
        self._identifier = f"walkout-meta-{device_id}-{secrets.token_hex(3)}"
        self._connected = asyncio.Event()
        self._monitors: dict[str, CameraMonitor] = {}
        for camera in sorted(wanted or ()):
            self._monitor(camera)
        self._queue: deque[PersonDetections] = deque()
        self._readable = asyncio.Event()
        self._outbox: deque[Message] = deque()
        self._outbox_ready = asyncio.Event()
        self._complained: set[tuple[str, str]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._health = Health(device_id, HealthState.OFFLINE, "not connected yet")

    # --- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the subscription in the background (it reconnects for ever)."""
        if self._tasks:
            return
        if self._closed:
            raise DeviceConnectionError("source is closed", device=self.device_id)
        self._tasks = [
            asyncio.create_task(self._run(), name=f"camera-meta:{self.device_id}:mqtt"),
            asyncio.create_task(self._watch(), name=f"camera-meta:{self.device_id}:health"),
        ]

    async def close(self) -> None:
        """Unsubscribe, disconnect and end iteration; safe twice."""
        self._closed = True
        self._readable.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        self._connected.clear()

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until subscribed; ``TimeoutError`` after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    @property
    def connected(self) -> bool:
        """Subscribed on a live broker connection right now."""
        return self._connected.is_set()

    @property
    def health(self) -> Health:
        """Health of the broker link (each camera has its own :meth:`status`)."""
        return self._health

    def status(self, camera_id: str) -> CameraStatus | None:
        """A camera's status; None for a camera never configured nor heard."""
        monitor = self._monitors.get(camera_id)
        return None if monitor is None else monitor.status

    # --- consuming --------------------------------------------------------------------

    async def read(self) -> PersonDetections:
        """The next valid message; ``DeviceTimeoutError`` after ``read_timeout_s``."""
        try:
            async with asyncio.timeout(self.read_timeout_s):
                message = await self._next()
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no detections within {self.read_timeout_s:g} s",
                device=self.device_id,
                address=self.address,
            ) from None
        if message is None:
            raise DeviceConnectionError(
                "the source is closed", device=self.device_id, address=self.address
            )
        return message

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> PersonDetections:
        message = await self._next()
        if message is None:
            raise StopAsyncIteration
        return message

    async def _next(self) -> PersonDetections | None:
        while not self._queue:
            if self._closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        return self._queue.popleft()

    # --- messages ---------------------------------------------------------------------

    def handle(self, topic: str, payload: object) -> PersonDetections | None:
        """Take one received message; the normalised detections, or None if refused."""
        self.stats.messages += 1
        now = self._clock()
        camera = self._camera_of(topic)
        if camera is None:
            self._refuse("?", "unknown_camera", f"topic {topic!r} is not a camera topic")
            return None
        if self.cameras is not None and camera not in self.cameras:
            self._refuse(camera, "unknown_camera", "camera not configured")
            return None
        if isinstance(payload, bytearray):
            payload = bytes(payload)
        elif isinstance(payload, str):
            payload = payload.encode()
        if not isinstance(payload, bytes):
            self._refuse(camera, "bad_json", f"payload of type {type(payload).__name__}")
            return None
        try:
            message = parse_detections(camera, payload, now, max_payload=self.max_payload)
        except MetadataError as exc:
            self._refuse(camera, exc.kind, str(exc))
            return None
        self.stats.accepted += 1
        self._post(self._monitor(camera).frame(now, None))
        if len(self._queue) >= self.queue_size:
            self._queue.popleft()
            self.stats.dropped_queue += 1
        self._queue.append(message)
        self._readable.set()
        if self.bus is not None:
            self.bus.publish_nowait(message)
        return message

    def _camera_of(self, topic: str) -> str | None:
        prefix = self.topic_root + "/"
        if not topic.startswith(prefix) or not topic.endswith("/detections"):
            return None
        camera = topic[len(prefix) : -len("/detections")]
        return camera if CAMERA_ID.match(camera) else None

    def _refuse(self, camera: str, kind: str, detail: str) -> None:
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)
        if (camera, kind) in self._complained:
            return
        self._complained.add((camera, kind))
        _LOGGER.warning(
            "%s: refused a %s message from camera %s: %s (further ones are only counted)",
            self.device_id,
            kind.replace("_", " "),
            camera,
            detail[:300],
        )

    def _monitor(self, camera: str) -> CameraMonitor:
        monitor = self._monitors.get(camera)
        if monitor is None:
            monitor = CameraMonitor(camera, self.limits, clock=self._clock)
            if self.connected:
                monitor.connected()
            self._monitors[camera] = monitor
        return monitor

    # --- background tasks -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self._identifier,
                    username=self._username,
                    password=self._password,
                    keepalive=self.keepalive_s,
                    timeout=self.connect_timeout_s,
                    max_queued_incoming_messages=10_000,
                ) as client:
                    if self.cameras is None:
                        await client.subscribe(f"{self.topic_root}/+/detections", qos=self.qos)
                    else:
                        for camera in sorted(self.cameras):
                            topic = f"{self.topic_root}/{camera}/detections"
                            await client.subscribe(topic, qos=self.qos)
                    self._on_connected()
                    async for message in client.messages:
                        self.handle(str(message.topic), message.payload)
                reason = "the broker closed the connection"
            except aiomqtt.MqttError as exc:
                reason = f"MQTT: {exc}"
            self._on_disconnected(reason)
            await asyncio.sleep(self.backoff.next_delay_s())

    def _on_connected(self) -> None:
        self.stats.connects += 1
        if self.stats.connects > 1:
            self.stats.reconnects += 1
        self.backoff.reset()
        self._connected.set()
        self._set_health(Health(self.device_id, HealthState.ONLINE))
        for monitor in self._monitors.values():
            self._post(monitor.connected())

    def _on_disconnected(self, reason: str) -> None:
        self.stats.last_error = reason
        if self._connected.is_set():
            self.stats.disconnects += 1
            _LOGGER.error("%s: lost %s: %s", self.device_id, self.address, reason)
        self._connected.clear()
        self._set_health(Health(self.device_id, HealthState.OFFLINE, reason, self._clock(), 0))
        for monitor in self._monitors.values():
            self._post(monitor.disconnected(f"broker: {reason}"))

    def _set_health(self, health: Health) -> None:
        changed = health.state is not self._health.state
        self._health = health
        if changed:
            self._outbox.append(
                HealthChanged(source=self.device_id, t_mono=self._clock(), health=health)
            )
            self._outbox_ready.set()

    async def _watch(self) -> None:
        stall = self.limits.stall_after_s
        tick = max(0.01, min(0.25, stall / 4)) if stall else 0.25
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(tick):
                    await self._outbox_ready.wait()
            self._outbox_ready.clear()
            for monitor in list(self._monitors.values()):
                self._post(monitor.evaluate())
            while self._outbox:
                message = self._outbox.popleft()
                if self.bus is not None:
                    await self.bus.publish(message)

    def _post(self, status: CameraStatus | None) -> None:
        if status is None:
            return
        self._outbox.append(status)
        self._outbox_ready.set()
