"""Register maps of mc10, tx1 and fixture units, through the PDU handler."""

import struct

import pytest

from sim_devices.clock import ManualClock
from sim_devices.fixture_unit import FixtureUnit, parse_fixture
from sim_devices.loadcell import ShelfLoadModel, ShelfParams
from sim_devices.modbus_pdu import ModbusUnit, handle_pdu
from sim_devices.register_codec import words_to_float32, words_to_int32
from sim_devices.shelf_controller import Mc10Controller, Tx1Transmitter


def read(device: ModbusUnit, fc: int, address: int, count: int) -> list[int] | int:
    """Registers, or the exception code."""
    reply = handle_pdu(device, struct.pack(">BHH", fc, address, count))
    if reply[0] & 0x80:
        assert reply[0] == fc | 0x80
        return -reply[1]
    assert reply[:2] == bytes([fc, 2 * count])
    return list(struct.unpack(f">{count}H", reply[2:]))


def write(device: ModbusUnit, address: int, values: list[int]) -> bytes:
    body = struct.pack(f">BHHB{len(values)}H", 16, address, len(values), 2 * len(values), *values)
    return handle_pdu(device, body)


def mc10(clock: ManualClock, cells: int = 4, **kw: object) -> Mc10Controller:
    params = ShelfParams(cells=cells, length_m=1.2, sigma_g=0.0, **kw)  # type: ignore[arg-type]
    return Mc10Controller(ShelfLoadModel(params, clock), serial_number=20261234)


def test_mc10_input_map(clock: ManualClock) -> None:
    device = mc10(clock, dead_load_g=400.0, capacity_g=5000.0)
    device.shelf.put(6000.0, 1.2)
    clock.advance(10.0)
    regs = read(device, 4, 0, 32)
    assert isinstance(regs, list)
    weights = [words_to_float32(regs[2 * i : 2 * i + 2], "big") for i in range(10)]
    assert weights[:4] == pytest.approx([100.0, 100.0, 100.0, 6100.0])
    assert weights[4:] == [0.0] * 6
    assert regs[20] == 0b1111  # stable
    assert regs[21] == 0b1000  # overload on cell 3
    assert regs[22:30] == [0] * 8
    assert regs[30] == 0x0A10
    assert regs[31] == 4


def test_mc10_illegal_addresses_and_values(clock: ManualClock) -> None:
    device = mc10(clock)
    assert read(device, 4, 31, 2) == -2
    assert read(device, 4, 32, 1) == -2
    assert read(device, 4, 0, 0) == -3
    assert read(device, 4, 0, 126) == -3
    assert read(device, 3, 99, 2) == -2
    assert read(device, 3, 100, 103) == -2  # hole 102..199
    assert read(device, 3, 0, 1) == -2
    assert handle_pdu(device, bytes([1, 0, 0, 0, 1])) == bytes([0x81, 1])  # FC1 unsupported
    assert handle_pdu(device, bytes([43, 14, 1, 0])) == bytes([0xAB, 1])
    assert handle_pdu(device, bytes([4, 0, 0])) == bytes([0x84, 3])  # short PDU
    assert write(device, 200, [1]) == bytes([0x90, 2])  # serial number is read-only
    assert write(device, 100, [7, 1]) == bytes([0x90, 3])  # no command 7


def test_mc10_holding_map(clock: ManualClock) -> None:
    device = mc10(clock)
    assert read(device, 3, 100, 2) == [0, 0]
    assert read(device, 3, 200, 3) == [0x0135, 0x2972, 0x0103]


def test_mc10_fc16_tare_uses_new_mask(clock: ManualClock) -> None:
    device = mc10(clock, dead_load_g=800.0)
    assert write(device, 100, [1, 0b0101]) == struct.pack(">BHH", 16, 100, 2)
    regs = read(device, 4, 0, 8)
    assert isinstance(regs, list)
    weights = [words_to_float32(regs[2 * i : 2 * i + 2]) for i in range(4)]
    assert weights == pytest.approx([0.0, 200.0, 0.0, 200.0])
    assert read(device, 3, 100, 2) == [0, 0b0101]  # command reads back 0, mask kept
    # FC6 to the command register reuses the stored mask
    assert handle_pdu(device, struct.pack(">BHH", 6, 100, 2)) == struct.pack(">BHH", 6, 100, 2)


