"""The store's own services, from config: supervisor, actuation, alerting, telemetry, MQTT.

``open_facility`` builds what store.yaml asks for around a started
``Runtime`` (its bus, gates and GPUs) and closes all of it on every exit
path. ``FacilityServices.run`` serves until cancelled; a service that
fails is logged and the others go on (a dead broker must not stop the
supervisor), except the supervisor itself, whose end opens the exits first
(the fail-safe) and then ends the run.

Two paths skip every rule because a person's safety rides on them: a fire
alarm command opens every exit (gate emergency) the moment it arrives, and
the supervisor's death or silence does the same (the exit fail-safe watches
its heartbeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from pydantic import SecretStr

from devices.bus import Bus, Subscription
from facility.actuation import (
    Actuator,
    CameraControl,
    ExitFailsafe,
    HostShutdownRunner,
    LedgerControl,
)
from facility.actuation.adapters import EslScreenControl, GateEntryControl, NvmlGpuCapper
from facility.alerts.defaults import default_rules
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.engine import AlertEngine
from facility.alerts.events import AlertEvent
from facility.alerts.service import AlertService
from facility.alerts.sinks import EmailSink, LogSink, MqttSink, Sink, WebhookSink
from facility.alerts.store import AlertStore
from facility.mqtt_bridge import BridgeAuthError, BridgeSettings, MqttBridge, TlsSettings
from facility.mqtt_bridge.commands import AlertAckCommand, FireAlarmCommand
from facility.supervisor import ModeChanged, Policy, StoreMode, Supervisor
from facility.supervisor.budget import StoreOccupancy
from facility.supervisor.occupancy import OccupancyTracker
from facility.supervisor.policy import DEFAULT_ACTIONS, DEFAULT_DWELL_S
from facility.supervisor.service import SupervisorService
from facility.telemetry.buffer import DiskBuffer
from facility.telemetry.points import ConverterRegistry
from facility.telemetry.writer import TelemetryTarget, TelemetryWriter
from walkout.checkout_telemetry import full_registry
from walkout.config import StoreConfig
from walkout.config.services import (
    AlertsSection,
    EmailSinkConfig,
    LogSinkConfig,
    MqttSection,
    MqttSinkConfig,
    SupervisorSection,
    TelemetrySection,
)
from walkout.runtime import Runtime

_LOGGER = logging.getLogger(__name__)


def supervisor_policy(section: SupervisorSection, ups_ids: tuple[str, ...]) -> Policy:
    """The shipped policy with store.yaml's supervisor settings laid over it.

    Dwell times, per-mode actions and the empty-store shutdown grace (``null``: none).
    """
    dwell = {**DEFAULT_DWELL_S, **{StoreMode(m): s for m, s in section.min_dwell_s.items()}}
    actions = dict(DEFAULT_ACTIONS)
    for mode_name, overrides in section.actions.items():
        mode = StoreMode(mode_name)
        given = {k: v for k, v in overrides.model_dump().items() if v is not None}
        actions[mode] = dataclasses.replace(actions[mode], **given)
    policy = Policy(
        min_dwell_s=MappingProxyType(dwell),
        actions=MappingProxyType(actions),
        ups_ids=ups_ids,
        ups_rated_w=section.ups_rated_w,
    )
    return policy.with_empty_shutdown(section.shutdown_when_empty_s)


def bridge_settings(section: MqttSection, store_id: str) -> BridgeSettings:
    """The bridge's settings, secrets read from where store.yaml points."""
    password = None if section.password is None else SecretStr(section.password.reveal())
    tls = None
    if section.tls is not None:
        tls = TlsSettings(
            ca_file=section.tls.ca_file,
            cert_file=section.tls.cert_file,
            key_file=section.tls.key_file,
            insecure=section.tls.insecure,
        )
    return BridgeSettings(
        store_id=store_id,
        host=section.host,
        port=section.port,
        username=section.username,
        password=password,
        client_id=section.client_id,
        tls=tls,
        base_topic=section.base_topic,
        discovery_prefix=section.discovery_prefix,
        senders=section.senders,
    )


def alert_sinks(section: AlertsSection, mqtt: MqttSection | None) -> list[Sink]:
    """One sink per configured entry; an MQTT sink borrows the bridge's broker by default."""
    sinks: list[Sink] = []
    for entry in section.sinks:
        if isinstance(entry, LogSinkConfig):
            sinks.append(LogSink(entry.name))
        elif isinstance(entry, MqttSinkConfig):
            host = entry.host or (mqtt.host if mqtt is not None else "127.0.0.1")
            port = entry.port or (mqtt.port if mqtt is not None else 1883)
            username = mqtt.username if mqtt is not None and entry.host is None else None
            password = None
            if mqtt is not None and entry.host is None and mqtt.password is not None:
                password = mqtt.password.reveal()
            sinks.append(
                MqttSink(
                    host,
                    port,
                    name=entry.name,
                    prefix=entry.prefix,
                    username=username,
                    password=password,
                )
            )
        elif isinstance(entry, EmailSinkConfig):
            sinks.append(
                EmailSink(
                    entry.host,
                    entry.port,
                    sender=entry.sender,
                    recipients=tuple(entry.recipients),
                    name=entry.name,
                    starttls=entry.starttls,
                    username=entry.username,
                    password=None if entry.password is None else entry.password.reveal(),
                )
            )
        else:
            sinks.append(WebhookSink(entry.url, name=entry.name, timeout_s=entry.timeout_s))
    return sinks


