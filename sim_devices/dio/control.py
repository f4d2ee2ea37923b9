"""Control API of the DIO simulator: JSON lines over loopback TCP.

Same wire format as the shelf simulator's (``sim_devices.control``), so its
``ControlClient`` talks to this server too. Commands::

    {"cmd": "walk_through", "door": "entry"}  -> {"ok": true, "passed": true, ...}
    {"cmd": "button", "door": "exit"}          -> {"ok": true, "pressed": true}
    {"cmd": "set_input", "input": 7, "value": true} -> {"ok": true}
    {"cmd": "fault", "mode": "coil_ignored"}   (or "silent", "late" + "delay_s",
        "stuck_input" + "input" + "value", "power_off", "power_on", "none")
        -> {"ok": true, "faults": {...}}
    {"cmd": "state"}                            -> {"ok": true, "state": {...}}
    {"cmd": "quit"}                             -> {"ok": true}, then the process stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.dio.simulator import DioSimulator, DioSimulatorError

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
COMMANDS = ("walk_through", "button", "set_input", "fault", "state", "quit")


class _BadRequest(Exception):
    pass


def _field(request: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = request.get(key)
    if value is None:
        return None
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise _BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


def _required(request: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = _field(request, key, kind)
    if value is None:
        raise _BadRequest(f"missing field {key!r}")
    return value


class DioControlServer:
    """Serves the control protocol for ``sim`` (port 0 picks a free port)."""

    def __init__(
        self,
        sim: DioSimulator,
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

    async def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
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
                except ValueError:
                    writer.write(b'{"ok": false, "error": "request line too long"}\n')
                    await writer.drain()
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                answer, quit_after = await self.handle_line(line)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
                if quit_after and self._on_quit is not None:
                    self._on_quit()
        except (ConnectionError, asyncio.CancelledError):
            # Only stop() cancels this task; ending normally keeps Python 3.11's
            # start_server callback from logging it as an error.
            pass
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def handle_line(self, line: bytes) -> tuple[dict[str, Any], bool]:
        """Answer one request line; also says whether it was ``quit``."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON: {exc}"}, False
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}, False
        cmd = request.get("cmd")
        try:
            answer = await self._dispatch(cmd, request)
        except (_BadRequest, DioSimulatorError) as exc:
            return {"ok": False, "error": str(exc)}, False
        log.debug("control %s -> %s", request, answer)
        return {"ok": True, **answer}, cmd == "quit"

    async def _dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        sim = self.sim
        if cmd == "walk_through":
            return sim.walk_through(_required(request, "door", str))
        if cmd == "button":
            return sim.press(_required(request, "door", str))
        if cmd == "set_input":
            sim.set_input(_required(request, "input", int), _required(request, "value", bool))
            return {}
        if cmd == "fault":
            faults = await sim.set_fault(
                _required(request, "mode", str),
                delay_s=_field(request, "delay_s", (int, float)),
                index=_field(request, "input", int),
                value=_field(request, "value", bool),
            )
            return {"faults": faults}
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "quit":
            return {}
        raise _BadRequest(f"unknown command {cmd!r} ({', '.join(COMMANDS)})")
