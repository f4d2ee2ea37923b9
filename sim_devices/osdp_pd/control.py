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

from collections.abc import Mapping
from typing import Any

from sim_devices.jsonlines import NUMBER, BadRequest, SimControlServer, field
from sim_devices.osdp_pd.device import OsdpPdSimulator, SimError
from sim_devices.osdp_pd.model import ModelError


class OsdpControlServer(SimControlServer[OsdpPdSimulator]):
    """Serves the control protocol for ``sim``; ``on_quit`` runs after the ``quit`` answer."""

    refusals = (BadRequest, SimError, ModelError)
    commands = ("card", "keypad", "walk_through", "input", "tamper", "fault", "state", "quit")

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one command on the PD at ``address`` (default: the first)."""
        sim = self.sim
        address = field(request, "address", int, None)
        if cmd == "card":
            t = sim.card(
                field(request, "hex", str),
                field(request, "bits", int),
                address=address,
                wiegand=field(request, "wiegand", bool, False),
            )
            return {"t": t}
        if cmd == "keypad":
            return {"t": sim.keypad(field(request, "keys", str), address=address)}
        if cmd == "walk_through":
            times = sim.walk_through(
                field(request, "n", int, 1),
                address=address,
                interval_s=float(field(request, "interval_s", NUMBER, 0.6)),
                dwell_s=float(field(request, "dwell_s", NUMBER, 0.25)),
            )
            return {"times": times}
        if cmd == "input":
            t = sim.set_input(
                field(request, "input", int), field(request, "active", bool), address=address
            )
            return {"t": t}
        if cmd == "tamper":
            return {"t": sim.tamper(field(request, "on", bool), address=address)}
        if cmd == "fault":
            rate = field(request, "rate", NUMBER, None)
            fault = sim.set_fault(
                field(request, "mode", str),
                address=address,
                rate=None if rate is None else float(rate),
            )
            return {"fault": fault}
        if cmd == "state":
            if address is not None:
                return {"pds": [sim.state(address)]}
            return {"pds": sim.states()}
        raise self.unknown(cmd)
