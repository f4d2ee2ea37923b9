"""Shelf screens and tag bridges on walkout's own MQTT schema (aiomqtt).

Topic schema, version 1. ``<store>`` and ``<tag>`` are single topic levels
of ``A-Z a-z 0-9 _ . -``; payloads are UTF-8 JSON objects of at most 64 KiB::

    walkout/esl/<store>/<tag>/state   tag -> store   retained
        {"v": 1, "battery_mv": 2950, "battery_pct": 87, "last_seen": 1767225600.0,
         "content_hash": "9f1c...", "mode": "normal", "rssi": -61, "message": null}
        (every field optional; an empty retained payload removes the tag)

    walkout/esl/<store>/<tag>/cmd     store -> tag   QoS 1, not retained
        {"v": 1, "id": "3f2a9c-17", "op": "content", "content": {TagContent},
         "hash": "<content hash>", "mode": "normal"}
        {"v": 1, "id": "3f2a9c-18", "op": "mode", "mode": "dimmed"}
        {"v": 1, "id": "3f2a9c-19", "op": "message", "text": "...", "duration_s": 20}

    walkout/esl/<store>/<tag>/ack     tag -> store   QoS 1, not retained
        {"v": 1, "id": "3f2a9c-17", "ok": true, "hash": "<content hash now shown>"}
        {"v": 1, "id": "3f2a9c-18", "ok": false, "error": "unknown layout 'x'"}

Rules both ends keep:

- The content hash is the first 32 hex digits of SHA-256 over the content
  object in canonical JSON (sorted keys, no whitespace, UTF-8 unescaped); an
  ack of a content command must carry the hash the tag now shows, and a
  different hash is a failure, not an ack.
- The store re-sends an unanswered command with the same ``id`` after
  ``ack_timeout_s``, up to ``retries`` times; a tag answers a repeated id
  with the same answer and does not apply it twice. A tag that never answers
  is reported ``timeout``: not updated.
- A command refused by the tag (``ok: false``) is not retried.
- ``message`` commands are timed by the tag itself: it returns to its
  content after ``duration_s`` even if the store is gone.

The driver keeps every unanswered command across a lost broker connection
and re-publishes them once it is reconnected (reconnect with capped,
jittered backoff); an attempt whose ack window was cut short by the
disconnect is not counted against the retries. A command that could not be
confirmed within ``max_wait_s`` in total ends as ``timeout`` if it was ever
sent, ``failed`` if the broker was unreachable the whole time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.bus import Bus
from devices.errors import DeviceConnectionError
from devices.esl.backend import TagBackend
from devices.esl.model import (
    EslSnapshot,
    PushOutcome,
    TagContent,
    TagMode,
    TagPushResult,
    TagStatus,
    canonical_json,
    content_hash,
    validate_tag_id,
)
from devices.mqtt_publish import publish

_LOGGER = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_PAYLOAD = 64 * 1024
"""Larger payloads are dropped unread: a state or ack is a few hundred bytes."""


@dataclass
class MqttStats:
    """Counters for telemetry, benchmarks and tests."""

    published: int = 0
    acks: int = 0
    late_acks: int = 0
    bad_payloads: int = 0
    foreign_acks: int = 0
    connects: int = 0
    disconnects: int = 0


@dataclass
class _Pending:
    request_id: str
    tag_id: str
    payload: bytes
    expect_hash: str | None
    created: float
    give_up_at: float
    future: asyncio.Future[TagPushResult]
    attempts: int = 0
    ack_deadline: float | None = None
    queued: bool = False


@dataclass
class _Connection:
    client: aiomqtt.Client
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class MqttEsl(PolledDevice[EslSnapshot], TagBackend):
    """Tags of one store on a broker, on walkout's topic schema (see the module docstring).

    ``read()`` returns the tags' last retained state; commands go through
    :meth:`push_content`, :meth:`set_mode` and :meth:`show_message`, each
    returning one :class:`TagPushResult`. ``bus`` (optional) receives every
    state update as a :class:`TagStatus`.
    """

    def __init__(
        self,
        device_id: str,
        host: str,
        port: int,
        store: str,
        *,
        topic_root: str = "walkout/esl",
        ack_timeout_s: float = 5.0,
        retries: int = 2,
        max_wait_s: float = 120.0,
        connect_timeout_s: float = 10.0,
        keepalive_s: int = 30,
        max_inflight: int = 64,
        backoff: Backoff | None = None,
        bus: Bus | None = None,
    ) -> None:
        super().__init__(device_id)
        validate_tag_id(store)
        if ack_timeout_s <= 0 or retries < 0 or max_wait_s <= 0 or max_inflight < 1:
            raise ValueError(
                "need ack_timeout_s > 0, retries >= 0, max_wait_s > 0, max_inflight >= 1"
            )
        self.host = host
        self.port = port
        self.store = store
        self.prefix = f"{topic_root}/{store}"
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.max_wait_s = max_wait_s
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self.max_inflight = max_inflight
        self.backoff = backoff or Backoff(initial_s=0.2, cap_s=10.0)
        self.bus = bus
        self.name = f"mqtt {host}:{port} {self.prefix}"
        self.stats = MqttStats()
        self.states: dict[str, TagStatus] = {}
        self._run_id = secrets.token_hex(3)
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._outbox: deque[_Pending] = deque()
        self._outbox_ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._connected = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._last_error = ""
        self._commanded: set[str] = set()
        self._next_check = math.inf

    @property
    def address(self) -> str:
        """Broker and topic prefix, for messages."""
        return f"mqtt://{self.host}:{self.port}/{self.prefix}"

    @property
    def connected(self) -> bool:
        """A broker connection is up right now."""
        return self._connected.is_set()

    @property
    def pending_count(self) -> int:
        """Commands not yet acked, failed or timed out."""
        return sum(1 for p in self._pending.values() if not p.future.done())

    async def wait_connected(self, timeout_s: float) -> None:
        """Wait until the broker connection is up; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._connected.wait()

    # --- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Start the connection loop and wait for the first connection.

        A broker that cannot be reached within ``connect_timeout_s`` raises
        ``DeviceConnectionError`` and leaves nothing running.
        """
        if self._runner is not None:
            return
        self._runner = asyncio.create_task(self._run(), name=f"esl-mqtt:{self.device_id}")
        try:
            await self.wait_connected(self.connect_timeout_s)
        except TimeoutError:
            error = self._last_error or "no answer"
            await self.close()
            raise DeviceConnectionError(
                f"broker not reachable within {self.connect_timeout_s:g} s: {error}",
                device=self.device_id,
                address=self.address,
            ) from None

    async def close(self) -> None:
        """Stop; commands still waiting end as ``failed`` ("driver closed"). Safe twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._connected.clear()
        for pending in list(self._pending.values()):
            self._resolve(pending, PushOutcome.FAILED, "driver closed before the tag answered")
        self._outbox.clear()

    async def read(self) -> EslSnapshot:
        """Last retained state of every tag; DeviceConnectionError while the broker is down."""
        if not self.connected:
            raise DeviceConnectionError(
                f"no broker connection ({self._last_error or 'not connected'})",
                device=self.device_id,
                address=self.address,
            )
        loop = asyncio.get_running_loop()
        return EslSnapshot(
            source=self.device_id, t_mono=loop.time(), tags=tuple(self.states.values())
        )

    def known_tags(self) -> Sequence[str]:
        """Tags that published a state, and tags commanded through this driver."""
        return sorted(set(self.states) | self._commanded)

    # --- commands ---------------------------------------------------------------------

    async def push_content(
        self, tag_id: str, content: TagContent, mode: TagMode = TagMode.NORMAL
    ) -> TagPushResult:
        """Send ``content``; acked when the tag reports its hash back."""
        body = content.to_json()
        digest = content_hash(body)
        fields = {"op": "content", "content": body, "hash": digest, "mode": mode.value}
        return await self.command(tag_id, fields, expect_hash=digest)

    async def set_mode(self, tag_id: str, mode: TagMode) -> TagPushResult:
        """Switch the tag's mode."""
        return await self.command(tag_id, {"op": "mode", "mode": mode.value})

    async def show_message(self, tag_id: str, text: str, duration_s: float) -> TagPushResult:
        """Show ``text`` for ``duration_s``; the tag returns to its content by itself."""
        if not text or not 0 < duration_s <= 3600:
            raise ValueError("a message needs text and 0 < duration_s <= 3600")
        return await self.command(tag_id, {"op": "message", "text": text, "duration_s": duration_s})

    async def command(
        self, tag_id: str, fields: Mapping[str, Any], *, expect_hash: str | None = None
    ) -> TagPushResult:
        """Send one command (``op`` and its fields) and wait for its end.

        Cancelling the caller withdraws the command: it is not re-sent.
        """
        validate_tag_id(tag_id)
        if self._runner is None:
            raise DeviceConnectionError(
                "not started: use 'async with' or connect()",
                device=self.device_id,
                address=self.address,
            )
        loop = asyncio.get_running_loop()
        request_id = f"{self._run_id}-{next(self._ids)}"
        payload = canonical_json({"v": SCHEMA_VERSION, "id": request_id, **fields})
        if len(payload) > MAX_PAYLOAD:
            raise ValueError(f"{tag_id}: command of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
        now = loop.time()
        pending = _Pending(
            request_id,
            tag_id,
            payload,
            expect_hash,
            created=now,
            give_up_at=now + self.max_wait_s,
            future=loop.create_future(),
        )
        self._pending[request_id] = pending
        self._commanded.add(tag_id)
        self._enqueue(pending)
        self._reschedule(pending.give_up_at)
        try:
            return await pending.future
        finally:
            if not pending.future.done():
                pending.future.cancel()
            self._pending.pop(request_id, None)

    # --- internals --------------------------------------------------------------------

    def _enqueue(self, pending: _Pending, *, front: bool = False) -> None:
        if pending.queued or pending.future.done():
            return
        pending.queued = True
        if front:
            self._outbox.appendleft(pending)
        else:
            self._outbox.append(pending)
        self._outbox_ready.set()

    def _reschedule(self, at: float) -> None:
        """Wake the expiry loop if ``at`` is earlier than its next planned check."""
        if at < self._next_check:
            self._wake.set()

    def _resolve(
        self, pending: _Pending, outcome: PushOutcome, reason: str = "", digest: str | None = None
    ) -> None:
        if pending.future.done():
            return
        loop = asyncio.get_running_loop()
        pending.future.set_result(
            TagPushResult(
                source=self.device_id,
                t_mono=loop.time(),
                tag_id=pending.tag_id,
                outcome=outcome,
                reason=reason,
                content_hash=digest if digest is not None else pending.expect_hash,
                attempts=pending.attempts,
                latency_s=loop.time() - pending.created,
            )
        )
        self._pending.pop(pending.request_id, None)

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._expiry_loop(), name=f"esl-mqtt-expiry:{self.device_id}")
            group.create_task(self._connection_loop(), name=f"esl-mqtt-conn:{self.device_id}")

    async def _connection_loop(self) -> None:
        was_up = False
        while True:
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=f"walkout-esl-{self.store}-{self._run_id}",
                keepalive=self.keepalive_s,
                timeout=self.connect_timeout_s,
                clean_session=True,
                max_inflight_messages=self.max_inflight,
            )
            client.pending_calls_threshold = 1_000_000  # bulk pushes keep many in flight
            try:
                async with client:
                    await client.subscribe(
                        [(f"{self.prefix}/+/ack", 1), (f"{self.prefix}/+/state", 1)]
                    )
                    self.backoff.reset()
                    self.stats.connects += 1
                    if was_up:
                        _LOGGER.info("%s: broker connection is back", self.address)
                    was_up = True
                    await self._serve(client)
            except* aiomqtt.MqttError as group:
                self._last_error = str(group.exceptions[0])
            self._on_disconnected()
            if was_up and self.stats.disconnects == 1:
                _LOGGER.error("%s: broker connection lost: %s", self.address, self._last_error)
            delay = self.backoff.next_delay_s()
            _LOGGER.debug("%s: reconnecting in %.2f s", self.address, delay)
            await asyncio.sleep(delay)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Re-queue what is unanswered, then send and receive until the connection drops."""
        for pending in sorted(self._pending.values(), key=lambda p: p.created):
            self._enqueue(pending)
        self._connected.set()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._receive(client), name=f"esl-mqtt-rx:{self.device_id}")
            for n in range(self.max_inflight):
                group.create_task(self._sender(client), name=f"esl-mqtt-tx{n}:{self.device_id}")

    def _on_disconnected(self) -> None:
        if self._connected.is_set():
            self.stats.disconnects += 1
        self._connected.clear()
        for pending in self._pending.values():
            if pending.ack_deadline is not None:
                # Its ack window was cut short: the attempt does not count.
                pending.ack_deadline = None
                pending.attempts = max(0, pending.attempts - 1)

    async def _next_to_send(self) -> _Pending:
        while True:
            while self._outbox:
                pending = self._outbox.popleft()
                pending.queued = False
                if not pending.future.done():
                    return pending
            self._outbox_ready.clear()
            await self._outbox_ready.wait()

    async def _sender(self, client: aiomqtt.Client) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = await self._next_to_send()
            topic = f"{self.prefix}/{pending.tag_id}/cmd"
            try:
                await publish(client, topic, pending.payload, qos=1, timeout=self.ack_timeout_s)
            except BaseException:
                self._enqueue(pending, front=True)
                raise
            self.stats.published += 1
            if pending.future.done():
                continue
            pending.attempts += 1
            pending.ack_deadline = loop.time() + self.ack_timeout_s
            self._reschedule(pending.ack_deadline)

    async def _expiry_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            next_check = now + 1.0
            for pending in list(self._pending.values()):
                if pending.future.done():
                    continue
                if now >= pending.give_up_at:
                    self._give_up(pending)
                    continue
                next_check = min(next_check, pending.give_up_at)
                if pending.ack_deadline is None:
                    continue
                if now < pending.ack_deadline:
                    next_check = min(next_check, pending.ack_deadline)
                    continue
                pending.ack_deadline = None
                if pending.attempts >= 1 + self.retries:
                    self._resolve(
                        pending,
                        PushOutcome.TIMEOUT,
                        f"no ack after {pending.attempts} sends, {self.ack_timeout_s:g} s each",
                    )
                else:
                    self._enqueue(pending)
            self._next_check = next_check
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_check - loop.time())):
                    await self._wake.wait()

    def _give_up(self, pending: _Pending) -> None:
        if pending.attempts or pending.ack_deadline is not None:
            self._resolve(
                pending,
                PushOutcome.TIMEOUT,
                f"no ack within {self.max_wait_s:g} s ({self._last_error or 'tag silent'})",
            )
        else:
            self._resolve(
                pending,
                PushOutcome.FAILED,
                f"not sent within {self.max_wait_s:g} s: broker unreachable "
                f"({self._last_error or 'not connected'})",
            )

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, str):
                raw = payload.encode()
            elif isinstance(payload, bytes | bytearray):
                raw = bytes(payload)
            else:
                raw = b"" if payload is None else str(payload).encode()
            self.handle(message.topic.value, raw)

    def handle(self, topic: str, payload: bytes) -> None:
        """Process one incoming state or ack; bad input is counted and logged, never raised."""
        parts = topic.split("/")
        prefix = self.prefix.split("/")
        if len(parts) != len(prefix) + 2 or parts[: len(prefix)] != prefix:
            return
        tag_id, kind = parts[-2], parts[-1]
        if kind == "state" and not payload:
            self.states.pop(tag_id, None)
            return
        if len(payload) > MAX_PAYLOAD:
            self._bad(topic, f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
            return
        try:
            data = json.loads(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._bad(topic, f"not JSON: {exc}")
            return
        if not isinstance(data, dict):
            self._bad(topic, "not a JSON object")
            return
        if kind == "ack":
            self._on_ack(topic, tag_id, data)
        elif kind == "state":
            self._on_state(topic, tag_id, data)

    def _bad(self, topic: str, why: str) -> None:
        self.stats.bad_payloads += 1
        _LOGGER.warning("%s: ignored message on %s: %s", self.address, topic, why)

    def _on_ack(self, topic: str, tag_id: str, data: Mapping[str, Any]) -> None:
        request_id = data.get("id")
        ok = data.get("ok")
        if not isinstance(request_id, str) or not isinstance(ok, bool):
            self._bad(topic, "an ack needs a string 'id' and a boolean 'ok'")
            return
        pending = self._pending.get(request_id)
        if pending is None or pending.future.done():
            self.stats.late_acks += 1
            return
        if pending.tag_id != tag_id:
            self.stats.foreign_acks += 1
            _LOGGER.warning(
                "%s: ack for %s (sent to %s) arrived on %s: ignored",
                self.address,
                request_id,
                pending.tag_id,
                topic,
            )
            return
        self.stats.acks += 1
        reported = data.get("hash")
        reported_hash = reported if isinstance(reported, str) else None
        if not ok:
            error = data.get("error")
            self._resolve(pending, PushOutcome.FAILED, f"tag refused: {error or 'no reason given'}")
        elif pending.expect_hash is not None and reported_hash != pending.expect_hash:
            self._resolve(
                pending,
                PushOutcome.FAILED,
                f"tag reports content {reported_hash!r}, expected {pending.expect_hash!r}",
                digest=reported_hash,
            )
        else:
            self._resolve(pending, PushOutcome.ACKED, digest=reported_hash)

    def _on_state(self, topic: str, tag_id: str, data: Mapping[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        mode_raw = data.get("mode")
        try:
            mode = TagMode(mode_raw) if isinstance(mode_raw, str) else None
        except ValueError:
            mode = None
        known = {"v", "battery_mv", "battery_pct", "last_seen", "content_hash", "mode", "rssi"}
        status = TagStatus(
            source=self.device_id,
            t_mono=loop.time(),
            tag_id=tag_id,
            last_seen=_number(data.get("last_seen")),
            battery_mv=_int(data.get("battery_mv")),
            battery_pct=_int(data.get("battery_pct")),
            rssi_dbm=_int(data.get("rssi")),
            content_hash=data.get("content_hash")
            if isinstance(data.get("content_hash"), str)
            else None,
            mode=mode,
            extra={k: v for k, v in data.items() if k not in known},
        )
        self.states[tag_id] = status
        if self.bus is not None:
            self.bus.publish_nowait(status)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) else None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
