"""Checks of Home Assistant MQTT discovery configs, written from Home Assistant's documentation.

Sources: home-assistant.io "MQTT Discovery" (topic
``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``, ids of
``[a-zA-Z0-9_-]``), "MQTT Sensor" / "MQTT Binary sensor" (state_topic,
value_template, availability list of topic/payload_available/payload_not_available,
availability_mode, device map with identifiers/manufacturer/model/name,
unique_id), and the sensor platform's table of units per device class
(homeassistant/components/sensor/const.py DEVICE_CLASS_UNITS).
"""

from __future__ import annotations

import json
import re
from typing import Any

TOPIC = re.compile(
    r"^(?P<prefix>[^/+#]+)/(?P<component>[a-z_]+)/(?:(?P<node>[A-Za-z0-9_-]+)/)?"
    r"(?P<object>[A-Za-z0-9_-]+)/config$"
)
SENSOR_UNITS: dict[str, set[str | None]] = {
    "battery": {"%"},
    "duration": {"d", "h", "min", "s", "ms"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "temperature": {"°C", "°F", "K"},
    "humidity": {"%"},
    "power": {"W", "kW", "MW", "GW", "TW", "mW", "BTU/h"},
    "power_factor": {"%", None},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
    "current": {"A", "mA"},
}
STATE_CLASSES = {"measurement", "total", "total_increasing", "measurement_angle"}
BINARY_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving",
    "occupancy", "opening", "plug", "power", "presence", "problem", "running", "safety",
    "smoke", "sound", "tamper", "update", "vibration", "window",
}  # fmt: skip
COMPONENTS = {"sensor", "binary_sensor"}
DEVICE_KEYS = {"identifiers", "manufacturer", "model", "name"}


def validate(topic: str, payload: bytes) -> list[str]:
    """Every problem found in one discovery config; empty when it is valid."""
    problems: list[str] = []
    match = TOPIC.match(topic)
    if match is None:
        return [f"{topic}: not <prefix>/<component>/[<node_id>/]<object_id>/config"]
    component = match["component"]
    if component not in COMPONENTS:
        problems.append(f"component {component!r} is not one this validator knows")
    try:
        config: dict[str, Any] = json.loads(payload)
    except ValueError as exc:
        return [f"{topic}: payload is not JSON: {exc}"]
    for key in ("state_topic", "unique_id", "device", "availability", "name"):
        if key not in config:
            problems.append(f"missing {key}")
    state_topic = config.get("state_topic", "")
    if not isinstance(state_topic, str) or not state_topic or set(state_topic) & set("+#"):
        problems.append(f"state_topic {state_topic!r} is not a plain topic")
    template = config.get("value_template")
    if template is not None and not ("{{" in template and "}}" in template):
        problems.append(f"value_template {template!r} is not a template")
    device = config.get("device", {})
    missing = DEVICE_KEYS - set(device)
    if missing:
        problems.append(f"device lacks {sorted(missing)}")
    identifiers = device.get("identifiers")
    if not (isinstance(identifiers, list) and identifiers) and not isinstance(identifiers, str):
        problems.append("device.identifiers must be a non-empty list or a string")
    availability = config.get("availability", [])
    if not isinstance(availability, list) or not availability:
        problems.append("availability must be a non-empty list")
    else:
        for entry in availability:
            if not isinstance(entry, dict) or not entry.get("topic"):
                problems.append(f"availability entry {entry!r} has no topic")
    if config.get("availability_mode", "latest") not in {"all", "any", "latest"}:
        problems.append(f"availability_mode {config['availability_mode']!r}")
    device_class = config.get("device_class")
    unit = config.get("unit_of_measurement")
    state_class = config.get("state_class")
    if component == "sensor":
        if device_class == "enum":
            if not config.get("options"):
                problems.append("enum sensor without options")
            if unit is not None or state_class is not None:
                problems.append("enum sensor must have no unit and no state_class")
        elif device_class is not None:
            allowed = SENSOR_UNITS.get(device_class)
            if allowed is None:
                problems.append(f"sensor device_class {device_class!r} not known here")
            elif unit not in allowed:
                problems.append(f"unit {unit!r} is not valid for device_class {device_class!r}")
        if state_class is not None and state_class not in STATE_CLASSES:
            problems.append(f"state_class {state_class!r}")
    if component == "binary_sensor":
        if device_class is not None and device_class not in BINARY_DEVICE_CLASSES:
            problems.append(f"binary_sensor device_class {device_class!r}")
        for key in ("unit_of_measurement", "state_class"):
            if key in config:
                problems.append(f"binary_sensor has {key}")
    return [f"{topic}: {p}" for p in problems]


def validate_all(configs: dict[str, bytes]) -> list[str]:
    """Problems of a whole set, including unique_id collisions across configs."""
    problems = [p for topic, payload in configs.items() for p in validate(topic, payload)]
    seen: dict[str, str] = {}
    for topic, payload in configs.items():
        uid = json.loads(payload).get("unique_id")
        if uid in seen:
            problems.append(f"{topic}: unique_id {uid!r} also used by {seen[uid]}")
        seen[uid] = topic
    return problems
