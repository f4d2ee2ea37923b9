"""What every MQTT camera feed shares: one broker, per-camera topics, bad payloads counted.

Cameras that publish their own results (person detections, product
sightings) do it on ``<topic_root>/<camera>/<suffix>``. :class:`CameraSubscriber`
is the subscription side of every such feed: it subscribes to the cameras
it is given (or to all of them), reconnects for ever with capped backoff,
keeps a :class:`~devices.camera.quality.CameraMonitor` per camera (silence
for ``stall_after_s`` is a stall: every feed's schema makes a live camera
publish now and then), hands each valid message to one reader through a
queue that drops the oldest, and publishes it on the bus. The MQTT client's
own incoming queue (``incoming_queue_size``) discards what arrives while it
is full; those are counted as ``dropped_incoming`` and logged once per burst
(:mod:`devices.mqtt_incoming`), not once per message. A feed only says
how a payload becomes a message (:meth:`CameraSubscriber.parse`), which
may raise :class:`PayloadError`; its ``kind`` is the counter it goes to,
logged once per camera and kind.

``t_mono`` of every message is its arrival time: camera clocks are not
trusted for ordering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import ClassVar, Self, TypedDict, TypeVar, Unpack

import aiomqtt

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.bus import Bus, Message
from devices.camera.quality import CameraMonitor, CameraStatus, QualityLimits
from devices.camera.worker import cancel_and_wait
from devices.errors import DeviceConnectionError, DeviceTimeoutError
from devices.health import Health, HealthChanged, HealthState
from devices.mqtt_incoming import Overflow, incoming_queue_type

CAMERA_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

MessageT = TypeVar("MessageT", bound=Message)


@dataclass
class SubscriptionStats:
    """Counters of the subscription, for telemetry and tests."""

    messages: int = 0
    accepted: int = 0
    bad_json: int = 0
    bad_schema: int = 0
    oversize: int = 0
    unknown_camera: int = 0
    dropped_queue: int = 0
    dropped_incoming: int = 0
    """Discarded by the MQTT client before parsing: its incoming queue was full."""
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    last_error: str = ""

    def as_dict(self) -> dict[str, int | str]:
        """The counters as a plain dict."""
        return asdict(self)


class PayloadError(ValueError):
    """A payload was refused; ``kind`` is the :class:`SubscriptionStats` counter it went to."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)

    @classmethod
    def check_size(cls, payload: bytes, max_payload: int) -> None:
        """Refuse (``oversize``) a payload over ``max_payload`` bytes, before parsing it."""
        if len(payload) > max_payload:
            raise cls("oversize", f"payload of {len(payload)} bytes refused (limit {max_payload})")

    @classmethod
    def from_schema(cls, error_type: object, loc: Iterable[object], message: str) -> Self:
        """The refusal of a payload its schema did not take, where the first error was.

        ``bad_json`` when it is no JSON at all (pydantic's ``json_invalid``),
        else ``bad_schema``; the message names the field (``people.0.score``).
        """
        where = ".".join(str(part) for part in loc)
        kind = "bad_json" if error_type == "json_invalid" else "bad_schema"
        return cls(kind, f"{where}: {message}" if where else message)


class SubscriberOptions(TypedDict, total=False):
    """A subscription's options besides its broker and cameras; see :class:`CameraSubscriber`."""

    topic_root: str
    qos: int
    max_payload: int
    queue_size: int
    incoming_queue_size: int
    read_timeout_s: float
    limits: QualityLimits
    bus: Bus | None
    backoff: Backoff | None
    connect_timeout_s: float
    keepalive_s: int
    username: str | None
    password: str | None
    clock: Callable[[], float]


