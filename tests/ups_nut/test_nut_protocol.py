"""The NUT client against a scripted server: protocol abuse, timeouts, reconnects, auth."""

from __future__ import annotations

import asyncio
import random

import pytest

from devices.backoff import Backoff
from devices.errors import (
    DeviceAuthError,
    DeviceConnectionError,
    DeviceProtocolError,
    DeviceTimeoutError,
)
from devices.ups.nut import (
    NutAuthError,
    NutConnection,
    NutServerError,
    NutStaleError,
    NutUnknownUpsError,
    NutUps,
)
from devices.ups.state import UpsStatus

from .fakeupsd import VARS, FakeConn, FakeUpsd, answer_like_upsd, list_var_reply

FAST = Backoff(initial_s=0.0, cap_s=0.0, jitter=0.0)


def client(server: FakeUpsd, **kwargs: object) -> NutConnection:
    options: dict[str, object] = {"timeout_s": 1.0, "backoff": FAST, **kwargs}
    return NutConnection("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


def first_then_upsd(bad: str | bytes, *, close: bool = False):  # type: ignore[no-untyped-def]
    """Connection 1 answers its first request with ``bad``; later connections behave."""

    async def script(conn: FakeConn) -> None:
        if conn.number == 1:
            await conn.readline()
            await conn.send(bad)
            if close:
                return
        await answer_like_upsd(conn)

    return script


async def read_after_reconnect(server: FakeUpsd, conn: NutConnection) -> None:
    """The connection was dropped; the next read opens a new one and is answered right."""
    assert not conn.connected
    reading = await NutUps("ups-a", conn, "ups1").read()
    assert reading.status is UpsStatus.ON_LINE
    assert reading.charge_pct == 100
    assert len(server.conns) == 2


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (b"\x00\x01\x1b[2J\xff\xfe garbage\n", "control characters"),
        (b"hello there\n", "expected BEGIN LIST VAR ups1"),
        (b'BEGIN LIST VAR ups1\nVAR ups1 battery.charge "unterminated\n', "line 'VAR ups1"),
        (b'BEGIN LIST VAR ups1\nVAR ups2 battery.charge "1"\nEND LIST VAR ups1\n', "ups2"),
        (b"BEGIN LIST VAR ups1\nBEGIN LIST VAR ups1\n", "inside the list"),
        (b"BEGIN LIST VAR ups1\nEND LIST VAR ups7\n", "inside the list"),
        (b'BEGIN LIST VAR ups1\nVAR ups1 a "1" extra\nEND LIST VAR ups1\n', "line 'VAR ups1 a"),
    ],
    ids=["binary", "words", "unterminated-quote", "other-ups", "nested", "wrong-end", "5-words"],
)
async def test_garbage_reply_is_a_protocol_error(reply: bytes, match: str) -> None:
    async with FakeUpsd(first_then_upsd(reply)) as server:
        conn = client(server)
        try:
            with pytest.raises(DeviceProtocolError, match=match):
                await NutUps("ups-a", conn, "ups1").read()
            await read_after_reconnect(server, conn)
        finally:
            await conn.close()


async def test_partial_line_then_close() -> None:
    async with FakeUpsd(first_then_upsd(b"BEGIN LIST VAR ups1\nVAR ups1 ups.st", close=True)) as s:
        conn = client(s)
        try:
            with pytest.raises(DeviceConnectionError, match="middle of a line"):
                await conn.list_vars("ups1")
            await read_after_reconnect(s, conn)
        finally:
            await conn.close()


async def test_close_without_a_reply() -> None:
    async with FakeUpsd(first_then_upsd(b"", close=True)) as server:
        conn = client(server)
        try:
            with pytest.raises(DeviceConnectionError, match="closed the connection"):
                await conn.get_var("ups1", "ups.status")
            await read_after_reconnect(server, conn)
        finally:
            await conn.close()


async def test_never_ending_line_is_refused_not_buffered() -> None:
    sent = 0

    async def script(conn: FakeConn) -> None:
        nonlocal sent
        await conn.readline()
        while sent < 50_000_000:  # bounded; the client must give up long before
            await conn.send(b"A" * 65536)
            sent += 65536

    async with FakeUpsd(script) as server:
        conn = client(server, timeout_s=20.0)
        try:
            with pytest.raises(DeviceProtocolError, match="longer than 4096 bytes"):
                await conn.list_vars("ups1")
            assert not conn.connected
        finally:
            await conn.close()
    assert sent < 50_000_000


