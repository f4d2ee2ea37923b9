"""Modbus TCP over real loopback sockets, with pymodbus as the independent master."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from sim_devices import (
    FixtureUnitSpec,
    ItemSpec,
    Scenario,
    ShelfSimulator,
    TcpServerSpec,
    UnitSpec,
)

convert = AsyncModbusTcpClient.convert_from_registers
DT = AsyncModbusTcpClient.DATATYPE


@pytest.fixture
def fixture_file(tmp_path: Path) -> Path:
    path = tmp_path / "unit5.json"
    path.write_text(
        json.dumps(
            {
                "format": "walkout-modbus-fixture/1",
                "profile": "mc10",
                "unit_id": 5,
                "redacted": ["serial_number"],
                "tables": {
                    "holding": {"100": 0, "101": 0, "200": 0, "201": 0, "202": 259},
                    "input": {str(a): (17530 if a == 0 else 0) for a in range(32)},
                },
            }
        )
    )
    return path


@pytest.fixture
async def sim(fixture_file: Path) -> AsyncIterator[ShelfSimulator]:
    scenario = Scenario(
        servers=(
            TcpServerSpec(
                units=(
                    UnitSpec(
                        unit_id=1,
                        cells=4,
                        length_m=1.2,
                        dead_load_g=800.0,
                        sigma_g=0.0,
                        items=(ItemSpec(355.0, 0.0, "cola"),),
                    ),
                    UnitSpec(unit_id=2, model="tx1", sigma_g=0.0, serial_number=20261237),
                    FixtureUnitSpec(unit_id=5, fixture=fixture_file),
                )
            ),
        )
    )
    async with ShelfSimulator(scenario) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: ShelfSimulator) -> AsyncIterator[AsyncModbusTcpClient]:
    c = AsyncModbusTcpClient("127.0.0.1", port=sim.tcp_port(0), timeout=1, retries=0)
    assert await c.connect()
    yield c
    c.close()


async def test_mc10_map_over_tcp(sim: ShelfSimulator, client: AsyncModbusTcpClient) -> None:
    rr = await client.read_input_registers(0, count=32, device_id=1)
    assert not rr.isError()
    regs = rr.registers
    weights = [convert(regs[2 * i : 2 * i + 2], DT.FLOAT32, "big") for i in range(4)]
    assert weights == pytest.approx([555.0, 200.0, 200.0, 200.0])
    assert regs[20] == 0b1111
    assert regs[30:32] == [0x0A10, 4]
    hr = await client.read_holding_registers(200, count=3, device_id=1)
    assert convert(hr.registers[:2], DT.UINT32, "big") == 20260001  # default serial
    assert hr.registers[2] == 0x0103


async def test_mc10_tare_command_over_tcp(
    sim: ShelfSimulator, client: AsyncModbusTcpClient
) -> None:
    wr = await client.write_registers(100, [1, 0b0111], device_id=1)
    assert not wr.isError()
    rr = await client.read_input_registers(0, count=8, device_id=1)
    weights = [convert(rr.registers[2 * i : 2 * i + 2], DT.FLOAT32, "big") for i in range(4)]
    assert weights == pytest.approx([0.0, 0.0, 0.0, 200.0])
    hr = await client.read_holding_registers(100, count=2, device_id=1)
    assert hr.registers == [0, 0b0111]
    sim.put(1, 400.0, 0.6)  # halfway between cells 1 and 2
    assert sim.true_loads(1) == pytest.approx([555.0, 400.0, 400.0, 200.0])


async def test_tx1_map_over_tcp(client: AsyncModbusTcpClient) -> None:
    rr = await client.read_holding_registers(0, count=11, device_id=2)
    assert convert(rr.registers[:2], DT.INT32, "little") == 0
    assert rr.registers[10] == 0x7101
    sn = await client.read_holding_registers(41, count=2, device_id=2)
    assert convert(sn.registers, DT.UINT32, "little") == 20261237
    bad = await client.read_input_registers(0, count=1, device_id=2)
    assert bad.isError()
    assert bad.exception_code == 2


async def test_fixture_unit_over_tcp(client: AsyncModbusTcpClient) -> None:
    rr = await client.read_input_registers(0, count=2, device_id=5)
    assert convert(rr.registers, DT.FLOAT32, "big") == 1000.0
    bad = await client.read_holding_registers(203, count=1, device_id=5)
    assert bad.exception_code == 2


async def test_unknown_unit_is_gateway_exception(client: AsyncModbusTcpClient) -> None:
    rr = await client.read_input_registers(0, count=1, device_id=9)
    assert rr.isError()
    assert rr.exception_code == 0x0B


async def raw_request(port: int, adu: bytes, reply_len: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(adu)
        await writer.drain()
        async with asyncio.timeout(2):
            return await reader.readexactly(reply_len)
    finally:
        writer.close()
        await writer.wait_closed()


def mbap_read(tid: int, unit: int, fc: int, address: int, count: int) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, fc, address, count)


async def test_transaction_id_echoed_and_pipelined(sim: ShelfSimulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.tcp_port())
    try:
        writer.write(mbap_read(0xBEEF, 1, 4, 30, 2) + mbap_read(0x0102, 2, 3, 10, 1))
        async with asyncio.timeout(2):
            first = await reader.readexactly(9 + 4)
            second = await reader.readexactly(9 + 2)
    finally:
        writer.close()
        await writer.wait_closed()
    assert first == struct.pack(">HHHBBBHH", 0xBEEF, 0, 7, 1, 4, 4, 0x0A10, 4)
    assert second == struct.pack(">HHHBBBH", 0x0102, 0, 5, 2, 3, 2, 0x7101)


@pytest.mark.parametrize(
    "header",
    [
        struct.pack(">HHHB", 1, 1, 6, 1),  # protocol id 1
        struct.pack(">HHHB", 1, 0, 300, 1),  # length beyond an ADU
        struct.pack(">HHHB", 1, 0, 1, 1),  # no function code
    ],
)
async def test_malformed_mbap_closes_connection(
    sim: ShelfSimulator, header: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.tcp_port())
    try:
        writer.write(header + b"\x04\x00\x00\x00\x01")
        async with asyncio.timeout(2):
            assert await reader.read() == b""  # EOF: the server hung up
    finally:
        writer.close()
        await writer.wait_closed()
    assert any("bad MBAP header" in r.message for r in caplog.records)
    assert sim.stats()[0]["malformed"] == 1


async def test_many_concurrent_connections(sim: ShelfSimulator) -> None:
    async def one(tid: int) -> bytes:
        return await raw_request(sim.tcp_port(), mbap_read(tid, 1, 4, 31, 1), 11)

    replies = await asyncio.gather(*(one(i) for i in range(50)))
    for tid, reply in enumerate(replies):
        assert reply == struct.pack(">HHHBBBH", tid, 0, 5, 1, 4, 2, 4)


async def test_fault_silent_then_recovers(sim: ShelfSimulator) -> None:
    sim.set_fault(1, "silent")
    impatient = AsyncModbusTcpClient("127.0.0.1", port=sim.tcp_port(0), timeout=0.3, retries=0)
    assert await impatient.connect()
    try:
        with pytest.raises(ModbusIOException):
            await impatient.read_input_registers(31, count=1, device_id=1)
    finally:
        impatient.close()
    assert sim.stats()[0]["silenced"] == 1
    sim.set_fault(1, "none")
    fresh = AsyncModbusTcpClient("127.0.0.1", port=sim.tcp_port(0), timeout=1, retries=0)
    assert await fresh.connect()
    try:
        rr = await fresh.read_input_registers(31, count=1, device_id=1)
        assert rr.registers == [4]
    finally:
        fresh.close()


async def test_fault_late(sim: ShelfSimulator) -> None:
    sim.set_fault(1, "late", delay_s=0.25)
    loop = asyncio.get_running_loop()
    start = loop.time()
    reply = await raw_request(sim.tcp_port(), mbap_read(7, 1, 4, 31, 1), 11)
    assert loop.time() - start >= 0.25
    assert reply[-2:] == b"\x00\x04"


async def test_fault_wrong_unit(sim: ShelfSimulator) -> None:
    sim.set_fault(1, "wrong_unit")
    reply = await raw_request(sim.tcp_port(), mbap_read(7, 1, 4, 31, 1), 11)
    assert reply[6] == 2


async def test_fault_corrupt_means_wrong_mbap_length(sim: ShelfSimulator) -> None:
    sim.set_fault(2, "corrupt_crc")
    reply = await raw_request(sim.tcp_port(), mbap_read(7, 2, 3, 10, 1), 11)
    length = struct.unpack(">H", reply[4:6])[0]
    assert length == 4  # should be 5: unit id + FC + byte count + 2 data bytes
    assert sim.fault(2).as_dict() == {"mode": "corrupt_crc", "delay_s": 1.0}


async def test_stop_with_a_request_in_flight(caplog: pytest.LogCaptureFixture) -> None:
    scenario = Scenario(servers=(TcpServerSpec(units=(UnitSpec(unit_id=1), UnitSpec(unit_id=2))),))
    sim = ShelfSimulator(scenario)
    await sim.start()
    sim.set_fault(1, "late", delay_s=30.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.tcp_port())
    try:
        # Both requests in one segment: once unit 2's reply is here, the server
        # has already taken unit 1's request from its buffer and is holding it.
        writer.write(mbap_read(1, 2, 4, 31, 1) + mbap_read(2, 1, 4, 31, 1))
        async with asyncio.timeout(2):
            await reader.readexactly(11)
        await sim.stop()  # must not wait 30 s nor leave the handler task behind
        async with asyncio.timeout(2):
            assert await reader.read() == b""
    finally:
        writer.close()
        await writer.wait_closed()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
