"""Fixtures for the UPS simulator tests (leak checks come from tests/conftest.py)."""

from __future__ import annotations

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