def telemetry_writer(
    section: TelemetrySection,
    bus: Bus,
    store_id: str,
    *,
    registry_factory: Callable[[], ConverterRegistry],
) -> TelemetryWriter:
    """A writer for the configured server, buffering on disk while it is down."""
    section.buffer_dir.mkdir(parents=True, exist_ok=True)
    target = TelemetryTarget(
        url=section.url,
        bucket=section.bucket,
        org=section.org,
        token="" if section.token is None else section.token.reveal(),
    )
    buffer = DiskBuffer(section.buffer_dir, max_bytes=int(section.buffer_max_mb * 1024 * 1024))
    registry = registry_factory()
    return TelemetryWriter(
        bus,
        target,
        buffer,
        store=store_id,
        registry=registry,
        batch_points=section.batch_points,
        flush_interval_s=section.flush_interval_s,
    )


@dataclass
class FacilityServices:
    """The services one store process runs beside its device drivers."""

    config: StoreConfig
    bus: Bus
    gates: GateEntryControl | None = None
    """The gate machine as the actuator drives it (emergency and its end)."""
    supervisor: SupervisorService | None = None
    alerts: AlertService | None = None
    telemetry: TelemetryWriter | None = None
    bridge: MqttBridge | None = None
    actuator: Actuator | None = None
    failsafe: ExitFailsafe | None = None
    extra: list[tuple[str, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    """Services run beside these (name, coroutine function): actuator, exit fail-safe."""

    async def run(self) -> None:
        """Serve until cancelled or the supervisor ends (exits are opened first)."""
        sub = self.bus.subscribe(
            FireAlarmCommand,
            AlertAckCommand,
            ModeChanged,
            AlertEvent,
            StoreOccupancy,
            maxsize=10_000,
            name="facility",
        )
        if self.bridge is not None and self.supervisor is not None:
            self.bridge.set_store_mode(self.supervisor.mode.value, "supervisor started")
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._route(sub), name="facility-route")
                if self.alerts is not None:
                    group.create_task(self._guard("alerts", self.alerts.run), name="alerts")
                if self.bridge is not None:
                    group.create_task(self._guard("mqtt", self._run_bridge), name="mqtt")
                for name, service in self.extra:
                    group.create_task(self._guard(name, service), name=name)
                if self.supervisor is not None:
                    group.create_task(self._supervise(self.supervisor), name="supervisor")
        finally:
            sub.close()

    async def open_exits(self, reason: str) -> None:
        """Every exit open now (gate emergency); a failure is logged, never raised."""
        if self.gates is None:
            return
        try:
            await self.gates.emergency(reason)
        except Exception:
            _LOGGER.exception("could not open the exits (%s)", reason)

    async def _supervise(self, service: SupervisorService) -> None:
        """Run the supervisor; its failure trips the exit fail-safe before the run ends."""
        try:
            await service.run()
        except asyncio.CancelledError:
            raise
        except BaseException:
            if self.failsafe is not None:
                await self.failsafe.trip("supervisor failed")
            raise

    async def _guard(self, name: str, service: Callable[[], Awaitable[None]]) -> None:
        """Run one service; its failure is logged and ends only that service."""
        try:
            await service()
        except asyncio.CancelledError:
            raise
        except Exception:
            _LOGGER.exception("%s stopped with an error; the store goes on without it", name)

    async def _run_bridge(self) -> None:
        assert self.bridge is not None
        try:
            await self.bridge.run()
        except BridgeAuthError as exc:
            _LOGGER.error("MQTT bridge stopped: %s", exc)

    async def _route(self, sub: Subscription) -> None:
        async for message in sub:
            if isinstance(message, FireAlarmCommand):
                await self._fire_alarm(message)
            elif isinstance(message, AlertAckCommand):
                await self._ack(message)
            elif isinstance(message, ModeChanged) and self.bridge is not None:
                self.bridge.set_store_mode(message.mode.value, message.explanation)
            elif isinstance(message, AlertEvent) and self.bridge is not None:
                if self.alerts is not None:
                    self.bridge.set_active_alerts(len(self.alerts.engine.active()))
            elif isinstance(message, StoreOccupancy) and self.bridge is not None:
                occupancy = self.supervisor.occupancy if self.supervisor is not None else None
                count = occupancy.people if occupancy is not None else len(message.sessions)
                self.bridge.set_occupancy(count)

    async def _fire_alarm(self, command: FireAlarmCommand) -> None:
        if command.active:
            await self.open_exits(f"fire alarm ({command.sender})")
        elif self.gates is not None:
            # Back to what the supervisor's mode asks of the entry; exits work normally.
            locked = self.supervisor is not None and self.supervisor.mode.severity >= (
                StoreMode.CLOSING.severity
            )
            try:
                await self.gates.clear_emergency(
                    locked=locked, reason=f"fire alarm cleared ({command.sender})"
                )
            except Exception:
                _LOGGER.exception("could not leave gate emergency after the fire alarm")

    async def _ack(self, command: AlertAckCommand) -> None:
        if self.alerts is None:
            _LOGGER.warning("alert ack from %s: alerting is not running", command.sender)
            return
        try:
            alert_id = int(command.alert_id)
            await self.alerts.acknowledge(alert_id, command.sender)
        except (ValueError, LookupError) as exc:
            _LOGGER.warning(
                "alert ack %r from %s refused: %s", command.alert_id, command.sender, exc
            )


def actuator_for(
    config: StoreConfig,
    runtime: Runtime,
    *,
    ledger: LedgerControl | None = None,
    cameras: CameraControl | None = None,
) -> Actuator:
    """The supervisor's hands: each port the store has, None for equipment it lacks."""
    gpus = None
    inventory = runtime.gpus.inventory if runtime.gpus is not None else None
    if runtime.gpus is not None and inventory is not None and inventory.available:
        gpus = NvmlGpuCapper(runtime.gpus.devices())
    machine = runtime.gate_machine
    shutdown = config.supervisor.shutdown
    return Actuator(
        runtime.bus,
        gpus=gpus,
        entry=None if machine is None else GateEntryControl(machine),
        screens=None if runtime.tag_fleet is None else EslScreenControl(runtime.tag_fleet),
        cameras=cameras,
        ledger=ledger,
        shutdown=HostShutdownRunner(
            tuple(shutdown.command),
            delay_s=shutdown.delay_s,
            timeout_s=shutdown.timeout_s,
            dry_run=shutdown.dry_run,
        ),
        timeout_s=config.supervisor.action_timeout_s,
    )


@contextlib.asynccontextmanager
async def open_facility(
    config: StoreConfig,
    runtime: Runtime,
    *,
    registry_factory: Callable[[], ConverterRegistry] = full_registry,
    policy: Policy | None = None,
    ledger: LedgerControl | None = None,
    cameras: CameraControl | None = None,
) -> AsyncIterator[FacilityServices]:
    """The configured services, opened; everything is closed when the block exits.

    ``policy`` replaces the one store.yaml gives (drills and benchmarks tune rule
    recovery times, which store.yaml does not expose). ``ledger`` and ``cameras``
    are the checkout's and the camera fleet's controls, where they run.
    """
    bus = runtime.bus
    machine = runtime.gate_machine
    gates = None if machine is None else GateEntryControl(machine)
    services = FacilityServices(config, bus, gates=gates)
    async with contextlib.AsyncExitStack() as stack:
        if config.supervisor.enabled:
            ups_ids = tuple(u.id for u in config.facility.ups)
            if policy is None:
                policy = supervisor_policy(config.supervisor, ups_ids)
            supervisor = SupervisorService(
                bus,
                Supervisor(policy),
                occupancy=OccupancyTracker(),
                tick_s=config.supervisor.tick_s,
            )
            services.supervisor = supervisor
            actuator = actuator_for(config, runtime, ledger=ledger, cameras=cameras)
            services.actuator = actuator
            services.extra.append(("actuator", actuator.run))
            if gates is not None:
                failsafe = ExitFailsafe(
                    gates,
                    window_s=max(5.0, 10 * config.supervisor.tick_s),
                    heartbeat=lambda: supervisor.heartbeat_t,
                )
                services.failsafe = failsafe
                services.extra.append(("exit-failsafe", lambda: failsafe.run(bus)))
        if config.alerts.enabled:
            config.alerts.db.parent.mkdir(parents=True, exist_ok=True)
            store = await stack.enter_async_context(AlertStore(config.alerts.db))
            dispatcher = await stack.enter_async_context(
                AlertDispatcher(alert_sinks(config.alerts, config.mqtt), store=store, bus=bus)
            )
            services.alerts = AlertService(
                bus,
                AlertEngine(default_rules(), next_id=await store.next_alert_id()),
                store,
                dispatcher,
                tick_s=config.alerts.tick_s,
            )
        if config.telemetry is not None:
            writer = telemetry_writer(
                config.telemetry, bus, config.store.id, registry_factory=registry_factory
            )
            services.telemetry = await stack.enter_async_context(writer)
        if config.mqtt is not None:
            services.bridge = MqttBridge(bridge_settings(config.mqtt, config.store.id), bus)
        yield services
