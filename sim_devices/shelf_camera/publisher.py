"""A shelf camera's product recogniser, publishing its sightings to MQTT, with its errors.

Publishes walkout's shelf-camera products schema (``devices/camera/products.py``
in the drivers; written out again here by hand, as simulators share no code
with drivers) on ``walkout/cameras/<camera>/products``::

    {"v": 1, "ts": 1767225600.123,
     "sightings": [{"sku": "crisps-salt", "confidence": 0.93, "kind": "take"}]}

one message per hand movement, and a heartbeat (``"sightings": []``) every
``heartbeat_s`` while no movement was published.

The recogniser, per movement of a true SKU (all draws from one generator
seeded with ``seed``, in this order, so a seed and a script give the same
messages every run):

- with ``miss_rate`` the movement is not reported at all;
- with probability ``accuracy`` it names the true SKU, else one of
  ``confusions`` (the shelf's other SKUs), chosen uniformly; without
  confusions it is always right;
- its confidence is ``accuracy`` plus Gaussian ``confidence_noise``,
  clipped to [0.01, 1] and rounded to 3 decimals: a calibrated recogniser
  says how often it is right, whether or not it is right this time;
- with ``kind_rate`` it reports the direction (``take``/``put``), else
  ``null``.

A movement may give its own ``confidence`` (then no draw replaces it) or
``exact: true`` (published as given, nothing drawn: the harness's way to
say precisely what the camera saw).

Faults of the link (``mode``): ``silent`` publishes nothing, heartbeats
included (the camera hung); ``garbage`` publishes payloads that are not
JSON; ``bad_schema`` publishes JSON outside the schema (confidence 1.5);
``oversize`` publishes 64 KiB payloads. Each faulty publication stands in
for the movement or heartbeat that was due and is counted in ``faulty``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiomqtt

from sim_devices.mqtt_task import keep_publishing, stop_publishing

log = logging.getLogger(__name__)

MODES = ("normal", "silent", "garbage", "bad_schema", "oversize")
KINDS = ("take", "put")


class ShelfCameraSimError(ValueError):
    """A setting or a movement the simulator cannot use; the message names it."""


@dataclass
class RecogniserSettings:
    """The recogniser's accuracy model and the link's fault mode (see the module)."""

    accuracy: float = 0.95
    miss_rate: float = 0.0
    kind_rate: float = 1.0
    confidence_noise: float = 0.02
    confusions: tuple[str, ...] = ()
    mode: str = "normal"

    def validate(self) -> None:
        """Refuse settings out of range, naming the field."""
        for name in ("accuracy", "miss_rate", "kind_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ShelfCameraSimError(f"{name} must be within 0..1, got {value!r}")
        if not 0.0 <= self.confidence_noise <= 1.0:
            raise ShelfCameraSimError(
                f"confidence_noise must be within 0..1, got {self.confidence_noise!r}"
            )
        if self.mode not in MODES:
            raise ShelfCameraSimError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        for sku in self.confusions:
            if not isinstance(sku, str) or not sku:
                raise ShelfCameraSimError("confusions must be non-empty SKU strings")


@dataclass
class PublisherStats:
    """What the simulated camera did, for tests and the control port."""

    movements: int = 0
    published: int = 0
    sightings: int = 0
    missed: int = 0
    wrong: int = 0
    heartbeats: int = 0
    faulty: int = 0
    silenced: int = 0
    connects: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class Movement:
    """One hand movement the camera sees: the true SKU and direction."""

    sku: str
    kind: str | None = None
    confidence: float | None = None
    exact: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.sku, str) or not self.sku:
            raise ShelfCameraSimError(f"sku must be a non-empty string, got {self.sku!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ShelfCameraSimError(f"kind must be 'take', 'put' or null, got {self.kind!r}")
        c = self.confidence
        if c is not None and (isinstance(c, bool) or not 0.0 < c <= 1.0):
            raise ShelfCameraSimError(f"confidence must be within (0, 1], got {c!r}")


@dataclass
class _Due:
    payload: bytes
    done: asyncio.Future[bool] = field(repr=False)


class ProductsPublisher:
    """Publishes one shelf camera's sightings to ``host``:``port`` (reconnecting for ever)."""

    def __init__(
        self,
        camera_id: str,
        host: str,
        port: int,
        *,
        settings: RecogniserSettings | None = None,
        heartbeat_s: float = 5.0,
        seed: int = 0,
        topic_root: str = "walkout/cameras",
    ) -> None:
        if heartbeat_s <= 0:
            raise ShelfCameraSimError(f"heartbeat_s must be > 0, got {heartbeat_s!r}")
        self.camera_id = camera_id
        self.host = host
        self.port = port
        self.settings = settings or RecogniserSettings()
        self.settings.validate()
        self.heartbeat_s = heartbeat_s
        self.topic = f"{topic_root.rstrip('/')}/{camera_id}/products"
        self.stats = PublisherStats()
        self.connected = asyncio.Event()
        self.reported: list[dict[str, Any]] = []
        """Per movement, what was true and what the camera said (None: missed)."""
        self._rng = random.Random(seed)
        self._queue: asyncio.Queue[_Due] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start publishing (connects in the background and reconnects)."""
        self._task = asyncio.create_task(self._run(), name=f"sim-products:{self.camera_id}")

    async def stop(self) -> None:
        """Stop and disconnect; idempotent."""
        task, self._task = self._task, None
        await stop_publishing(task, log)
        while not self._queue.empty():
            due = self._queue.get_nowait()
            if not due.done.done():
                due.done.set_result(False)

    # --- the recogniser ------------------------------------------------------------------

    def recognise(self, movement: Movement) -> dict[str, Any] | None:
        """What the camera reports for one movement (None: missed); draws from the seed."""
        s, rng = self.settings, self._rng
        if movement.exact:
            return _sighting(movement.sku, movement.confidence or 1.0, movement.kind)
        if rng.random() < s.miss_rate:
            return None
        sku = movement.sku
        others = [c for c in s.confusions if c != movement.sku]
        if others and rng.random() >= s.accuracy:
            sku = rng.choice(others)
        confidence = movement.confidence
        if confidence is None:
            drawn = s.accuracy + rng.gauss(0.0, s.confidence_noise)
            confidence = round(min(1.0, max(0.01, drawn)), 3)
        kind = movement.kind if rng.random() < s.kind_rate else None
        return _sighting(sku, confidence, kind)

    async def movement(self, movement: Movement) -> dict[str, Any] | None:
        """Recognise one movement and publish it; returns what was reported.

        Returns once the message is handed to the broker connection (QoS 0),
        or, while the broker is away, once it is back.
        """
        self.stats.movements += 1
        sighting = self.recognise(movement)
        truth = {"sku": movement.sku, "kind": movement.kind}
        self.reported.append({"truth": truth, "reported": sighting})
        if sighting is None:
            self.stats.missed += 1
            return None
        if sighting["sku"] != movement.sku:
            self.stats.wrong += 1
        await self._publish(self._payload([sighting]), sightings=1)
        return sighting

    # --- publishing ----------------------------------------------------------------------

    def _payload(self, sightings: list[dict[str, Any]]) -> bytes | None:
        mode = self.settings.mode
        if mode == "silent":
            self.stats.silenced += 1
            return None
        if mode == "garbage":
            self.stats.faulty += 1
            return b'{"v": 1, "sightings": [oops'
        if mode == "bad_schema":
            self.stats.faulty += 1
            bad = [{"sku": "?", "confidence": 1.5, "kind": "take"}]
            return json.dumps({"v": 1, "ts": time.time(), "sightings": bad}).encode()
        if mode == "oversize":
            self.stats.faulty += 1
            return b'{"v": 1, "pad": "' + b"x" * (64 * 1024) + b'", "sightings": []}'
        return json.dumps({"v": 1, "ts": round(time.time(), 3), "sightings": sightings}).encode()

    async def _publish(self, payload: bytes | None, *, sightings: int) -> bool:
        if payload is None:
            return False
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Due(payload, done))
        sent = await done
        if sent and sightings and self.settings.mode == "normal":
            self.stats.sightings += sightings
        return sent

    async def _run(self) -> None:
        await keep_publishing(
            self.host,
            self.port,
            f"walkout-sim-shelfcam-{self.camera_id}",
            self._publish_loop,
            connected=self.connected,
            on_connect=self._connected,
            log=log,
            name="products publisher",
        )

    def _connected(self) -> None:
        self.stats.connects += 1

    async def _publish_loop(self, client: aiomqtt.Client) -> None:
        while True:
            try:
                async with asyncio.timeout(self.heartbeat_s):
                    due = await self._queue.get()
            except TimeoutError:
                payload = self._payload([])
                if payload is not None:
                    await client.publish(self.topic, payload, qos=0)
                    self.stats.heartbeats += 1
                continue
            try:
                await client.publish(self.topic, due.payload, qos=0)
            except BaseException:
                # Not sent: first in line again once the broker is back.
                requeued = [due]
                while not self._queue.empty():
                    requeued.append(self._queue.get_nowait())
                for item in requeued:
                    self._queue.put_nowait(item)
                raise
            self.stats.published += 1
            if not due.done.done():
                due.done.set_result(True)


def _sighting(sku: str, confidence: float, kind: str | None) -> dict[str, Any]:
    return {"sku": sku, "confidence": confidence, "kind": kind}
