"""The digital-I/O gate simulator: one module on Modbus TCP with its doors.

``async with DioSimulator(spec) as sim:`` serves the module from the shared
hand-written Modbus TCP server inside the caller's event loop (tests use it
directly); ``python -m sim_devices.dio serve`` wraps the same object with a
control server.

Faults, switchable at run time:

- wire faults of the TCP server (``silent``, ``late``, ``corrupt_crc``,
  ``wrong_unit``): a silent module acts on nothing, so its watchdog trips;
- ``coil_ignored``: coil writes are acknowledged but the outputs do not move
  (a welded relay, a dead output stage): only a read-back catches it;
- ``stuck_input``: an input reads a fixed level whatever happens;
- ``power_off``: the module dies: its port closes, every relay drops;
  ``power_on`` brings it back on the same port in its power-up state;
- ``none`` clears them all (and powers the module back on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sim_devices.dio.door import Door, DoorSpec
from sim_devices.dio.module import Clock, IoModule, ModuleSpec
from sim_devices.faults import Fault, FaultMode
from sim_devices.modbus_pdu import HostedUnit
from sim_devices.tcp_server import ModbusTcpServer

log = logging.getLogger(__name__)

TICK_INTERVAL_S = 0.05
"""How often timers and the watchdog are applied when nobody asks (for timely logs)."""

MODULE_FAULTS = ("coil_ignored", "stuck_input", "power_off", "power_on")


def default_doors() -> tuple[DoorSpec, ...]:
    """An entry door (relay DO1, beam DI1) and an exit door (DO2, beam DI2, button DI3)."""
    return (
        DoorSpec("entry", lock_coil=0, passage_input=0),
        DoorSpec("exit", lock_coil=1, passage_input=1, button_input=2),
    )


class DioSimulatorError(Exception):
    """A control request the simulator cannot carry out."""


@dataclass(frozen=True)
class DioSimSpec:
    """Everything that defines one simulated module and its doors."""

    unit_id: int = 1
    module: ModuleSpec = field(default_factory=ModuleSpec)
    doors: tuple[DoorSpec, ...] = field(default_factory=default_doors)
    host: str = "127.0.0.1"
    port: int = 0


class DioSimulator:
    """A module, its doors and its Modbus TCP server."""

    def __init__(self, spec: DioSimSpec | None = None, *, clock: Clock = time.monotonic) -> None:
        self.spec = spec or DioSimSpec()
        self.module = IoModule(self.spec.module, clock=clock)
        self.doors = {d.name: Door(d, self.module) for d in self.spec.doors}
        if len(self.doors) != len(self.spec.doors):
            raise ValueError("door names must be unique")
        self.hosted = HostedUnit(self.spec.unit_id, self.module)
        self._port = self.spec.port
        self._server: ModbusTcpServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.powered = False

    async def __aenter__(self) -> DioSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The Modbus TCP port (kept across power cycles)."""
        return self._port

    async def start(self) -> None:
        """Power on: listen, and apply timers in the background."""
        await self._power_on()
        self._ticker = asyncio.create_task(self._tick(), name="dio-sim-ticker")

    async def stop(self) -> None:
        """Stop the server and the ticker; idempotent."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._power_off()

    async def _power_on(self) -> None:
        if self._server is not None:
            return
        server = ModbusTcpServer({self.spec.unit_id: self.hosted}, self.spec.host, self._port)
        await server.start()
        self._server = server
        self._port = server.port
        self.module.power_cycle()
        self.powered = True
        log.info("DIO module on %s:%s unit %s", self.spec.host, self._port, self.spec.unit_id)

    async def _power_off(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
        self.module.power_cycle()
        self.powered = False

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(TICK_INTERVAL_S)
            if self.powered:
                self.module.advance()

    # control ----------------------------------------------------------------------------

    def door(self, name: str) -> Door:
        """A door by name."""
        try:
            return self.doors[name]
        except KeyError:
            known = ", ".join(self.doors)
            raise DioSimulatorError(f"no door {name!r} (have {known})") from None

    def walk_through(self, door: str) -> dict[str, Any]:
        """A person walks through ``door`` (only passes if it is open)."""
        self._require_power()
        return self.door(door).walk_through()

    def press(self, door: str) -> dict[str, Any]:
        """The exit button of ``door`` is pressed."""
        self._require_power()
        try:
            return self.door(door).press()
        except ValueError as exc:
            raise DioSimulatorError(str(exc)) from None

    def set_input(self, index: int, value: bool) -> None:
        """Set an input's static level (a tamper switch, a door contact)."""
        try:
            self.module.set_input(index, value)
        except ValueError as exc:
            raise DioSimulatorError(str(exc)) from None

    def _require_power(self) -> None:
        if not self.powered:
            raise DioSimulatorError("the module is powered off")

    async def set_fault(
        self,
        mode: str,
        *,
        delay_s: float | None = None,
        index: int | None = None,
        value: bool | None = None,
    ) -> dict[str, Any]:
        """Apply a fault (see the module docstring); returns the faults now in force."""
        if mode == "none":
            self.hosted.fault = Fault()
            self.module.coil_writes_ignored = False
            self.module.stuck.clear()
            await self._power_on()
        elif mode == "coil_ignored":
            self.module.coil_writes_ignored = True
        elif mode == "stuck_input":
            if index is None or not 0 <= index < self.module.spec.inputs:
                raise DioSimulatorError("stuck_input needs 'input' (a valid input number)")
            self.module.stuck[index] = bool(value)
        elif mode == "power_off":
            await self._power_off()
        elif mode == "power_on":
            await self._power_on()
        else:
            try:
                wire = FaultMode(mode)
            except ValueError:
                modes = ", ".join([*(m.value for m in FaultMode), *MODULE_FAULTS])
                raise DioSimulatorError(f"unknown fault {mode!r} (one of {modes})") from None
            self.hosted.fault = Fault(wire) if delay_s is None else Fault(wire, delay_s)
        return self.faults()

    def faults(self) -> dict[str, Any]:
        """The faults in force."""
        return {
            "wire": self.hosted.fault.as_dict(),
            "coil_writes_ignored": self.module.coil_writes_ignored,
            "stuck": {str(k): v for k, v in self.module.stuck.items()},
            "powered": self.powered,
        }

    def state(self) -> dict[str, Any]:
        """Module and doors, as the control API's ``state`` answers."""
        return {
            "unit_id": self.spec.unit_id,
            "port": self._port,
            "powered": self.powered,
            "module": self.module.state(),
            "doors": [door.state() for door in self.doors.values()],
            "server": self._server.stats() if self._server is not None else None,
        }

    def ready_info(self) -> dict[str, Any]:
        """The ready line's fields."""
        return {
            "kind": "dio",
            "host": self.spec.host,
            "port": self._port,
            "unit": self.spec.unit_id,
            "doors": [door.state() for door in self.doors.values()],
        }
