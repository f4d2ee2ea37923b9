"""Register images of the two shelf-scale models, built from a load-cell model.

The layouts are fixed by the devices' manuals (and mirrored by the driver's
YAML profiles, which must not be imported here):

``mc10`` (multi-cell controller, up to 10 cells)
    input 0..19 cell weights float32 grams ABCD (2 registers per cell, unused
    cells 0.0), 20 stable mask, 21 overload mask, 22..29 reserved (0),
    30 model code 0x0A10, 31 cell count; holding 100 command (1 tare, 2 zero,
    reads back 0), 101 cell mask, 200..201 serial uint32 ABCD, 202 firmware.

``tx1`` (single-cell transmitter, holding registers only)
    0..1 weight int32 in 0.1 g CDAB, 2 status (bit0 stable, bit1 overload,
    bit2 last zero refused), 3..9 reserved (0), 10 model code 0x7101,
    40 command (1 tare, 2 zero, reads back 0), 41..42 serial uint32 CDAB.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sim_devices.loadcell import ShelfLoadModel
from sim_devices.modbus_pdu import ExceptionCode, ModbusError, Table
from sim_devices.register_codec import float32_words, int32_words, uint32_words

log = logging.getLogger(__name__)

COMMAND_NONE = 0
COMMAND_TARE = 1
COMMAND_ZERO = 2

MC10_MODEL_CODE = 0x0A10
MC10_MAX_CELLS = 10
TX1_MODEL_CODE = 0x7101


def _illegal_address(table: Table, address: int, count: int) -> ModbusError:
    return ModbusError(
        ExceptionCode.ILLEGAL_DATA_ADDRESS, f"{table} {address}..{address + count - 1}"
    )


def _slice(
    image: Callable[[], dict[int, int]], table: Table, address: int, count: int
) -> list[int]:
    """Registers ``address..address+count-1`` from a sparse image, all defined or exception 2.

    Callers reject reads past the end of a model's map before building the
    image, so an illegal read draws no noise samples and a seeded run stays
    reproducible; holes inside the map are caught here.
    """
    wanted = range(address, address + count)
    built = image()
    if any(a not in built for a in wanted):
        raise _illegal_address(table, address, count)
    return [built[a] for a in wanted]


class Mc10Controller:
    """Multi-cell shelf controller ``mc10``.

    A refused zero (a cell loaded beyond +-20 % of capacity) is acknowledged
    on the wire like any write, because the mc10 register map has no status
    bit for it; the refused cells keep their old zero and the event is logged.
    """

    model = "mc10"

    def __init__(
        self, shelf: ShelfLoadModel, *, serial_number: int, firmware: int = 0x0103
    ) -> None:
        if shelf.cells > MC10_MAX_CELLS:
            raise ValueError(f"mc10 has at most {MC10_MAX_CELLS} cells, got {shelf.cells}")
        self.shelf = shelf
        self.serial_number = serial_number
        self.firmware = firmware
        self.mask = 0
        self._serial_words = uint32_words(serial_number, "big")

    def _input_image(self) -> dict[int, int]:
        reading = self.shelf.read()
        image = dict.fromkeys(range(32), 0)
        stable_mask = overload_mask = 0
        for i, weight in enumerate(reading.weights_g):
            image[2 * i], image[2 * i + 1] = float32_words(weight, "big")
            stable_mask |= reading.stable[i] << i
            overload_mask |= reading.overload[i] << i
        image[20] = stable_mask
        image[21] = overload_mask
        image[30] = MC10_MODEL_CODE
        image[31] = self.shelf.cells
        return image

    def _holding_image(self) -> dict[int, int]:
        return {
            100: COMMAND_NONE,
            101: self.mask,
            200: self._serial_words[0],
            201: self._serial_words[1],
            202: self.firmware,
        }

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """FC3/FC4 read; input 0..31 and holding 100..101, 200..202 exist."""
        if table is Table.INPUT:
            if address + count > 32:
                raise _illegal_address(table, address, count)
            return _slice(self._input_image, table, address, count)
        return _slice(self._holding_image, table, address, count)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Only 100 (command) and 101 (mask) are writable; an FC16 to both uses the new mask."""
        end = address + len(values)
        if address < 100 or end > 102:
            raise _illegal_address(Table.HOLDING, address, len(values))
        writes = dict(zip(range(address, end), values, strict=True))
        code = writes.get(100)
        if code is not None and code not in (COMMAND_NONE, COMMAND_TARE, COMMAND_ZERO):
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"command {code}")
        if 101 in writes:
            self.mask = writes[101]
        if code is not None:
            self.execute(code, self.mask)

    def execute(self, code: int, mask: int) -> None:
        """Run a tare or zero on the cells of ``mask`` (bits beyond the cell count ignored)."""
        mask &= (1 << self.shelf.cells) - 1
        if code == COMMAND_TARE:
            self.shelf.tare(mask)
        elif code == COMMAND_ZERO:
            self.shelf.zero(mask)
        log.debug("mc10 command %s mask %#x", code, mask)


class Tx1Transmitter:
    """Single-cell weight transmitter ``tx1``; its weight register shows net weight after a tare."""

    model = "tx1"

    def __init__(self, shelf: ShelfLoadModel, *, serial_number: int) -> None:
        if shelf.cells != 1:
            raise ValueError(f"tx1 has exactly one cell, got {shelf.cells}")
        self.shelf = shelf
        self.serial_number = serial_number
        self.zero_refused = False
        self._serial_words = uint32_words(serial_number, "little")

    def _holding_image(self) -> dict[int, int]:
        reading = self.shelf.read()
        image = dict.fromkeys(range(11), 0)
        image[0], image[1] = int32_words(round(reading.weights_g[0] * 10.0), "little")
        image[2] = reading.stable[0] | reading.overload[0] << 1 | self.zero_refused << 2
        image[10] = TX1_MODEL_CODE
        image[40] = COMMAND_NONE
        image[41], image[42] = self._serial_words
        return image

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """FC3 read of 0..10 and 40..42; the tx1 has no input registers."""
        if table is Table.INPUT:
            raise _illegal_address(table, address, count)
        end = address + count
        if not (end <= 11 or (address >= 40 and end <= 43)):
            raise _illegal_address(table, address, count)
        return _slice(self._holding_image, table, address, count)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Only the command register 40 is writable."""
        if address != 40 or len(values) != 1:
            raise _illegal_address(Table.HOLDING, address, len(values))
        code = values[0]
        if code not in (COMMAND_NONE, COMMAND_TARE, COMMAND_ZERO):
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_VALUE, f"command {code}")
        if code == COMMAND_TARE:
            self.shelf.tare(1)
        elif code == COMMAND_ZERO:
            self.zero_refused = bool(self.shelf.zero(1))
