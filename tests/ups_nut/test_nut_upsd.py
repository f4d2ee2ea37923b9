"""walkout's NUT client against a real upsd serving dummy-ups drivers, checked against upsc."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator

import pytest

from devices.errors import DeviceAuthError, DeviceError
from devices.ups.nut import (
    NutConnection,
    NutStaleError,
    NutUnknownUpsError,
    NutUps,
    NutVariableError,
    list_ups,
    reading_from_nut,
)
from devices.ups.state import BatteryStatus, InputLine, OutputLine, UpsReading, UpsStatus

from .conftest import MAXAGE_S, NO_LOGIN_USER, TRANSFER_OL, UPS1, USER
from .nutserver import DevFile, NutServer

pytestmark = [pytest.mark.peer]


@pytest.fixture(autouse=True)
def _nut_still_running(nut: NutServer) -> Iterator[None]:
    """A test that fails because upsd or a driver died says so, with the log."""
    yield
    assert not nut.dead(), nut.dead()


def connection(nut: NutServer, **kwargs: object) -> NutConnection:
    return NutConnection("127.0.0.1", nut.port, timeout_s=2.0, **kwargs)  # type: ignore[arg-type]


async def read_until(
    ups: NutUps, accept: Callable[[UpsReading], bool], timeout_s: float = 10.0
) -> UpsReading:
    """Poll ``ups`` until a reading passes ``accept``; fail with the last one seen."""
    deadline = time.monotonic() + timeout_s
    last: UpsReading | DeviceError | None = None
    while time.monotonic() < deadline:
        try:
            last = await ups.read()
        except DeviceError as exc:
            last = exc
        else:
            if accept(last):
                return last
        await asyncio.sleep(0.05)
    pytest.fail(f"{ups.address}: no accepted reading within {timeout_s} s; last: {last!r}")


async def error_until(ups: NutUps, code: str, timeout_s: float) -> NutStaleError:
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = await ups.read()
        except NutStaleError as exc:
            if exc.code == code:
                return exc
            last = exc
        await asyncio.sleep(0.05)
    pytest.fail(f"{ups.address}: no ERR {code} within {timeout_s} s; last: {last!r}")


async def test_list_ups_agrees_with_upsc(nut: NutServer) -> None:
    found = await list_ups("127.0.0.1", nut.port)
    assert [u.name for u in found] == nut.upsc_list()
    assert {u.name for u in found} == {"ups1", "three", "transfer", "frozen", "gone"}
    assert {u.name: u.description for u in found}["ups1"] == "ups1 test unit"


async def test_list_vars_agrees_with_upsc(nut: NutServer) -> None:
    async with connection(nut) as conn:
        values, timing = await conn.list_vars("ups1")
    assert values == nut.upsc("ups1")
    # Every variable of the .dev file comes through, quotes and backslashes unescaped.
    for name, value in UPS1.items():
        assert values[name] == value
    assert values["ups.id"] == 'rack "A" \\ left'
    assert timing.received_s >= timing.sent_s


async def test_get_var_agrees_with_list(nut: NutServer) -> None:
    async with connection(nut) as conn:
        assert await conn.get_var("ups1", "ups.serial") == "AS1234 5678"
        assert await conn.get_var("ups1", "battery.charge") == "87.5"
        assert (await conn.version()).startswith("Network UPS Tools upsd")


async def test_read_maps_single_phase_unit(nut: NutServer) -> None:
    async with connection(nut) as conn:
        reading = await NutUps("ups-a", conn, "ups1").read()
    assert reading.source == "ups-a"
    assert reading.via == "nut"
    assert reading.status is UpsStatus.ON_LINE
    assert reading.battery_status is BatteryStatus.NORMAL
    assert reading.charge_pct == 87.5
    assert reading.runtime_s == 1520
    assert reading.battery_voltage_v == 27.1
    assert reading.input_v == 229.4
    assert reading.input_hz == 49.98
    assert reading.input_lines == (InputLine(1, 229.4, 49.98, None),)
    assert reading.output_lines == (OutputLine(1, 230.0, 1.7, 380.0, 23.0),)
    assert reading.load_pct == 23
    assert reading.output_power_w == 380
    # Not in the .dev file: unknown, not a default.
    assert reading.battery_temperature_c is None
    assert reading.seconds_on_battery is None
    assert reading.alarms == ()


async def test_read_maps_three_phase_unit(nut: NutServer) -> None:
    async with connection(nut) as conn:
        reading = await NutUps("ups-3", conn, "three").read()
    assert reading.status is UpsStatus.BYPASS
    assert reading.input_lines == (
        InputLine(1, 231.0, 50.02, 10.5),
        InputLine(2, 198.5, 50.02, None),
        InputLine(3, 229.0, 50.02, None),
    )
    assert reading.input_v == 231.0
    assert reading.load_pct == 67  # the most loaded phase, not ups.load's 40
    assert "onBypass" in reading.alarms


async def test_reading_equals_mapping_of_upsc_output(nut: NutServer) -> None:
    async with connection(nut) as conn:
        for name in ("ups1", "three"):
            reading = await NutUps(name, conn, name).read()
            independent = reading_from_nut(name, reading.t_mono, nut.upsc(name))
            assert reading == independent


async def test_transfer_to_battery_and_low_battery(
    nut: NutServer, devs: dict[str, DevFile]
) -> None:
    steps = [
        ("OB", {"ups.status": "OB", "input.voltage": "0.0", "battery.runtime": "1900"}),
        (
            "OB LB",
            {
                "ups.status": "OB LB",
                "input.voltage": "0.0",
                "battery.charge": "18",
                "battery.runtime": "240",
                "ups.alarm": "Battery low!",
            },
        ),
        ("OL", TRANSFER_OL),
    ]
    expected = {
        "OB": (UpsStatus.ON_BATTERY, BatteryStatus.NORMAL, ("onBattery",)),
        "OB LB": (
            UpsStatus.LOW_BATTERY,
            BatteryStatus.LOW,
            ("onBattery", "lowBattery", "Battery low!"),
        ),
        "OL": (UpsStatus.ON_LINE, BatteryStatus.NORMAL, ()),
    }
    try:
        async with connection(nut) as conn:
            ups = NutUps("ups-t", conn, "transfer")
            first = await read_until(ups, lambda r: r.status is UpsStatus.ON_LINE)
            assert first.input_v == 231.0
            for status, values in steps:
                devs["transfer"].write({**TRANSFER_OL, **values})
                reading = await read_until(
                    ups, lambda r, want=expected[status][0]: r.status is want
                )
                assert (reading.status, reading.battery_status, reading.alarms) == expected[status]
                upsc = nut.upsc("transfer")
                assert upsc["ups.status"] == status
                assert reading == reading_from_nut("ups-t", reading.t_mono, upsc)
            assert reading.runtime_s == 2400
    finally:
        devs["transfer"].write(TRANSFER_OL)


async def test_unknown_variable(nut: NutServer) -> None:
    async with connection(nut) as conn:
        with pytest.raises(NutVariableError, match="VAR-NOT-SUPPORTED") as info:
            await conn.get_var("ups1", "battery.temperature")
        assert info.value.code == "VAR-NOT-SUPPORTED"
        assert await conn.get_var("ups1", "ups.status") == "OL"  # still usable


async def test_unknown_ups_names_what_upsd_has(nut: NutServer) -> None:
    async with connection(nut) as conn:
        ups = NutUps("ups-x", conn, "nosuch")
        with pytest.raises(NutUnknownUpsError) as info:
            await ups.read()
        assert info.value.known == tuple(nut.upsc_list())
        message = str(info.value)
        assert "'nosuch'" in message
        assert "ups1, three, transfer" in message
        assert message.startswith("ups-x, 127.0.0.1:")
        assert conn.connected


async def test_login_with_the_right_password(nut: NutServer) -> None:
    conn = connection(nut, username=USER.name, password=USER.password, login="ups1")
    async with conn:
        assert nut.upsc_clients("ups1") == ["127.0.0.1"]
        assert (await NutUps("ups-a", conn, "ups1").read()).status is UpsStatus.ON_LINE
    # upsd notices the closed connection on its next loop turn.
    deadline = time.monotonic() + 5
    while True:
        clients = nut.upsc_clients("ups1")
        if not clients or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert clients == []


async def test_login_with_a_wrong_password(
    nut: NutServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "not-the-Password-42"
    conn = connection(nut, username=USER.name, password=secret, login="ups1")
    with pytest.raises(DeviceAuthError, match="ACCESS-DENIED") as info:
        await conn.connect()
    assert not conn.connected
    for text in (str(info.value), repr(conn), conn.last_connect_error, caplog.text):
        assert secret not in text
    assert "PASSWORD ***" not in str(info.value)  # it failed at LOGIN, which it names
    assert "LOGIN ups1" in str(info.value)
    await conn.close()


async def test_login_needs_the_upsmon_role(nut: NutServer) -> None:
    conn = connection(
        nut, username=NO_LOGIN_USER.name, password=NO_LOGIN_USER.password, login="ups1"
    )
    with pytest.raises(DeviceAuthError, match="ACCESS-DENIED"):
        await conn.connect()
    await conn.close()


async def test_login_to_an_unknown_ups(nut: NutServer) -> None:
    conn = connection(nut, username=USER.name, password=USER.password, login="nosuch")
    with pytest.raises(NutUnknownUpsError, match="upsd has ups1"):
        await conn.connect()
    assert not conn.connected
    await conn.close()


@pytest.mark.slow
async def test_hung_driver_gives_data_stale(nut: NutServer) -> None:
    async with connection(nut) as conn:
        ups = NutUps("ups-f", conn, "frozen")
        assert (await ups.read()).status is UpsStatus.ON_LINE
        nut.pause_driver("frozen")
        try:
            error = await error_until(ups, "DATA-STALE", MAXAGE_S + 6)
        finally:
            nut.resume_driver("frozen")
        assert error.driver_connected
        assert "stale" in str(error)
        assert str(error).startswith("ups-f, 127.0.0.1:")
        await read_until(ups, lambda r: r.status is UpsStatus.ON_LINE)


async def test_stopped_driver_gives_driver_not_connected_then_recovers(nut: NutServer) -> None:
    async with connection(nut) as conn:
        ups = NutUps("ups-g", conn, "gone")
        assert (await ups.read()).status is UpsStatus.ON_LINE
        nut.stop_driver("gone")
        try:
            error = await error_until(ups, "DRIVER-NOT-CONNECTED", 5)
            assert not error.driver_connected
            assert "no driver connected" in str(error)
            nut.start_driver("gone")
            # upsd reconnects to the new driver, which says WAIT before its first data.
            await read_until(ups, lambda r: r.status is UpsStatus.ON_LINE)
        finally:
            if "gone" in nut.drivers:
                nut.stop_driver("gone")  # started by this test: not left behind