def test_mc10_zero_refused_leaves_cell(clock: ManualClock) -> None:
    device = mc10(clock, capacity_g=1000.0)
    device.shelf.put(500.0, 0.0)
    clock.advance(10.0)
    assert write(device, 100, [2, 0b0011]) == struct.pack(">BHH", 16, 100, 2)
    regs = read(device, 4, 0, 4)
    assert isinstance(regs, list)
    assert words_to_float32(regs[0:2]) == pytest.approx(500.0)  # refused: > 200 g
    assert words_to_float32(regs[2:4]) == pytest.approx(0.0)


def tx1(clock: ManualClock, **kw: object) -> Tx1Transmitter:
    params = ShelfParams(cells=1, sigma_g=0.0, **kw)  # type: ignore[arg-type]
    return Tx1Transmitter(ShelfLoadModel(params, clock), serial_number=20261237)


def test_tx1_map_negative_weight_and_status(clock: ManualClock) -> None:
    device = tx1(clock, offsets_g=(-12.34,))
    regs = read(device, 3, 0, 11)
    assert isinstance(regs, list)
    assert words_to_int32(regs[0:2], "little") == -123
    assert regs[2] == 0b001
    assert regs[3:10] == [0] * 7
    assert regs[10] == 0x7101
    assert read(device, 3, 40, 3) == [0, 0x2975, 0x0135]
    assert read(device, 4, 0, 1) == -2
    assert read(device, 3, 11, 1) == -2
    assert read(device, 3, 9, 3) == -2
    assert read(device, 3, 39, 2) == -2


def test_tx1_commands_and_zero_refused_flag(clock: ManualClock) -> None:
    device = tx1(clock, capacity_g=1000.0)
    device.shelf.put(300.0, 0.0)
    clock.advance(10.0)
    assert handle_pdu(device, struct.pack(">BHH", 6, 40, 2)) == struct.pack(">BHH", 6, 40, 2)
    assert read(device, 3, 2, 1) == [0b101]  # stable + zero refused (300 g > 200 g)
    handle_pdu(device, struct.pack(">BHH", 6, 40, 1))  # tare
    regs = read(device, 3, 0, 3)
    assert isinstance(regs, list)
    assert words_to_int32(regs[0:2], "little") == 0
    device.shelf.take_g(300.0, 0.0)
    clock.advance(10.0)
    handle_pdu(device, struct.pack(">BHH", 6, 40, 2))  # zero now in range
    assert read(device, 3, 2, 1) == [0b001]
    assert handle_pdu(device, struct.pack(">BHH", 6, 41, 2))[0] == 0x86
    assert handle_pdu(device, struct.pack(">BHH", 6, 40, 9)) == bytes([0x86, 3])


def test_settling_visible_in_stable_mask(clock: ManualClock) -> None:
    device = mc10(clock)
    device.shelf.put(1000.0, 0.6)  # between cells 1 and 2
    assert read(device, 4, 20, 1) == [0b1001]
    clock.advance(3.0)
    assert read(device, 4, 20, 1) == [0b1111]


def test_fixture_unit() -> None:
    fixture = parse_fixture(
        {
            "format": "walkout-modbus-fixture/1",
            "profile": "mc10",
            "unit_id": 3,
            "redacted": ["serial_number"],
            "tables": {"holding": {"100": 0, "101": 0}, "input": {"0": 17530, "1": 0}},
        }
    )
    device = FixtureUnit(fixture)
    assert read(device, 4, 0, 2) == [17530, 0]
    assert read(device, 4, 0, 3) == -2
    assert read(device, 3, 100, 2) == [0, 0]
    assert write(device, 100, [1, 3]) == struct.pack(">BHH", 16, 100, 2)
    assert read(device, 3, 100, 2) == [1, 3]
    assert write(device, 102, [1]) == bytes([0x90, 2])


def test_fc16_malformed_byte_count(clock: ManualClock) -> None:
    device = mc10(clock)
    bad = struct.pack(">BHHB2H", 16, 100, 2, 3, 1, 1)
    assert handle_pdu(device, bad) == bytes([0x90, 3])
