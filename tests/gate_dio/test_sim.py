"""The DIO module simulator: model behaviour on a hand-stepped clock, and its process entry."""

from __future__ import annotations

import asyncio
import signal
import struct
from collections.abc import AsyncIterator

import pytest
from peers.simprocess import Served, run_module, serving
from pymodbus.client import AsyncModbusTcpClient

from sim_devices.clock import ManualClock
from sim_devices.control import ControlClient, ControlError
from sim_devices.dio import DioSimulator, Door, DoorSpec, IoModule, ModuleSpec
from sim_devices.modbus_pdu import handle_pdu


def fc(module: IoModule, pdu: bytes) -> bytes:
    return handle_pdu(module, pdu)


def write_reg(module: IoModule, address: int, value: int) -> bytes:
    return fc(module, struct.pack(">BHH", 6, address, value))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_pulse_registers_time_the_coil(clock: ManualClock) -> None:
    module = IoModule(clock=clock)
    assert write_reg(module, 0x0203, 5) == struct.pack(">BHH", 6, 0x0203, 5)  # coil 3 on 0.5 s
    assert module.coils[3] is True
    clock.advance(0.3)
    assert fc(module, struct.pack(">BHH", 3, 0x0203, 1)) == bytes([3, 2, 0, 2])  # 2 ticks left
    clock.advance(0.25)
    module.advance()
    assert module.coils[3] is False
    # "off" pulse: off now, on again after the time.
    module.coils[2] = True
    write_reg(module, 0x0402, 2)
    assert module.coils[2] is False
    clock.advance(0.2)
    module.advance()
    assert module.coils[2] is True


def test_a_coil_write_cancels_the_timer(clock: ManualClock) -> None:
    module = IoModule(clock=clock)
    write_reg(module, 0x0400, 10)  # coil 0 off for 1 s, then on
    fc(module, struct.pack(">BHH", 5, 0, 0x0000))  # explicit off: the timer must not fire
    clock.advance(2.0)
    module.advance()
    assert module.coils[0] is False


def test_register_errors() -> None:
    module = IoModule()
    assert write_reg(module, 0x0200, 0) == bytes([0x86, 3])  # zero-length pulse
    assert write_reg(module, 0x0208, 5) == bytes([0x86, 2])  # no coil 8
    assert write_reg(module, 0x0100, 1) == bytes([0x86, 2])  # model id is read-only
    assert fc(module, struct.pack(">BHH", 3, 0x0100, 1)) == bytes([3, 2, 0x08, 0x08])
    assert fc(module, struct.pack(">BHH", 4, 0, 1)) == bytes([0x84, 2])  # no input registers
    basic = IoModule(ModuleSpec(pulse_registers=False))
    assert write_reg(basic, 0x0200, 5) == bytes([0x86, 2])


def test_watchdog_trips_at_the_right_time_and_orders_timers(clock: ManualClock) -> None:
    module = IoModule(ModuleSpec(safe_state=(False, True, *[False] * 6)), clock=clock)
    fc(module, struct.pack(">BHHBB", 15, 0, 2, 1, 0b01))  # coil 0 on, coil 1 off
    write_reg(module, 0x0300, 10)  # 1 s watchdog
    write_reg(module, 0x0402, 3)  # coil 2 off now, on at +0.3 s (before the trip)
    clock.advance(0.9)
    module.advance()
    assert module.coils[:3] == [True, False, True]  # timer fired, no trip yet
    assert module.stats.watchdog_trips == 0
    clock.advance(0.5)
    # A request after the trip time sees the trip applied first, then feeds the watchdog.
    assert fc(module, struct.pack(">BHH", 1, 0, 3)) == bytes([1, 1, 0b010])
    assert module.stats.watchdog_trips == 1
    assert module.stats.last_trip_s == pytest.approx(1000.0 + 1.0)
    clock.advance(0.9)
    module.advance()
    assert module.stats.watchdog_trips == 1  # fed by that request


def test_silence_is_not_a_request(clock: ManualClock) -> None:
    module = IoModule(ModuleSpec(watchdog_s=0.5), clock=clock)
    fc(module, struct.pack(">BHH", 5, 0, 0xFF00))
    clock.advance(0.6)
    assert module.state()["coils"][0] is False
    assert module.state()["watchdog_tripped"] is True


