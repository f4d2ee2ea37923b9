"""Fixtures for the UPS simulator tests (leak checks come from tests/conftest.py)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from sim_devices.clock import ManualClock
from sim_devices.ups import UpsConfig, UpsSimulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def sim(clock: ManualClock) -> AsyncIterator[UpsSimulator]:
    """The default 3 kVA unit on a free UDP port, on a manual clock."""
    async with UpsSimulator(UpsConfig(), clock=clock) as simulator:
        yield simulator


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
