"""The shelf-scale simulator: every server of a scenario, run in-process.

``async with ShelfSimulator(scenario) as sim:`` starts all servers inside the
caller's event loop (tests use this directly); the CLI wraps the same object
with a control server. Units are addressed by (server index, unit id), since
the same unit id can exist on several lines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sim_devices.faults import Fault, FaultMode
from sim_devices.fixture_unit import FixtureError, FixtureUnit, load_fixture
from sim_devices.loadcell import Item, ShelfLoadModel, ShelfParams, ShelfReading
from sim_devices.modbus_pdu import HostedUnit, ModbusUnit
from sim_devices.rtu_server import ModbusRtuServer
from sim_devices.scenario import (
    AnyUnitSpec,
    RtuServerSpec,
    Scenario,
    ScenarioError,
    ServerSpec,
    TcpServerSpec,
    UnitSpec,
)
from sim_devices.serial_line import LineSettings
from sim_devices.shelf_controller import Mc10Controller, Tx1Transmitter
from sim_devices.tcp_server import ModbusTcpServer

log = logging.getLogger(__name__)

Clock = Callable[[], float]
ItemRef = int | str | tuple[float, float]


class SimulatorError(Exception):
    """A control request the simulator cannot carry out (no such unit, item, mode)."""


@dataclass
class _Server:
    index: int
    spec: ServerSpec
    units: dict[int, HostedUnit]
    server: ModbusTcpServer | ModbusRtuServer


def default_seed(server: int, unit_id: int) -> int:
    """Seed of a unit whose scenario gives none: distinct per place, stable across runs."""
    return 1000 * server + unit_id


def default_serial_number(server: int, unit_id: int) -> int:
    """Serial number of a unit whose scenario gives none (2026xxxx like the real labels)."""
    return 20260000 + 1000 * server + unit_id


def build_device(spec: AnyUnitSpec, server: int, clock: Clock | None = None) -> ModbusUnit:
    """Device model for one scenario unit."""
    if not isinstance(spec, UnitSpec):
        try:
            return FixtureUnit(load_fixture(spec.fixture))
        except FixtureError as exc:
            raise ScenarioError(f"servers[{server}] unit {spec.unit_id}: {exc}") from None
    params = ShelfParams(
        cells=spec.cell_count,
        length_m=spec.length_m,
        dead_load_g=spec.dead_load_g,
        capacity_g=spec.capacity_g,
        sigma_g=spec.sigma_g,
        drift_g_per_h=spec.drift_g_per_h,
        gain_errors=spec.gain_errors,
        offsets_g=spec.offsets_g,
        seed=spec.seed if spec.seed is not None else default_seed(server, spec.unit_id),
        settle_ratio=spec.settle_ratio,
        settle_freq_hz=spec.settle_freq_hz,
        settle_tau_s=spec.settle_tau_s,
        motion_band_g=spec.motion_band_g,
    )
    shelf = ShelfLoadModel(params, clock)
    for item in spec.items:
        shelf.put(item.weight_g, item.position_m, item.label, settled=True)
    serial = spec.serial_number
    if serial is None:
        serial = default_serial_number(server, spec.unit_id)
    if spec.model == "tx1":
        return Tx1Transmitter(shelf, serial_number=serial)
    return Mc10Controller(shelf, serial_number=serial, firmware=spec.firmware)


class ShelfSimulator:
    """All servers and units of one scenario.

    ``clock`` (monotonic seconds) drives the load-cell models; inject one to
    step settling and drift in unit tests. Line pacing always uses the event
    loop's clock, because it must match real time on the wire.
    """

    def __init__(self, scenario: Scenario, *, clock: Clock | None = None) -> None:
        self.scenario = scenario
        self._servers: list[_Server] = []
        for index, spec in enumerate(scenario.servers):
            units = {
                u.unit_id: HostedUnit(u.unit_id, build_device(u, index, clock)) for u in spec.units
            }
            server: ModbusTcpServer | ModbusRtuServer
            if isinstance(spec, TcpServerSpec):
                server = ModbusTcpServer(units, spec.host, spec.port)
            else:
                server = ModbusRtuServer(
                    units,
                    LineSettings(spec.baudrate, spec.parity, spec.stopbits),
                    link=spec.link,
                    device=spec.device,
                )
            self._servers.append(_Server(index, spec, units, server))
        self._started: list[_Server] = []

    async def __aenter__(self) -> ShelfSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start every server; if one fails, the ones already started are stopped again."""
        try:
            for entry in self._servers:
                await entry.server.start()
                self._started.append(entry)
        except BaseException:
            await self.stop()
            raise
        log.info("shelf simulator up: %s", self.servers)

    async def stop(self) -> None:
        """Stop every started server (sockets, pty fds, tasks); idempotent."""
        while self._started:
            await self._started.pop().server.stop()

    # addressing ------------------------------------------------------------------

    @property
    def servers(self) -> list[dict[str, Any]]:
        """Where each server can be reached: the ``servers`` list of the ready line."""
        result: list[dict[str, Any]] = []
        for entry in self._servers:
            info: dict[str, Any] = {"index": entry.index, "kind": entry.spec.kind}
            started = entry in self._started
            if isinstance(entry.server, ModbusTcpServer):
                info["host"] = entry.server.host
                info["port"] = entry.server.port if started else None
            else:
                assert isinstance(entry.spec, RtuServerSpec)
                info["path"] = entry.server.path if started else None
                info["link"] = entry.server.link if started else None
                info["baudrate"] = entry.spec.baudrate
                info["parity"] = entry.spec.parity
                info["stopbits"] = entry.spec.stopbits
            info["units"] = sorted(entry.units)
            result.append(info)
        return result

    def _server(self, server: int) -> _Server:
        if not 0 <= server < len(self._servers):
            raise SimulatorError(f"no server {server} (have 0..{len(self._servers) - 1})")
        return self._servers[server]

    def tcp_port(self, server: int = 0) -> int:
        """Bound port of a TCP server."""
        entry = self._server(server)
        if not isinstance(entry.server, ModbusTcpServer):
            raise SimulatorError(f"server {server} is not a TCP server")
        return entry.server.port

    def rtu_path(self, server: int = 0) -> str:
        """Device path a master opens for an RTU server (pty slave or given device)."""
        entry = self._server(server)
        if not isinstance(entry.server, ModbusRtuServer):
            raise SimulatorError(f"server {server} is not an RTU server")
        return entry.server.path

    def hosted(self, unit: int, *, server: int = 0) -> HostedUnit:
        """The unit as its server sees it (device model + fault)."""
        entry = self._server(server)
        try:
            return entry.units[unit]
        except KeyError:
            raise SimulatorError(
                f"no unit {unit} on server {server} (have {sorted(entry.units)})"
            ) from None

    def shelf(self, unit: int, *, server: int = 0) -> ShelfLoadModel:
        """Load-cell model of a modelled unit (fixture units have none)."""
        device = self.hosted(unit, server=server).device
        if not isinstance(device, Mc10Controller | Tx1Transmitter):
            raise SimulatorError(f"unit {unit} on server {server} serves a fixture, no load model")
        return device.shelf

    # shoppers' hands ---------------------------------------------------------------

    def put(
        self,
        unit: int,
        weight_g: float,
        position_m: float,
        label: str | None = None,
        *,
        server: int = 0,
    ) -> int:
        """Put an item on a shelf; returns its item id."""
        try:
            return self.shelf(unit, server=server).put(weight_g, position_m, label)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from None

    def take(self, unit: int, item: ItemRef, *, server: int = 0) -> Item:
        """Take an item by id, label or (weight_g, position_m)."""
        try:
            return self.shelf(unit, server=server).take(item)
        except KeyError as exc:
            raise SimulatorError(exc.args[0]) from None

    def take_g(self, unit: int, weight_g: float, position_m: float, *, server: int = 0) -> int:
        """Take ``weight_g`` at ``position_m`` whatever items are there (bulk goods)."""
        try:
            return self.shelf(unit, server=server).take_g(weight_g, position_m)
        except ValueError as exc:
            raise SimulatorError(str(exc)) from None

    def true_loads(self, unit: int, *, server: int = 0) -> list[float]:
        """Ground-truth grams per cell: no noise, drift, gain error, zero or tare."""
        return self.shelf(unit, server=server).true_loads()

    def readings(self, unit: int, *, server: int = 0) -> ShelfReading:
        """What the device would report now (draws noise like a register read)."""
        return self.shelf(unit, server=server).read()

    # faults ------------------------------------------------------------------------

    def set_fault(
        self,
        unit: int,
        mode: FaultMode | str,
        *,
        delay_s: float | None = None,
        server: int = 0,
    ) -> Fault:
        """Switch a unit's fault; ``delay_s`` applies to ``late`` (kept if not given)."""
        try:
            new_mode = FaultMode(mode)
        except ValueError:
            modes = ", ".join(m.value for m in FaultMode)
            raise SimulatorError(f"unknown fault mode {mode!r} (one of {modes})") from None
        if delay_s is not None and not delay_s >= 0:
            raise SimulatorError(f"delay_s must be >= 0, got {delay_s}")
        fault = self.hosted(unit, server=server).fault
        fault.mode = new_mode
        if delay_s is not None:
            fault.delay_s = float(delay_s)
        log.info("server %d unit %d fault -> %s", server, unit, fault.as_dict())
        return fault

    def fault(self, unit: int, *, server: int = 0) -> Fault:
        """The fault a unit currently shows."""
        return self.hosted(unit, server=server).fault

    # reports -------------------------------------------------------------------------

    def unit_state(self, unit: int, *, server: int = 0) -> dict[str, Any]:
        """JSON-able view of one unit: fault, items, ground truth and a fresh reading."""
        hosted = self.hosted(unit, server=server)
        device = hosted.device
        state: dict[str, Any] = {"unit": unit, "fault": hosted.fault.as_dict()}
        if isinstance(device, FixtureUnit):
            state.update(model="fixture", profile=device.fixture.profile)
            return state
        assert isinstance(device, Mc10Controller | Tx1Transmitter)
        reading = device.shelf.read()
        state.update(
            model=device.model,
            serial_number=device.serial_number,
            cells=device.shelf.cells,
            items=[item.as_dict() for item in device.shelf.items()],
            true_loads_g=device.shelf.true_loads(),
            weights_g=list(reading.weights_g),
            stable=list(reading.stable),
            overload=list(reading.overload),
        )
        return state

    def state(self, unit: int | None = None, *, server: int | None = None) -> list[dict[str, Any]]:
        """Servers with their units' state; optionally only one server and/or unit id."""
        if server is not None:
            self._server(server)
        result = []
        for info in self.servers:
            if server is not None and info["index"] != server:
                continue
            ids = [u for u in info["units"] if unit is None or u == unit]
            info["units"] = [self.unit_state(u, server=info["index"]) for u in ids]
            result.append(info)
        return result

    def stats(self) -> list[dict[str, Any]]:
        """Per-server counters (requests, replies, crc_errors, ignored, ...)."""
        return [
            {"index": e.index, "kind": e.spec.kind, **e.server.stats()}
            for e in self._servers
            if e in self._started
        ]
