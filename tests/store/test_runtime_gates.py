"""Gates in the runtime (what ``walkout run`` starts): state machine, controllers, release.

A digital-I/O module (the simulator, over Modbus TCP) drives an entry and an exit. A
credential arrives on the bus as the store app's QR check-in would publish it; the
door state is read from the simulator itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import Admitted
from sim_devices.dio.simulator import DioSimSpec, DioSimulator
from walkout.config import parse_config
from walkout.runtime import open_runtime


@pytest.fixture
async def module() -> AsyncIterator[DioSimulator]:
    async with DioSimulator(DioSimSpec()) as sim:
        yield sim


def store(port: int, allow: Path) -> dict[str, Any]:
    allow.write_text("credentials:\n  - {credential: QR-1234, group_size: 1}\n")
    return {
        "store": {"id": "gates"},
        "modbus": {"buses": [{"id": "io", "type": "tcp", "host": "127.0.0.1", "port": port}]},
        "facility": {"gpus": {"enabled": False}},
        "gates": {
            "check": {"type": "allow_list", "path": str(allow)},
            "gates": [
                {
                    "id": "entry",
                    "role": "entry",
                    "controller": {"type": "dio", "bus": "io", "wiring": {"lock_coil": 0}},
                },
                {
                    "id": "exit",
                    "role": "exit",
                    "controller": {"type": "dio", "bus": "io", "wiring": {"lock_coil": 1}},
                },
            ],
        },
    }


async def test_runtime_admits_through_its_gate_machine_and_frees_exits_on_close(
    tmp_path: Path, module: DioSimulator
) -> None:
    config = parse_config(store(module.port, tmp_path / "allow.yaml"), "test", tmp_path)
    async with open_runtime(config) as runtime:
        assert runtime.gate_wiring is not None
        assert runtime.gate_wiring.machine is not None
        admitted = runtime.bus.subscribe(Admitted, name="test")
        assert module.door("entry").locked
        await runtime.bus.publish(
            CredentialPresented(
                source="entry", t_mono=0.0, kind=CredentialKind.QR, credential="QR-1234"
            )
        )
        async with asyncio.timeout(5):
            event = await anext(aiter(admitted))
        assert isinstance(event, Admitted)
        assert event.group_size == 1
        admitted.close()
    # Leaving the runtime released every exit (and the module saw it, not just the driver).
    assert not module.door("exit").locked
