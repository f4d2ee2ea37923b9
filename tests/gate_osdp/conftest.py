"""OSDP gate driver against simulated PDs (libosdp on both ends) over real ptys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from devices.bus import Bus, Subscription
from devices.gate.osdp import OsdpGate
from devices.gate.osdp_config import OsdpLineSettings
from sim_devices.osdp_pd.device import OsdpPdSimulator, PdSpec

from .osdptools import gate_settings, pd_spec


@pytest.fixture
def make_sim() -> Iterator[Callable[..., OsdpPdSimulator]]:
    sims: list[OsdpPdSimulator] = []

    def make(*specs: PdSpec, **kwargs: Any) -> OsdpPdSimulator:
        sim = OsdpPdSimulator(list(specs) or [pd_spec()], **kwargs).start()
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., OsdpPdSimulator]) -> OsdpPdSimulator:
    return make_sim()


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
def events(bus: Bus) -> Iterator[Subscription]:
    sub = bus.subscribe(name="test")
    yield sub
    sub.close()


@pytest.fixture
async def make_gate(
    bus: Bus, make_sim: Callable[..., OsdpPdSimulator]
) -> AsyncIterator[Callable[..., Any]]:
    # Depends on make_sim so that gates close before their simulators stop.
    gates: list[OsdpGate] = []

    async def make(
        sim: OsdpPdSimulator | str,
        *,
        device_id: str = "exit-1",
        connect: bool = True,
        **overrides: Any,
    ) -> OsdpGate:
        port = sim if isinstance(sim, str) else sim.path
        gate = OsdpGate(
            device_id, gate_settings(**overrides), line=OsdpLineSettings(port=port), bus=bus
        )
        gates.append(gate)
        if connect:
            await gate.connect()
        return gate

    yield make
    for gate in gates:
        await gate.close()


@pytest.fixture
async def gate(sim: OsdpPdSimulator, events: Subscription, make_gate: Any) -> OsdpGate:
    made: OsdpGate = await make_gate(sim)
    return made