async def test_endless_list_is_cut_off() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.readline()
        await conn.send("BEGIN LIST VAR ups1\n")
        for n in range(100_000):
            await conn.send(f'VAR ups1 v{n} "{n}"\n')

    async with FakeUpsd(script) as server:
        conn = client(server, timeout_s=20.0, max_list_items=500)
        try:
            with pytest.raises(DeviceProtocolError, match="longer than 500 lines"):
                await conn.list_vars("ups1")
        finally:
            await conn.close()


async def test_err_in_the_middle_of_a_list() -> None:
    reply = 'BEGIN LIST VAR ups1\nVAR ups1 ups.status "OL"\nERR DATA-STALE\n'
    async with FakeUpsd(first_then_upsd(reply)) as server:
        conn = client(server)
        try:
            with pytest.raises(NutStaleError, match="inside a list") as info:
                await conn.list_vars("ups1")
            assert info.value.code == "DATA-STALE"
            assert not info.value.in_step
            await read_after_reconnect(server, conn)
        finally:
            await conn.close()


@pytest.mark.parametrize(
    ("code", "cls", "words"),
    [
        ("DATA-STALE", NutStaleError, "stale"),
        ("DRIVER-NOT-CONNECTED", NutStaleError, "no driver connected"),
        ("ACCESS-DENIED", NutAuthError, "refused"),
        ("USERNAME-REQUIRED", NutAuthError, "user name"),
        ("SOMETHING-NEW", NutServerError, "refused the request"),
    ],
)
async def test_err_reply_maps_to_an_error_and_keeps_the_connection(
    code: str, cls: type[NutServerError], words: str
) -> None:
    async with FakeUpsd(first_then_upsd(f"ERR {code}\n")) as server:
        conn = client(server)
        try:
            with pytest.raises(cls, match=words) as info:
                await conn.list_vars("ups1")
            assert type(info.value) is cls
            assert info.value.code == code
            assert conn.connected  # an ERR reply leaves the stream in step
            assert (await conn.get_var("ups1", "ups.status")) == "OL"
            assert len(server.conns) == 1
        finally:
            await conn.close()
    assert issubclass(NutAuthError, DeviceAuthError)


async def test_slow_reply_times_out_and_never_answers_the_next_request() -> None:
    release = asyncio.Event()

    async def script(conn: FakeConn) -> None:
        if conn.number == 1:
            await conn.readline()
            await release.wait()  # answers only after the client gave up
            await conn.send(list_var_reply("ups1", {**VARS, "ups.status": "OB"}))
        await answer_like_upsd(conn)

    async with FakeUpsd(script) as server:
        conn = client(server, timeout_s=0.2)
        ups = NutUps("ups-a", conn, "ups1")
        try:
            with pytest.raises(DeviceTimeoutError, match=r"no complete reply within 0\.2 s"):
                await ups.read()
            release.set()
            assert (await ups.read()).status is UpsStatus.ON_LINE
            assert len(server.conns) == 2
        finally:
            await conn.close()


async def test_dripping_reply_is_bounded_by_the_request_timeout() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.readline()
        for byte in list_var_reply("ups1", VARS).encode():
            await conn.send(bytes([byte]))
            await asyncio.sleep(0.02)

    async with FakeUpsd(script) as server:
        conn = client(server, timeout_s=0.3)
        try:
            with pytest.raises(DeviceTimeoutError):
                await conn.list_vars("ups1")
            assert not conn.connected
        finally:
            await conn.close()


async def test_cancelled_request_drops_the_connection() -> None:
    requests = asyncio.Event()

    async def script(conn: FakeConn) -> None:
        if conn.number == 1:
            await conn.readline()
            requests.set()
            await asyncio.sleep(0.2)
            await conn.send(list_var_reply("ups1", {**VARS, "ups.status": "OB"}))
        await answer_like_upsd(conn)

    async with FakeUpsd(script) as server:
        conn = client(server)
        ups = NutUps("ups-a", conn, "ups1")
        try:
            task = asyncio.create_task(ups.read())
            await requests.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert (await ups.read()).status is UpsStatus.ON_LINE
            assert len(server.conns) == 2
        finally:
            await conn.close()