class CameraSubscriber(PolledDevice[MessageT]):
    """One broker's messages of one feed, from the cameras in ``cameras`` (None: any).

    Others are counted as ``unknown_camera``. Each listed camera gets a
    :class:`~devices.camera.quality.CameraStatus` (stalled when silent),
    published on ``bus`` with every valid message. Messages also go to one
    consumer through :meth:`read` or ``async for``, through a queue of
    ``queue_size`` that drops the oldest when full. Before that, the MQTT
    client holds up to ``incoming_queue_size`` received messages not yet
    handled; what arrives while it is full is discarded and counted as
    ``dropped_incoming``.
    """

    topic_suffix: ClassVar[str]
    """The last topic level of this feed (``detections``, ``products``)."""
    label: ClassVar[str]
    """Short feed name in client identifiers and task names (``meta``, ``products``)."""
    noun: ClassVar[str]
    """What a message carries, for errors (``detections``)."""
    default_max_payload: ClassVar[int]
    """The feed's payload limit, bytes, unless ``max_payload`` is given."""
    default_limits: ClassVar[QualityLimits]
    """The feed's stall limits, unless ``limits`` is given."""

    def __init__(
        self,
        device_id: str,
        host: str,
        port: int = 1883,
        *,
        cameras: Iterable[str] | None = None,
        **options: Unpack[SubscriberOptions],
    ) -> None:
        super().__init__(device_id)
        topic_root = options.get("topic_root", "walkout/cameras")
        qos = options.get("qos", 0)
        max_payload = options.get("max_payload", self.default_max_payload)
        queue_size = options.get("queue_size", 256)
        incoming_queue_size = options.get("incoming_queue_size", 10_000)
        read_timeout_s = options.get("read_timeout_s", 10.0)
        limits = options.get("limits", self.default_limits)
        bus = options.get("bus")
        backoff = options.get("backoff")
        connect_timeout_s = options.get("connect_timeout_s", 10.0)
        keepalive_s = options.get("keepalive_s", 30)
        username = options.get("username")
        password = options.get("password")
        clock = options.get("clock", time.monotonic)
        wanted = None if cameras is None else frozenset(cameras)
        for camera in wanted or ():
            if not CAMERA_ID.match(camera):
                raise ValueError(f"camera id {camera!r} is not one topic level of [A-Za-z0-9_.-]")
        if queue_size < 1 or incoming_queue_size < 1 or max_payload < 1 or qos not in (0, 1, 2):
            raise ValueError(
                "need queue_size >= 1, incoming_queue_size >= 1, max_payload >= 1 and qos 0, 1 or 2"
            )
        self.host = host
        self.port = port
        self.cameras = wanted
        self.topic_root = topic_root.rstrip("/")
        self.qos = qos
        self.max_payload = max_payload
        self.queue_size = queue_size
        self.incoming_queue_size = incoming_queue_size
        self.read_timeout_s = read_timeout_s
        self.limits = limits
        self.bus = bus
        self.backoff = backoff or Backoff(initial_s=0.2, cap_s=10.0)
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.stats = SubscriptionStats()
        self.address = f"mqtt://{host}:{port}/{self.topic_root}"
        self._username = username
        self._password = password
        self._clock = clock
        self._log = logging.getLogger(type(self).__module__)  # the feed's module logs its refusals
        self._identifier = f"walkout-{self.label}-{device_id}-{secrets.token_hex(3)}"
        self._connected = asyncio.Event()
        self._monitors: dict[str, CameraMonitor] = {}
        for camera in sorted(wanted or ()):
            self._monitor(camera)
        self._queue: deque[MessageT] = deque()
        self._readable = asyncio.Event()
        self._outbox: deque[Message] = deque()
        self._outbox_ready = asyncio.Event()
        self._complained: set[tuple[str, str]] = set()
        self._overflow = Overflow(device_id, incoming_queue_size, self._log, clock=clock)
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._health = Health(device_id, HealthState.OFFLINE, "not connected yet")

    @abstractmethod
    def parse(self, camera_id: str, payload: bytes, t_mono: float) -> MessageT:
        """One payload of ``camera_id`` as a message; :class:`PayloadError` when refused."""

    # --- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the subscription in the background (it reconnects for ever)."""
        if self._tasks:
            return
        if self._closed:
            raise DeviceConnectionError("source is closed", device=self.device_id)
        name = f"camera-{self.label}:{self.device_id}"
        self._tasks = [
            asyncio.create_task(self._run(), name=f"{name}:mqtt"),
            asyncio.create_task(self._watch(), name=f"{name}:health"),
        ]

    async def close(self) -> None:
        """Unsubscribe, disconnect and end iteration; safe twice."""
        self._closed = True
        self._readable.set()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)
        self._overflow.end()
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

    async def read(self) -> MessageT:
        """The next valid message; ``DeviceTimeoutError`` after ``read_timeout_s``."""
        try:
            async with asyncio.timeout(self.read_timeout_s):
                message = await self._next()
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no {self.noun} within {self.read_timeout_s:g} s",
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

    async def __anext__(self) -> MessageT:
        message = await self._next()
        if message is None:
            raise StopAsyncIteration
        return message

    async def _next(self) -> MessageT | None:
        while not self._queue:
            if self._closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        return self._queue.popleft()

    # --- messages ---------------------------------------------------------------------

    def handle(self, topic: str, payload: object) -> MessageT | None:
        """Take one received message; the parsed message, or None if refused."""
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
        if len(payload) > self.max_payload:
            self._refuse(
                camera,
                "oversize",
                f"payload of {len(payload)} bytes refused (limit {self.max_payload})",
            )
            return None
        try:
            message = self.parse(camera, payload, now)
        except PayloadError as exc:
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
        suffix = "/" + self.topic_suffix
        if not topic.startswith(prefix) or not topic.endswith(suffix):
            return None
        camera = topic[len(prefix) : -len(suffix)]
        return camera if CAMERA_ID.match(camera) else None

    def _refuse(self, camera: str, kind: str, detail: str) -> None:
        setattr(self.stats, kind, getattr(self.stats, kind) + 1)
        if (camera, kind) in self._complained:
            return
        self._complained.add((camera, kind))
        self._log.warning(
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
                    max_queued_incoming_messages=self.incoming_queue_size,
                    queue_type=incoming_queue_type(self._drop_incoming),
                ) as client:
                    if self.cameras is None:
                        topic = f"{self.topic_root}/+/{self.topic_suffix}"
                        await client.subscribe(topic, qos=self.qos)
                    else:
                        for camera in sorted(self.cameras):
                            topic = f"{self.topic_root}/{camera}/{self.topic_suffix}"
                            await client.subscribe(topic, qos=self.qos)
                    self._on_connected()
                    async for message in client.messages:
                        self.handle(str(message.topic), message.payload)
                reason = "the broker closed the connection"
            except aiomqtt.MqttError as exc:
                reason = f"MQTT: {exc}"
            self._overflow.end()  # what was queued went with the client
            self._on_disconnected(reason)
            await asyncio.sleep(self.backoff.next_delay_s())

    def _drop_incoming(self) -> None:
        self.stats.dropped_incoming += 1
        self._overflow.discarded()

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
            self._log.error("%s: lost %s: %s", self.device_id, self.address, reason)
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
            self._overflow.tick()
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
