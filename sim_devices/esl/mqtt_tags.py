"""Shelf tags on walkout's MQTT schema, emulated on a real broker.

One broker connection carries N tags, as a tag bridge would. The schema is
written here from its specification (the topic table in walkout's ESL MQTT
documentation), not imported from the driver::

    <root>/<store>/<tag>/cmd    in:  {"v":1,"id":..,"op":"content"|"mode"|"message",..}
    <root>/<store>/<tag>/ack    out: {"v":1,"id":..,"ok":true,"hash":..} | {"ok":false,"error":..}
    <root>/<store>/<tag>/state  out, retained: battery, last_seen, content_hash, mode, rssi, message

A tag checks the content hash it is sent against its own SHA-256 of the
canonical JSON and refuses damaged content; it answers a repeated request id
with its first answer without applying it again.

Faults, per tag: ``miss_acks`` (applies commands, but its acks never arrive),
``offline`` (hears and says nothing), ``ack_error`` (refuses every command),
and a ``miss_rate`` (probability that one ack is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import json
import logging
import random
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import aiomqtt

from sim_devices.esl.battery import Battery

log = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024
LAYOUTS = ("standard", "price_only")
MODES = ("normal", "no_animations", "dimmed", "blank")
REMEMBERED_ANSWERS = 64
"""Request ids a tag remembers to answer retries without applying them twice."""

_TAG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class TagFault(enum.StrEnum):
    """How a simulated MQTT tag misbehaves."""

    NONE = "none"
    MISS_ACKS = "miss_acks"
    OFFLINE = "offline"
    ACK_ERROR = "ack_error"


class SimError(Exception):
    """A bad control request (unknown tag, bad fault)."""


@dataclass
class MqttSimTag:
    """One emulated tag and what it shows."""

    tag_id: str
    battery: Battery = field(default_factory=Battery)
    rssi: int = -60
    content: dict[str, Any] | None = None
    content_hash: str | None = None
    mode: str = "normal"
    message: str | None = None
    fault: TagFault = TagFault.NONE
    miss_rate: float = 0.0
    last_seen: float = 0.0
    received: int = 0
    applied: int = 0
    acks_sent: int = 0
    acks_missed: int = 0
    answers: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    message_timer: asyncio.TimerHandle | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return {
            "tag": self.tag_id,
            "battery_mv": self.battery.millivolts,
            "battery_pct": self.battery.percent,
            "content": self.content,
            "content_hash": self.content_hash,
            "mode": self.mode,
            "message": self.message,
            "fault": self.fault.value,
            "miss_rate": self.miss_rate,
            "received": self.received,
            "applied": self.applied,
            "acks_sent": self.acks_sent,
            "acks_missed": self.acks_missed,
        }

    def state(self) -> dict[str, Any]:
        """The retained state payload."""
        return {
            "v": 1,
            "battery_mv": self.battery.millivolts,
            "battery_pct": self.battery.percent,
            "last_seen": round(self.last_seen, 3),
            "content_hash": self.content_hash,
            "mode": self.mode,
            "rssi": self.rssi,
            "message": self.message,
        }


def tag_content_hash(content: Any) -> str:
    """SHA-256 over canonical JSON (sorted keys, compact, UTF-8), first 32 hex digits."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _check_content(content: object) -> str | None:
    """Why a tag cannot show ``content``, or None."""
    if not isinstance(content, dict):
        return "content must be an object"
    for key in ("sku", "name", "price"):
        if not isinstance(content.get(key), str) or not content[key]:
            return f"content.{key} must be a non-empty string"
    try:
        price = Decimal(content["price"])
    except InvalidOperation:
        return f"content.price {content['price']!r} is not a decimal"
    if not price.is_finite() or price < 0:
        return f"content.price {content['price']!r} is not a price"
    layout = content.get("layout", "standard")
    if layout not in LAYOUTS:
        return f"unknown layout {layout!r}"
    return None