async def test_concurrent_requests_take_turns() -> None:
    rng = random.Random(7)
    outstanding: list[int] = []  # unanswered requests each time one arrives
    answered = 0

    async def script(conn: FakeConn) -> None:
        nonlocal answered
        pending: asyncio.Queue[str] = asyncio.Queue()

        async def receive() -> None:
            received = 0
            while line := await conn.readline():
                received += 1
                outstanding.append(received - answered)
                await pending.put(line)

        receiver = asyncio.create_task(receive())
        try:
            while True:
                line = await pending.get()
                await asyncio.sleep(rng.uniform(0, 0.005))
                name = line.split()[3]
                await conn.send(f'VAR ups1 {name} "value of {name}"\n')
                answered += 1
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)

    async with FakeUpsd(script) as server:
        conn = client(server)
        try:
            names = [f"var.n{n}" for n in range(30)]
            values = await asyncio.gather(*(conn.get_var("ups1", n) for n in names))
            assert values == [f"value of {n}" for n in names]
            assert len(outstanding) == 30
            assert max(outstanding) == 1  # never a second request before the first reply
        finally:
            await conn.close()


async def test_login_sends_quoted_credentials_and_hides_the_password() -> None:
    secret = 'sec ret"\\x'

    async def script(conn: FakeConn) -> None:
        await conn.readline()
        await conn.send("OK\n")
        await conn.readline()
        await conn.send("OK\n")
        await conn.readline()
        await conn.send("ERR ACCESS-DENIED\n")

    async with FakeUpsd(script) as server:
        conn = client(server, username="mon user", password=secret, login="ups1")
        with pytest.raises(DeviceAuthError) as info:
            await conn.connect()
        await conn.close()
    assert server.received == [
        'USERNAME "mon user"',
        'PASSWORD "sec ret\\"\\\\x"',
        "LOGIN ups1",
    ]
    assert secret not in str(info.value)
    assert secret not in conn.last_connect_error
    assert secret not in repr(conn)


async def test_password_reply_other_than_ok_is_reported_without_the_password() -> None:
    async def script(conn: FakeConn) -> None:
        await conn.readline()
        await conn.send("OK\n")
        await conn.readline()
        await conn.send("ERR INVALID-PASSWORD\n")

    async with FakeUpsd(script) as server:
        conn = client(server, username="u", password="hunter2")
        with pytest.raises(NutAuthError, match=r"PASSWORD \*\*\*: ERR INVALID-PASSWORD") as info:
            await conn.connect()
        await conn.close()
    assert "hunter2" not in str(info.value)
    assert not conn.connected


async def test_unknown_ups_lists_what_the_server_has() -> None:
    async with FakeUpsd(answer_like_upsd) as server:
        conn = client(server)
        try:
            with pytest.raises(
                NutUnknownUpsError, match="no UPS named 'ups9'; upsd has ups1, ups2"
            ):
                await conn.list_vars("ups9")
            assert conn.connected
        finally:
            await conn.close()


async def test_refused_connection_waits_for_the_backoff(free_tcp_port: int) -> None:
    conn = NutConnection(
        "127.0.0.1", free_tcp_port, timeout_s=1.0, backoff=Backoff(initial_s=30, jitter=0)
    )
    with pytest.raises(DeviceConnectionError, match="cannot connect"):
        await conn.list_ups()
    with pytest.raises(DeviceConnectionError, match="next try in"):
        await conn.list_ups()
    assert conn.connects == 1
    await conn.close()


async def test_reconnects_after_the_server_dropped_the_connection() -> None:
    async def script(conn: FakeConn) -> None:
        if conn.number == 1:
            await conn.readline()
            await conn.send(list_var_reply("ups1", VARS))
            return  # the server side closes after one answer
        await answer_like_upsd(conn)

    async with FakeUpsd(script) as server:
        conn = client(server)
        ups = NutUps("ups-a", conn, "ups1")
        try:
            assert (await ups.read()).status is UpsStatus.ON_LINE
            with pytest.raises(DeviceConnectionError):
                await ups.read()
            assert (await ups.read()).status is UpsStatus.ON_LINE
            assert len(server.conns) == 2
        finally:
            await conn.close()
            await conn.close()  # twice is fine


def test_bad_names_and_settings_are_refused_early() -> None:
    conn = NutConnection("127.0.0.1", 1)
    for bad in ("two words", 'q"uote', "", "new\nline"):
        with pytest.raises(ValueError, match="invalid NUT UPS name"):
            NutUps("u", conn, bad)
    with pytest.raises(ValueError, match="both username and password"):
        NutConnection("127.0.0.1", 1, username="u")
    with pytest.raises(ValueError, match="login needs"):
        NutConnection("127.0.0.1", 1, login="ups1")
    with pytest.raises(ValueError, match="line break"):
        NutConnection("127.0.0.1", 1, username="u", password="a\nLOGOUT")
