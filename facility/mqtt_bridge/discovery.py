"""Home Assistant MQTT discovery configs for the store and its facility devices.

Topics follow ``<prefix>/<component>/<node_id>/<object_id>/config`` with node id
``walkout_<store>`` and object id ``<kind>_<device>_<key>`` (only
``[A-Za-z0-9_-]``, as Home Assistant requires). Every entity reads the
retained state topic of its device through a ``value_template`` and is
available while the bridge's availability topic says ``online``. Device
classes and units are the ones Home Assistant accepts together (battery: %,
duration: s, voltage: V, temperature: °C, humidity: %, power: W); an ``enum``
sensor lists its options and has neither unit nor state class.

Entities are declared as data (:class:`Entity`), the Home Assistant way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devices.bus import Message
from devices.gpu import GpuReading
from devices.ups.state import UpsReading, UpsStatus
from facility.mqtt_bridge.config import BridgeSettings, DeviceInfo
from facility.mqtt_bridge.topics import Topics, slug

ORIGIN = {"name": "walkout"}


@dataclass(frozen=True, slots=True)
class Entity:
    """One Home Assistant entity read from a device's state payload."""

    key: str  # field of the state payload
    name: str
    component: str = "sensor"
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = "measurement"
    options: tuple[str, ...] = ()
    template: str | None = None  # default: {{ value_json.<key> }}


UPS_ENTITIES = (
    Entity("charge_pct", "Battery charge", device_class="battery", unit="%"),
    Entity("runtime_s", "Runtime", device_class="duration", unit="s"),
    Entity("load_pct", "Load", unit="%"),
    Entity("input_v", "Input voltage", device_class="voltage", unit="V"),
    Entity("output_power_w", "Output power", device_class="power", unit="W"),
    Entity(
        "status",
        "Status",
        device_class="enum",
        state_class=None,
        options=tuple(s.value for s in UpsStatus),
    ),
)
CRAC_ENTITIES = (
    Entity("supply_air_c", "Supply air", device_class="temperature", unit="°C"),
    Entity("return_air_c", "Return air", device_class="temperature", unit="°C"),
    Entity("humidity_pct", "Humidity", device_class="humidity", unit="%"),
    Entity(
        "alarms",
        "Alarm",
        component="binary_sensor",
        device_class="problem",
        state_class=None,
        # null alarms (profile maps none) -> "None" -> unknown in Home Assistant
        template="{{ 'None' if value_json.alarms is none "
        "else ('ON' if value_json.alarms else 'OFF') }}",
    ),
)
GPU_ENTITIES = (
    Entity("temperature_c", "Temperature", device_class="temperature", unit="°C"),
    Entity("power_w", "Power", device_class="power", unit="W"),
    Entity("power_limit_w", "Power limit", device_class="power", unit="W"),
)
STORE_ENTITIES = (
    Entity("mode", "Store mode", state_class=None),
    Entity("active_alerts", "Active alerts"),
    Entity("occupancy", "Occupancy", unit="people"),
)
ENTITIES: dict[str, tuple[Entity, ...]] = {
    "ups": UPS_ENTITIES,
    "crac": CRAC_ENTITIES,
    "gpu": GPU_ENTITIES,
}
KIND_MODEL = {"ups": "UPS", "crac": "Precision air conditioner", "gpu": "GPU"}


class Discovery:
    """Builds the config payloads; pure, so tests validate them without a broker."""

    def __init__(self, settings: BridgeSettings) -> None:
        self._settings = settings
        self._topics = Topics(settings.base_topic, settings.store_id)
        self.node_id = f"walkout_{settings.store_id}"

    def _availability(self) -> list[dict[str, str]]:
        return [
            {
                "topic": self._topics.availability,
                "payload_available": "online",
                "payload_not_available": "offline",
            }
        ]

    @property
    def store_device(self) -> dict[str, Any]:
        """The store itself, through which every facility device is reached."""
        return {
            "identifiers": [self.node_id],
            "name": f"walkout store {self._settings.store_id}",
            "manufacturer": "walkout",
            "model": "grab-and-go store edge",
        }

    def _device(self, kind: str, device_id: str, info: DeviceInfo, model: str) -> dict[str, Any]:
        return {
            "identifiers": [f"{self.node_id}_{kind}_{slug(device_id)}"],
            "name": info.name or f"{KIND_MODEL[kind]} {device_id}",
            # Not configured: the entity is walkout's view of the device, so say so.
            "manufacturer": info.manufacturer or "walkout",
            "model": info.model or model,
            "via_device": self.node_id,
        }

    def _config(
        self, entity: Entity, object_id: str, state_topic: str, device: dict[str, Any]
    ) -> tuple[str, bytes]:
        config: dict[str, Any] = {
            "name": entity.name,
            "unique_id": f"{self.node_id}_{object_id}",
            "state_topic": state_topic,
            "value_template": entity.template or f"{{{{ value_json.{entity.key} }}}}",
            "availability": self._availability(),
            "availability_mode": "all",
            "device": device,
            "origin": ORIGIN,
        }
        if entity.device_class is not None:
            config["device_class"] = entity.device_class
        if entity.unit is not None:
            config["unit_of_measurement"] = entity.unit
        if entity.state_class is not None:
            config["state_class"] = entity.state_class
        if entity.options:
            config["options"] = list(entity.options)
        topic = f"{self._settings.discovery_prefix}/{entity.component}/{self.node_id}/{object_id}"
        return f"{topic}/config", json.dumps(config, sort_keys=True).encode()

    def store_configs(self) -> dict[str, bytes]:
        """Configs of the store's own sensors (mode, alerts, occupancy)."""
        return dict(
            self._config(e, f"store_{e.key}", self._topics.store_state, self.store_device)
            for e in STORE_ENTITIES
        )

    def device_configs(self, kind: str, message: Message) -> dict[str, bytes]:
        """Configs of one device's entities (none for kinds without entities, like gates)."""
        entities = ENTITIES.get(kind)
        if entities is None:
            return {}
        device_id = message.source
        info = self._settings.devices.get(device_id, DeviceInfo())
        model = KIND_MODEL[kind]
        if isinstance(message, GpuReading) and message.name:
            model, info = (
                message.name,
                info.model_copy(update={"manufacturer": info.manufacturer or "NVIDIA"}),
            )
        elif isinstance(message, UpsReading) and message.via:
            model = f"UPS ({message.via})"
        device = self._device(kind, device_id, info, model)
        state_topic = self._topics.device_state(kind, device_id)
        return dict(
            self._config(e, f"{kind}_{slug(device_id)}_{e.key}", state_topic, device)
            for e in entities
        )
