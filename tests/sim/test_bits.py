"""Coils and discrete inputs (FC1, FC2, FC5, FC15) in the simulators' PDU layer.

Expected bytes come from the worked examples of the Modbus Application
Protocol v1.1b3 (sections 6.1, 6.2, 6.5, 6.11), written out by hand; pymodbus
and mbpoll (libmodbus) are the independent masters over TCP.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
from collections.abc import AsyncIterator, Sequence

import pytest
from pymodbus.client import AsyncModbusTcpClient

from sim_devices.dio import DioSimulator
from sim_devices.modbus_pdu import BitTable, ExceptionCode, ModbusError, Table, handle_pdu


class BitBank:
    """A plain BitUnit with 4096 coils and 4096 inputs, for the PDU limits."""

    SIZE = 4096

    def __init__(self) -> None:
        self.coils = [False] * self.SIZE
        self.inputs = [False] * self.SIZE

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS)

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS)

    def read_bits(self, table: BitTable, address: int, count: int) -> list[bool]:
        bank = self.coils if table is BitTable.COILS else self.inputs
        if address + count > self.SIZE:
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS)
        return bank[address : address + count]

    def write_bits(self, address: int, values: Sequence[bool]) -> None:
        if address + len(values) > self.SIZE:
            raise ModbusError(ExceptionCode.ILLEGAL_DATA_ADDRESS)
        self.coils[address : address + len(values)] = list(values)


class RegistersOnly:
    """A unit without bits (like a shelf controller)."""

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        return [0] * count

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        pass


def test_fc1_spec_example_read_19_coils_from_20() -> None:
    bank = BitBank()
    # Spec 6.1 numbers coils from 1: coil 20 is address 19 (0x13). Coils 27..20 = CD,
    # 35..28 = 6B, 38..36 = 05 (LSB = lowest coil).
    bank.coils[19:38] = [
        True, False, True, True, False, False, True, True,   # 20..27 (0xCD)
        True, True, False, True, False, True, True, False,   # 28..35 (0x6B)
        True, False, True,                                   # 36..38 (0x05)
    ]  # fmt: skip
    assert handle_pdu(bank, bytes.fromhex("01 0013 0013")) == bytes.fromhex("01 03 CD 6B 05")


def test_fc2_spec_example_read_22_inputs_from_197() -> None:
    bank = BitBank()
    # Spec 6.2: input 197 is address 196 (0xC4). Inputs 204..197 = AC, 212..205 = DB,
    # 218..213 = 35 (the two high bits are padding, 0).
    bank.inputs[196:218] = [
        False, False, True, True, False, True, False, True,  # 197..204 (0xAC)
        True, True, False, True, True, False, True, True,    # 205..212 (0xDB)
        True, False, True, False, True, True,                # 213..218 (0x35)
    ]  # fmt: skip
    assert handle_pdu(bank, bytes.fromhex("02 00C4 0016")) == bytes.fromhex("02 03 AC DB 35")


def test_fc5_spec_example_and_values() -> None:
    bank = BitBank()
    request = bytes.fromhex("05 00AC FF00")  # spec 6.5: coil 173 (address 172) ON, echoed
    assert handle_pdu(bank, request) == request
    assert bank.coils[171:174] == [False, True, False]
    assert handle_pdu(bank, bytes.fromhex("05 00AC 0000")) == bytes.fromhex("05 00AC 0000")
    assert bank.coils[172] is False
    # Only FF00 and 0000 are legal values.
    assert handle_pdu(bank, bytes.fromhex("05 00AC 0001")) == bytes([0x85, 3])
    assert handle_pdu(bank, bytes.fromhex("05 00AC 00FF")) == bytes([0x85, 3])
    assert handle_pdu(bank, bytes.fromhex("05 00AC FF")) == bytes([0x85, 3])  # short
    assert bank.coils[172] is False


def test_fc15_spec_example_write_10_coils_from_20() -> None:
    bank = BitBank()
    # Spec 6.11: coils 20..29 (addresses 19..28) from CD 01, low bit first.
    reply = handle_pdu(bank, bytes.fromhex("0F 0013 000A 02 CD 01"))
    assert reply == bytes.fromhex("0F 0013 000A")
    expected = [True, False, True, True, False, False, True, True, True, False]
    assert bank.coils[19:29] == expected
    assert bank.coils[18] is False
    assert bank.coils[29] is False


def test_quantity_limits_and_padding() -> None:
    bank = BitBank()
    bank.coils[:2000] = [True] * 2000
    reply = handle_pdu(bank, struct.pack(">BHH", 1, 0, 2000))
    assert reply[:2] == bytes([1, 250])
    assert reply[2:] == b"\xff" * 250
    assert handle_pdu(bank, struct.pack(">BHH", 1, 0, 2001)) == bytes([0x81, 3])
    assert handle_pdu(bank, struct.pack(">BHH", 2, 0, 0)) == bytes([0x82, 3])
    # 3 coils of 0xFF: the 5 unused bits of the byte are zero.
    assert handle_pdu(bank, struct.pack(">BHH", 1, 0, 3)) == bytes([1, 1, 0x07])
    # FC15: 1968 bits max, byte count must be ceil(count / 8), PDU length must agree.
    ok = struct.pack(">BHHB", 15, 0, 1968, 246) + b"\x00" * 246
    assert handle_pdu(bank, ok) == struct.pack(">BHH", 15, 0, 1968)
    too_many = struct.pack(">BHHB", 15, 0, 1969, 247) + b"\x00" * 247
    assert handle_pdu(bank, too_many) == bytes([0x8F, 3])
    wrong_byte_count = struct.pack(">BHHB", 15, 0, 9, 1) + b"\x00"
    assert handle_pdu(bank, wrong_byte_count) == bytes([0x8F, 3])
    truncated = struct.pack(">BHHB", 15, 0, 9, 2) + b"\x00"
    assert handle_pdu(bank, truncated) == bytes([0x8F, 3])
    assert handle_pdu(bank, bytes.fromhex("0F 0000 0001")) == bytes([0x8F, 3])


def test_address_errors() -> None:
    bank = BitBank()
    # Past 65535: exception 2 from the PDU layer, before the model is asked.
    assert handle_pdu(bank, struct.pack(">BHH", 1, 0xFFFF, 2)) == bytes([0x81, 2])
    assert handle_pdu(bank, struct.pack(">BHHB", 15, 0xFFFF, 2, 1) + b"\x03") == bytes([0x8F, 2])
    # Past the model's own table: exception 2 from the model.
    assert handle_pdu(bank, struct.pack(">BHH", 2, 4095, 2)) == bytes([0x82, 2])
    assert handle_pdu(bank, struct.pack(">BHH", 5, 4096, 0xFF00)) == bytes([0x85, 2])


def test_register_only_units_answer_illegal_function() -> None:
    unit = RegistersOnly()
    for request in (
        struct.pack(">BHH", 1, 0, 1),
        struct.pack(">BHH", 2, 0, 1),
        struct.pack(">BHH", 5, 0, 0xFF00),
        struct.pack(">BHHB", 15, 0, 1, 1) + b"\x01",
        bytes([1]),  # even malformed: the function is what is unsupported
    ):
        assert handle_pdu(unit, request) == bytes([request[0] | 0x80, 1])
    assert handle_pdu(unit, struct.pack(">BHH", 3, 0, 2)) == bytes([3, 4, 0, 0, 0, 0])


# --- over TCP: pymodbus and mbpoll as masters against the DIO module ------------------------


@pytest.fixture
async def dio() -> AsyncIterator[DioSimulator]:
    async with DioSimulator() as sim:
        yield sim


async def test_pymodbus_bits_over_tcp(dio: DioSimulator) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=dio.port, timeout=1, retries=0)
    assert await client.connect()
    try:
        reply = await client.write_coils(0, [True, False, True], device_id=1)
        assert not reply.isError()
        assert dio.module.coils[:4] == [True, False, True, False]
        reply = await client.write_coil(7, True, device_id=1)
        assert not reply.isError()
        reply = await client.read_coils(0, count=8, device_id=1)
        assert reply.bits[:8] == [True, False, True, False, False, False, False, True]
        dio.set_input(5, True)
        reply = await client.read_discrete_inputs(0, count=8, device_id=1)
        assert reply.bits[:8] == [False] * 5 + [True, False, False]
        reply = await client.read_coils(6, count=3, device_id=1)
        assert reply.isError()
        assert reply.exception_code == 2
        reply = await client.read_discrete_inputs(0, count=9, device_id=1)
        assert reply.isError()
        assert reply.exception_code == 2
    finally:
        client.close()


VALUE = re.compile(r"^\[(\d+)\]:\s+(\S+)", re.MULTILINE)


async def mbpoll(port: int, *args: str) -> tuple[int, dict[int, str], str]:
    proc = await asyncio.create_subprocess_exec(
        "mbpoll", "-1", "-0", "-m", "tcp", "-p", str(port), "-a", "1", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(10):
        out, _ = await proc.communicate()
    assert proc.returncode is not None
    text = out.decode()
    return proc.returncode, {int(a): v for a, v in VALUE.findall(text)}, text


@pytest.mark.peer
@pytest.mark.skipif(shutil.which("mbpoll") is None, reason="mbpoll not installed")
async def test_mbpoll_coils_and_discrete_inputs(dio: DioSimulator) -> None:
    # mbpoll writes several coils with FC15 and one with FC5.
    code, _, text = await mbpoll(dio.port, "-t", "0", "-r", "1", "127.0.0.1", "1", "1", "0", "1")
    assert code == 0, text
    assert dio.module.coils[:5] == [False, True, True, False, True]
    code, _, text = await mbpoll(dio.port, "-t", "0", "-r", "6", "127.0.0.1", "1")
    assert code == 0, text
    assert dio.module.coils[6] is True
    code, values, text = await mbpoll(dio.port, "-t", "0", "-r", "0", "-c", "8", "127.0.0.1")
    assert code == 0, text
    assert [values[a] for a in range(8)] == ["0", "1", "1", "0", "1", "0", "1", "0"]
    dio.set_input(0, True)
    dio.set_input(6, True)
    code, values, text = await mbpoll(dio.port, "-t", "1", "-r", "0", "-c", "8", "127.0.0.1")
    assert code == 0, text
    assert [values[a] for a in range(8)] == ["1", "0", "0", "0", "0", "0", "1", "0"]
    code, _, text = await mbpoll(dio.port, "-t", "1", "-r", "4", "-c", "5", "127.0.0.1")
    assert code != 0
    assert "Illegal data address" in text
