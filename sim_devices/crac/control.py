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

from collections.abc import Mapping
from typing import Any

from sim_devices.crac.model import CommandRefused, FaultError, Refusal
from sim_devices.crac.simulator import CracSimError, CracSimulator
from sim_devices.jsonlines import NUMBER, BadRequest, SimControlServer, field


class CracControlServer(SimControlServer[CracSimulator]):
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port)."""

    refusals = (BadRequest, CracSimError, FaultError, CommandRefused, ValueError)
    commands = (
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

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command; raises BadRequest (or a model error) to refuse it."""
        sim, crac = self.sim, self.sim.crac
        if cmd == "set_it_load_w":
            crac.it_load_w = float(field(request, "w", NUMBER))
            return {"it_load_w": crac.it_load_w}
        if cmd == "set_gpu_load_w":
            crac.gpu_load_w = float(field(request, "w", NUMBER))
            return {"gpu_load_w": crac.gpu_load_w}
        if cmd == "set_outdoor_c":
            crac.outdoor_c = float(field(request, "c", NUMBER))
            return {"outdoor_c": crac.outdoor_c}
        if cmd == "fault":
            faults = crac.set_fault(
                field(request, "name", str), field(request, "active", bool, True)
            )
            return {"faults": sorted(faults), "alarms": sorted(crac.alarms)}
        if cmd == "local_lock":
            crac.local_lock = field(request, "on", bool)
            style = field(request, "refusal", str, None)
            if style is not None:
                try:
                    crac.refusal = Refusal(style)
                except ValueError:
                    raise BadRequest(
                        f"refusal must be exception or ignore, got {style!r}"
                    ) from None
            return {"local_lock": crac.local_lock, "refusal": crac.refusal.value}
        if cmd == "unit_on":
            crac.set_unit_on(field(request, "on", bool), local=True)
            return {"unit_on": crac.unit_on}
        if cmd == "setpoint":
            value = float(field(request, "c", NUMBER))
            which = field(request, "which", str, "return")
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
                field(request, "mode", str), field(request, "delay_s", NUMBER, None)
            )
            return {"link_fault": fault.as_dict()}
        if cmd == "advance":
            seconds = float(field(request, "s", NUMBER))
            crac.advance(seconds)
            return {"sim_time_s": crac.sim_time_s}
        if cmd == "speed":
            crac.speed = float(field(request, "x", NUMBER))
            return {"speed": crac.speed}
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "stats":
            return {"stats": sim.stats()}
        raise self.unknown(cmd)
