"""Drivers against the shelf simulator over real sockets and ptys."""

import asyncio
import contextlib

import pytest

from devices.modbus.link import RtuLink, TcpLink
from devices.profiles import get_profile
from devices.scale import ModbusScale
from sim_devices.clock import ManualClock
from sim_devices.scenario import parse_scenario
from sim_devices.simulator import ShelfSimulator

QUIET = {"sigma_g": 0.0, "drift_g_per_h": 0.0}

SCENARIO = {
    "name": "drivers",
    "servers": [
        {
            "kind": "tcp",
            "host": "127.0.0.1",
            "port": 0,
            "units": [
                {
                    "unit_id": 1,
                    "model": "mc10",
                    "cells": 4,
                    "length_m": 1.2,
                    **QUIET,
                    "gain_errors": [0.03, -0.02, 0.0, 0.01],
                    "offsets_g": [20, -15, 0, 5],
                }
            ],
        },
        {
            "kind": "rtu",
            "baudrate": 115200,
            "parity": "N",
            "stopbits": 1,
            "units": [
                {"unit_id": 1, "model": "mc10", "cells": 2, "length_m": 0.8, **QUIET},
                {"unit_id": 2, "model": "tx1", **QUIET},
            ],
        },
    ],
}


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
async def sim(clock):
    async with ShelfSimulator(parse_scenario(SCENARIO), clock=clock) as simulator:
        yield simulator


@pytest.fixture
async def tcp_link(sim):
    link = TcpLink("tcp", "127.0.0.1", sim.tcp_port(0), timeout_s=0.5)
    yield link
    await link.close()


@pytest.fixture
async def rtu_link(sim):
    link = RtuLink("rtu", sim.rtu_path(1), baudrate=115200, parity="N", timeout_s=0.15)
    yield link
    await link.close()


@pytest.fixture
def tcp_scale(tcp_link):
    return ModbusScale("sc-tcp", tcp_link, 1, get_profile("mc10"), [0, 1, 2, 3])


@pytest.fixture
def rtu_scale(rtu_link):
    return ModbusScale("sc-rtu", rtu_link, 1, get_profile("mc10"), [0, 1])


@pytest.fixture
def rtu_tx(rtu_link):
    return ModbusScale("tx-rtu", rtu_link, 2, get_profile("tx1"), [0])


@contextlib.asynccontextmanager
async def running(coordinator):
    task = asyncio.create_task(coordinator.run(), name="coordinator")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
