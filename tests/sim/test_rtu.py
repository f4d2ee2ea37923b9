"""Modbus RTU over a pty: multi-drop silence, CRC handling, faults and line pacing."""

from __future__ import annotations

import asyncio
import json
import os
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient

from sim_devices import (
    FixtureUnitSpec,
    RtuServerSpec,
    Scenario,
    ShelfSimulator,
    UnitSpec,
)

from .simtools import RawSerial, crc_bytes, rtu

convert = AsyncModbusSerialClient.convert_from_registers
DT = AsyncModbusSerialClient.DATATYPE

READ_MC10_COUNT = rtu(struct.pack(">BBHH", 1, 4, 31, 1))
MC10_COUNT_REPLY = rtu(bytes.fromhex("0104020004"))


def line(*units: UnitSpec | FixtureUnitSpec, **kw: object) -> Scenario:
    return Scenario(servers=(RtuServerSpec(units=units, **kw),))  # type: ignore[arg-type]


@pytest.fixture
async def sim() -> AsyncIterator[ShelfSimulator]:
    scenario = line(
        UnitSpec(unit_id=1, cells=4, dead_load_g=400.0, sigma_g=0.0),
        UnitSpec(unit_id=2, model="tx1", dead_load_g=123.4, sigma_g=0.0),
        baudrate=115200,
    )
    async with ShelfSimulator(scenario) as simulator:
        yield simulator


@pytest.fixture
async def port(sim: ShelfSimulator) -> AsyncIterator[RawSerial]:
    raw = RawSerial(sim.rtu_path())
    yield raw
    raw.close()


async def test_pymodbus_master_reads_both_units(sim: ShelfSimulator) -> None:
    client = AsyncModbusSerialClient(sim.rtu_path(), baudrate=115200, timeout=1, retries=0)
    assert await client.connect()
    try:
        rr = await client.read_input_registers(0, count=32, device_id=1)
        weights = [convert(rr.registers[2 * i : 2 * i + 2], DT.FLOAT32, "big") for i in range(4)]
        assert weights == pytest.approx([100.0] * 4)
        assert rr.registers[30:32] == [0x0A10, 4]
        tx = await client.read_holding_registers(0, count=3, device_id=2)
        assert convert(tx.registers[:2], DT.INT32, "little") == 1234
        assert tx.registers[2] & 1
        wr = await client.write_registers(100, [2, 0b0001], device_id=1)
        assert not wr.isError()
        rr = await client.read_input_registers(0, count=2, device_id=1)
        assert convert(rr.registers, DT.FLOAT32, "big") == pytest.approx(0.0)
    finally:
        client.close()
    stats = sim.stats()[0]
    assert stats["requests"] == stats["replies"] == 4


async def test_unknown_unit_gets_no_reply(sim: ShelfSimulator, port: RawSerial) -> None:
    port.write(rtu(struct.pack(">BBHH", 9, 4, 31, 1)))
    port.write(READ_MC10_COUNT)
    # The first bytes on the line answer the second request: unit 9 stayed silent.
    assert await port.read(len(MC10_COUNT_REPLY)) == MC10_COUNT_REPLY
    await port.expect_silence(0.05)
    assert sim.stats()[0]["ignored"] == 1


async def test_bad_crc_request_discarded_and_counted(sim: ShelfSimulator, port: RawSerial) -> None:
    bad = READ_MC10_COUNT[:-1] + bytes([READ_MC10_COUNT[-1] ^ 0x5A])
    port.write(bad)
    port.write(READ_MC10_COUNT)
    assert await port.read(len(MC10_COUNT_REPLY)) == MC10_COUNT_REPLY
    await port.expect_silence(0.05)
    stats = sim.stats()[0]
    assert stats["crc_errors"] == 1
    assert stats["requests"] == stats["replies"] == 1


async def test_exception_reply_over_rtu(port: RawSerial) -> None:
    port.write(rtu(struct.pack(">BBHH", 2, 4, 0, 1)))  # tx1 has no input registers
    assert await port.read(5) == rtu(bytes([2, 0x84, 2]))


async def test_fault_corrupt_crc(sim: ShelfSimulator, port: RawSerial) -> None:
    sim.set_fault(1, "corrupt_crc")
    port.write(READ_MC10_COUNT)
    reply = await port.read(len(MC10_COUNT_REPLY))
    assert reply[:-2] == MC10_COUNT_REPLY[:-2]
    assert reply[-2:] != crc_bytes(reply[:-2])


