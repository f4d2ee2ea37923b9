"""The MQTT bridge: bus -> retained state and discovery, command topics -> durable bus messages.

Two loops: the bus consumer folds every reading into :class:`StateCache`
whether or not the broker is reachable (durable gate and health events must
never wait on a network), and the connection loop publishes what changed.
After each (re)connect it announces ``online`` (the last will says
``offline``), republishes every discovery config and every retained state
(a restarted broker without persistence has lost them all), and does the
same when Home Assistant announces itself on ``<prefix>/status``.

Wrong credentials are not retried: :class:`BridgeAuthError` names the broker
and user. Any other broker failure is retried with capped backoff and jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import aiomqtt
from aiomqtt.exceptions import MqttConnectError  # not re-exported by aiomqtt 2.5
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from devices.backoff import Backoff
from devices.bus import Bus, Message, Subscription
from devices.crac import CracReading
from devices.gate.machine import MACHINE_EVENTS
from devices.gpu import GpuReading
from devices.health import HealthChanged
from devices.mqtt_incoming import Overflow, incoming_queue_type
from devices.mqtt_publish import publish
from devices.ups.state import UpsReading
from facility.mqtt_bridge.commands import CommandRejected, parse_command
from facility.mqtt_bridge.config import BridgeSettings
from facility.mqtt_bridge.discovery import Discovery
from facility.mqtt_bridge.state import StateCache, encode
from facility.mqtt_bridge.topics import Topics

_LOGGER = logging.getLogger(__name__)

BUS_TYPES: tuple[type[Message], ...] = (
    UpsReading,
    CracReading,
    GpuReading,
    HealthChanged,
    *MACHINE_EVENTS,
)
# MQTT v5 CONNACK reason codes (and v3.1.1 return codes) that retrying cannot fix.
_AUTH_CODES = frozenset({4, 5, 134, 135, 138})
_OFFLINE_TIMEOUT_S = 2.0

INCOMING_QUEUE_SIZE = 1000
"""Received messages the client holds before discarding (counted in ``dropped_incoming``,
logged once per burst, never once per message)."""


class BridgeAuthError(Exception):
    """The broker refused our credentials; retrying would only lock the account out."""


class MqttBridge:
    """Publishes a store's facility state to a broker and takes commands from it."""

    def __init__(
        self, settings: BridgeSettings, bus: Bus, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.base_topic, settings.store_id)
        self.cache = StateCache(self.topics)
        self.connected = asyncio.Event()
        self.connects = 0
        self.failures = 0
        self.dropped_incoming = 0
        """Received messages the client discarded: its incoming queue was full."""
        self._overflow = Overflow("mqtt-bridge", INCOMING_QUEUE_SIZE, _LOGGER)
        self.last_error: str | None = None
        self.commands_accepted = 0
        self.commands_rejected = 0
        self._bus = bus
        self._clock = clock
        self._discovery = Discovery(settings)
        self._configs: dict[str, bytes] = self._discovery.store_configs()
        self._configs_dirty: dict[str, None] = {}
        self._changed = asyncio.Event()
        self.cache.put_store()

    # --- API for the supervisor and alerting --------------------------------------------

    def set_store_mode(self, mode: str, reason: str = "") -> None:
        """The store's mode changed (from the supervisor)."""
        self.cache.store.mode, self.cache.store.mode_reason = mode, reason
        self._store_changed()

    def set_active_alerts(self, count: int) -> None:
        """How many alerts are active now."""
        self.cache.store.active_alerts = count
        self._store_changed()

    def set_occupancy(self, count: int) -> None:
        """How many people are in the store now."""
        self.cache.store.occupancy = count
        self._store_changed()

    def _store_changed(self) -> None:
        self.cache.put_store()
        self._changed.set()

    @property
    def pending(self) -> int:
        """Discovery configs and states the broker has not acknowledged yet."""
        return len(self._configs_dirty) + len(self.cache.dirty)

    # --- running -----------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled; raises :class:`BridgeAuthError` on refused credentials."""
        sub = self._bus.subscribe(*BUS_TYPES, name="mqtt_bridge")
        consumer = asyncio.create_task(self._consume(sub), name="mqtt-bridge-bus")
        try:
            await self._connection_loop()
        finally:
            sub.close()
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    async def _consume(self, sub: Subscription) -> None:
        async for message in sub:
            try:
                seen = self.cache.apply(message)
            except Exception:  # a bad reading must not stop the bridge
                _LOGGER.exception(
                    "cannot publish %s from %s", type(message).__name__, message.source
                )
                continue
            if seen is not None:
                configs = self._discovery.device_configs(seen[0], message)
                self._configs.update(configs)
                self._configs_dirty.update(dict.fromkeys(configs))
            self._changed.set()

    async def _connection_loop(self) -> None:
        backoff = Backoff(
            initial_s=self.settings.backoff_initial_s, cap_s=self.settings.backoff_cap_s
        )
        where = f"{self.settings.host}:{self.settings.port}"
        while True:
            try:
                await self._session(backoff)
            except aiomqtt.MqttCodeError as exc:
                code = getattr(exc.rc, "value", exc.rc)
                if isinstance(exc, MqttConnectError) and code in _AUTH_CODES:
                    raise BridgeAuthError(
                        f"MQTT broker {where} refused user {self.settings.username!r}: {exc}"
                    ) from exc
                error: Exception = exc
            except aiomqtt.MqttError as exc:
                error = exc
            self.connected.clear()
            self.failures += 1
            self.last_error = str(error)
            delay = backoff.next_delay_s()
            _LOGGER.warning("MQTT broker %s: %s; reconnecting in %.1f s", where, error, delay)
            await asyncio.sleep(delay)

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        tls = s.tls
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password is not None else None,
            identifier=s.identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=aiomqtt.Will(self.topics.availability, b"offline", qos=1, retain=True),
            keepalive=s.keepalive_s,
            timeout=s.timeout_s,
            tls_context=tls.context() if tls is not None else None,
            tls_insecure=tls.insecure if tls is not None else None,
            max_queued_incoming_messages=INCOMING_QUEUE_SIZE,
            queue_type=incoming_queue_type(self._drop_incoming),
        )

    def _drop_incoming(self) -> None:
        """A received message found the client's queue full (a flood of commands)."""
        self.dropped_incoming += 1
        self._overflow.discarded()

    async def _session(self, backoff: Backoff) -> None:
        async with self._client() as client:
            client.pending_calls_threshold = 1000
            backoff.reset()
            await publish(client, self.topics.availability, b"online", qos=1, retain=True)
            for topic in (self.topics.commands, f"{self.settings.discovery_prefix}/status"):
                granted = await client.subscribe(topic, qos=1)
                if any(getattr(code, "is_failure", False) for code in granted):
                    # Usually the broker's ACL: state still flows, this input does not.
                    _LOGGER.error("MQTT broker refused subscription to %s: %s", topic, granted)
            self._republish_all()
            self.connects += 1
            _LOGGER.info("MQTT bridge connected to %s:%s", self.settings.host, self.settings.port)
            tasks = [
                asyncio.create_task(self._publisher(client), name="mqtt-bridge-publish"),
                asyncio.create_task(self._receiver(client), name="mqtt-bridge-receive"),
            ]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                await self._say_offline(client)
                raise
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self._overflow.end()  # what was queued went with the client
            for task in done:
                task.result()

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        # A clean DISCONNECT suppresses the will, so a planned stop says offline itself.
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(_OFFLINE_TIMEOUT_S):
                await publish(client, self.topics.availability, b"offline", qos=1, retain=True)

    def _republish_all(self) -> None:
        self._configs_dirty = dict.fromkeys(self._configs)
        self.cache.mark_all_dirty()
        self._changed.set()

    async def _publisher(self, client: aiomqtt.Client) -> None:
        retain = self.settings.discovery_retain
        while True:
            self._changed.clear()
            self.connected.set()
            while self._configs_dirty:
                topic = next(iter(self._configs_dirty))
                await publish(client, topic, self._configs[topic], qos=1, retain=retain)
                self._configs_dirty.pop(topic, None)
            while self.cache.dirty:
                topic = next(iter(self.cache.dirty))
                payload = self.cache.payloads[topic]
                await publish(client, topic, payload, qos=1, retain=True)
                if self.cache.payloads.get(topic) is payload:  # not changed meanwhile
                    self.cache.dirty.pop(topic, None)
            if not self._configs_dirty and not self.cache.dirty:
                await self._changed.wait()

    async def _receiver(self, client: aiomqtt.Client) -> None:
        birth = f"{self.settings.discovery_prefix}/status"
        async for msg in client.messages:
            self._overflow.tick()
            topic = str(msg.topic)
            if topic == birth:
                if msg.payload in (b"online", "online"):
                    _LOGGER.info("Home Assistant is online: republishing discovery")
                    self._republish_all()
                continue
            name = self.topics.command_name(topic)
            if name is not None:
                await self._command(client, name, msg)

    async def _command(self, client: aiomqtt.Client, name: str, msg: aiomqtt.Message) -> None:
        props = msg.properties
        raw_cd = getattr(props, "CorrelationData", None) if props is not None else None
        correlation_data = raw_cd.decode(errors="replace") if isinstance(raw_cd, bytes) else None
        payload = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
        try:
            command = parse_command(
                name,
                payload,
                senders=self.settings.senders,
                max_bytes=self.settings.max_command_bytes,
                t_mono=self._clock(),
                correlation_data=correlation_data,
                retained=msg.retain,
            )
        except CommandRejected as rejected:
            self.commands_rejected += 1
            _LOGGER.warning("command %s refused: %s", name, rejected.reason)
            await self._reply(
                client, name, raw_cd, ok=False, cid=rejected.correlation_id, error=rejected.reason
            )
            return
        await self._bus.publish(command)
        self.commands_accepted += 1
        _LOGGER.info("command %s from %s accepted", name, command.sender)
        await self._reply(client, name, raw_cd, ok=True, cid=command.correlation_id, error=None)

    async def _reply(
        self,
        client: aiomqtt.Client,
        name: str,
        correlation_data: object,
        *,
        ok: bool,
        cid: str | None,
        error: str | None,
    ) -> None:
        properties = None
        if isinstance(correlation_data, bytes):
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = correlation_data
        body = {"ok": ok, "command": name, "correlation_id": cid, "error": error}
        await publish(
            client,
            self.topics.reply(name),
            encode(body),
            qos=1,
            retain=False,
            properties=properties,
        )
