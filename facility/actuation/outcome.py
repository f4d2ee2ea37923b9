"""What the actuation layer publishes: one outcome per action request, ok or not."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message
from facility.supervisor.decisions import ActionRequest
from facility.supervisor.modes import StoreMode

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def action_kind(request: ActionRequest | type[ActionRequest]) -> str:
    """``cap_gpus`` for ``CapGpus``: the snake-case name of the request's class."""
    cls = request if isinstance(request, type) else type(request)
    return _CAMEL.sub("_", cls.__name__).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionOutcome(Message):
    """How one action request ended; durable, because a failed action must be seen.

    ``source`` is ``<actuator>.<kind>`` (``actuation.set_entry``), so an alert
    rule keyed on (rule, source) keeps one alert per kind of action: a failed
    GPU cap is not resolved by a successful screen change, only by the next
    GPU cap that works. ``ok``: the action was carried out (for a GPU cap, on
    every GPU). ``verified``: a read-back from the device confirmed it; False
    where the device gives none, or where the action failed. ``failed`` names
    the parts that failed (GPU source ids, tag ids) when the action has parts.
    ``duration_s`` is wall time from the start of the action to its end.
    """

    durable: ClassVar[bool] = True
    kind: str
    mode: StoreMode
    ok: bool
    detail: str
    duration_s: float
    verified: bool = False
    failed: tuple[str, ...] = ()
    request_source: str = ""
    request_t_mono: float | None = None
    reason: str = ""
