"""JSON lines over loopback TCP: the wire form of every simulator's control port.

Each request is one JSON object per line with a ``cmd``; each answer is one
line ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A bad line
gets an error answer and the connection stays open, so a test harness can
keep one connection for a whole run. ``{"cmd": "quit"}`` is answered
``{"ok": true}`` before the server calls its ``on_quit``, so the caller sees
the answer before the process goes away.

A simulator's control server subclasses :class:`JsonLinesServer` (or
:class:`SimControlServer`, which holds the simulator) and writes only
:meth:`~JsonLinesServer.dispatch`, its command table; one
:class:`JsonLinesClient` talks to all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import abstractmethod
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from sim_devices.stream_server import StreamServer

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
"""Longest request line; control requests are tiny, this only stops a runaway peer."""

NUMBER = (int, float)
"""``kind`` for :func:`field` where JSON may carry 3 or 3.0."""


class BadRequest(Exception):
    """A request that cannot be carried out; its text is the error answer."""


class ControlError(Exception):
    """The simulator answered ``ok: false``; the message is its error text."""


def field(
    request: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
    """``request[key]`` checked against ``kind``; ``default`` where it is absent or null.

    Without a default a missing field is a :class:`BadRequest`. JSON true and
    false arrive as Python bools, which are ints too: a bool is accepted only
    where ``kind`` is bool, and only a bool is accepted there (1 is not true).
    """
    if key not in request or request[key] is None:
        if default is ...:
            raise BadRequest(f"missing field {key!r}")
        return default
    value = request[key]
    if kind is bool:
        if not isinstance(value, bool):
            raise BadRequest(f"field {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


class JsonLinesServer(StreamServer):
    """Serves JSON-lines requests on ``host``:``port`` (0 picks a port, see :attr:`port`).

    ``on_quit`` is called after the ``quit`` answer has been sent; the
    command lines use it to stop the process. Exceptions of the types in
    :attr:`refusals` raised by :meth:`dispatch` become ``ok: false`` answers
    with the exception's text; anything else is a bug and ends the connection.
    """

    kind = "control server"

    line_limit = MAX_LINE
    """Longest request line this server reads."""

    refusals: ClassVar[tuple[type[Exception], ...]] = (BadRequest,)
    """Exceptions that refuse one request and keep the connection."""

    commands: ClassVar[tuple[str, ...]] = ("quit",)
    """The commands, listed in the answer to an unknown one."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(host, port)
        self._on_quit = on_quit

    async def start(self) -> None:
        """Bind and listen."""
        await super().start()
        log.info("%s on %s:%s", type(self).__name__, self.host, self.port)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:  # line over line_limit: cannot resynchronise
                await self._send(writer, {"ok": False, "error": "request line too long"})
                return
            if not line:
                return
            if not line.strip():
                continue
            answer, quit_after = await self.handle_line(line)
            await self._send(writer, answer)
            if quit_after and self._on_quit is not None:
                self._on_quit()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, answer: Mapping[str, Any]) -> None:
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()

    async def handle_line(self, line: bytes) -> tuple[dict[str, Any], bool]:
        """Answer one request line; also says whether it was ``quit``."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON: {exc}"}, False
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}, False
        cmd = request.get("cmd")
        if cmd == "quit":
            return {"ok": True}, True
        try:
            answer = await self.dispatch(cmd, request)
        except self.refusals as exc:
            # KeyError's str() is the repr of its argument, quotes and all.
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            return {"ok": False, "error": str(text)}, False
        log.debug("control %s -> %s", request, answer)
        return {"ok": True, **answer}, False

    @abstractmethod
    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command (never ``quit``); returns the answer's fields.

        Raise :class:`BadRequest` (or another of :attr:`refusals`) to refuse
        it; :meth:`unknown` makes the error for a command not in the table.
        """

    def unknown(self, cmd: Any) -> BadRequest:
        """The refusal of a command this server does not have."""
        return BadRequest(f"unknown command {cmd!r} ({', '.join(self.commands)})")


SimT = TypeVar("SimT")


class SimControlServer(JsonLinesServer, Generic[SimT]):
    """A control server for one simulator object, :attr:`sim`."""

    def __init__(
        self,
        sim: SimT,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(host, port, on_quit=on_quit)
        self.sim = sim


class JsonLinesClient:
    """Async client of a :class:`JsonLinesServer`; one request in flight at a time."""

    def __init__(self, port: int, host: str = "127.0.0.1", *, timeout_s: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        """Open the connection."""
        async with asyncio.timeout(self.timeout_s):
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=MAX_LINE * 16
            )

    async def close(self) -> None:
        """Close the connection; idempotent."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]:
        """Send one command; returns the answer, raises :class:`ControlError` on ``ok: false``."""
        return self._checked(await self.raw({"cmd": cmd, **fields}))

    async def raw(self, request: Mapping[str, Any] | bytes) -> dict[str, Any]:
        """Send a request (object or raw line) and return the answer unchecked."""
        if self._reader is None or self._writer is None:
            raise ConnectionError("control client not connected")
        line = request if isinstance(request, bytes) else json.dumps(request).encode() + b"\n"
        async with self._lock, asyncio.timeout(self.timeout_s):
            self._writer.write(line)
            await self._writer.drain()
            answer_line = await self._reader.readline()
        if not answer_line:
            raise ConnectionError("control server closed the connection")
        answer: dict[str, Any] = json.loads(answer_line)
        return answer

    @staticmethod
    def _checked(answer: dict[str, Any]) -> dict[str, Any]:
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error", answer)))
        return answer
