"""Server side of the Modbus application layer (PDU), shared by TCP and RTU.

Only what a shelf scale needs is implemented: FC3 read holding, FC4 read
input, FC6 write single, FC16 write multiple. The checks follow the order of
the Modbus Application Protocol v1.1b3 state diagrams: function code
(exception 1), then quantity and PDU length (exception 3), then address range
(exception 2), then the device's own processing (exception 4 for anything it
did not expect).
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sim_devices.faults import Fault

log = logging.getLogger(__name__)

MAX_READ_COUNT = 125
"""FC3/FC4 limit: 125 registers fill the 253-byte PDU."""

MAX_WRITE_COUNT = 123
"""FC16 limit: 123 registers plus the 6-byte header fill the 253-byte PDU."""

READ_HOLDING = 3
READ_INPUT = 4
WRITE_SINGLE = 6
WRITE_MULTIPLE = 16
WRITE_FUNCTIONS = frozenset({WRITE_SINGLE, WRITE_MULTIPLE})


class ExceptionCode(enum.IntEnum):
    """Modbus exception codes used by the simulator."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    GATEWAY_TARGET_FAILED = 0x0B


class Table(enum.StrEnum):
    """The two register tables a scale uses."""

    HOLDING = "holding"
    INPUT = "input"


class ModbusError(Exception):
    """Raised by a device model to answer with a Modbus exception response."""

    def __init__(self, code: ExceptionCode, detail: str = "") -> None:
        super().__init__(f"{code.name}: {detail}" if detail else code.name)
        self.code = code


class ModbusUnit(Protocol):
    """A device model behind one unit id: registers in, registers out.

    Implementations raise :class:`ModbusError` for addresses they do not
    define; values are uint16 ints.
    """

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """Read ``count`` registers from ``table`` starting at ``address``."""
        ...

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Write holding registers; the unit decides what a write triggers."""
        ...


@dataclass
class HostedUnit:
    """A unit as a server sees it: the device model plus its injected fault."""

    unit_id: int
    device: ModbusUnit
    fault: Fault = field(default_factory=Fault)


def exception_pdu(function_code: int, code: ExceptionCode) -> bytes:
    """Exception response: the function code with bit 7 set, then the code."""
    return bytes([(function_code | 0x80) & 0xFF, code])


def handle_pdu(device: ModbusUnit, pdu: bytes) -> bytes:
    """Execute one request PDU on ``device`` and return the response PDU.

    Never raises for bad input: every malformed request becomes an exception
    response, and an unexpected error inside the model becomes exception 4
    (logged with its traceback, since it is a simulator bug).
    """
    if not pdu:
        raise ValueError("empty PDU")
    function_code = pdu[0]
    try:
        if function_code in (READ_HOLDING, READ_INPUT):
            return _read(device, pdu)
        if function_code == WRITE_SINGLE:
            return _write_single(device, pdu)
        if function_code == WRITE_MULTIPLE:
            return _write_multiple(device, pdu)
        raise ModbusError(ExceptionCode.ILLEGAL_FUNCTION, f"function code {function_code}")
    except ModbusError as exc:
        log.debug("request %s -> exception %s", pdu.hex(), exc)
        return exception_pdu(function_code, exc.code)
    except Exception:
        log.exception("device model failed on request %s", pdu.hex())
        return exception_pdu(function_code, ExceptionCode.SERVER_DEVICE_FAILURE)


def _check_range(address: int, count: int) -> None:
    if address + count > 0x10000:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS, f"{address}+{count} past 65535")


def _read(device: ModbusUnit, pdu: bytes) -> bytes:
    if len(pdu) != 5:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"read PDU of {len(pdu)} bytes")
    address, count = struct.unpack(">HH", pdu[1:5])
    if not 1 <= count <= MAX_READ_COUNT:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"count {count}")
    _check_range(address, count)
    table = Table.HOLDING if pdu[0] == READ_HOLDING else Table.INPUT
    words = device.read_registers(table, address, count)
    if len(words) != count:
        raise RuntimeError(f"device returned {len(words)} registers for {count}")
    return bytes([pdu[0], 2 * count]) + struct.pack(f">{count}H", *words)


def _write_single(device: ModbusUnit, pdu: bytes) -> bytes:
    if len(pdu) != 5:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"FC6 PDU of {len(pdu)} bytes")
    address, value = struct.unpack(">HH", pdu[1:5])
    device.write_registers(address, [value])
    return pdu


def _write_multiple(device: ModbusUnit, pdu: bytes) -> bytes:
    if len(pdu) < 6:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"FC16 PDU of {len(pdu)} bytes")
    address, count, byte_count = struct.unpack(">HHB", pdu[1:6])
    if not 1 <= count <= MAX_WRITE_COUNT or byte_count != 2 * count or len(pdu) != 6 + byte_count:
        raise ModbusError(
            ExceptionCode.ILLEGAL_DATA_VALUE,
            f"FC16 count {count}, byte count {byte_count}, PDU {len(pdu)} bytes",
        )
    _check_range(address, count)
    values = list(struct.unpack(f">{count}H", pdu[6:]))
    device.write_registers(address, values)
    return struct.pack(">BHH", WRITE_MULTIPLE, address, count)
