"""Runtime wiring: from a validated store config to running drivers on one bus.

The runtime owns every link it opens and closes them all on every exit path;
drivers borrow links (several units share one RS-485 line).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from devices.bus import Bus, Message
from devices.camera.products import PRODUCTS_LIMITS, ProductsSource
from devices.coordinator import PollingCoordinator
from devices.crac import CracAlarmWatch, CracProfile, ModbusCrac, get_crac_profile
from devices.crac.snmp import SnmpCrac
from devices.esl.backend import TagBackend
from devices.esl.fleet import EslFleet
from devices.esl.mqtt import MqttEsl
from devices.esl.oepl import OeplAccessPoint
from devices.gate.machine import GateMachine
from devices.gpu import NvmlApi, NvmlGpus
from devices.modbus.link import ModbusLink, RtuLink, TcpLink
from devices.scale import CellCalibration, ModbusScale, ScaleReading, ShelfView
from devices.snmp import SnmpTarget
from walkout.config import (
    EslSection,
    MqttBackend,
    RtuBus,
    Shelf,
    StoreConfig,
    TcpBus,
    load_calibration,
)
from walkout.config.cameras import ShelfCamera
from walkout.gate_wiring import GateWiring
from walkout.ups_wiring import UpsWiring, snmp_credentials

_LOGGER = logging.getLogger(__name__)


def make_link(bus: TcpBus | RtuBus) -> ModbusLink:
    """A link for one configured bus (not connected yet)."""
    if isinstance(bus, TcpBus):
        return TcpLink(bus.id, bus.host, bus.port, timeout_s=bus.timeout_s)
    return RtuLink(
        bus.id,
        bus.port,
        baudrate=bus.baudrate,
        parity=bus.parity,
        stopbits=bus.stopbits,
        timeout_s=bus.timeout_s,
    )


def make_tag_backend(
    esl: EslSection, store_id: str, bus: Bus | None = None
) -> MqttEsl | OeplAccessPoint:
    """The price-tag transport the config names (not connected yet)."""
    backend = esl.backend
    if isinstance(backend, MqttBackend):
        return MqttEsl(
            "esl",
            backend.host,
            backend.port,
            store_id,
            topic_root=backend.topic_root,
            ack_timeout_s=backend.ack_timeout_s,
            retries=esl.retries,
            bus=bus,
        )
    return OeplAccessPoint(
        "esl", backend.url, ack_timeout_s=backend.ack_timeout_s, retries=esl.retries, bus=bus
    )


def make_tag_fleet(esl: EslSection, backend: TagBackend, bus: Bus | None = None) -> EslFleet:
    """Bulk changes, modes and shelf messages over ``backend``, with the config's limits."""
    return EslFleet(
        backend,
        shelves=esl.shelves,
        concurrency=esl.concurrency,
        shelf_cooldown_s=esl.messages.shelf_cooldown_s,
        messages_per_minute=esl.messages.per_minute,
        message_burst=esl.messages.burst,
        max_message_s=esl.messages.max_duration_s,
        bus=bus,
    )


