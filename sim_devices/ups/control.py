"""Remote control of a running UPS simulator: JSON lines over loopback TCP.

Same framing as :mod:`sim_devices.control` (one JSON object per line with a
``cmd``; answers ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``;
a bad line gets an error and the connection stays open), so
:class:`sim_devices.control.ControlClient` talks to it unchanged::

    {"cmd": "grid_off"} / {"cmd": "grid_on"}             -> {"ok": true, "state": {...}}
    {"cmd": "set_input", "voltage_v": 190, "frequency_hz": 49.5}
    {"cmd": "set_load", "load_w": 1800}
    {"cmd": "set_charge", "charge_pct": 20}
    {"cmd": "set_ambient", "temp_c": 42}
    {"cmd": "fault", "mode": "slow", "delay_s": 3}        -> {"ok": true, "faults": {...}}
    {"cmd": "fault", "mode": "battery_failed", "on": true}
        wire modes: none (clears every fault), silent, slow, garbage, wrong_request_id;
        device faults, set and cleared one by one with "on": battery_failed, overload
    {"cmd": "trap_add", "target": "127.0.0.1:16200/v2c/public"}
    {"cmd": "trap_remove", "target": "127.0.0.1:16200/v2c/public"}
    {"cmd": "advance", "seconds": 600}                    (only with a manual clock)
    {"cmd": "state"}  -> {"ok": true, "state": {...}}
    {"cmd": "stats"}  -> {"ok": true, "stats": {...}}
    {"cmd": "quit"}   -> {"ok": true}, then the process stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.clock import ManualClock
from sim_devices.ups.simulator import UpsSimulator, UpsSimulatorError

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
"""Longest request line; control requests are tiny, this only stops a runaway peer."""

COMMANDS = (
    "grid_off",
    "grid_on",
    "set_input",
    "set_load",
    "set_charge",
    "set_ambient",
    "fault",
    "trap_add",
    "trap_remove",
    "advance",
    "state",
    "stats",
    "quit",
)


class _BadRequest(Exception):
    pass


_NUMBER = (int, float)


def _field(
    request: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
    if key not in request or request[key] is None:
        if default is ...:
            raise _BadRequest(f"missing field {key!r}")
        return default
    value = request[key]
    if (kind is not bool and isinstance(value, bool)) or not isinstance(value, kind):
        raise _BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


class UpsControlServer:
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port).

    ``clock`` is the simulator's manual clock if it has one (enables
    ``advance``); ``on_quit`` runs after the ``quit`` answer was sent.
    """

    def __init__(
        self,
        sim: UpsSimulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: ManualClock | None = None,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        self.sim = sim
        self.host = host
        self._requested_port = port
        self._clock = clock
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
        log.info("UPS control server on %s:%s", self.host, self.port)

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
                except ValueError:  # over MAX_LINE: the stream cannot be resynchronised
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
            pass  # only stop() cancels; ending normally keeps Python 3.11 from logging it
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
        except (_BadRequest, UpsSimulatorError) as exc:
            return {"ok": False, "error": str(exc)}, False
        log.debug("control %s -> %s", request, answer)
        return {"ok": True, **answer}, cmd == "quit"

    def _dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        sim = self.sim
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "stats":
            return {"stats": sim.stats()}
        if cmd == "quit":
            return {}
        if cmd == "grid_off":
            sim.cut_grid()
        elif cmd == "grid_on":
            sim.restore_grid()
        elif cmd == "set_input":
            voltage = _field(request, "voltage_v", _NUMBER, None)
            frequency = _field(request, "frequency_hz", _NUMBER, None)
            if voltage is None and frequency is None:
                raise _BadRequest("set_input needs 'voltage_v' and/or 'frequency_hz'")
            if voltage is not None:
                sim.set_input_voltage(voltage)
            if frequency is not None:
                sim.set_input_frequency(frequency)
        elif cmd == "set_load":
            sim.set_load_w(_field(request, "load_w", _NUMBER))
        elif cmd == "set_charge":
            sim.set_charge(_field(request, "charge_pct", _NUMBER))
        elif cmd == "set_ambient":
            sim.set_ambient_temp(_field(request, "temp_c", _NUMBER))
        elif cmd == "fault":
            faults = sim.set_fault(
                _field(request, "mode", str),
                delay_s=_field(request, "delay_s", _NUMBER, None),
                on=_field(request, "on", bool, True),
            )
            return {"faults": faults}
        elif cmd == "trap_add":
            return {"target": str(sim.add_trap_target(_field(request, "target", str)))}
        elif cmd == "trap_remove":
            return {"target": str(sim.remove_trap_target(_field(request, "target", str)))}
        elif cmd == "advance":
            if self._clock is None:
                raise _BadRequest("advance needs a simulator started with --manual-clock")
            seconds = _field(request, "seconds", _NUMBER)
            if not 0 <= seconds <= 10 * 365 * 86400:
                raise _BadRequest(f"seconds {seconds} is outside 0..315360000")
            self._clock.advance(seconds)
            sim.pump()
        else:
            raise _BadRequest(f"unknown command {cmd!r} ({', '.join(COMMANDS)})")
        return {"state": sim.state()}
