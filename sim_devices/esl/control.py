"""Remote control of the ESL simulators: JSON lines over loopback TCP.

Same wire rules as every simulator's control port (``sim_devices.jsonlines``):
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

from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.esl.ap import SimAccessPoint
from sim_devices.esl.mqtt_tags import MqttTagEmulator, SimError
from sim_devices.jsonlines import NUMBER, BadRequest, JsonLinesServer, field


class EslControlServer(JsonLinesServer):
    """Serves control requests for an AP simulator and/or MQTT tags (either may be None)."""

    refusals = (BadRequest, SimError, KeyError, ValueError)
    commands = (
        "state",
        "stats",
        "tag",
        "fault",
        "miss_fraction",
        "clear_faults",
        "ap_status",
        "quit",
    )

    def __init__(
        self,
        ap: SimAccessPoint | None,
        mqtt: MqttTagEmulator | None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(host, port, on_quit=on_quit)
        self.ap = ap
        self.mqtt = mqtt

    def _need_ap(self) -> SimAccessPoint:
        if self.ap is None:
            raise BadRequest("no access point simulator is running")
        return self.ap

    def _need_mqtt(self) -> MqttTagEmulator:
        if self.mqtt is None:
            raise BadRequest("no MQTT tags are running")
        return self.mqtt

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command on the AP's or the MQTT tags."""
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
            kind = field(request, "kind", str)
            tag_id = field(request, "tag", str)
            if kind == "ap":
                ap = self._need_ap()
                tag = (
                    ap.set_fault(tag_id, field(request, "mode", str))
                    if cmd == "fault"
                    else ap.tag(tag_id)
                )
                return {"tag": tag.as_dict()}
            if kind == "mqtt":
                mqtt = self._need_mqtt()
                if cmd == "fault":
                    rate = field(request, "miss_rate", NUMBER, None)
                    return {
                        "tag": mqtt.set_fault(tag_id, field(request, "mode", str), rate).as_dict()
                    }
                return {"tag": mqtt.tag(tag_id).as_dict()}
            raise BadRequest(f"kind must be 'ap' or 'mqtt', not {kind!r}")
        if cmd == "miss_fraction":
            fraction = field(request, "fraction", NUMBER)
            seed = field(request, "seed", int, 0)
            return {"tags": self._need_mqtt().miss_fraction(float(fraction), seed)}
        if cmd == "clear_faults":
            if self.mqtt is not None:
                self.mqtt.clear_faults()
            if self.ap is not None:
                for tag in list(self.ap.tags.values()):
                    self.ap.set_fault(tag.mac, "none")
            return {}
        if cmd == "ap_status":
            self._need_ap().set_run_status(field(request, "status", int))
            return {}
        raise self.unknown(cmd)
