"""Remote control of a running camera simulator: JSON lines over loopback TCP.

Same wire format as the shelf simulator's control port (one JSON object per
line with a ``cmd``; answers ``{"ok": true, ...}`` or ``{"ok": false,
"error": ...}``), so ``sim_devices.control.ControlClient`` talks to it::

    {"cmd": "fault", "mode": "freeze"}      (none, freeze, black, corrupt, stall,
                                             slow + "fps", drop, restart + "down_s")
        -> {"ok": true, "fault": "freeze"}
    {"cmd": "people", "people": [{"id": 1, "x_m": 2.0, "y_m": 3.5, "hand": [2.3, 4.1]}],
     "replace": true}
        -> {"ok": true, "people": 1}        (placed people stay until moved again)
    {"cmd": "walkers", "count": 4}          -> {"ok": true, "ids": [5, 6, 7, 8]}
    {"cmd": "remove", "id": 3}              -> {"ok": true}   (an absent id is no error)
    {"cmd": "metadata", "box_noise_px": 3, "miss_rate": 0.1, "id_switch_rate": 0.01,
     "mode": "normal",                      (silent, garbage, oversize)
     "embedding_dim": 16, "embedding_noise": 0.1}   (0: schema v1, 8..512: v2)
        -> {"ok": true, "metadata": {...}}
    {"cmd": "state"} -> {"ok": true, "state": {...}}   (ground truth)
    {"cmd": "stats"} -> {"ok": true, "stats": {...}}
    {"cmd": "ready"} -> {"ok": true, "ready": {...}}   (the ready line's camera part)
    {"cmd": "quit"}  -> {"ok": true}, then the process stops

``people`` places or moves the listed people and stops them walking;
``replace`` (default false) takes everyone else off the floor first, so
``{"cmd": "people", "people": [], "replace": true}`` empties it. ``hand``
is optional: the floor point (metres) the person's hand reaches to, which
the metadata shows as the right wrist; absent or null means arms down. An
entry is a person's whole state, so moving someone without ``hand``
lowers it. A bad entry refuses the whole request and changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from sim_devices.camera.scene import Placement, Point
from sim_devices.camera.simulator import CameraSimError, CameraSimulator
from sim_devices.jsonlines import NUMBER, BadRequest, SimControlServer, field


class CameraControlServer(SimControlServer[CameraSimulator]):
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port)."""

    line_limit = 256 * 1024
    """A ``people`` command for a crowded store is a few KiB."""

    refusals = (BadRequest, CameraSimError, ValueError)
    commands = (
        "fault",
        "people",
        "walkers",
        "remove",
        "metadata",
        "state",
        "stats",
        "ready",
        "quit",
    )

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command on the scene, the picture or the metadata."""
        sim = self.sim
        if cmd == "fault":
            return sim.set_fault(
                field(request, "mode", str),
                fps=field(request, "fps", NUMBER, None),
                down_s=field(request, "down_s", NUMBER, None),
            )
        if cmd == "people":
            entries = field(request, "people", list)
            placements: list[Placement] = []
            for entry in entries:
                if not isinstance(entry, dict):
                    raise BadRequest("each person must be an object with id, x_m, y_m")
                pid = field(entry, "id", int)
                placements.append(
                    (
                        pid,
                        float(field(entry, "x_m", NUMBER)),
                        float(field(entry, "y_m", NUMBER)),
                        _hand(pid, entry.get("hand")),
                    )
                )
            sim.scene.place(placements, replace=field(request, "replace", bool, False))
            return {"people": len(sim.scene.people)}
        if cmd == "walkers":
            count = field(request, "count", int)
            if not 0 <= count <= 500:
                raise BadRequest("count must be within 0..500")
            return {"ids": sim.scene.set_walkers(count)}
        if cmd == "remove":
            sim.scene.remove(field(request, "id", int))
            return {}
        if cmd == "metadata":
            return {"metadata": self._metadata(request)}
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "stats":
            return {"stats": sim.all_stats()}
        if cmd == "ready":
            return {"ready": sim.ready()}
        raise self.unknown(cmd)

    def _metadata(self, request: Mapping[str, Any]) -> dict[str, Any]:
        publisher = self.sim.publisher
        if publisher is None:
            raise BadRequest("this simulator publishes no metadata (start it with --mqtt-host)")
        current = publisher.settings
        updated = replace(
            current,
            box_noise_px=float(field(request, "box_noise_px", NUMBER, current.box_noise_px)),
            miss_rate=float(field(request, "miss_rate", NUMBER, current.miss_rate)),
            id_switch_rate=float(field(request, "id_switch_rate", NUMBER, current.id_switch_rate)),
            mode=field(request, "mode", str, current.mode),
            keypoints=field(request, "keypoints", bool, current.keypoints),
            embedding_dim=field(request, "embedding_dim", int, current.embedding_dim),
            embedding_noise=float(
                field(request, "embedding_noise", NUMBER, current.embedding_noise)
            ),
        )
        updated.validate()
        publisher.settings = updated
        return asdict(updated)


def _hand(pid: int, value: Any) -> Point | None:
    """A ``people`` entry's ``hand``: None, or two finite numbers (JSON allows NaN and Infinity)."""
    if value is None:
        return None
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(c, NUMBER) and not isinstance(c, bool) for c in value)
        and all(math.isfinite(c) for c in value)
    ):
        return float(value[0]), float(value[1])
    raise BadRequest(
        f"person {pid}: 'hand' must be [x_m, y_m], two finite numbers, or null; got {value!r}"
    )
