"""The gate machine's rules on a GateIo fake: it needs nothing of a particular driver.

The wire paths (a real module, real coils) are covered in test_machine_dio.py; here the
fake records commands, fails or blocks them on demand, so races and failure paths can be
set up exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Self

import pytest

from devices.bus import Bus
from devices.errors import DeviceCommandError
from devices.gate.io import (
    CredentialKind,
    CredentialPresented,
    GateIo,
    GateLinkChanged,
    LockState,
    PassageSensed,
)
from devices.gate.machine import (
    AdmissionExpired,
    Admitted,
    Decision,
    Entered,
    Exited,
    ExitFailedOpen,
    ExitRequested,
    GateFault,
    GateMachine,
    GateMode,
    GateOnline,
    GateSettings,
    Refused,
    Tailgating,
)
from sim_devices.clock import ManualClock

from .conftest import Events, eventually


class FakeGate:
    """A GateIo that records every command; commands can be made to fail or to block."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.commands: list[str] = []
        self.state = LockState.UNKNOWN
        self.fail: set[str] = set()
        self.block: dict[str, asyncio.Event] = {}
        self.raise_on_release = False

    async def _do(self, name: str, state: LockState) -> None:
        self.commands.append(name)
        if name in self.block:
            await self.block[name].wait()
        if name in self.fail:
            raise DeviceCommandError(f"{name} refused", device=self.device_id)
        self.state = state

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        await self.release()

    async def pulse_open(self, duration_ms: int) -> None:
        await self._do("pulse", LockState.PULSED_OPEN)

    async def hold_open(self) -> None:
        await self._do("hold", LockState.HELD_OPEN)

    async def lock(self) -> None:
        await self._do("lock", LockState.LOCKED)

    async def release(self) -> None:
        if self.raise_on_release:
            self.commands.append("release")
            raise RuntimeError("a GateIo that breaks its contract")
        await self._do("release", LockState.RELEASED)

    async def feedback(self, *, granted: bool) -> None:
        self.commands.append("green" if granted else "red")

    def lock_state(self) -> LockState:
        return self.state

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class ListCheck:
    """Admits credentials in ``groups`` with their size; session ids are predictable."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups
        self.asked = 0
        self.hang = asyncio.Event()

    async def check(self, credential: CredentialPresented) -> Decision:
        self.asked += 1
        if credential.credential == "HANG":
            await self.hang.wait()
        if credential.credential == "CRASH":
            raise RuntimeError("bug in the check")
        size = self.groups.get(credential.credential)
        if size is None:
            return Decision.refuse("unknown")
        return Decision(admit=True, session_id=f"s-{credential.credential}", group_size=size)


SETTINGS = GateSettings(open_ms=500, exit_open_ms=400, group_window_s=10.0, check_timeout_s=0.3)


def _gate_io(gate: GateIo) -> GateIo:
    return gate  # mypy checks here that FakeGate satisfies the GateIo protocol


@pytest.fixture
def entry() -> FakeGate:
    return FakeGate("in")


@pytest.fixture
def exit_gate() -> FakeGate:
    return FakeGate("out")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def machine(
    bus: Bus, entry: FakeGate, exit_gate: FakeGate, clock: ManualClock
) -> AsyncIterator[GateMachine]:
    check = ListCheck({"ONE": 1, "PAIR": 2, "BUS": 40})
    gates = GateMachine(
        bus,
        check,
        entries=[_gate_io(entry)],
        exits=[_gate_io(exit_gate)],
        settings=SETTINGS,
        clock=clock,
    )
    async with gates:
        yield gates


async def present(bus: Bus, clock: ManualClock, credential: str, gate: str = "in") -> None:
    await bus.publish(
        CredentialPresented(
            source=gate, t_mono=clock(), kind=CredentialKind.KEYPAD, credential=credential
        )
    )


async def passage(bus: Bus, clock: ManualClock, gate: str = "in") -> None:
    await bus.publish(PassageSensed(source=gate, t_mono=clock()))


async def test_admission_needs_only_gate_io(
    bus: Bus, machine: GateMachine, entry: FakeGate, exit_gate: FakeGate, clock: ManualClock,
    events: Events,
) -> None:  # fmt: skip
    assert entry.commands == ["lock"]
    assert exit_gate.commands == ["lock"]
    await present(bus, clock, "ONE")
    admitted = await events.next(Admitted)
    assert admitted.session_id == "s-ONE"
    assert entry.commands == ["lock", "pulse", "green"]
    clock.advance(1.0)
    await passage(bus, clock)
    entered = await events.next(Entered)
    assert (entered.session_id, entered.person, entered.group_size) == ("s-ONE", 1, 1)
    assert entered.t_mono == clock()
    assert entered.credential == "keypad:…ONE"


async def test_group_reopens_per_person_and_expires(
    bus: Bus, machine: GateMachine, entry: FakeGate, clock: ManualClock, events: Events
) -> None:
    await present(bus, clock, "BUS")  # asks for 40, capped at 6
    admitted = await events.next(Admitted)
    assert admitted.group_size == 6
    await passage(bus, clock)
    await events.next(Entered)
    await eventually(lambda: entry.commands.count("pulse") == 2, what="re-open for the next")
    clock.advance(SETTINGS.group_window_s + 1)
    await passage(bus, clock)  # too late: the admission has expired
    expired = await events.next(AdmissionExpired)
    assert (expired.session_id, expired.unused) == ("s-BUS", 5)
    late = await events.next(Tailgating)
    assert late.session_id is None  # the last admission's window is over too


async def test_tailgater_right_behind_a_single(
    bus: Bus, machine: GateMachine, entry: FakeGate, clock: ManualClock, events: Events
) -> None:
    await passage(bus, clock)
    assert (await events.next(Tailgating)).session_id is None  # nobody admitted yet
    await present(bus, clock, "ONE")
    await events.next(Admitted)
    await passage(bus, clock)
    await passage(bus, clock)
    await events.next(Entered)
    assert (await events.next(Tailgating)).session_id == "s-ONE"
    assert entry.commands.count("pulse") == 1  # a single is not re-opened for


@pytest.mark.parametrize(
    ("credential", "reason"),
    [
        ("NOBODY", "unknown"),
        ("CRASH", "credential check failed: RuntimeError"),
        ("HANG", "credential check timed out"),
    ],
)
async def test_refusals_never_open(
    bus: Bus, machine: GateMachine, entry: FakeGate, clock: ManualClock, events: Events,
    credential: str, reason: str,
) -> None:  # fmt: skip
    await present(bus, clock, credential)
    refused = await events.next(Refused)
    assert refused.reason == reason
    assert entry.commands == ["lock", "red"]


def test_an_admitting_decision_needs_a_session() -> None:
    with pytest.raises(ValueError, match="session id"):
        Decision(admit=True)
    assert Decision.refuse("no").admit is False


async def test_a_door_that_does_not_open_refuses(
    bus: Bus, machine: GateMachine, entry: FakeGate, clock: ManualClock, events: Events
) -> None:
    entry.fail.add("pulse")
    await present(bus, clock, "ONE")
    fault = await events.next(GateFault)
    assert fault.command == "pulse_open"
    refused = await events.next(Refused)
    assert refused.reason.startswith("gate did not open: ")
    assert machine.open_admissions() == []
    await passage(bus, clock)
    assert (await events.next(Tailgating)).session_id is None
    assert events.of(Admitted) == []


async def test_a_pulse_racing_an_emergency_ends_released(
    bus: Bus, machine: GateMachine, entry: FakeGate, clock: ManualClock, events: Events
) -> None:
    entry.block["pulse"] = asyncio.Event()
    await present(bus, clock, "ONE")
    await eventually(lambda: "pulse" in entry.commands, what="pulse sent")
    await machine.set_mode(GateMode.EMERGENCY, "fire")
    assert entry.commands[-1] == "release"
    entry.block.pop("pulse").set()  # the pulse lands after the release...
    await events.next(Admitted)
    lock_commands = [c for c in entry.commands if c in ("pulse", "lock", "release", "hold")]
    assert lock_commands == ["lock", "pulse", "release", "release"]  # ...and is released again
    assert entry.state is LockState.RELEASED


async def test_entry_locked_lets_an_admitted_group_finish(
    bus: Bus, machine: GateMachine, entry: FakeGate, clock: ManualClock, events: Events
) -> None:
    await present(bus, clock, "PAIR")
    await events.next(Admitted)
    await machine.set_mode(GateMode.ENTRY_LOCKED, "closing")
    await present(bus, clock, "ONE")
    assert (await events.next(Refused)).reason == "store closing"
    await passage(bus, clock)
    await passage(bus, clock)
    assert [(await events.next(Entered)).person for _ in range(2)] == [1, 2]
    await eventually(lambda: entry.commands.count("pulse") == 2, what="re-open for person 2")


async def test_exit_requests_and_passages(
    bus: Bus, machine: GateMachine, exit_gate: FakeGate, clock: ManualClock, events: Events
) -> None:
    await machine.request_exit("out")
    await eventually(lambda: exit_gate.commands == ["lock", "pulse"], what="exit pulse")
    await passage(bus, clock, "out")
    exited = await events.next(Exited)
    assert (exited.source, exited.session_id, exited.evacuation) == ("out", None, False)
    await present(bus, clock, "ONE", gate="out")  # credentials at an exit open nothing
    await bus.publish(ExitRequested(source="in", t_mono=clock()))  # nor buttons at an entry
    await passage(bus, clock, "out")
    await events.next(Exited)
    assert exit_gate.commands == ["lock", "pulse"]


async def test_release_exits_on_command_holds_them(
    bus: Bus, machine: GateMachine, exit_gate: FakeGate, clock: ManualClock, events: Events
) -> None:
    await machine.release_exits("operator")
    assert (await events.next(ExitFailedOpen)).reason == "operator"
    await machine.request_exit("out")
    await passage(bus, clock, "out")
    await events.next(Exited)
    assert exit_gate.commands == ["lock", "release"]  # no pulse that would relock
    await machine.restore()
    assert exit_gate.commands[-1] == "lock"


async def test_controller_loss_and_return(
    bus: Bus, machine: GateMachine, exit_gate: FakeGate, clock: ManualClock, events: Events
) -> None:
    await bus.publish(GateLinkChanged(source="out", t_mono=clock(), online=False, reason="EOF"))
    failed = await events.next(ExitFailedOpen)
    assert failed.reason == "controller lost: EOF"
    assert machine.failed_open == {"out"}
    await eventually(lambda: exit_gate.commands[-1:] == ["release"], what="release attempt")
    await machine.request_exit("out")
    await bus.publish(GateLinkChanged(source="out", t_mono=clock(), online=True))
    assert (await events.next(GateOnline)).source == "out"
    assert exit_gate.commands == ["lock", "release", "lock"]
    assert machine.failed_open == set()


async def test_leaving_releases_every_exit_even_if_one_breaks(bus: Bus, clock: ManualClock) -> None:
    broken, good, door = FakeGate("out1"), FakeGate("out2"), FakeGate("in")
    broken.raise_on_release = True
    async with GateMachine(bus, ListCheck({}), entries=[door], exits=[broken, good]):
        pass
    assert broken.commands[-1] == "release"
    assert good.commands[-1] == "release"
    assert door.commands[-1] == "lock"


async def test_a_second_cancel_does_not_stop_the_release(bus: Bus) -> None:
    out, door = FakeGate("out"), FakeGate("in")
    running = asyncio.Event()

    async def run() -> None:
        async with GateMachine(bus, ListCheck({}), entries=[door], exits=[out]):
            out.block["release"] = asyncio.Event()
            running.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(run())
    await running.wait()
    task.cancel()
    await eventually(lambda: "release" in out.commands, what="release started")
    task.cancel()  # impatient shutdown
    await asyncio.sleep(0)
    assert not task.done()
    out.block.pop("release").set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert out.state is LockState.RELEASED
    assert door.state is LockState.LOCKED


async def test_emergency_at_exit_keeps_the_entry_released(bus: Bus) -> None:
    out, door = FakeGate("out"), FakeGate("in")
    async with GateMachine(bus, ListCheck({}), entries=[door], exits=[out]) as gates:
        await gates.set_mode(GateMode.EMERGENCY, "fire")
    assert door.state is LockState.RELEASED
    assert out.state is LockState.RELEASED
