"""The gate state machine on two DioGates (entry and exit on one module) and the simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devices.bus import Bus
from devices.gate.checks import AllowListCheck
from devices.gate.dio import DioGate
from devices.gate.dio_profile import DioProfile
from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import (
    Admitted,
    Entered,
    Exited,
    ExitFailedOpen,
    GateMachine,
    GateMode,
    GateOffline,
    GateOnline,
    GateSettings,
    Refused,
    Tailgating,
)
from devices.modbus.link import TcpLink
from sim_devices.dio import DioSimulator

from .conftest import ENTRY_WIRING, EXIT_WIRING, Events, eventually

SETTINGS = GateSettings(open_ms=1500, exit_open_ms=1000, group_window_s=5.0)


@pytest.fixture
def allow_file(tmp_path: Path) -> Path:
    path = tmp_path / "allow.yaml"
    path.write_text(
        "credentials:\n  - CARD-0001\n  - {credential: FAMILY-0003, group_size: 3}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def gates(
    sim: DioSimulator, bus: Bus, io8: DioProfile
) -> AsyncIterator[tuple[DioGate, DioGate]]:
    link = TcpLink("io", "127.0.0.1", sim.port, timeout_s=0.3)
    entry = DioGate("entry", link, bus, io8, ENTRY_WIRING)
    exit_ = DioGate("exit", link, bus, io8, EXIT_WIRING)
    try:
        async with entry, exit_:
            yield entry, exit_
    finally:
        await link.close()


@pytest.fixture
def machine(bus: Bus, gates: tuple[DioGate, DioGate], allow_file: Path) -> GateMachine:
    entry, exit_ = gates
    return GateMachine(
        bus, AllowListCheck(allow_file), entries=[entry], exits=[exit_], settings=SETTINGS
    )


async def present(bus: Bus, credential: str, gate: str = "entry") -> None:
    await bus.publish(
        CredentialPresented(
            source=gate, t_mono=time.monotonic(), kind=CredentialKind.QR, credential=credential
        )
    )


def locked(sim: DioSimulator, door: str) -> bool:
    return sim.doors[door].locked


async def test_admitted_credential_opens_and_counts_the_entry(
    sim: DioSimulator, bus: Bus, machine: GateMachine, events: Events
) -> None:
    async with machine:
        assert locked(sim, "entry")
        assert locked(sim, "exit")
        await present(bus, "CARD-0001")
        admitted = await events.next(Admitted)
        assert not locked(sim, "entry")
        assert admitted.group_size == 1
        assert 0 < admitted.latency_s < 1.0
        await eventually(lambda: sim.module.coils[4], what="granted LED")
        assert sim.walk_through("entry")["passed"]
        entered = await events.next(Entered)
        assert entered.session_id == admitted.session_id
        assert (entered.person, entered.group_size) == (1, 1)
        assert entered.credential == "qr:…0001"
        assert "CARD-0001" not in repr(events.of(Admitted) + events.of(Entered))
        await eventually(lambda: locked(sim, "entry"), what="entry relocks after the pulse")


async def test_group_of_three_then_a_tailgater(
    sim: DioSimulator, bus: Bus, machine: GateMachine, events: Events
) -> None:
    async with machine:
        await present(bus, "FAMILY-0003")
        admitted = await events.next(Admitted)
        assert admitted.group_size == 3
        for person in (1, 2, 3):
            assert sim.walk_through("entry")["passed"]
            entered = await events.next(Entered)
            assert (entered.person, entered.session_id) == (person, admitted.session_id)
        assert machine.open_admissions() == []
        assert sim.walk_through("entry")["passed"]  # the door is still open from person 2
        tailgater = await events.next(Tailgating)
        assert tailgater.session_id == admitted.session_id
    assert len(events.of(Entered)) == 3


async def test_refused_credential_never_opens(
    sim: DioSimulator, bus: Bus, machine: GateMachine, events: Events
) -> None:
    async with machine:
        await present(bus, "NOPE-9999")
        refused = await events.next(Refused)
        assert refused.reason == "not on the allow list"
        assert refused.credential == "qr:…9999"
        await eventually(lambda: sim.module.coils[5] and sim.module.coils[6], what="red LED+buzzer")
        assert locked(sim, "entry")
        assert sim.module.stats.pulses == 2  # the refused LED and the buzzer...
        assert sim.module.coils[0] is True  # ...and the lock never moved
        assert sim.walk_through("entry") == {"passed": False, "forced": True}
    assert events.of(Admitted) == []


async def test_entry_locked_refuses_but_the_exit_still_opens(
    sim: DioSimulator, bus: Bus, machine: GateMachine, events: Events
) -> None:
    async with machine:
        await machine.set_mode(GateMode.ENTRY_LOCKED, "closing")
        await present(bus, "CARD-0001")
        refused = await events.next(Refused)
        assert refused.reason == "store closing"
        assert locked(sim, "entry")
        sim.press("exit")
        await eventually(lambda: not locked(sim, "exit"), what="exit opens on the button")
        assert sim.walk_through("exit")["passed"]
        exited = await events.next(Exited)
        assert (exited.source, exited.session_id, exited.evacuation) == ("exit", None, False)
        await eventually(lambda: locked(sim, "exit"), what="exit relocks after its pulse")


async def test_emergency_releases_and_holds_every_gate(
    sim: DioSimulator, bus: Bus, machine: GateMachine, events: Events
) -> None:
    async with machine:
        await machine.set_mode(GateMode.EMERGENCY, "fire alarm")
        assert not locked(sim, "exit")
        assert not locked(sim, "entry")
        sim.press("exit")  # must not turn into a pulse that relocks
        await present(bus, "CARD-0001")
        assert (await events.next(Refused)).reason == "emergency"
        assert sim.walk_through("exit")["passed"]
        assert sim.walk_through("entry")["passed"]
        first = await events.next(Exited)
        second = await events.next(Exited)
        assert {first.source, second.source} == {"entry", "exit"}
        assert first.evacuation
        assert second.evacuation
        timers = sim.module.state()["timers"]
        assert "0" not in timers  # no pulse on either lock relay (only the refused LED's)
        assert "1" not in timers
        assert not locked(sim, "exit")
        await machine.set_mode(GateMode.NORMAL, "all clear")
        assert locked(sim, "exit")
        assert locked(sim, "entry")


async def test_controller_loss_fails_the_exit_open(
    sim: DioSimulator, bus: Bus, machine: GateMachine, events: Events
) -> None:
    async with machine:
        await sim.set_fault("power_off")  # the relays drop: the maglocks are free
        failed = await events.next(ExitFailedOpen)
        assert failed.source == "exit"
        assert "controller lost" in failed.reason
        offline = await events.next(GateOffline)
        assert offline.source == "entry"
        assert machine.failed_open == {"exit"}
        await present(bus, "CARD-0001")
        assert (await events.next(Refused)).reason == "gate controller offline"
        await sim.set_fault("power_on")
        back = {(await events.next(GateOnline, timeout_s=15)).source for _ in range(2)}
        assert back == {"entry", "exit"}
        assert machine.failed_open == set()
        assert locked(sim, "exit")  # back in its normal-mode state


@pytest.mark.parametrize("how", ["normal", "exception", "cancel"])
async def test_leaving_the_machine_releases_every_exit(
    sim: DioSimulator, machine: GateMachine, how: str
) -> None:
    running = asyncio.Event()

    async def run() -> None:
        async with machine:
            running.set()
            if how == "exception":
                raise RuntimeError("walkout bug")
            if how == "cancel":
                await asyncio.Event().wait()

    task = asyncio.create_task(run())
    await running.wait()
    assert locked(sim, "exit")
    if how == "cancel":
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    elif how == "exception":
        with pytest.raises(RuntimeError, match="walkout bug"):
            await task
    else:
        await task
    assert not locked(sim, "exit")  # at the module: the exit relay is released
    assert locked(sim, "entry")  # nobody checks credentials any more
