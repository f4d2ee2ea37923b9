"""Simulator processes for the CLI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .clitools import SimProcess, StartSim, shop_scenario


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One simulator for the tests that only read from it (scan, probe, dump)."""
    sim = SimProcess(shop_scenario(), tmp_path_factory.mktemp("shop"))
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[StartSim]:
    """Start a simulator of its own for a test that changes it; all are killed afterwards."""
    started: list[SimProcess] = []

    def start(scenario: dict[str, Any] | None = None, name: str = "sim") -> SimProcess:
        sim = SimProcess(scenario or shop_scenario(), tmp_path, name)
        started.append(sim)
        return sim

    try:
        yield start
    finally:
        for sim in started:
            sim.stop()