async def test_fault_wrong_unit(sim: ShelfSimulator, port: RawSerial) -> None:
    sim.set_fault(1, "wrong_unit")
    port.write(READ_MC10_COUNT)
    assert await port.read(7) == rtu(bytes.fromhex("0204020004"))


async def test_fault_late(sim: ShelfSimulator, port: RawSerial) -> None:
    sim.set_fault(1, "late", delay_s=0.2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    port.write(READ_MC10_COUNT)
    assert await port.read(7) == MC10_COUNT_REPLY
    assert loop.time() - start >= 0.2


async def test_fault_silent(sim: ShelfSimulator, port: RawSerial) -> None:
    sim.set_fault(1, "silent")
    port.write(READ_MC10_COUNT)
    await port.expect_silence(0.15)
    sim.set_fault(1, "none")
    port.write(READ_MC10_COUNT)
    assert await port.read(7) == MC10_COUNT_REPLY
    assert sim.stats()[0]["silenced"] == 1


async def test_broadcast_write_executes_without_reply(sim: ShelfSimulator, port: RawSerial) -> None:
    port.write(rtu(struct.pack(">BBHHBHH", 0, 16, 100, 2, 4, 1, 0b1111)))  # tare all
    port.write(rtu(struct.pack(">BBHH", 1, 4, 0, 2)))
    reply = await port.read(9)
    assert reply[:3] == bytes([1, 4, 4])
    assert convert(list(struct.unpack(">HH", reply[3:7])), DT.FLOAT32, "big") == 0.0
    assert sim.stats()[0]["broadcasts"] == 1


async def test_pacing_125_registers_at_9600_baud(tmp_path: Path) -> None:
    fixture = tmp_path / "big.json"
    holding = {str(a): a for a in range(125)}
    fixture.write_text(
        json.dumps({"format": "walkout-modbus-fixture/1", "tables": {"holding": holding}})
    )
    scenario = line(FixtureUnitSpec(unit_id=1, fixture=fixture), baudrate=9600)
    async with ShelfSimulator(scenario) as sim:
        port = RawSerial(sim.rtu_path())
        try:
            loop = asyncio.get_running_loop()
            char_s = 10 / 9600
            start = loop.time()
            port.write(rtu(struct.pack(">BBHH", 1, 3, 0, 125)))
            reply = await port.read(5 + 250)
            elapsed = loop.time() - start
        finally:
            port.close()
        assert reply[:3] == bytes([1, 3, 250])
        assert list(struct.unpack(">125H", reply[3:-2])) == list(range(125))
        wire_s = (8 + 255) * char_s  # 274 ms of bytes
        assert elapsed >= wire_s + 3.5 * char_s
        assert elapsed < wire_s + 0.15
        # No byte reached the master before it could have crossed the wire.
        received = 0
        for when, count in port.arrivals:
            received += count
            assert when - start >= (8 + 3.5 + received) * char_s
        assert len(port.arrivals) > 100  # delivered in ~1 byte chunks, not one burst
        assert 0.0 < sim.stats()[0]["wire_utilisation"] <= 1.0


async def test_link_symlink_made_and_removed(tmp_path: Path) -> None:
    link = tmp_path / "dev" / "ttySIM"
    async with ShelfSimulator(line(UnitSpec(unit_id=1), link=str(link))) as sim:
        assert link.is_symlink()
        assert str(link.readlink()) == sim.rtu_path()
        assert sim.servers[0]["link"] == str(link)
    assert not link.is_symlink()


async def test_serves_an_existing_serial_device() -> None:
    master, slave = os.openpty()  # stands in for a socat pair or an RS-485 adapter
    slave_path = os.ttyname(slave)
    os.close(slave)
    port = RawSerial(fd=master)
    try:
        scenario = line(UnitSpec(unit_id=1, sigma_g=0.0), device=slave_path, baudrate=115200)
        async with ShelfSimulator(scenario) as sim:
            assert sim.rtu_path() == slave_path
            port.write(READ_MC10_COUNT)
            assert await port.read(7) == MC10_COUNT_REPLY
    finally:
        port.close()
