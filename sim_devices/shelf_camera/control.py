"""Remote control of a running shelf-camera simulator: JSON lines over loopback TCP.

Same wire format as every simulator's control port (``sim_devices.jsonlines``)::

    {"cmd": "movement", "sku": "salt", "kind": "take"}     one hand movement now;
        optional "confidence" (0, 1], "exact": true (published as given)
        -> {"ok": true, "reported": {"sku": ..., "confidence": ..., "kind": ...}}
           (null when missed, or when silent; answered once handed to the broker)
    {"cmd": "fault", "mode": "garbage"}    (normal, silent, garbage, bad_schema, oversize)
        -> {"ok": true, "settings": {...}}
    {"cmd": "model", "accuracy": 0.9, "miss_rate": 0.05, "kind_rate": 1.0,
     "confidence_noise": 0.02, "confusions": ["paprika"]}  -> {"ok": true, "settings": {...}}
    {"cmd": "stats"}    -> {"ok": true, "stats": {...}}
    {"cmd": "reported"} -> {"ok": true, "reported": [{"truth": {...}, "reported": ...}]}
    {"cmd": "ready"}    -> {"ok": true, "ready": {...}}
    {"cmd": "quit"}     -> {"ok": true}, then the process stops

A bad request changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from sim_devices.jsonlines import NUMBER, BadRequest, SimControlServer, field
from sim_devices.shelf_camera.publisher import Movement, ShelfCameraSimError
from sim_devices.shelf_camera.simulator import ShelfCameraSimulator


class ShelfCameraControlServer(SimControlServer[ShelfCameraSimulator]):
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port)."""

    refusals = (BadRequest, ShelfCameraSimError)
    commands = ("movement", "fault", "model", "stats", "reported", "ready", "quit")

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command on the camera."""
        sim = self.sim
        publisher = sim.publisher
        if cmd == "movement":
            confidence = field(request, "confidence", NUMBER, None)
            movement = Movement(
                field(request, "sku", str),
                field(request, "kind", str, None),
                None if confidence is None else float(confidence),
                field(request, "exact", bool, False),
            )
            return {"reported": await sim.movement(movement)}
        if cmd == "fault":
            updated = replace(publisher.settings, mode=field(request, "mode", str))
            updated.validate()
            publisher.settings = updated
            return {"settings": asdict(updated)}
        if cmd == "model":
            current = publisher.settings
            confusions = field(request, "confusions", list, list(current.confusions))
            updated = replace(
                current,
                accuracy=float(field(request, "accuracy", NUMBER, current.accuracy)),
                miss_rate=float(field(request, "miss_rate", NUMBER, current.miss_rate)),
                kind_rate=float(field(request, "kind_rate", NUMBER, current.kind_rate)),
                confidence_noise=float(
                    field(request, "confidence_noise", NUMBER, current.confidence_noise)
                ),
                confusions=tuple(confusions),
            )
            updated.validate()
            publisher.settings = updated
            return {"settings": asdict(updated)}
        if cmd == "stats":
            return {"stats": publisher.stats.as_dict()}
        if cmd == "reported":
            return {"reported": list(publisher.reported)}
        if cmd == "ready":
            return {"ready": sim.ready()}
        raise self.unknown(cmd)
