"""Control API of the OSDP PD simulator: JSON lines over loopback TCP.

Same wire form as the shelf simulator's (``sim_devices.control``): one JSON
object per line with a ``cmd``, answered by ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}``; a bad line gets an error answer and the
connection stays open. ``sim_devices.control.ControlClient`` is the client.
``address`` is optional everywhere (default: the first PD).

Commands::

    {"cmd": "card", "hex": "123456C0", "bits": 26}          -> {"ok": true, "t": 1234.5}
    {"cmd": "keypad", "keys": "1234#"}                      -> {"ok": true, "t": ...}
    {"cmd": "walk_through", "n": 2, "interval_s": 0.6}      -> {"ok": true, "times": [...]}
    {"cmd": "input", "input": 1, "active": true}            -> {"ok": true, "t": ...}
    {"cmd": "tamper", "on": true}                           -> {"ok": true, "t": ...}
    {"cmd": "fault", "mode": "drop_bytes", "rate": 0.05}    -> {"ok": true, "fault": {...}}
    {"cmd": "state"}                                        -> {"ok": true, "pds": [...]}
    {"cmd": "quit"}                                         -> {"ok": true}, then the process stops

``t`` values are ``time.monotonic()`` of the simulator process (CLOCK_MONOTONIC,
comparable with the driver's timestamps on the same host).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.control import MAX_LINE
from sim_devices.osdp_pd.device import OsdpPdSimulator, SimError
from sim_devices.osdp_pd.model import ModelError

log = logging.getLogger(__name__)

_NUMBER = (int, float)


def _field(
    request: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any = ...
) -> Any:
    value = request.get(key)
    if value is None:
        if default is ...:
            raise SimError(f"missing field {key!r}")
        return default
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise SimError(f"field {key!r} has the wrong type: {value!r}")
    return value


class OsdpControlServer:
    """Serves the control protocol for ``sim``; ``on_quit`` runs after the ``quit`` answer."""

    def __init__(
        self,
        sim: OsdpPdSimulator,
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
        except (ConnectionError, asyncio.CancelledError):
            # Ending normally matters on 3.11: a cancelled client task is logged as an error.
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
        except (SimError, ModelError) as exc:
            return {"ok": False, "error": str(exc)}, False
        return {"ok": True, **answer}, cmd == "quit"

    def _dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        sim = self.sim
        address = _field(request, "address", int, None)
        if cmd == "card":
            t = sim.card(
                _field(request, "hex", str),
                _field(request, "bits", int),
                address=address,
                wiegand=_field(request, "wiegand", bool, False),
            )
            return {"t": t}
        if cmd == "keypad":
            return {"t": sim.keypad(_field(request, "keys", str), address=address)}
        if cmd == "walk_through":
            times = sim.walk_through(
                _field(request, "n", int, 1),
                address=address,
                interval_s=float(_field(request, "interval_s", _NUMBER, 0.6)),
                dwell_s=float(_field(request, "dwell_s", _NUMBER, 0.25)),
            )
            return {"times": times}
        if cmd == "input":
            t = sim.set_input(
                _field(request, "input", int), _field(request, "active", bool), address=address
            )
            return {"t": t}
        if cmd == "tamper":
            return {"t": sim.tamper(_field(request, "on", bool), address=address)}
        if cmd == "fault":
            rate = _field(request, "rate", _NUMBER, None)
            fault = sim.set_fault(
                _field(request, "mode", str),
                address=address,
                rate=None if rate is None else float(rate),
            )
            return {"fault": fault}
        if cmd == "state":
            if address is not None:
                return {"pds": [sim.state(address)]}
            return {"pds": sim.states()}
        if cmd == "quit":
            return {}
        raise SimError(
            f"unknown command {cmd!r} "
            "(card, keypad, walk_through, input, tamper, fault, state, quit)"
        )
