"""Server side of the Modbus application layer (PDU), shared by TCP and RTU.

Registers for every unit: FC3 read holding, FC4 read input, FC6 write
single, FC16 write multiple. Bits for units that have them (digital-I/O
modules, see :class:`BitUnit`): FC1 read coils, FC2 read discrete inputs,
FC5 write single coil, FC15 write multiple coils; a register-only unit
answers those with exception 1, as a real shelf controller would. The checks
follow the order of the Modbus Application Protocol v1.1b3 state diagrams:
function code (exception 1), then quantity and PDU length (exception 3), then
address range (exception 2), then the device's own processing (exception 4
for anything it did not expect).
"""

from __future__ import annotations

import enum
import logging
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sim_devices.faults import Fault

log = logging.getLogger(__name__)

MAX_READ_COUNT = 125
"""FC3/FC4 limit: 125 registers fill the 253-byte PDU."""

MAX_WRITE_COUNT = 123
"""FC16 limit: 123 registers plus the 6-byte header fill the 253-byte PDU."""

MAX_READ_BITS = 2000
"""FC1/FC2 limit: 2000 bits (250 bytes) fill the 253-byte PDU."""

MAX_WRITE_BITS = 1968
"""FC15 limit (0x7B0): 1968 bits (246 bytes) plus the 6-byte header fill the PDU."""

READ_COILS = 1
READ_DISCRETE = 2
READ_HOLDING = 3
READ_INPUT = 4
WRITE_COIL = 5
WRITE_SINGLE = 6
WRITE_COILS = 15
WRITE_MULTIPLE = 16
WRITE_FUNCTIONS = frozenset({WRITE_COIL, WRITE_SINGLE, WRITE_COILS, WRITE_MULTIPLE})
BIT_FUNCTIONS = frozenset({READ_COILS, READ_DISCRETE, WRITE_COIL, WRITE_COILS})

COIL_ON = 0xFF00
COIL_OFF = 0x0000
"""The only two values FC5 accepts; anything else is exception 3."""


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


class BitTable(enum.StrEnum):
    """The two bit tables a digital-I/O unit has."""

    COILS = "coils"
    DISCRETE = "discrete_inputs"


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


@runtime_checkable
class BitUnit(ModbusUnit, Protocol):
    """A unit that also has coils and discrete inputs (a digital-I/O module).

    Optional on top of :class:`ModbusUnit`: ``handle_pdu`` checks for it per
    request, so register-only models need no change and keep answering bit
    requests with exception 1.
    """

    def read_bits(self, table: BitTable, address: int, count: int) -> list[bool]:
        """Read ``count`` coils or discrete inputs starting at ``address``."""
        ...

    def write_bits(self, address: int, values: Sequence[bool]) -> None:
        """Write coils; the unit decides what a write triggers."""
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
        if function_code in BIT_FUNCTIONS:
            return _bits(device, pdu)
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


def _bits(device: ModbusUnit, pdu: bytes) -> bytes:
    if not isinstance(device, BitUnit):
        raise ModbusError(ExceptionCode.ILLEGAL_FUNCTION, f"function code {pdu[0]} (no bits)")
    if pdu[0] in (READ_COILS, READ_DISCRETE):
        return _read_bits(device, pdu)
    if pdu[0] == WRITE_COIL:
        return _write_coil(device, pdu)
    return _write_coils(device, pdu)


def pack_bits(bits: Sequence[bool]) -> bytes:
    """Bits as the wire carries them: first bit in the low bit of the first byte.

    The unused high bits of the last byte are zero (Modbus spec 6.1).
    """
    out = bytearray((len(bits) + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            out[index // 8] |= 1 << (index % 8)
    return bytes(out)


def unpack_bits(data: bytes, count: int) -> list[bool]:
    """The first ``count`` bits of ``data``, low bit of each byte first."""
    return [bool(data[index // 8] >> (index % 8) & 1) for index in range(count)]


def _read_bits(device: BitUnit, pdu: bytes) -> bytes:
    if len(pdu) != 5:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"read PDU of {len(pdu)} bytes")
    address, count = struct.unpack(">HH", pdu[1:5])
    if not 1 <= count <= MAX_READ_BITS:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"bit count {count}")
    _check_range(address, count)
    table = BitTable.COILS if pdu[0] == READ_COILS else BitTable.DISCRETE
    bits = device.read_bits(table, address, count)
    if len(bits) != count:
        raise RuntimeError(f"device returned {len(bits)} bits for {count}")
    data = pack_bits(bits)
    return bytes([pdu[0], len(data)]) + data


def _write_coil(device: BitUnit, pdu: bytes) -> bytes:
    if len(pdu) != 5:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"FC5 PDU of {len(pdu)} bytes")
    address, value = struct.unpack(">HH", pdu[1:5])
    if value not in (COIL_ON, COIL_OFF):
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"FC5 value {value:#06x}")
    device.write_bits(address, [value == COIL_ON])
    return pdu


def _write_coils(device: BitUnit, pdu: bytes) -> bytes:
    if len(pdu) < 6:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"FC15 PDU of {len(pdu)} bytes")
    address, count, byte_count = struct.unpack(">HHB", pdu[1:6])
    if (
        not 1 <= count <= MAX_WRITE_BITS
        or byte_count != (count + 7) // 8
        or len(pdu) != 6 + byte_count
    ):
        raise ModbusError(
            ExceptionCode.ILLEGAL_DATA_VALUE,
            f"FC15 count {count}, byte count {byte_count}, PDU {len(pdu)} bytes",
        )
    _check_range(address, count)
    device.write_bits(address, unpack_bits(pdu[6:], count))
    return struct.pack(">BHH", WRITE_COILS, address, count)
