"""A scripted TCP server that misbehaves the ways a broken or hostile upsd could.

Each accepted connection runs ``script(conn)`` with the connection's number;
the script reads request lines and writes whatever bytes it likes. Every
connection and handler is closed by ``stop()``, so tests leak nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from types import TracebackType

Script = Callable[["FakeConn"], Awaitable[None]]

VARS = {"ups.status": "OL", "battery.charge": "100", "input.voltage": "230.0"}


class FakeConn:
    """One accepted connection, as the script sees it."""

    def __init__(
        self, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.number = number
        self.reader = reader
        self.writer = writer
        self.received: list[str] = []

    async def readline(self) -> str:
        """The next request line; '' when the client closed."""
        raw = await self.reader.readline()
        line = raw.decode().rstrip("\n")
        if raw:
            self.received.append(line)
        return line

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


def list_var_reply(ups: str, values: dict[str, str]) -> str:
    body = "".join(f'VAR {ups} {k} "{v}"\n' for k, v in values.items())
    return f"BEGIN LIST VAR {ups}\n{body}END LIST VAR {ups}\n"


async def answer_like_upsd(conn: FakeConn, values: dict[str, str] | None = None) -> None:
    """A well-behaved upsd with one UPS, ``ups1``."""
    values = VARS if values is None else values
    while line := await conn.readline():
        words = line.split()
        if words[:2] == ["LIST", "VAR"] and words[2:] == ["ups1"]:
            await conn.send(list_var_reply("ups1", values))
        elif words[:2] == ["LIST", "VAR"]:
            await conn.send("ERR UNKNOWN-UPS\n")
        elif words[:2] == ["GET", "VAR"] and len(words) == 4 and words[2] == "ups1":
            if words[3] in values:
                await conn.send(f'VAR ups1 {words[3]} "{values[words[3]]}"\n')
            else:
                await conn.send("ERR VAR-NOT-SUPPORTED\n")
        elif line == "LIST UPS":
            await conn.send('BEGIN LIST UPS\nUPS ups1 "one"\nUPS ups2 "two"\nEND LIST UPS\n')
        elif words[:1] in (["USERNAME"], ["PASSWORD"]):
            await conn.send("OK\n")
        else:
            await conn.send("ERR UNKNOWN-COMMAND\n")


class FakeUpsd:
    """``script`` for each connection, on 127.0.0.1 and a free port."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.conns: list[FakeConn] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> FakeUpsd:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FakeConn(len(self.conns) + 1, reader, writer)
        self.conns.append(conn)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.script(conn)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        for conn in self.conns:
            conn.writer.close()
        while self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    @property
    def received(self) -> list[str]:
        return [line for conn in self.conns for line in conn.received]
