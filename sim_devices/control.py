"""Remote control of a running shelf simulator: JSON lines over loopback TCP.

Each request is one JSON object per line with a ``cmd``; each answer is one
line ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}`` (the framing
every simulator shares, see :mod:`sim_devices.jsonlines`). A bad line gets
an error answer and the connection stays open, so a test harness can keep
one connection for a whole run.

Commands (``server`` defaults to 0)::

    {"cmd": "put", "unit": 1, "server": 0, "weight_g": 350, "position_m": 0.4, "label": "cola"}
        -> {"ok": true, "item": 3}
    {"cmd": "take", "unit": 1, "item": 3}            (or "label": "cola",
        or "weight_g": 350, "position_m": 0.4)      -> {"ok": true, "item": {...}}
    {"cmd": "take_g", "unit": 1, "weight_g": 120, "position_m": 0.2} -> {"ok": true, "item": 4}
    {"cmd": "fault", "unit": 1, "mode": "late", "delay_s": 2.0}
        -> {"ok": true, "fault": {"mode": "late", "delay_s": 2.0}}
    {"cmd": "state"} (optional "unit", "server")     -> {"ok": true, "servers": [...]}
    {"cmd": "stats"}                                  -> {"ok": true, "stats": [...]}
    {"cmd": "quit"}                                   -> {"ok": true}, then the process stops
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim_devices.jsonlines import (
    NUMBER,
    BadRequest,
    ControlError,
    JsonLinesClient,
    SimControlServer,
    field,
)
from sim_devices.simulator import ShelfSimulator, SimulatorError

__all__ = ["ControlClient", "ControlError", "ControlServer"]


class ControlServer(SimControlServer[ShelfSimulator]):
    """Serves the control protocol for ``sim`` on ``host``:``port`` (0 picks a port).

    ``on_quit`` is called after the ``quit`` answer has been sent; the CLI
    uses it to stop the process.
    """

    refusals = (BadRequest, SimulatorError)
    commands = ("put", "take", "take_g", "fault", "state", "stats", "quit")

    async def dispatch(self, cmd: Any, request: Mapping[str, Any]) -> dict[str, Any]:
        """Carry out one shelf command."""
        sim = self.sim
        if cmd == "state":
            unit = field(request, "unit", int, None)
            server = field(request, "server", int, None)
            return {"servers": sim.state(unit, server=server)}
        if cmd == "stats":
            return {"stats": sim.stats()}
        if cmd not in ("put", "take", "take_g", "fault"):
            raise self.unknown(cmd)
        unit = field(request, "unit", int)
        server = field(request, "server", int, 0)
        if cmd == "put":
            item = sim.put(
                unit,
                field(request, "weight_g", NUMBER),
                field(request, "position_m", NUMBER, 0.0),
                field(request, "label", str, None),
                server=server,
            )
            return {"item": item}
        if cmd == "take_g":
            item = sim.take_g(
                unit,
                field(request, "weight_g", NUMBER),
                field(request, "position_m", NUMBER, 0.0),
                server=server,
            )
            return {"item": item}
        if cmd == "take":
            return {"item": sim.take(unit, _item_ref(request), server=server).as_dict()}
        fault = sim.set_fault(
            unit,
            field(request, "mode", str),
            delay_s=field(request, "delay_s", NUMBER, None),
            server=server,
        )
        return {"fault": fault.as_dict()}


def _item_ref(request: Mapping[str, Any]) -> int | str | tuple[float, float]:
    if request.get("item") is not None:
        item: int = field(request, "item", int)
        return item
    if request.get("label") is not None:
        label: str = field(request, "label", str)
        return label
    if request.get("weight_g") is not None:
        return (
            float(field(request, "weight_g", NUMBER)),
            float(field(request, "position_m", NUMBER, 0.0)),
        )
    raise BadRequest("take needs 'item', 'label' or 'weight_g' (+ 'position_m')")


class ControlClient(JsonLinesClient):
    """Client of :class:`ControlServer`, with a method per shelf command.

    Every simulator's control port speaks the same JSON lines, so
    :meth:`~JsonLinesClient.request` and :meth:`~JsonLinesClient.raw` serve
    all of them.
    """

    async def put(
        self,
        unit: int,
        weight_g: float,
        position_m: float = 0.0,
        label: str | None = None,
        *,
        server: int = 0,
    ) -> int:
        """Put an item; returns its id."""
        answer = await self.request(
            "put", unit=unit, server=server, weight_g=weight_g, position_m=position_m, label=label
        )
        item: int = answer["item"]
        return item

    async def take(
        self,
        unit: int,
        *,
        item: int | None = None,
        label: str | None = None,
        weight_g: float | None = None,
        position_m: float | None = None,
        server: int = 0,
    ) -> dict[str, Any]:
        """Take an item by id, label or weight+position; returns the item taken."""
        answer = await self.request(
            "take",
            unit=unit,
            server=server,
            item=item,
            label=label,
            weight_g=weight_g,
            position_m=position_m,
        )
        taken: dict[str, Any] = answer["item"]
        return taken

    async def take_g(
        self, unit: int, weight_g: float, position_m: float = 0.0, *, server: int = 0
    ) -> int:
        """Remove grams at a position without matching an item."""
        answer = await self.request(
            "take_g", unit=unit, server=server, weight_g=weight_g, position_m=position_m
        )
        item: int = answer["item"]
        return item

    async def fault(
        self, unit: int, mode: str, *, delay_s: float | None = None, server: int = 0
    ) -> dict[str, Any]:
        """Set a unit's fault; returns the fault now in force."""
        answer = await self.request("fault", unit=unit, server=server, mode=mode, delay_s=delay_s)
        fault: dict[str, Any] = answer["fault"]
        return fault

    async def state(self, unit: int | None = None, *, server: int | None = None) -> list[Any]:
        """Servers with their units' state."""
        servers: list[Any] = (await self.request("state", unit=unit, server=server))["servers"]
        return servers

    async def stats(self) -> list[Any]:
        """Per-server counters."""
        stats: list[Any] = (await self.request("stats"))["stats"]
        return stats

    async def quit(self) -> None:
        """Ask the simulator process to stop."""
        await self.request("quit")