def test_door_walk_through_only_when_open(clock: ManualClock) -> None:
    module = IoModule(clock=clock)
    door = Door(DoorSpec("d", lock_coil=0, passage_input=3, button_input=4), module)
    module.coils[0] = True  # maglock powered
    assert door.walk_through() == {"passed": False, "forced": True}
    assert module.input_level(3) is False
    module.coils[0] = False
    assert door.walk_through()["passed"] is True
    assert door.walk_through()["beam_in_s"] == pytest.approx(0.35)  # queued behind the first
    assert module.input_level(3) is True
    clock.advance(0.25)
    assert module.input_level(3) is False  # the gap between the two people
    clock.advance(0.15)
    assert module.input_level(3) is True
    clock.advance(0.2)
    assert module.input_level(3) is False
    assert (door.passages, door.forced) == (2, 1)
    door.press()
    assert module.input_level(4) is True


def test_stuck_input_and_ignored_writes(clock: ManualClock) -> None:
    module = IoModule(clock=clock)
    module.stuck[1] = True
    assert fc(module, struct.pack(">BHH", 2, 0, 2)) == bytes([2, 1, 0b10])
    module.coil_writes_ignored = True
    reply = fc(module, struct.pack(">BHH", 5, 0, 0xFF00))
    assert reply == struct.pack(">BHH", 5, 0, 0xFF00)  # acknowledged...
    assert module.coils[0] is False  # ...but not done
    write_reg(module, 0x0200, 5)
    assert module.coils[0] is False


async def test_power_off_closes_the_port_and_drops_relays() -> None:
    async with DioSimulator() as sim:
        port = sim.port
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        assert await client.connect()
        try:
            await client.write_coil(0, True, device_id=1)
            assert sim.module.coils[0] is True
            await sim.set_fault("power_off")
            assert sim.module.coils[0] is False
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port)
            await sim.set_fault("power_on")
            assert sim.port == port
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
        finally:
            client.close()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serving(
        "sim_devices.dio", "serve", "--port", "0", "--control-port", "0",
        "--watchdog-s", "3", "--log-level", "WARNING",
    ) as served:  # fmt: skip
        yield served


async def test_serve_ready_line_control_api_and_quit(served: Served) -> None:
    proc, ready = served
    assert ready["ready"] is True
    assert ready["kind"] == "dio"
    assert [d["name"] for d in ready["doors"]] == ["entry", "exit"]
    client = AsyncModbusTcpClient("127.0.0.1", port=ready["port"], timeout=1, retries=0)
    assert await client.connect()
    try:
        async with ControlClient(ready["control_port"]) as control:
            state = (await control.request("state"))["state"]
            assert state["module"]["watchdog_s"] == pytest.approx(3.0)
            await client.write_coil(1, True, device_id=1)  # lock the exit
            answer = await control.request("walk_through", door="exit")
            assert answer["forced"] is True
            await control.request("button", door="exit")
            reply = await client.read_discrete_inputs(0, count=8, device_id=1)
            assert reply.bits[2] is True
            faults = (await control.request("fault", mode="stuck_input", input=5, value=True))[
                "faults"
            ]
            assert faults["stuck"] == {"5": True}
            with pytest.raises(ControlError, match="unknown fault"):
                await control.request("fault", mode="melted")
            with pytest.raises(ControlError, match="no door"):
                await control.request("walk_through", door="side")
            with pytest.raises(ControlError, match="missing field 'door'"):
                await control.request("button")
            bad = await control.raw(b"not json\n")
            assert bad["ok"] is False
            state = (await control.request("state"))["state"]
            exit_door = state["doors"][1]
            assert (exit_door["locked"], exit_door["forced"], exit_door["presses"]) == (True, 1, 1)
            await control.request("quit")
    finally:
        client.close()
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_serve_stops_on_sigterm(served: Served) -> None:
    proc, _ = served
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        assert await proc.wait() == 0


async def test_serve_refuses_a_bad_door() -> None:
    code, out, err = await run_module("sim_devices.dio", "serve", "--door", "side:9:0")
    assert code == 2
    assert out == ""
    assert "door side: no coil 9" in err
