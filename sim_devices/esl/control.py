"""Remote control of the ESL simulators: JSON lines over loopback TCP.

Same wire rules as the shelf simulator's control port (``sim_devices.control``):
one JSON object per line with a ``cmd``, one answer line ``{"ok": true, ...}``
or ``{"ok": false, "error": "..."}``; a bad line gets an error and the
connection stays open. ``sim_devices.control.ControlClient`` talks to it.

Commands::

    {"cmd": "state"}                                  -> {"ap": {...} | null, "mqtt": {...} | null}
    {"cmd": "tag", "kind": "ap"|"mqtt", "tag": ID}    -> {"tag": {...}}
    {"cmd": "fault", "kind": "ap", "tag": MAC, "mode": "none"|"out_of_range"|"xfer_timeout"}
    {"cmd": "fault", "kind": "mqtt", "tag": ID, "mode": "none"|"miss_acks"|"offline"|"ack_error",
     "miss_rate": 0.2}                                -> {"tag": {...}}
    {"cmd": "miss_fraction", "fraction": 0.1, "seed": 1} -> {"tags": [ids now missing acks]}
    {"cmd": "clear_faults"}                           -> {}
    {"cmd": "ap_status", "status": 1}                 -> {} (1 paused: uploads get 409; 2 run)
    {"cmd": "stats"}                                  -> {"ap": {...}, "mqtt": {...}}
    {"cmd": "quit"}                                   -> {}, then the process stops
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.control import MAX_LINE
from sim_devices.esl.ap import SimAccessPoint
from sim_devices.esl.mqtt_tags import MqttTagEmulator, SimError

log = logging.getLogger(__name__)


class _BadRequest(Exception):
    pass


def _get(request: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = request.get(key)
    if value is None:
        raise _BadRequest(f"missing field {key!r}")
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _BadRequest(f"field {key!r} has the wrong type: {value!r}")
    return value


class EslControl:
    """Answers control requests for an AP simulator and/or MQTT tags (either may be None)."""

    def __init__(self, ap: SimAccessPoint | None, mqtt: MqttTagEmulator | None) -> None:
        self.ap = ap
        self.mqtt = mqtt

    def handle_line(self, line: bytes) -> tuple[dict[str, Any], bool]:
        """Answer one request line; also says whether it was ``quit``."""
        try:
            request = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return {"ok": False, "error": f"bad JSON: {exc}"}, False
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}, False
        try:
            answer = self._dispatch(request.get("cmd"), request)
        except (_BadRequest, SimError, KeyError, ValueError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return {"ok": False, "error": str(text)}, False
        return {"ok": True, **answer}, request.get("cmd") == "quit"

    def _need_ap(self) -> SimAccessPoint:
        if self.ap is None:
            raise _BadRequest("no access point simulator is running")
        return self.ap

    def _need_mqtt(self) -> MqttTagEmulator:
        if self.mqtt is None:
            raise _BadRequest("no MQTT tags are running")
        return self.mqtt

    def _dispatch(self, cmd: object, request: Mapping[str, Any]) -> dict[str, Any]:
        if cmd == "quit":
            return {}
        if cmd == "state":
            return {
                "ap": None
                if self.ap is None
                else {
                    "url": self.ap.url,
                    "tags": [t.as_dict() for t in self.ap.tags.values()],
                },
                "mqtt": None
                if self.mqtt is None
                else {
                    "prefix": self.mqtt.prefix,
                    "tags": [t.as_dict() for t in self.mqtt.tags.values()],
                },
            }
        if cmd == "stats":
            return {
                "ap": None if self.ap is None else self.ap.stats(),
                "mqtt": None if self.mqtt is None else self.mqtt.stats(),
            }
        if cmd in ("tag", "fault"):
            kind = _get(request, "kind", str)
            tag_id = _get(request, "tag", str)
            if kind == "ap":
                ap = self._need_ap()
                tag = (
                    ap.set_fault(tag_id, _get(request, "mode", str))
                    if cmd == "fault"
                    else ap.tag(tag_id)
                )
                return {"tag": tag.as_dict()}
            if kind == "mqtt":
                mqtt = self._need_mqtt()
                if cmd == "fault":
                    rate = request.get("miss_rate")
                    if rate is not None and (
                        isinstance(rate, bool) or not isinstance(rate, int | float)
                    ):
                        raise _BadRequest(f"field 'miss_rate' has the wrong type: {rate!r}")
                    return {
                        "tag": mqtt.set_fault(tag_id, _get(request, "mode", str), rate).as_dict()
                    }
                return {"tag": mqtt.tag(tag_id).as_dict()}
            raise _BadRequest(f"kind must be 'ap' or 'mqtt', not {kind!r}")
        if cmd == "miss_fraction":
            fraction = _get(request, "fraction", (int, float))
            seed = request.get("seed", 0)
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise _BadRequest(f"field 'seed' has the wrong type: {seed!r}")
            return {"tags": self._need_mqtt().miss_fraction(float(fraction), seed)}
        if cmd == "clear_faults":
            if self.mqtt is not None:
                self.mqtt.clear_faults()
            if self.ap is not None:
                for tag in list(self.ap.tags.values()):
                    self.ap.set_fault(tag.mac, "none")
            return {}
        if cmd == "ap_status":
            self._need_ap().set_run_status(_get(request, "status", int))
            return {}
        raise _BadRequest(
            f"unknown command {cmd!r} (state, stats, tag, fault, miss_fraction, clear_faults, "
            "ap_status, quit)"
        )


class EslControlServer:
    """Serves :class:`EslControl` on ``host``:``port`` (0 picks a port)."""

    def __init__(
        self,
        control: EslControl,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        self.control = control
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
                answer, quit_after = self.control.handle_line(line)
                await self._send(writer, answer)
                if quit_after and self._on_quit is not None:
                    self._on_quit()
        except (ConnectionError, asyncio.CancelledError):
            pass  # a cancelled client task must end normally on 3.11 (see sim_devices.control)
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, answer: Mapping[str, Any]) -> None:
        writer.write(json.dumps(answer).encode() + b"\n")
        await writer.drain()
