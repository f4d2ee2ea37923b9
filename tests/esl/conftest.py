"""Fixtures for the ESL tests: a real Mosquitto broker and the simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from peers.mosquitto import Mosquitto, running_broker

from sim_devices.esl.mqtt_tags import MqttTagEmulator

STORE = "s1"


@pytest.fixture
def mosquitto(tmp_path: Path, free_tcp_port: int) -> Iterator[Mosquitto]:
    """A broker of this test's own (the system one on 1883 is never used)."""
    with running_broker(free_tcp_port, tmp_path) as broker:
        yield broker


@pytest.fixture
async def mqtt_tags(mosquitto: Mosquitto) -> AsyncIterator[MqttTagEmulator]:
    """20 tags t000..t019 of store s1 on the broker."""
    emulator = MqttTagEmulator(
        "127.0.0.1", mosquitto.port, STORE, [f"t{n:03d}" for n in range(20)], reconnect_s=0.1
    )
    await emulator.start()
    yield emulator
    await emulator.stop()
