"""Remote control of a running CRAC simulator: JSON lines over loopback TCP.

Same wire format as the shelf simulator's control port (one JSON object per
line with a ``cmd``; answers ``{"ok": true, ...}`` or ``{"ok": false,
"error": ...}``), so ``sim_devices.control.ControlClient`` talks to it::

    {"cmd": "set_it_load_w", "w": 9000}                -> {"ok": true, "it_load_w": 9000.0}
    {"cmd": "set_gpu_load_w", "w": 2400}               -> {"ok": true, "gpu_load_w": 2400.0}
    {"cmd": "set_outdoor_c", "c": 35}                  -> {"ok": true, "outdoor_c": 35.0}
    {"cmd": "fault", "name": "compressor", "active": true}   (name "none" ends all)
        -> {"ok": true, "faults": ["compressor_1", "compressor_2"]}
    {"cmd": "local_lock", "on": true, "refusal": "ignore"}
        -> {"ok": true, "local_lock": true, "refusal": "ignore"}
    {"cmd": "unit_on", "on": false}                    (the unit's own panel: never locked)
    {"cmd": "setpoint", "c": 22.0, "which": "return"}  (the panel; "supply" too)
    {"cmd": "link_fault", "mode": "silent"}            (none, silent, late, corrupt_crc,
                                                        wrong_unit; "delay_s" for late)
    {"cmd": "advance", "s": 600}                       (jump simulated time forward)
    {"cmd": "speed", "x": 60}                          (time acceleration)
    {"cmd": "state"} -> {"ok": true, "state": {...}}
    {"cmd": "stats"} -> {"ok": true, "stats": {...}}
    {"cmd": "quit"}  -> {"ok": true}, then the process stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.crac.model import CommandRefused, FaultError, Refusal
from sim_devices.crac.simulator import CracSimError, CracSimulator

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
"""Longest request line; control requests are tiny, this only stops a runaway peer."""

COMMANDS = (
    "set_it_load_w",
    "set_gpu_load_w",
    "set_outdoor_c",
    "fault",
    "local_lock",
    "unit_on",
    "setpoint",
    "link_fault",
    "advance",
    "speed",
    "state",
    "stats",
    "quit",
)


class BadRequest(Exception):
    """A request that cannot be carried out; its text is the error answer."""


def _field(
    request: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
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


_NUMBER = (int, float)


class CracControlServer:
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port)."""

    def __init__(
        self,
        sim: CracSimulator,
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
        """Close the listener and every control connection; idempotent."""
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
                except ValueError:  # longer than MAX_LINE: cannot resynchronise
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
            # Only stop() cancels this task; ending normally keeps Python 3.11's
            # start_server callback from logging the cancellation as an error.
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
            answer = self.dispatch(cmd, request)
        except (BadRequest, CracSimError, FaultError, CommandRefused) as exc:
            return {"ok": False, "error": str(exc)}, False
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}, False
        log.debug("control %s -> %s", request, answer)
        return {"ok": True, **answer}, cmd == "quit"

    def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command; raises BadRequest (or a model error) to refuse it."""
        sim, crac = self.sim, self.sim.crac
        if cmd == "set_it_load_w":
            crac.it_load_w = float(_field(request, "w", _NUMBER))
            return {"it_load_w": crac.it_load_w}
        if cmd == "set_gpu_load_w":
            crac.gpu_load_w = float(_field(request, "w", _NUMBER))
            return {"gpu_load_w": crac.gpu_load_w}
        if cmd == "set_outdoor_c":
            crac.outdoor_c = float(_field(request, "c", _NUMBER))
            return {"outdoor_c": crac.outdoor_c}
        if cmd == "fault":
            faults = crac.set_fault(
                _field(request, "name", str), _field(request, "active", bool, True)
            )
            return {"faults": sorted(faults), "alarms": sorted(crac.alarms)}
        if cmd == "local_lock":
            crac.local_lock = _field(request, "on", bool)
            style = _field(request, "refusal", str, None)
            if style is not None:
                try:
                    crac.refusal = Refusal(style)
                except ValueError:
                    raise BadRequest(
                        f"refusal must be exception or ignore, got {style!r}"
                    ) from None
            return {"local_lock": crac.local_lock, "refusal": crac.refusal.value}
        if cmd == "unit_on":
            crac.set_unit_on(_field(request, "on", bool), local=True)
            return {"unit_on": crac.unit_on}
        if cmd == "setpoint":
            value = float(_field(request, "c", _NUMBER))
            which = _field(request, "which", str, "return")
            if which == "return":
                crac.set_return_setpoint(value, local=True)
            elif which == "supply":
                crac.set_supply_setpoint(value, local=True)
            else:
                raise BadRequest(f"which must be return or supply, got {which!r}")
            return {
                "return_setpoint_c": crac.return_setpoint_c,
                "supply_setpoint_c": crac.supply_setpoint_c,
            }
        if cmd == "link_fault":
            fault = sim.set_link_fault(
                _field(request, "mode", str), _field(request, "delay_s", _NUMBER, None)
            )
            return {"link_fault": fault.as_dict()}
        if cmd == "advance":
            seconds = float(_field(request, "s", _NUMBER))
            crac.advance(seconds)
            return {"sim_time_s": crac.sim_time_s}
        if cmd == "speed":
            crac.speed = float(_field(request, "x", _NUMBER))
            return {"speed": crac.speed}
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "stats":
            return {"stats": sim.stats()}
        if cmd == "quit":
            return {}
        raise BadRequest(f"unknown command {cmd!r} ({', '.join(COMMANDS)})")
