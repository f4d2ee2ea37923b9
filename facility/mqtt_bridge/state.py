"""Bus messages -> retained JSON state per device, kept as the latest payload per topic.

The bridge keeps consuming the bus while the broker is away; only the newest
state of each topic is kept, and everything is published again after a
reconnect. Payloads carry no monotonic times (meaningless outside this host)
and no credentials or session ids (a building system has no use for them).
A value the device did not report is ``null``, which Home Assistant shows as
unknown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from devices.bus import Message
from devices.crac import CracReading
from devices.gate.machine import (
    Entered,
    Exited,
    ExitFailedOpen,
    GateFault,
    GateModeChanged,
    GateOffline,
    GateOnline,
)
from devices.gpu import GpuReading
from devices.health import HealthChanged
from devices.ups.state import UpsReading
from facility.mqtt_bridge.topics import Topics

Json = dict[str, Any]


def ups_state(reading: UpsReading) -> Json:
    """What a building system needs from a UPS reading."""
    return {
        "status": reading.status.value,
        "battery_status": reading.battery_status.value,
        "charge_pct": reading.charge_pct,
        "runtime_s": reading.runtime_s,
        "seconds_on_battery": reading.seconds_on_battery,
        "load_pct": reading.load_pct,
        "input_v": reading.input_v,
        "input_hz": reading.input_hz,
        "output_power_w": reading.output_power_w,
        "battery_temperature_c": reading.battery_temperature_c,
        "alarms": list(reading.alarms),
    }


def crac_state(reading: CracReading) -> Json:
    """A CRAC reading; ``alarms`` is null when the unit's profile maps none."""
    return {
        "supply_air_c": reading.supply_air_c,
        "return_air_c": reading.return_air_c,
        "humidity_pct": reading.humidity_pct,
        "supply_setpoint_c": reading.supply_setpoint_c,
        "fan_pct": reading.fan_pct,
        "compressors_running": reading.compressors_running,
        "unit_on": reading.unit_on,
        "local_mode": reading.local_mode,
        "alarms": None if reading.alarms is None else list(reading.alarms),
    }


def gpu_state(reading: GpuReading) -> Json:
    """A GPU reading: thermal and power figures, and whether it is capped."""
    return {
        "index": reading.index,
        "name": reading.name,
        "temperature_c": reading.temperature_c,
        "power_w": reading.power_w,
        "power_limit_w": reading.power_limit_w,
        "util_gpu_pct": reading.util_gpu_pct,
        "power_capped": reading.power_capped,
        "thermal_slowdown": reading.thermal_slowdown,
    }


@dataclass
class GateView:
    """A gate's state folded from the machine's events."""

    online: bool | None = None
    mode: str | None = None
    last_event: str | None = None
    entries: int = 0
    exits: int = 0
    last_fault: str | None = None
    failed_open: bool = False

    def apply(self, message: Message) -> None:
        """Fold one machine event in."""
        self.last_event = type(message).__name__
        if isinstance(message, Entered):
            self.entries += 1
        elif isinstance(message, Exited) and message.session_id is None:
            # the gate's own count; an Exited with a session is vision naming a passage
            # the gate already counted
            self.exits += 1
        elif isinstance(message, GateOnline):
            self.online, self.failed_open = True, False
        elif isinstance(message, GateOffline):
            self.online = False
        elif isinstance(message, ExitFailedOpen):
            self.failed_open = True
        elif isinstance(message, GateFault):
            self.last_fault = f"{message.command}: {message.reason}"
        elif isinstance(message, GateModeChanged):
            self.mode = message.mode.value

    def as_json(self) -> Json:
        """The retained payload."""
        return {
            "online": self.online,
            "mode": self.mode,
            "last_event": self.last_event,
            "entries": self.entries,
            "exits": self.exits,
            "failed_open": self.failed_open,
            "last_fault": self.last_fault,
        }


@dataclass
class StoreView:
    """The store-wide state; set through the bridge's API by the supervisor and alerting."""

    mode: str | None = None
    mode_reason: str = ""
    active_alerts: int | None = None
    occupancy: int | None = None

    def as_json(self) -> Json:
        """The retained payload."""
        return {
            "mode": self.mode,
            "mode_reason": self.mode_reason,
            "active_alerts": self.active_alerts,
            "occupancy": self.occupancy,
        }


def encode(payload: Json) -> bytes:
    """Compact, key-sorted JSON: equal states give equal bytes (repeats are skipped)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class StateCache:
    """Latest payload per retained topic, and which ones the broker has not seen yet.

    ``kinds`` remembers which device ids of which kind exist, for discovery.
    """

    topics: Topics
    payloads: dict[str, bytes] = field(default_factory=dict)
    dirty: dict[str, None] = field(default_factory=dict)  # insertion-ordered set
    kinds: dict[tuple[str, str], Message] = field(default_factory=dict)
    gates: dict[str, GateView] = field(default_factory=dict)
    store: StoreView = field(default_factory=StoreView)

    def put(self, topic: str, payload: Json) -> bool:
        """Store a payload; True when it differs from the last one (then it is dirty)."""
        data = encode(payload)
        if self.payloads.get(topic) == data:
            return False
        self.payloads[topic] = data
        self.dirty[topic] = None
        return True

    def apply(self, message: Message) -> tuple[str, str] | None:
        """Fold a bus message in; returns (kind, device id) when a device was seen first."""
        kind: str
        if isinstance(message, UpsReading):
            kind, payload = "ups", ups_state(message)
        elif isinstance(message, CracReading):
            kind, payload = "crac", crac_state(message)
        elif isinstance(message, GpuReading):
            kind, payload = "gpu", gpu_state(message)
        elif isinstance(message, HealthChanged):
            health = message.health
            self.put(
                self.topics.device_state("health", health.device_id),
                {
                    "state": health.state.value,
                    "reason": health.reason,
                    "consecutive_failures": health.consecutive_failures,
                },
            )
            return None
        else:  # a gate machine event
            kind = "gate"
            view = self.gates.setdefault(message.source, GateView())
            view.apply(message)
            payload = view.as_json()
        key = (kind, message.source)
        new = key not in self.kinds or _identity_changed(self.kinds[key], message)
        self.kinds[key] = message
        self.put(self.topics.device_state(kind, message.source), payload)
        return key if new else None

    def put_store(self) -> None:
        """Mark the store state for publishing after one of its fields changed."""
        self.put(self.topics.store_state, self.store.as_json())

    def mark_all_dirty(self) -> None:
        """After a reconnect: the broker may have lost every retained message."""
        self.dirty = dict.fromkeys(self.payloads)


def _identity_changed(before: Message, now: Message) -> bool:
    # A GPU's name feeds its discovery config: learning it later re-announces the device.
    return (
        isinstance(now, GpuReading) and isinstance(before, GpuReading) and (before.name != now.name)
    )
