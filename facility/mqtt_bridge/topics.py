"""The topic schema the building sees; everything below ``<base>/<store>/``.

=====================================  =========  ===============================================
topic                                  retained   payload
=====================================  =========  ===============================================
``<base>/<store>/bridge/availability``  yes        ``online`` / ``offline`` (last will)
``<base>/<store>/store/state``          yes        ``{"mode", "mode_reason", "active_alerts",
                                                   "occupancy"}``
``<base>/<store>/ups/<id>/state``       yes        UPS reading (``charge_pct``, ``runtime_s`` ...)
``<base>/<store>/crac/<id>/state``      yes        CRAC reading (``supply_air_c`` ...)
``<base>/<store>/gpu/<id>/state``       yes        GPU reading (``temperature_c``, ``power_w`` ...)
``<base>/<store>/gate/<id>/state``      yes        gate: online, mode, last event
``<base>/<store>/health/<id>/state``    yes        device health: ``state``, ``reason`` ...
``<base>/<store>/cmd/<name>``           no         a command (JSON, see ``commands``)
``<base>/<store>/cmd/<name>/reply``     no         ``{"ok", "command", "correlation_id", "error"}``
=====================================  =========  ===============================================

Device ids become one topic level and part of Home Assistant object ids, so
anything outside ``[A-Za-z0-9_-]`` is replaced by ``_`` (:func:`slug`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def slug(text: str) -> str:
    """``text`` as one safe topic level (no ``/``, ``+``, ``#``); never empty."""
    return _UNSAFE.sub("_", text) or "_"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for one store."""

    base: str
    store_id: str

    @property
    def root(self) -> str:
        """``<base>/<store>``."""
        return f"{self.base}/{self.store_id}"

    @property
    def availability(self) -> str:
        """The bridge's availability (last will ``offline``)."""
        return f"{self.root}/bridge/availability"

    @property
    def store_state(self) -> str:
        """Store mode, active alerts and occupancy."""
        return f"{self.root}/store/state"

    def device_state(self, kind: str, device_id: str) -> str:
        """Retained state of one device of ``kind`` (ups, crac, gpu, gate, health)."""
        return f"{self.root}/{kind}/{slug(device_id)}/state"

    @property
    def commands(self) -> str:
        """Subscription for every command (one level: replies are not matched)."""
        return f"{self.root}/cmd/+"

    def command_name(self, topic: str) -> str | None:
        """The command name of a topic under ``cmd/``, else None."""
        prefix = f"{self.root}/cmd/"
        if not topic.startswith(prefix):
            return None
        name = topic[len(prefix) :]
        return name if name and "/" not in name else None

    def reply(self, name: str) -> str:
        """Where the answer to command ``name`` goes."""
        return f"{self.root}/cmd/{name}/reply"
