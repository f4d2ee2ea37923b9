"""The CRAC simulator: one unit and its room, served over Modbus TCP and/or RTU in-process.

``async with CracSimulator("pcw1", clock=clock) as sim:`` starts the servers
inside the caller's event loop; ``sim.crac`` is the thermal model (set
``it_load_w`` / ``gpu_load_w``, read ``room_air_c`` / ``supply_air_c``) and
``sim.unit`` the register map a master sees. The CLI wraps the same object
with a control server.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import Any

from sim_devices.crac.model import (
    Clock,
    Controller,
    ControlMode,
    CracModel,
    CracParams,
    RoomParams,
)
from sim_devices.crac.registers import MODELS, RegisterFace
from sim_devices.faults import Fault, FaultMode
from sim_devices.modbus_pdu import HostedUnit
from sim_devices.rtu_server import ModbusRtuServer
from sim_devices.serial_line import LineSettings
from sim_devices.tcp_server import ModbusTcpServer

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, CracParams] = {
    "pcw1": CracParams(),
    "irc2": CracParams(
        compressors=1,
        compressor_capacity_w=10_000.0,
        heater_stages=0,
        humidifier=False,
        airflow_m3_s=0.8,
        fan_min_pct=40.0,
        controller=Controller.PROPORTIONAL,
        control_mode=ControlMode.SUPPLY,
        supply_setpoint_c=20.0,
        supply_setpoint_range_c=(18.0, 27.0),
        low_supply_limit_c=12.0,
        latch_equipment_alarms=False,
    ),
}
"""Equipment of each model as its datasheet gives it."""


class CracSimError(Exception):
    """A request the simulator cannot carry out (unknown model, fault, mode)."""


class CracSimulator:
    """One simulated CRAC unit with a TCP server, an RTU line, or both.

    ``clock`` drives the thermal model (inject a ``ManualClock`` to step it);
    ``speed`` accelerates simulated time against that clock. RTU line pacing
    always uses the event loop's clock, since it must match real wire time.
    """

    def __init__(
        self,
        model: str = "pcw1",
        *,
        unit_id: int = 1,
        tcp: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
        rtu: bool = False,
        line: LineSettings | None = None,
        rtu_link: str | Path | None = None,
        rtu_device: str | Path | None = None,
        params: CracParams | None = None,
        room: RoomParams | None = None,
        clock: Clock | None = None,
        speed: float = 1.0,
        it_load_w: float = 6000.0,
    ) -> None:
        if model not in MODELS:
            raise CracSimError(f"unknown CRAC model {model!r} (one of {', '.join(MODELS)})")
        if not 1 <= unit_id <= 247:
            raise CracSimError(f"unit id {unit_id} outside 1..247")
        if not tcp and not rtu:
            raise CracSimError("nothing to serve: enable TCP, RTU or both")
        self.crac = CracModel(
            params or DEFAULT_PARAMS[model], room, clock=clock, speed=speed, it_load_w=it_load_w
        )
        try:
            self.unit: RegisterFace = MODELS[model](self.crac)
        except ValueError as exc:
            raise CracSimError(f"{model}: {exc}") from None
        self.unit_id = unit_id
        self.hosted = HostedUnit(unit_id, self.unit)
        units = {unit_id: self.hosted}
        self._tcp = ModbusTcpServer(units, host, port) if tcp else None
        self.line = line or LineSettings()
        self._rtu = (
            ModbusRtuServer(units, self.line, link=rtu_link, device=rtu_device) if rtu else None
        )
        self._started: list[ModbusTcpServer | ModbusRtuServer] = []

    @property
    def model(self) -> str:
        """Register map served (``pcw1``, ``irc2``)."""
        return self.unit.model

    async def __aenter__(self) -> CracSimulator:
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
        """Start the servers; if one fails, the ones already started are stopped again."""
        try:
            for server in (self._tcp, self._rtu):
                if server is not None:
                    await server.start()
                    self._started.append(server)
        except BaseException:
            await self.stop()
            raise
        log.info("CRAC simulator %s up: %s", self.model, self.servers)

    async def stop(self) -> None:
        """Stop every started server; idempotent."""
        while self._started:
            await self._started.pop().stop()

    @property
    def tcp_port(self) -> int:
        """Bound Modbus TCP port."""
        if self._tcp is None:
            raise CracSimError("this simulator has no TCP server")
        return self._tcp.port

    @property
    def rtu_path(self) -> str:
        """Device path a master opens for the RTU line."""
        if self._rtu is None:
            raise CracSimError("this simulator has no RTU line")
        return self._rtu.path

    @property
    def servers(self) -> list[dict[str, Any]]:
        """Where the unit can be reached (the ``servers`` list of the ready line)."""
        result: list[dict[str, Any]] = []
        if self._tcp is not None:
            started = self._tcp in self._started
            result.append(
                {
                    "kind": "tcp",
                    "host": self._tcp.host,
                    "port": self._tcp.port if started else None,
                    "units": [self.unit_id],
                }
            )
        if self._rtu is not None:
            started = self._rtu in self._started
            result.append(
                {
                    "kind": "rtu",
                    "path": self._rtu.path if started else None,
                    "link": self._rtu.link if started else None,
                    "baudrate": self.line.baudrate,
                    "parity": self.line.parity,
                    "stopbits": self.line.stopbits,
                    "units": [self.unit_id],
                }
            )
        return result

    def set_link_fault(self, mode: FaultMode | str, delay_s: float | None = None) -> Fault:
        """Make the unit silent, late, or answer with a bad CRC / wrong unit id on the wire."""
        try:
            new_mode = FaultMode(mode)
        except ValueError:
            modes = ", ".join(m.value for m in FaultMode)
            raise CracSimError(f"unknown link fault {mode!r} (one of {modes})") from None
        if delay_s is not None and not delay_s >= 0:
            raise CracSimError(f"delay_s must be >= 0, got {delay_s}")
        fault = self.hosted.fault
        fault.mode = new_mode
        if delay_s is not None:
            fault.delay_s = float(delay_s)
        log.info("CRAC unit %d link fault -> %s", self.unit_id, fault.as_dict())
        return fault

    def registers(self) -> dict[str, dict[int, int]]:
        """Raw register values a master would read now, per table."""
        return {table.value: dict(values) for table, values in self.unit.image().items()}

    def state(self) -> dict[str, Any]:
        """Model state plus model name, unit id, link fault and raw registers."""
        return {
            "model": self.model,
            "unit_id": self.unit_id,
            "link_fault": self.hosted.fault.as_dict(),
            **self.crac.state(),
            "registers": {
                table: {str(a): v for a, v in values.items()}
                for table, values in self.registers().items()
            },
        }

    def stats(self) -> dict[str, Any]:
        """Server counters and the model's counters."""
        servers = [
            {"kind": "tcp" if isinstance(s, ModbusTcpServer) else "rtu", **s.stats()}
            for s in self._started
        ]
        return {
            "servers": servers,
            "writes_refused": self.unit.writes_refused,
            "writes_ignored": self.unit.writes_ignored,
            **self.crac.stats(),
        }
