"""Remote control of a running camera simulator: JSON lines over loopback TCP.

Same wire format as the shelf simulator's control port (one JSON object per
line with a ``cmd``; answers ``{"ok": true, ...}`` or ``{"ok": false,
"error": ...}``), so ``sim_devices.control.ControlClient`` talks to it::

    {"cmd": "fault", "mode": "freeze"}      (none, freeze, black, corrupt, stall,
                                             slow + "fps", drop, restart + "down_s")
        -> {"ok": true, "fault": "freeze"}
    {"cmd": "people", "people": [{"id": 1, "x_m": 2.0, "y_m": 3.5}], "replace": true}
        -> {"ok": true, "people": 1}        (placed people stay until moved again)
    {"cmd": "walkers", "count": 4}          -> {"ok": true, "ids": [5, 6, 7, 8]}
    {"cmd": "remove", "id": 3}              -> {"ok": true}
    {"cmd": "metadata", "box_noise_px": 3, "miss_rate": 0.1, "id_switch_rate": 0.01,
     "mode": "normal"}                      (silent, garbage, oversize)
        -> {"ok": true, "metadata": {...}}
    {"cmd": "state"} -> {"ok": true, "state": {...}}   (ground truth)
    {"cmd": "stats"} -> {"ok": true, "stats": {...}}
    {"cmd": "ready"} -> {"ok": true, "ready": {...}}   (the ready line's camera part)
    {"cmd": "quit"}  -> {"ok": true}, then the process stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

from sim_devices.camera.simulator import CameraSimError, CameraSimulator

log = logging.getLogger(__name__)

MAX_LINE = 256 * 1024
"""Longest request line (a ``people`` command for a crowded store is a few KiB)."""

_NUMBER = (int, float)


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
    if kind is bool:
        if not isinstance(value, bool):
            raise _BadRequest(f"field {key!r} must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


class CameraControlServer:
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port)."""

    def __init__(
        self,
        sim: CameraSimulator,
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
            pass  # stop() cancels; ending normally keeps 3.11's start_server quiet
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
        except (_BadRequest, CameraSimError, ValueError) as exc:
            return {"ok": False, "error": str(exc)}, False
        return {"ok": True, **answer}, cmd == "quit"

    def _dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        sim = self.sim
        if cmd == "fault":
            return sim.set_fault(
                _field(request, "mode", str),
                fps=_field(request, "fps", _NUMBER, None),
                down_s=_field(request, "down_s", _NUMBER, None),
            )
        if cmd == "people":
            entries = _field(request, "people", list)
            placements = []
            for entry in entries:
                if not isinstance(entry, dict):
                    raise _BadRequest("each person must be an object with id, x_m, y_m")
                placements.append(
                    (
                        _field(entry, "id", int),
                        float(_field(entry, "x_m", _NUMBER)),
                        float(_field(entry, "y_m", _NUMBER)),
                    )
                )
            sim.scene.place(placements, replace=_field(request, "replace", bool, False))
            return {"people": len(sim.scene.people)}
        if cmd == "walkers":
            count = _field(request, "count", int)
            if not 0 <= count <= 500:
                raise _BadRequest("count must be within 0..500")
            return {"ids": sim.scene.set_walkers(count)}
        if cmd == "remove":
            sim.scene.remove(_field(request, "id", int))
            return {}
        if cmd == "metadata":
            return {"metadata": self._metadata(request)}
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "stats":
            return {"stats": sim.all_stats()}
        if cmd == "ready":
            return {"ready": sim.ready()}
        if cmd == "quit":
            return {}
        raise _BadRequest(
            f"unknown command {cmd!r} "
            "(fault, people, walkers, remove, metadata, state, stats, ready, quit)"
        )

    def _metadata(self, request: Mapping[str, Any]) -> dict[str, Any]:
        publisher = self.sim.publisher
        if publisher is None:
            raise _BadRequest("this simulator publishes no metadata (start it with --mqtt-host)")
        current = publisher.settings
        updated = replace(
            current,
            box_noise_px=float(_field(request, "box_noise_px", _NUMBER, current.box_noise_px)),
            miss_rate=float(_field(request, "miss_rate", _NUMBER, current.miss_rate)),
            id_switch_rate=float(
                _field(request, "id_switch_rate", _NUMBER, current.id_switch_rate)
            ),
            mode=_field(request, "mode", str, current.mode),
            keypoints=_field(request, "keypoints", bool, current.keypoints),
        )
        updated.validate()
        publisher.settings = updated
        return asdict(updated)