@dataclass
class Runtime:
    """Everything one store process runs, built from config."""

    config: StoreConfig
    bus: Bus = field(default_factory=Bus)
    links: dict[str, ModbusLink] = field(default_factory=dict)
    scales: dict[str, ModbusScale] = field(default_factory=dict)
    cracs: dict[str, ModbusCrac | SnmpCrac] = field(default_factory=dict)
    upses: UpsWiring | None = None
    gate_wiring: GateWiring | None = None
    gpus: NvmlGpus | None = None
    nvml: NvmlApi | None = None
    """The NVML to read GPUs through: None for the real library (the bench passes a fake)."""
    coordinator: PollingCoordinator | None = None
    tag_backend: MqttEsl | OeplAccessPoint | None = None
    tag_fleet: EslFleet | None = None
    """The price-tag screens, when store.yaml has an ``esl`` section (the supervisor's)."""
    shelf_cameras: list[ProductsSource] = field(default_factory=list)
    """One subscription per broker to the shelf cameras' product sightings."""

    @property
    def gate_machine(self) -> GateMachine | None:
        """The gates' state machine, once started (None in a store without gates)."""
        return None if self.gate_wiring is None else self.gate_wiring.machine

    def link_for_bus(self, bus_id: str) -> ModbusLink:
        """The one link of a bus, made on first use and shared by every unit on it."""
        if bus_id not in self.links:
            self.links[bus_id] = make_link(self.config.bus(bus_id))
        return self.links[bus_id]

    def crac(self, crac_id: str) -> ModbusCrac | SnmpCrac:
        """The driver of a configured cooling unit (made on first use), by profile protocol."""
        if crac_id not in self.cracs:
            unit = self.config.crac(crac_id)
            profile = get_crac_profile(unit.profile, tuple(self.config.profile_dirs))
            driver: ModbusCrac | SnmpCrac
            if isinstance(profile, CracProfile):
                assert unit.bus is not None  # checked at load
                assert unit.unit_id is not None
                driver = ModbusCrac(unit.id, self.link_for_bus(unit.bus), unit.unit_id, profile)
            else:
                assert unit.agent is not None  # checked at load
                agent = unit.agent
                target = SnmpTarget(
                    agent.host, agent.port, timeout_s=agent.timeout_s, retries=agent.retries
                )
                driver = SnmpCrac(unit.id, target, snmp_credentials(agent), profile)
            self.cracs[crac_id] = driver
        return self.cracs[crac_id]

    def scale_for_unit(self, unit_id: str, cells: Sequence[int] | None = None) -> ModbusScale:
        """A scale driver for a configured unit, reading ``cells`` (default: its shelves')."""
        unit = self.config.unit(unit_id)
        if cells is None:
            cells = sorted({c for s in self.config.shelves if s.unit == unit_id for c in s.cells})
        profile = self.config.profile(unit_id)
        return ModbusScale(
            unit_id, self.link_for_bus(unit.bus), unit.unit_id, profile, cells or [0]
        )

    def build(self) -> PollingCoordinator:
        """Create drivers and the coordinator for every unit that carries a shelf."""
        calibration = load_calibration(self.config.calibration_file)
        coordinator = PollingCoordinator(self.bus)
        for unit in self.config.modbus.units:
            shelves = [s for s in self.config.shelves if s.unit == unit.id]
            if not shelves:
                continue
            scale = self.scale_for_unit(unit.id)
            self.scales[unit.id] = scale
            coordinator.add(
                scale,
                max(s.rate_hz for s in shelves),
                _shelf_emitter(scale.cells, shelves, calibration.for_unit(unit.id)),
            )
        for crac in self.config.facility.crac:
            coordinator.add(self.crac(crac.id), crac.rate_hz, CracAlarmWatch())
        self.upses = UpsWiring.build(self.config, self.bus, coordinator)
        if self.config.gates is not None:
            self.gate_wiring = GateWiring.build(self.config, self.bus, self.link_for_bus)
        self.coordinator = coordinator
        return coordinator

    async def start(self) -> None:
        """What must be opened before polling: the trap port, the gates, NVML, the screens."""
        if self.upses is not None:
            await self.upses.start()
        if self.gate_wiring is not None:
            await self.gate_wiring.__aenter__()  # controllers and the gate state machine
        await self.open_gpus()
        await self.open_screens()
        await self.open_shelf_cameras()

    async def open_screens(self) -> None:
        """Connect the price-tag transport; an unreachable one is logged, not fatal.

        The store runs without its screens; the supervisor's screen actions then
        fail, and each failure raises an alert, until the transport comes back.
        """
        if self.config.esl is None:
            return
        self.tag_backend = make_tag_backend(self.config.esl, self.config.store.id, self.bus)
        self.tag_fleet = make_tag_fleet(self.config.esl, self.tag_backend, self.bus)
        try:
            await self.tag_backend.connect()
        except Exception as exc:
            _LOGGER.error("price-tag screens unreachable at start: %s", exc)

    async def open_shelf_cameras(self) -> None:
        """Subscribe to the shelf cameras' sightings, one source per broker, onto the bus.

        Each source runs in the background and reconnects for ever (a broker
        that is down at start is a camera status, not a failed start); the
        checkout's hints read the ``ProductsSeen`` it publishes.
        """
        brokers: dict[tuple[str, int, str, float], list[ShelfCamera]] = {}
        for camera in self.config.shelf_cameras:
            key = (*camera.broker, camera.topic_root, camera.stall_after_s)
            brokers.setdefault(key, []).append(camera)
        for (host, port, topic_root, stall_after_s), cameras in sorted(brokers.items()):
            device_id = f"shelf-cameras@{host}:{port}"
            if any(s.device_id == device_id for s in self.shelf_cameras):
                device_id += f"/{topic_root}/{stall_after_s:g}s"  # ids stay unique per source
            source = ProductsSource(
                device_id,
                host,
                port,
                shelves={c.id: c.shelf for c in cameras},
                topic_root=topic_root,
                limits=dataclasses.replace(PRODUCTS_LIMITS, stall_after_s=stall_after_s),
                bus=self.bus,
            )
            self.shelf_cameras.append(source)
            await source.connect()

    async def run(self) -> None:
        """Poll every device and route UPS traps until cancelled."""
        if self.coordinator is None:
            raise RuntimeError("build() the runtime before running it")
        async with asyncio.TaskGroup() as group:
            group.create_task(self.coordinator.run(), name="coordinator")
            if self.upses is not None:
                group.create_task(self.upses.run(), name="upses")

    async def open_gpus(self) -> None:
        """Open NVML and poll every GPU found; a host without GPUs logs why and goes on."""
        if not self.config.facility.gpus.enabled or self.coordinator is None:
            return
        self.gpus = NvmlGpus(self.nvml)
        inventory = await self.gpus.open()
        if not inventory.available:
            _LOGGER.warning("GPUs not monitored: %s", inventory.reason)
            return
        for gpu in self.gpus.devices():
            self.coordinator.add(gpu, self.config.facility.gpus.rate_hz, lambda r: [r])

    async def close(self) -> None:
        """Let go of everything, gates first: exits are released while their links still work.

        Every step runs even when an earlier one fails (the first error is raised after).
        """
        async with contextlib.AsyncExitStack() as stack:
            for link in self.links.values():
                stack.push_async_callback(link.close)
            for crac in self.cracs.values():
                stack.push_async_callback(crac.close)  # an SNMP unit's session; Modbus has none
            if self.gpus is not None:
                stack.push_async_callback(self.gpus.close)
            if self.upses is not None:
                stack.push_async_callback(self.upses.close)
            if self.tag_backend is not None:
                stack.push_async_callback(self.tag_backend.close)
            if self.gate_wiring is not None:
                stack.push_async_callback(self.gate_wiring.close)
            for source in self.shelf_cameras:
                stack.push_async_callback(source.close)


def _shelf_emitter(
    device_cells: Sequence[int], shelves: Sequence[Shelf], calibrations: dict[int, CellCalibration]
) -> Callable[[ScaleReading], list[Message]]:
    views = [ShelfView(shelf.id, device_cells, shelf.cells, calibrations) for shelf in shelves]

    def emit(reading: ScaleReading) -> list[Message]:
        return [view(reading) for view in views]

    return emit


@contextlib.asynccontextmanager
async def open_runtime(
    config: StoreConfig, *, nvml: NvmlApi | None = None
) -> AsyncIterator[Runtime]:
    """A built runtime whose links are closed when the block exits, however it exits."""
    runtime = Runtime(config, nvml=nvml)
    try:
        runtime.build()
        await runtime.start()
        yield runtime
    finally:
        await runtime.close()
