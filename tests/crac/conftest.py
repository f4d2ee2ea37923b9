"""Fixtures for the CRAC tests: simulators on a manual clock, links to them, drivers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from devices.crac import ModbusCrac, get_crac_profile
from devices.modbus.link import RtuLink, TcpLink
from sim_devices.clock import ManualClock
from sim_devices.crac import CracSimulator
from sim_devices.serial_line import LineSettings

RTU_BAUD = 115200
VERIFY_S = 0.3
"""Read-back window for commands in tests: the simulator applies writes at once."""


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def pcw1(clock: ManualClock) -> AsyncIterator[CracSimulator]:
    """A pcw1 unit served on TCP and on an RTU pty, its room settled for 10 minutes."""
    async with CracSimulator("pcw1", clock=clock, rtu=True, line=LineSettings(RTU_BAUD)) as sim:
        clock.advance(600)
        yield sim


@pytest.fixture
async def irc2(clock: ManualClock) -> AsyncIterator[CracSimulator]:
    async with CracSimulator("irc2", clock=clock) as sim:
        clock.advance(600)
        yield sim


@pytest.fixture
async def tcp_link(pcw1: CracSimulator) -> AsyncIterator[TcpLink]:
    link = TcpLink("crac-tcp", "127.0.0.1", pcw1.tcp_port, timeout_s=0.5)
    yield link
    await link.close()


@pytest.fixture
async def rtu_link(pcw1: CracSimulator) -> AsyncIterator[RtuLink]:
    link = RtuLink("crac-rtu", pcw1.rtu_path, baudrate=RTU_BAUD, timeout_s=0.15)
    yield link
    await link.close()


@pytest.fixture
def tcp_crac(tcp_link: TcpLink) -> ModbusCrac:
    return ModbusCrac("crac-1", tcp_link, 1, get_crac_profile("pcw1"), verify_timeout_s=VERIFY_S)


@pytest.fixture
def rtu_crac(rtu_link: RtuLink) -> ModbusCrac:
    return ModbusCrac("crac-2", rtu_link, 1, get_crac_profile("pcw1"), verify_timeout_s=VERIFY_S)


@pytest.fixture
async def irc2_crac(irc2: CracSimulator) -> AsyncIterator[ModbusCrac]:
    link = TcpLink("irc2-tcp", "127.0.0.1", irc2.tcp_port, timeout_s=0.5)
    try:
        yield ModbusCrac("irc-1", link, 1, get_crac_profile("irc2"), verify_timeout_s=VERIFY_S)
    finally:
        await link.close()
