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

from collections.abc import Mapping
from typing import Any

from sim_devices.dio.simulator import DioSimulator, DioSimulatorError
from sim_devices.jsonlines import NUMBER, BadRequest, SimControlServer, field

COMMANDS = ("walk_through", "button", "set_input", "fault", "state", "quit")


class DioControlServer(SimControlServer[DioSimulator]):
    """Serves the control protocol for ``sim`` (port 0 picks a free port)."""

    refusals = (BadRequest, DioSimulatorError)
    commands = COMMANDS

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one gate command."""
        sim = self.sim
        if cmd == "walk_through":
            return sim.walk_through(field(request, "door", str))
        if cmd == "button":
            return sim.press(field(request, "door", str))
        if cmd == "set_input":
            sim.set_input(field(request, "input", int), field(request, "value", bool))
            return {}
        if cmd == "fault":
            faults = await sim.set_fault(
                field(request, "mode", str),
                delay_s=field(request, "delay_s", NUMBER, None),
                index=field(request, "input", int, None),
                value=field(request, "value", bool, None),
            )
            return {"faults": faults}
        if cmd == "state":
            return {"state": sim.state()}
        raise self.unknown(cmd)
