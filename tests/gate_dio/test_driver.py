"""DioGate against the I/O module simulator over real TCP."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.errors import DeviceCommandError, DeviceProtocolError
from devices.gate.dio import DioGate
from devices.gate.dio_profile import DioProfile, DioWiring, get_dio_profile
from devices.gate.io import ExitRequested, GateLinkChanged, LockState, PassageSensed, TamperChanged
from sim_devices.dio import DioSimulator

from .conftest import ENTRY_WIRING, EXIT_WIRING, Events, eventually

HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[1]

MakeGate = Callable[..., DioGate]


def entry_locked(sim: DioSimulator) -> bool:
    return sim.doors["entry"].locked


async def test_connect_arms_watchdog_and_reports_online(
    sim: DioSimulator, make_gate: MakeGate, events: Events
) -> None:
    async with make_gate() as gate:
        link = await events.next(GateLinkChanged)
        assert link.online is True
        assert link.source == "entry"
        assert sim.module.watchdog_s == pytest.approx(2.0)
        # Power-up state of the module: relays off, so a maglock entry is free.
        assert gate.lock_state() is LockState.RELEASED
    assert not sim.module.coils[0]


async def test_lock_hold_release_with_read_back(sim: DioSimulator, make_gate: MakeGate) -> None:
    async with make_gate() as gate:
        await gate.lock()
        assert sim.module.coils[0] is True  # maglock energised = locked
        assert entry_locked(sim)
        assert gate.lock_state() is LockState.LOCKED
        await gate.hold_open()
        assert sim.module.coils[0] is False
        assert gate.lock_state() is LockState.HELD_OPEN
        await gate.lock()
        await gate.release()
        assert not entry_locked(sim)
        assert gate.lock_state() is LockState.RELEASED


async def test_strike_polarity_inverts_the_coil(sim: DioSimulator, make_gate: MakeGate) -> None:
    strike = ENTRY_WIRING.model_copy(update={"energised_locks": False})
    async with make_gate(wiring=strike) as gate:
        await gate.lock()
        assert sim.module.coils[0] is False
        await gate.hold_open()
        assert sim.module.coils[0] is True
    assert sim.module.coils[0] is True  # close() released: a strike opens when powered


async def test_device_side_pulse_relocks_by_itself(sim: DioSimulator, make_gate: MakeGate) -> None:
    async with make_gate() as gate:
        await gate.lock()
        await gate.pulse_open(400)
        assert not entry_locked(sim)
        assert gate.lock_state() is LockState.PULSED_OPEN
        assert sim.module.stats.pulses == 1  # one timed-output register write
        assert "0" in sim.module.state()["timers"]
        await eventually(lambda: entry_locked(sim), what="module relocks after the pulse")
        await eventually(lambda: gate.lock_state() is LockState.LOCKED, what="driver sees relock")


async def test_host_side_pulse_without_timer_registers(
    sim: DioSimulator, make_gate: MakeGate
) -> None:
    basic = get_dio_profile("io8-basic")
    async with make_gate(profile=basic) as gate:
        assert gate.device_pulse is False
        await gate.lock()
        await gate.pulse_open(300)
        assert not entry_locked(sim)
        assert sim.module.state()["timers"] == {}  # nothing timed in the module
        assert sim.module.stats.pulses == 0
        # The module sees the coil as soon as the write lands; the driver records the
        # lock when the write's reply comes back, a moment later: wait for both.
        await eventually(
            lambda: entry_locked(sim) and gate.lock_state() is LockState.LOCKED,
            what="driver relocks after the pulse",
        )


async def test_release_cancels_a_pending_host_relock(
    sim: DioSimulator, make_gate: MakeGate
) -> None:
    async with make_gate(host_pulse=True) as gate:
        await gate.lock()
        await gate.pulse_open(200)
        await gate.release()
        writes = sim.module.stats.coil_writes
        # Wait past the pulse's end: the relock must not come.
        await eventually(lambda: sim.module.stats.requests > 20, what="polls go on")
        assert sim.module.stats.coil_writes == writes
        assert not entry_locked(sim)


async def test_passage_edges(sim: DioSimulator, make_gate: MakeGate, events: Events) -> None:
    async with make_gate() as gate:
        await gate.lock()
        assert sim.walk_through("entry") == {"passed": False, "forced": True}
        await gate.hold_open()
        opened_s = sim.module.now()
        sim.walk_through("entry")
        sim.walk_through("entry")
        first = await events.next(PassageSensed)
        second = await events.next(PassageSensed)
        # The forced attempt against the locked door left the beam alone.
        assert first.t_mono > opened_s
        # One edge per person: the first is seen while its beam is broken (within 0.2 s of
        # the first step), the second not before the 0.15 s gap after it.
        assert second.t_mono - first.t_mono >= 0.15
        assert first.source == "entry"
    assert len(events.of(PassageSensed)) == 2


async def test_debounce_ignores_short_pulses(
    sim: DioSimulator, make_gate: MakeGate, events: Events
) -> None:
    slow = ENTRY_WIRING.model_copy(update={"debounce_ms": 350})
    async with make_gate(wiring=slow) as gate:
        await gate.hold_open()
        sim.walk_through("entry")  # 200 ms beam: shorter than the debounce
        now = sim.module.now()
        sim.module.hold_input(0, now + 0.6, now + 1.2)  # 600 ms: counts
        sensed = await events.next(PassageSensed)
        assert sensed.t_mono >= now + 0.6
    assert len(events.of(PassageSensed)) == 1


async def test_exit_request_and_tamper_inputs(
    sim: DioSimulator, make_gate: MakeGate, events: Events
) -> None:
    async with make_gate("exit", EXIT_WIRING), make_gate():
        sim.press("exit")
        request = await events.next(ExitRequested)
        assert request.source == "exit"
        sim.set_input(7, True)
        tamper = await events.next(TamperChanged)
        assert (tamper.source, tamper.tampered) == ("entry", True)
        sim.set_input(7, False)
        tamper = await events.next(TamperChanged)
        assert tamper.tampered is False


async def test_tamper_active_at_connect_is_reported(
    sim: DioSimulator, make_gate: MakeGate, events: Events
) -> None:
    sim.set_input(7, True)
    async with make_gate():
        tamper = await events.next(TamperChanged)
        assert tamper.tampered is True


async def test_ignored_coil_write_fails_read_back(sim: DioSimulator, make_gate: MakeGate) -> None:
    async with make_gate() as gate:
        await gate.lock()
        await sim.set_fault("coil_ignored")
        with pytest.raises(DeviceCommandError, match="ignored the write"):
            await gate.hold_open()
        with pytest.raises(DeviceCommandError, match="ignored the write"):
            await gate.pulse_open(500)
        assert gate.lock_state() is LockState.LOCKED  # what the read-back said
        await sim.set_fault("none")
        await gate.hold_open()
        assert not entry_locked(sim)


async def test_module_killed_goes_offline_and_comes_back(
    sim: DioSimulator, make_gate: MakeGate, events: Events
) -> None:
    async with make_gate() as gate:
        await events.next(GateLinkChanged, lambda m: m.online)
        await gate.lock()
        await sim.set_fault("power_off")
        lost = await events.next(GateLinkChanged)
        assert lost.online is False
        assert lost.reason
        assert gate.lock_state() is LockState.UNKNOWN
        await gate.release()  # on a dead line: logs, does not raise
        await sim.set_fault("power_on")
        back = await events.next(GateLinkChanged, timeout_s=15)
        assert back.online is True
        assert sim.module.watchdog_s == pytest.approx(2.0)  # re-armed after the power cycle
        await eventually(lambda: gate.lock_state() is LockState.RELEASED)


async def test_unconfirmed_release_is_resent_on_reconnect(
    sim: DioSimulator, make_gate: MakeGate, events: Events
) -> None:
    async with make_gate() as gate:
        await events.next(GateLinkChanged, lambda m: m.online)  # the connect
        await gate.lock()
        await sim.set_fault("silent")  # alive, relays hold, but answers nothing
        await events.next(GateLinkChanged, lambda m: not m.online)
        await gate.release()
        assert entry_locked(sim)  # the command never reached the module
        await sim.set_fault("none")
        await events.next(GateLinkChanged, lambda m: m.online, timeout_s=15)
        assert not entry_locked(sim)
        assert gate.lock_state() is LockState.RELEASED


async def test_close_releases_and_is_idempotent(sim: DioSimulator, make_gate: MakeGate) -> None:
    gate = make_gate()
    await gate.connect()
    await gate.lock()
    assert entry_locked(sim)
    await gate.close()
    assert not entry_locked(sim)
    await gate.close()
    assert not gate.link.connected


async def test_wrong_module_is_refused_and_leaves_nothing_open(
    sim: DioSimulator, make_gate: MakeGate, io8: DioProfile
) -> None:
    assert io8.identify is not None
    other = io8.model_copy(update={"identify": io8.identify.model_copy(update={"equals": 0x1616})})
    gate = make_gate(profile=other)
    with pytest.raises(DeviceProtocolError, match="not a io8"):
        await gate.connect()
    assert not gate.link.connected


def test_wiring_must_fit_the_module(io8: DioProfile) -> None:
    from devices.bus import Bus
    from devices.errors import ProfileError
    from devices.modbus.link import TcpLink

    wiring = DioWiring(lock_coil=8, passage_input=9)
    with pytest.raises(ProfileError) as info:
        DioGate("g", TcpLink("g", "127.0.0.1", 1), Bus(), io8, wiring)
    assert "lock_coil: coil 8 outside 0..7 of io8" in str(info.value)
    assert "passage_input: input 9 outside 0..7 of io8" in str(info.value)


@pytest.mark.slow
async def test_module_watchdog_frees_the_door_when_the_driver_dies(sim: DioSimulator) -> None:
    """walkout is SIGKILLed with the door locked: no close(), no release; the module frees it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "driver_child.py"), str(sim.port), "0.5",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            line = await proc.stdout.readline()
        assert line.strip() == b"locked", line
        assert entry_locked(sim)
        assert sim.module.watchdog_s == pytest.approx(0.5)
        proc.kill()
        await proc.wait()
        killed_s = sim.module.now()
        await eventually(lambda: not entry_locked(sim), what="watchdog frees the door")
        assert sim.module.stats.watchdog_trips == 1
        assert sim.module.stats.last_trip_s is not None
        assert 0.0 < sim.module.stats.last_trip_s - killed_s <= 0.5
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
