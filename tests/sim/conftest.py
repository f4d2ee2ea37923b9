"""Fixtures for the simulator tests (leak checks come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from sim_devices.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
