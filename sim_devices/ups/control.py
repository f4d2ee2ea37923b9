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

from collections.abc import Callable, Mapping
from typing import Any

from sim_devices.clock import ManualClock
from sim_devices.jsonlines import NUMBER, BadRequest, SimControlServer, field
from sim_devices.ups.simulator import UpsSimulator, UpsSimulatorError


class UpsControlServer(SimControlServer[UpsSimulator]):
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port).

    ``clock`` is the simulator's manual clock if it has one (enables
    ``advance``); ``on_quit`` runs after the ``quit`` answer was sent.
    """

    refusals = (BadRequest, UpsSimulatorError)
    commands = (
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

    def __init__(
        self,
        sim: UpsSimulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: ManualClock | None = None,
        on_quit: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(sim, host, port, on_quit=on_quit)
        self._clock = clock

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one UPS command; most answer with the whole state."""
        sim = self.sim
        if cmd == "state":
            return {"state": sim.state()}
        if cmd == "stats":
            return {"stats": sim.stats()}
        if cmd == "grid_off":
            sim.cut_grid()
        elif cmd == "grid_on":
            sim.restore_grid()
        elif cmd == "set_input":
            voltage = field(request, "voltage_v", NUMBER, None)
            frequency = field(request, "frequency_hz", NUMBER, None)
            if voltage is None and frequency is None:
                raise BadRequest("set_input needs 'voltage_v' and/or 'frequency_hz'")
            if voltage is not None:
                sim.set_input_voltage(voltage)
            if frequency is not None:
                sim.set_input_frequency(frequency)
        elif cmd == "set_load":
            sim.set_load_w(field(request, "load_w", NUMBER))
        elif cmd == "set_charge":
            sim.set_charge(field(request, "charge_pct", NUMBER))
        elif cmd == "set_ambient":
            sim.set_ambient_temp(field(request, "temp_c", NUMBER))
        elif cmd == "fault":
            faults = sim.set_fault(
                field(request, "mode", str),
                delay_s=field(request, "delay_s", NUMBER, None),
                on=field(request, "on", bool, True),
            )
            return {"faults": faults}
        elif cmd == "trap_add":
            return {"target": str(sim.add_trap_target(field(request, "target", str)))}
        elif cmd == "trap_remove":
            return {"target": str(sim.remove_trap_target(field(request, "target", str)))}
        elif cmd == "advance":
            if self._clock is None:
                raise BadRequest("advance needs a simulator started with --manual-clock")
            seconds = field(request, "seconds", NUMBER)
            if not 0 <= seconds <= 10 * 365 * 86400:
                raise BadRequest(f"seconds {seconds} is outside 0..315360000")
            self._clock.advance(seconds)
            sim.pump()
        else:
            raise self.unknown(cmd)
        return {"state": sim.state()}
