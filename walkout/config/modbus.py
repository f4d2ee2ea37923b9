"""Modbus buses and the units on them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from walkout.config.errors import Strict

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
"""An id in store.yaml: letters, digits, ``_.-``; what logs and topics use."""


class TcpBus(Strict):
    """A Modbus TCP device or gateway."""

    id: Identifier
    type: Literal["tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    timeout_s: float = Field(default=0.5, gt=0, le=30)


class RtuBus(Strict):
    """One RS-485 line with a Modbus RTU master port."""

    id: Identifier
    type: Literal["rtu"]
    port: str = Field(description="serial device path, e.g. /dev/ttyUSB0")
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=0.2, gt=0, le=30)


Bus = Annotated[TcpBus | RtuBus, Field(discriminator="type")]


class ModbusUnit(Strict):
    """A device on a bus: its unit id and the profile that maps its registers."""

    id: Identifier
    bus: str
    unit_id: int = Field(ge=1, le=247)
    profile: str


class ModbusSection(Strict):
    """Buses and the units on them."""

    buses: list[Bus] = Field(default_factory=list)
    units: list[ModbusUnit] = Field(default_factory=list)
