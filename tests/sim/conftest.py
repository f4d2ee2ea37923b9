"""Fixtures for the simulator tests (leak checks come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from .simtools import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
