"""The CRAC driver against the simulated units over Modbus TCP and RTU (real sockets, a pty).

Expected values come from the simulator's model (its own API): the driver must report what
the unit holds, within the register's resolution (0.1 for pcw1's int16 tenths, float32
precision for irc2).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from devices.bus import Bus
from devices.coordinator import PollingCoordinator
from devices.crac import (
    CracAlarm,
    CracAlarmWatch,
    CracCommandError,
    CracReading,
    ModbusCrac,
    get_crac_profile,
)
from devices.errors import DeviceConnectionError, DeviceTimeoutError
from devices.modbus.link import RtuLink, TcpLink
from sim_devices.clock import ManualClock
from sim_devices.crac import CracParams, CracSimulator, Refusal

from .conftest import VERIFY_S

TENTH = 0.05 + 1e-9
"""Half a count of an int16/uint16 x 0.1 register."""


def assert_matches_model(reading: CracReading, sim: CracSimulator, tol: float) -> None:
    crac = sim.crac
    assert reading.return_air_c == pytest.approx(crac.return_air_c, abs=tol)
    assert reading.supply_air_c == pytest.approx(crac.supply_air_c, abs=tol)
    assert reading.humidity_pct == pytest.approx(crac.humidity_pct, abs=tol)
    assert reading.fan_pct == pytest.approx(crac.fan_pct, abs=tol)
    assert reading.supply_setpoint_c == pytest.approx(crac.supply_setpoint_c, abs=tol)
    assert reading.compressors_on == crac.compressors_on
    assert reading.unit_on is crac.running
    assert reading.local_mode is crac.local_lock


async def test_tcp_reading_matches_the_model_in_two_transactions(
    pcw1: CracSimulator, tcp_crac: ModbusCrac
) -> None:
    before = tcp_crac.link.transactions
    reading = await tcp_crac.read()
    assert tcp_crac.link.transactions - before == 2  # input 2..10 and holding 101..102
    assert_matches_model(reading, pcw1, TENTH)
    assert reading.return_setpoint_c == pytest.approx(pcw1.crac.return_setpoint_c)
    assert reading.heater_on is (pcw1.crac.heater_stages_on > 0)
    assert reading.humidifier_on is pcw1.crac.humidifier_on
    assert reading.alarms == ()
    assert reading.source == "crac-1"
    # a settled room at 6 kW: one compressor cycling near the 24 °C setpoint
    assert 22.5 < reading.return_air_c < 25.5  # type: ignore[operator]
    assert reading.delta_t_k is not None


async def test_rtu_reading_on_a_pty_matches_the_model(
    pcw1: CracSimulator, clock: ManualClock, rtu_crac: ModbusCrac
) -> None:
    pcw1.crac.it_load_w = 13_000  # both compressors needed
    clock.advance(900)
    reading = await rtu_crac.read()
    assert_matches_model(reading, pcw1, TENTH)
    assert reading.compressors_running == 2


async def test_irc2_float32_low_word_first(irc2: CracSimulator, irc2_crac: ModbusCrac) -> None:
    reading = await irc2_crac.read()
    assert_matches_model(reading, irc2, 1e-4)
    assert reading.return_air_c == pytest.approx(irc2.crac.return_air_c, rel=1e-6)
    # what irc2 does not have reads as None, not as a default
    assert reading.return_setpoint_c is None
    assert reading.heater_on is None
    assert reading.humidifier_on is None
    assert reading.compressors_on is not None
    assert len(reading.compressors_on) == 1


async def test_alarm_bits_are_decoded_to_profile_names(
    pcw1: CracSimulator, tcp_crac: ModbusCrac
) -> None:
    for fault in ("compressor_2", "filter", "water_leak"):
        pcw1.crac.set_fault(fault)
    reading = await tcp_crac.read()
    assert reading.alarms == ("compressor_2_failure", "filter_clogged", "water_leak")


async def test_irc2_alarms_in_the_high_word(irc2: CracSimulator, irc2_crac: ModbusCrac) -> None:
    irc2.crac.set_fault("filter")  # bit 17: only right if the words are taken low first
    irc2.crac.set_fault("fan")  # bit 5
    reading = await irc2_crac.read()
    assert reading.alarms == ("fan_failure", "filter_clogged")


async def test_broken_sensor_reads_as_unknown(
    pcw1: CracSimulator, irc2: CracSimulator, tcp_crac: ModbusCrac, irc2_crac: ModbusCrac
) -> None:
    for sim in (pcw1, irc2):
        sim.crac.set_fault("return_sensor")
    reading = await tcp_crac.read()
    assert reading.return_air_c is None  # 0x8000 in an int16 x0.1 register
    assert reading.delta_t_k is None
    assert reading.supply_air_c is not None
    assert "return_sensor_failure" in (reading.alarms or ())
    irc2_reading = await irc2_crac.read()
    assert irc2_reading.return_air_c is None  # NaN in a float32 register
    assert "return_sensor_failure" in (irc2_reading.alarms or ())


async def test_set_setpoint_is_written_and_read_back(
    pcw1: CracSimulator, irc2: CracSimulator, tcp_crac: ModbusCrac, irc2_crac: ModbusCrac
) -> None:
    assert await tcp_crac.set_setpoint(22.5) == pytest.approx(22.5)
    assert pcw1.crac.return_setpoint_c == pytest.approx(22.5)
    assert (await tcp_crac.read()).return_setpoint_c == pytest.approx(22.5)
    assert await irc2_crac.set_setpoint(23.3) == pytest.approx(23.3, abs=1e-5)
    assert irc2.crac.supply_setpoint_c == pytest.approx(23.3, abs=1e-5)


async def test_unit_off_and_on(pcw1: CracSimulator, rtu_crac: ModbusCrac) -> None:
    await rtu_crac.set_unit_on(False)
    assert pcw1.crac.unit_on is False
    reading = await rtu_crac.read()
    assert reading.unit_on is False
    assert reading.fan_pct == 0
    assert reading.compressors_running == 0
    await rtu_crac.set_unit_on(True)
    assert pcw1.crac.running is True


async def test_irc2_on_off_uses_its_own_values(irc2: CracSimulator, irc2_crac: ModbusCrac) -> None:
    await irc2_crac.set_unit_on(False)
    assert irc2.crac.unit_on is False
    assert await irc2_crac.read_point("operating_mode") == 0
    await irc2_crac.set_unit_on(True)
    assert await irc2_crac.read_point("operating_mode") == 2


async def test_latched_alarms_clear_only_when_their_cause_is_gone(
    pcw1: CracSimulator, tcp_crac: ModbusCrac
) -> None:
    pcw1.crac.set_fault("compressor_1")
    assert await tcp_crac.clear_alarms() == ("compressor_1_failure",)  # cause still there
    pcw1.crac.set_fault("none")
    assert (await tcp_crac.read()).alarms == ("compressor_1_failure",)  # latched
    assert await tcp_crac.clear_alarms() == ()
    assert pcw1.crac.alarms == frozenset()


async def test_profile_without_reset_says_so(irc2_crac: ModbusCrac) -> None:
    with pytest.raises(CracCommandError, match="no alarm reset"):
        await irc2_crac.clear_alarms()


async def test_local_lock_exception_is_a_clear_refusal(
    pcw1: CracSimulator, tcp_crac: ModbusCrac
) -> None:
    pcw1.crac.local_lock = True
    with pytest.raises(CracCommandError) as caught:
        await tcp_crac.set_setpoint(22.0)
    text = str(caught.value)
    assert "refused setpoint 22 °C" in text
    assert "exception 1 (illegal function)" in text
    assert "still reads 24 °C" in text
    assert "local mode" in text
    assert caught.value.read_back == pytest.approx(24.0)
    assert caught.value.device == "crac-1"
    assert pcw1.crac.return_setpoint_c == 24.0


async def test_local_lock_that_ignores_writes_is_caught_by_read_back(
    pcw1: CracSimulator, rtu_crac: ModbusCrac
) -> None:
    pcw1.crac.local_lock = True
    pcw1.crac.refusal = Refusal.IGNORE
    with pytest.raises(CracCommandError) as caught:
        await rtu_crac.set_setpoint(22.0)
    text = str(caught.value)
    assert "not applied" in text
    assert f"reads back 24 °C after {VERIFY_S:g} s" in text
    assert "local mode" in text
    with pytest.raises(CracCommandError, match=r"switch off not applied.*status says running"):
        await rtu_crac.set_unit_on(False)
    assert pcw1.crac.unit_on is True
    assert pcw1.unit.writes_ignored == 2


@pytest.fixture
async def narrow(clock: ManualClock) -> AsyncIterator[tuple[CracSimulator, ModbusCrac]]:
    """A pcw1 whose panel allows return setpoints 20..26 °C only (the manual says 15..35)."""
    params = CracParams(return_setpoint_range_c=(20.0, 26.0))
    async with CracSimulator("pcw1", clock=clock, params=params) as sim:
        link = TcpLink("narrow", "127.0.0.1", sim.tcp_port, timeout_s=0.5)
        try:
            yield (
                sim,
                ModbusCrac("crac-n", link, 1, get_crac_profile("pcw1"), verify_timeout_s=VERIFY_S),
            )
        finally:
            await link.close()


async def test_setpoint_outside_the_units_range_is_refused(
    narrow: tuple[CracSimulator, ModbusCrac],
) -> None:
    sim, crac = narrow
    with pytest.raises(CracCommandError, match=r"exception 3 \(illegal data value\)") as caught:
        await crac.set_setpoint(28.0)
    assert "local mode" not in str(caught.value)
    assert caught.value.requested == 28.0
    sim.crac.refusal = Refusal.IGNORE
    with pytest.raises(CracCommandError, match="setpoint 28 °C not applied"):
        await crac.set_setpoint(28.0)
    assert sim.crac.return_setpoint_c == 24.0


async def test_setpoint_outside_the_profile_is_not_written(
    pcw1: CracSimulator, tcp_crac: ModbusCrac
) -> None:
    writes = pcw1.stats()["servers"][0]["requests"]
    with pytest.raises(CracCommandError, match=r"40 °C outside 15\.\.35 °C.*nothing was written"):
        await tcp_crac.set_setpoint(40.0)
    with pytest.raises(CracCommandError, match="outside"):
        await tcp_crac.set_setpoint(float("nan"))
    assert pcw1.stats()["servers"][0]["requests"] == writes


async def test_unit_that_cannot_start_reports_why(
    pcw1: CracSimulator, tcp_crac: ModbusCrac
) -> None:
    await tcp_crac.set_unit_on(False)
    pcw1.crac.set_fault("power")
    with pytest.raises(CracCommandError) as caught:
        await tcp_crac.set_unit_on(True)
    text = str(caught.value)
    assert "switch on not applied: unit_on_off reads 1, status says stopped" in text
    assert "power_failure" in text


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_silent_unit_times_out_and_recovers(
    pcw1: CracSimulator, tcp_crac: ModbusCrac, rtu_crac: ModbusCrac, transport: str
) -> None:
    crac = tcp_crac if transport == "tcp" else rtu_crac
    pcw1.set_link_fault("silent")
    async with asyncio.timeout(10):  # a hang fails here instead of at the test timeout
        with pytest.raises(DeviceTimeoutError, match="no valid reply"):
            await crac.read()
        with pytest.raises(DeviceTimeoutError):
            await crac.set_setpoint(22.0)
    assert pcw1.crac.return_setpoint_c == 24.0  # a dead unit executes nothing
    pcw1.set_link_fault("none")
    if isinstance(crac.link, TcpLink):
        crac.link._next_connect_s = 0  # skip the reconnect backoff for the test
    assert (await crac.read()).unit_on is True


async def test_gone_unit_is_a_connection_error_not_a_hang(free_tcp_port: int) -> None:
    link = TcpLink("gone", "127.0.0.1", free_tcp_port, timeout_s=0.2)
    crac = ModbusCrac("gone", link, 1, get_crac_profile("pcw1"))
    try:
        async with asyncio.timeout(5):
            with pytest.raises(DeviceConnectionError, match="cannot open link"):
                await crac.read()
    finally:
        await link.close()


async def test_read_points_for_probe(pcw1: CracSimulator, tcp_crac: ModbusCrac) -> None:
    points = await tcp_crac.read_points()
    assert set(points) == set(get_crac_profile("pcw1").points)
    assert points["model_code"] == 0x50C1
    assert points["return_setpoint"] == pytest.approx(24.0)
    assert points["compressor_1_hours"] == int(pcw1.crac.compressor_hours(0))
    with pytest.raises(KeyError, match="no point"):
        await tcp_crac.read_point("nope")


@contextlib.asynccontextmanager
async def running(coordinator: PollingCoordinator) -> AsyncIterator[None]:
    task = asyncio.create_task(coordinator.run(), name="coordinator")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def next_alarm(messages: object) -> CracAlarm:
    async with asyncio.timeout(10):
        async for message in messages:  # type: ignore[attr-defined]
            if isinstance(message, CracAlarm):
                return message
    raise AssertionError("subscription closed")


async def test_alarm_events_through_the_coordinator(pcw1: CracSimulator, rtu_link: RtuLink) -> None:
    crac = ModbusCrac("crac-2", rtu_link, 1, get_crac_profile("pcw1"))
    bus = Bus()
    alarms = bus.subscribe(CracAlarm, name="alarms")
    coordinator = PollingCoordinator(bus)
    coordinator.add(crac, 20.0, CracAlarmWatch())
    async with running(coordinator):
        pcw1.crac.set_fault("fan")
        raised = await next_alarm(alarms)
        assert raised.raised == ("fan_failure",)
        assert raised.cleared == ()
        assert CracAlarm.durable is True
        pcw1.crac.set_fault("none")
        pcw1.crac.reset_alarms(local=True)
        cleared = await next_alarm(alarms)
        assert cleared.cleared == ("fan_failure",)
        assert cleared.active == ()


def reading(alarms: tuple[str, ...] | None, t: float = 1.0) -> CracReading:
    return CracReading(source="c", t_mono=t, alarms=alarms)


def test_alarm_watch_reports_alarms_present_at_start_and_each_change() -> None:
    watch = CracAlarmWatch()
    first = watch(reading(("water_leak",)))
    assert first[0] == reading(("water_leak",))
    assert isinstance(first[1], CracAlarm)
    assert first[1].raised == ("water_leak",)
    assert len(watch(reading(("water_leak",)))) == 1  # unchanged: the reading only
    change = watch(reading(("fan_failure",), 2.0))[1]
    assert isinstance(change, CracAlarm)
    assert (change.raised, change.cleared, change.active) == (
        ("fan_failure",),
        ("water_leak",),
        ("fan_failure",),
    )
    assert change.t_mono == 2.0


def test_alarm_watch_is_quiet_without_alarms_or_alarm_map() -> None:
    watch = CracAlarmWatch()
    assert len(watch(reading(()))) == 1
    assert len(watch(reading(None))) == 1
