from __future__ import annotations

import pytest

from sim_devices.clock import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()
