"""Remote control of a running simulator: JSON lines over loopback TCP.

Each request is one JSON object per line with a ``cmd``; each answer is one
line ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``. A bad line
gets an error answer and the connection stays open, so a test harness can
keep one connection for a whole run.

Commands (``server`` defaults to 0)::

    {"cmd": "put", "unit": 1, "server": 0, "weight_g": 350, "position_m": 0.4, "label": "cola"}
        -> {"ok": true, "item": 3}
    {"cmd": "take", "unit": 1, "item": 3}            (or "label": "cola",
        or "weight_g": 350, "position_m": 0.4)      -> {"ok": true, "item": {...}}
    {"cmd": "take_g", "unit": 1, "weight_g": 120, "position_m": 0.2} -> {"ok": true, "item": 4}
    {"cmd": "fault", "unit": 1, "mode": "late", "delay_s": 2.0}
        -> {"ok": true, "fault": {"mode": "late", "delay_s": 2.0}}
    {"cmd": "state"} (optional "unit", "server")     -> {"ok": true, "servers": [...]}
    {"cmd": "stats"}                                  -> {"ok": true, "stats": [...]}
    {"cmd": "quit"}                                   -> {"ok": true}, then the process stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from sim_devices.simulator import ShelfSimulator, SimulatorError

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
"""Longest request line; control requests are tiny, this only stops a runaway peer."""


class ControlError(Exception):
    """The simulator answered ``ok: false``; the message is its error text."""


class _BadRequest(Exception):
    pass


def _field(
    request: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
    if key not in request or request[key] is None:
        if default is ...:
            raise _BadRequest(f"missing field {key!r}")
        return default
    value = request[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


_NUMBER = (int, float)


class ControlServer:
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port).

    ``on_quit`` is called after the ``quit`` answer has been sent; the CLI
    uses it to stop the process.
    """

    def __init__(
        self,
        sim: ShelfSimulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        self.sim = sim
        self.host = host
        self._requested_port = port
        self._on_quit = on_quit
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("control server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and listen."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self._requested_port, limit=MAX_LINE
        )
        log.info("control server on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Close the listener and all control connections; idempotent."""
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._connections.items()):
            writer.close()
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            while True:
                try:
                    line = await reader.readline()
                except ValueError:  # line over MAX_LINE: cannot resynchronise
                    await self._send(writer, {"ok": False, "error": "request line too long"})
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                answer, quit_after = self.handle_line(line)
                await self._send(writer, answer)
                if quit_after and self._on_quit is not None:
                    self._on_quit()
        except ConnectionError:
            pass
        except asyncio.CancelledError:
            # Only stop() cancels this task. Ending it normally matters on
            # Python 3.11, whose start_server callback logs a cancelled
            # client task as an error ("Exception in callback").
            pass
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, answer: Mapping[str, Any]) -> None:
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()

    def handle_line(self, line: bytes) -> tuple[dict[str, Any], bool]:
        """Answer one request line; also says whether it was ``quit``."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON: {exc}"}, False
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}, False
        cmd = request.get("cmd")
        try:
            answer = self._dispatch(cmd, request)
        except (_BadRequest, SimulatorError) as exc:
            return {"ok": False, "error": str(exc)}, False
        log.debug("control %s -> %s", request, answer)
        return {"ok": True, **answer}, cmd == "quit"

    def _dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        sim = self.sim
        if cmd == "state":
            unit = _field(request, "unit", int, None)
            server = _field(request, "server", int, None)
            return {"servers": sim.state(unit, server=server)}
        if cmd == "stats":
            return {"stats": sim.stats()}
        if cmd == "quit":
            return {}
        if cmd not in ("put", "take", "take_g", "fault"):
            raise _BadRequest(
                f"unknown command {cmd!r} (put, take, take_g, fault, state, stats, quit)"
            )
        unit = _field(request, "unit", int)
        server = _field(request, "server", int, 0)
        if cmd == "put":
            item = sim.put(
                unit,
                _field(request, "weight_g", _NUMBER),
                _field(request, "position_m", _NUMBER, 0.0),
                _field(request, "label", str, None),
                server=server,
            )
            return {"item": item}
        if cmd == "take_g":
            item = sim.take_g(
                unit,
                _field(request, "weight_g", _NUMBER),
                _field(request, "position_m", _NUMBER, 0.0),
                server=server,
            )
            return {"item": item}
        if cmd == "take":
            return {"item": sim.take(unit, _item_ref(request), server=server).as_dict()}
        fault = sim.set_fault(
            unit,
            _field(request, "mode", str),
            delay_s=_field(request, "delay_s", _NUMBER, None),
            server=server,
        )
        return {"fault": fault.as_dict()}


def _item_ref(request: Mapping[str, Any]) -> int | str | tuple[float, float]:
    if request.get("item") is not None:
        item: int = _field(request, "item", int)
        return item
    if request.get("label") is not None:
        label: str = _field(request, "label", str)
        return label
    if request.get("weight_g") is not None:
        return (
            float(_field(request, "weight_g", _NUMBER)),
            float(_field(request, "position_m", _NUMBER, 0.0)),
        )
    raise _BadRequest("take needs 'item', 'label' or 'weight_g' (+ 'position_m')")


class ControlClient:
    """Async client of :class:`ControlServer`; one request in flight at a time."""

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

    async def __aenter__(self) -> ControlClient:
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

    async def put(
        self,
        unit: int,
        weight_g: float,
        position_m: float = 0.0,
        label: str | None = None,
        *,
        server: int = 0,
    ) -> int:
        """Put an item; returns its id."""
        answer = await self.request(
            "put", unit=unit, server=server, weight_g=weight_g, position_m=position_m, label=label
        )
        item: int = answer["item"]
        return item

    async def take(
        self,
        unit: int,
        *,
        item: int | None = None,
        label: str | None = None,
        weight_g: float | None = None,
        position_m: float | None = None,
        server: int = 0,
    ) -> dict[str, Any]:
        """Take an item by id, label or weight+position; returns the item taken."""
        answer = await self.request(
            "take",
            unit=unit,
            server=server,
            item=item,
            label=label,
            weight_g=weight_g,
            position_m=position_m,
        )
        taken: dict[str, Any] = answer["item"]
        return taken

    async def take_g(
        self, unit: int, weight_g: float, position_m: float = 0.0, *, server: int = 0
    ) -> int:
        """Remove grams at a position without matching an item."""
        answer = await self.request(
            "take_g", unit=unit, server=server, weight_g=weight_g, position_m=position_m
        )
        item: int = answer["item"]
        return item

    async def fault(
        self, unit: int, mode: str, *, delay_s: float | None = None, server: int = 0
    ) -> dict[str, Any]:
        """Set a unit's fault; returns the fault now in force."""
        answer = await self.request("fault", unit=unit, server=server, mode=mode, delay_s=delay_s)
        fault: dict[str, Any] = answer["fault"]
        return fault

    async def state(self, unit: int | None = None, *, server: int | None = None) -> list[Any]:
        """Servers with their units' state."""
        servers: list[Any] = (await self.request("state", unit=unit, server=server))["servers"]
        return servers

    async def stats(self) -> list[Any]:
        """Per-server counters."""
        stats: list[Any] = (await self.request("stats"))["stats"]
        return stats

    async def quit(self) -> None:
        """Ask the simulator process to stop."""
        await self.request("quit")
