"""SetEntry and the exit fail-safe on a real gate machine over DioGates and the I/O simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from devices.bus import Bus, Subscription
from devices.gate.dio import DioGate
from devices.gate.dio_profile import DioWiring, get_dio_profile
from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import Decision, GateMachine, GateMode, GateSettings, Refused
from devices.modbus.link import TcpLink
from facility.actuation import Actuator, ExitFailsafe
from facility.actuation.adapters import GateEntryControl
from facility.supervisor import SetEntry, StoreMode
from sim_devices.clock import ManualClock
from sim_devices.dio import DioSimSpec, DioSimulator

from .conftest import Outcomes, eventually, running, stop

ENTRY_WIRING = DioWiring(
    lock_coil=0, passage_input=0, granted_coil=4, refused_coil=5, buzzer_coil=6, tamper_input=7
)
EXIT_WIRING = DioWiring(lock_coil=1, passage_input=1, exit_request_input=2)
SETTINGS = GateSettings(open_ms=1500, exit_open_ms=1000, group_window_s=5.0)


class OneCard:
    async def check(self, credential: CredentialPresented) -> Decision:
        if credential.credential == "CARD-0001":
            return Decision(admit=True, session_id="s-1")
        return Decision.refuse("unknown")


@pytest.fixture
async def sim() -> AsyncIterator[DioSimulator]:
    async with DioSimulator(DioSimSpec()) as simulator:
        yield simulator


@pytest.fixture
async def machine(sim: DioSimulator, bus: Bus) -> AsyncIterator[GateMachine]:
    profile = get_dio_profile("io8")
    link = TcpLink("io", "127.0.0.1", sim.port, timeout_s=0.3)
    entry = DioGate("entry", link, bus, profile, ENTRY_WIRING)
    exit_ = DioGate("exit", link, bus, profile, EXIT_WIRING)
    try:
        async with (
            entry,
            exit_,
            GateMachine(bus, OneCard(), entries=[entry], exits=[exit_], settings=SETTINGS) as m,
        ):
            yield m
    finally:
        await link.close()


def mode_of(machine: GateMachine) -> GateMode:
    return machine.mode  # read afresh: mypy would narrow a repeated attribute read


def locked(sim: DioSimulator, door: str) -> bool:
    return sim.doors[door].locked


def set_entry(locked: bool, mode: StoreMode = StoreMode.CLOSING) -> SetEntry:
    return SetEntry(source="supervisor", t_mono=0.0, mode=mode, reason=f"{mode}: t", locked=locked)


async def present(bus: Bus, credential: str) -> None:
    await bus.publish(
        CredentialPresented(
            source="entry", t_mono=time.monotonic(), kind=CredentialKind.QR, credential=credential
        )
    )


async def next_refusal(sub: Subscription) -> Refused:
    async with asyncio.timeout(5):
        while True:
            message = await sub.get()
            if isinstance(message, Refused):
                return message


async def test_entry_locked_while_the_exit_still_opens(
    sim: DioSimulator, bus: Bus, machine: GateMachine, outcomes: Outcomes
) -> None:
    refusals = bus.subscribe(Refused, name="refusals")
    actuator = Actuator(bus, entry=GateEntryControl(machine))
    task = await running(actuator)
    try:
        await bus.publish(set_entry(True))
        outcome = await outcomes.next("set_entry")
        assert outcome.ok
        assert outcome.verified
        assert mode_of(machine) is GateMode.ENTRY_LOCKED
        await present(bus, "CARD-0001")
        assert (await next_refusal(refusals)).reason == "store closing"
        assert locked(sim, "entry")
        sim.press("exit")
        await eventually(lambda: not locked(sim, "exit"), what="exit opens on its button")
        assert sim.walk_through("exit")["passed"]

        await bus.publish(set_entry(False, StoreMode.NORMAL))
        reopened = await outcomes.next("set_entry")
        assert reopened.ok
        assert mode_of(machine) is GateMode.NORMAL
    finally:
        await stop(task)
        refusals.close()


async def test_failsafe_opens_every_gate_and_the_supervisor_cannot_undo_it(
    sim: DioSimulator, bus: Bus, machine: GateMachine, outcomes: Outcomes
) -> None:
    clock = ManualClock()
    gates = GateEntryControl(machine)
    failsafe = ExitFailsafe(gates, window_s=30.0, clock=clock)
    assert locked(sim, "entry")
    assert locked(sim, "exit")
    failsafe.beat()
    clock.advance(30.0)
    assert not await failsafe.check()  # silent exactly the window: not yet
    clock.advance(0.5)
    assert await failsafe.check()
    assert mode_of(machine) is GateMode.EMERGENCY
    assert not locked(sim, "entry")
    assert not locked(sim, "exit")
    assert "silent for 30.5 s" in failsafe.reason

    # A supervisor that comes back and asks for the normal entry does not end it.
    outcome = await Actuator(bus, entry=gates).execute(set_entry(False, StoreMode.NORMAL))
    assert not outcome.ok
    assert "emergency" in outcome.detail
    assert not locked(sim, "exit")

    await failsafe.release(locked=True, reason="checked by the operator")
    assert mode_of(machine) is GateMode.ENTRY_LOCKED
    assert locked(sim, "exit")
    assert not failsafe.tripped.is_set()