class MqttTagEmulator:
    """N tags of one store on a broker; start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self,
        host: str,
        port: int,
        store: str,
        tag_ids: Iterable[str],
        *,
        topic_root: str = "walkout/esl",
        seed: int = 0,
        drain_mv_per_update: float = 2.0,
        state_interval_s: float = 30.0,
        reconnect_s: float = 0.2,
        ack_workers: int = 32,
    ) -> None:
        self.host = host
        self.port = port
        self.store = store
        self.prefix = f"{topic_root}/{store}"
        self.state_interval_s = state_interval_s
        self.reconnect_s = reconnect_s
        self.ack_workers = ack_workers
        self.rng = random.Random(seed)
        self.tags: dict[str, MqttSimTag] = {}
        for n, tag_id in enumerate(tag_ids):
            if not _TAG_ID.match(tag_id):
                raise SimError(f"tag id {tag_id!r} is not a valid topic level")
            self.tags[tag_id] = MqttSimTag(
                tag_id,
                Battery(drain_mv_per_update=drain_mv_per_update),
                rssi=-50 - (n * 7) % 35,
            )
        self.bad_commands = 0
        self.connects = 0
        self._outbox: asyncio.Queue[tuple[str, bytes, int, bool]] = asyncio.Queue()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Connected to the broker right now."""
        return self._connected.is_set()

    async def start(self, timeout_s: float = 10.0) -> None:
        """Connect and publish every tag's state; TimeoutError if the broker stays away."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sim-esl-mqtt:{self.store}")
        try:
            await self.wait_connected(timeout_s)
        except TimeoutError:
            await self.stop()
            raise

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait for the (re)connection."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    async def stop(self) -> None:
        """Disconnect and cancel the tags' timers; safe twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connected.clear()
        for tag in self.tags.values():
            if tag.message_timer is not None:
                tag.message_timer.cancel()
                tag.message_timer = None

    # --- control ----------------------------------------------------------------------

    def tag(self, tag_id: str) -> MqttSimTag:
        """One tag; SimError if unknown."""
        try:
            return self.tags[tag_id]
        except KeyError:
            raise SimError(f"no MQTT tag {tag_id!r}") from None

    def set_fault(self, tag_id: str, mode: str, miss_rate: float | None = None) -> MqttSimTag:
        """Set a tag's fault (and optional ack-loss probability)."""
        tag = self.tag(tag_id)
        try:
            tag.fault = TagFault(mode)
        except ValueError:
            raise SimError(
                f"unknown fault {mode!r} ({', '.join(f.value for f in TagFault)})"
            ) from None
        if miss_rate is not None:
            if not 0.0 <= miss_rate <= 1.0:
                raise SimError("miss_rate must be within 0..1")
            tag.miss_rate = miss_rate
        if tag.fault is not TagFault.OFFLINE:
            self._queue_state(tag)
        return tag

    def miss_fraction(self, fraction: float, seed: int = 0) -> list[str]:
        """Make round(fraction * N) tags, chosen by ``seed``, miss every ack; returns them."""
        if not 0.0 <= fraction <= 1.0:
            raise SimError("fraction must be within 0..1")
        count = round(fraction * len(self.tags))
        chosen = sorted(random.Random(seed).sample(sorted(self.tags), count))
        for tag_id in chosen:
            self.tags[tag_id].fault = TagFault.MISS_ACKS
        return chosen

    def clear_faults(self) -> None:
        """Every tag healthy again."""
        for tag in self.tags.values():
            tag.fault = TagFault.NONE
            tag.miss_rate = 0.0

    def stats(self) -> dict[str, Any]:
        """Totals over all tags."""
        tags = self.tags.values()
        return {
            "tags": len(self.tags),
            "connected": self.connected,
            "connects": self.connects,
            "received": sum(t.received for t in tags),
            "applied": sum(t.applied for t in tags),
            "acks_sent": sum(t.acks_sent for t in tags),
            "acks_missed": sum(t.acks_missed for t in tags),
            "bad_commands": self.bad_commands,
        }

    # --- protocol ---------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=f"sim-esl-{self.store}-{secrets.token_hex(3)}",
                keepalive=30,
                clean_session=True,
            )
            client.pending_calls_threshold = 1_000_000
            try:
                async with client:
                    await client.subscribe(f"{self.prefix}/+/cmd", qos=1)
                    self.connects += 1
                    for tag in self.tags.values():
                        if tag.fault is not TagFault.OFFLINE:
                            self._queue_state(tag)
                    self._connected.set()
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._receive(client))
                        group.create_task(self._periodic_state())
                        for _ in range(self.ack_workers):
                            group.create_task(self._publisher(client))
            except* aiomqtt.MqttError as errors:
                log.info("broker connection lost: %s", errors.exceptions[0])
            self._connected.clear()
            await asyncio.sleep(self.reconnect_s)

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            topic, payload, qos, retain = await self._outbox.get()
            try:
                await client.publish(topic, payload, qos=qos, retain=retain, timeout=10)
            except BaseException:
                if qos:  # an ack must survive a reconnect; state is re-sent on connect anyway
                    self._outbox.put_nowait((topic, payload, qos, retain))
                raise

    async def _periodic_state(self) -> None:
        while True:
            await asyncio.sleep(self.state_interval_s)
            for tag in self.tags.values():
                if tag.fault is not TagFault.OFFLINE:
                    tag.last_seen = time.time()
                    tag.battery.checkin()
                    self._queue_state(tag)

    def _queue_state(self, tag: MqttSimTag) -> None:
        payload = json.dumps(tag.state(), separators=(",", ":")).encode()
        self._outbox.put_nowait((f"{self.prefix}/{tag.tag_id}/state", payload, 0, True))

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
            parts = message.topic.value.split("/")
            if len(parts) >= 2 and parts[-1] == "cmd":
                self.on_command(parts[-2], bytes(raw))

    def on_command(self, tag_id: str, payload: bytes) -> None:
        """One command arriving for ``tag_id``: apply, answer (or not, per the fault)."""
        tag = self.tags.get(tag_id)
        if tag is None:
            return  # not one of ours: a real bridge does not answer for others' tags
        tag.received += 1
        if tag.fault is TagFault.OFFLINE:
            return
        tag.last_seen = time.time()
        data = self._parse(payload)
        if data is None:
            return
        request_id = data["id"]
        answer = tag.answers.get(request_id)
        if answer is None:
            if tag.fault is TagFault.ACK_ERROR:
                answer = {
                    "v": 1,
                    "id": request_id,
                    "ok": False,
                    "error": "display controller fault",
                }
            else:
                answer = self._apply(tag, data)
            tag.answers[request_id] = answer
            while len(tag.answers) > REMEMBERED_ANSWERS:
                tag.answers.popitem(last=False)
        if tag.fault is TagFault.MISS_ACKS or (tag.miss_rate and self.rng.random() < tag.miss_rate):
            tag.acks_missed += 1
            return
        tag.acks_sent += 1
        body = json.dumps(answer, separators=(",", ":")).encode()
        self._outbox.put_nowait((f"{self.prefix}/{tag_id}/ack", body, 1, False))

    def _parse(self, payload: bytes) -> dict[str, Any] | None:
        if len(payload) > MAX_PAYLOAD:
            self.bad_commands += 1
            return None
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError):
            self.bad_commands += 1
            return None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            self.bad_commands += 1  # without an id there is nobody to answer
            return None
        return data

    def _apply(self, tag: MqttSimTag, data: dict[str, Any]) -> dict[str, Any]:
        request_id = data["id"]

        def refuse(error: str) -> dict[str, Any]:
            return {"v": 1, "id": request_id, "ok": False, "error": error}

        if data.get("v") != 1:
            return refuse(f"unsupported schema version {data.get('v')!r}")
        op = data.get("op")
        mode = data.get("mode", tag.mode)
        if mode not in MODES:
            return refuse(f"unknown mode {mode!r}")
        if op == "content":
            content = data.get("content")
            problem = _check_content(content)
            if problem:
                return refuse(problem)
            digest = tag_content_hash(content)
            if data.get("hash") != digest:
                return refuse(f"content hash {data.get('hash')!r} does not match {digest!r}")
            assert isinstance(content, dict)
            tag.content, tag.content_hash, tag.mode = content, digest, mode
            tag.battery.update()
        elif op == "mode":
            if "mode" not in data:
                return refuse("mode command without 'mode'")
            tag.mode = mode
            tag.battery.update()
        elif op == "message":
            text, duration = data.get("text"), data.get("duration_s")
            if not isinstance(text, str) or not text:
                return refuse("message without text")
            if (
                isinstance(duration, bool)
                or not isinstance(duration, int | float)
                or not (0 < duration <= 3600)
            ):
                return refuse(f"bad duration_s {duration!r}")
            self._show_message(tag, text, float(duration))
            tag.battery.update()
        else:
            return refuse(f"unknown op {op!r}")
        tag.applied += 1
        self._queue_state(tag)
        return {"v": 1, "id": request_id, "ok": True, "hash": tag.content_hash}

    def _show_message(self, tag: MqttSimTag, text: str, duration_s: float) -> None:
        if tag.message_timer is not None:
            tag.message_timer.cancel()
        tag.message = text

        def end() -> None:
            tag.message = None
            tag.message_timer = None
            tag.battery.update()
            if tag.fault is not TagFault.OFFLINE:
                self._queue_state(tag)

        tag.message_timer = asyncio.get_running_loop().call_later(duration_s, end)
