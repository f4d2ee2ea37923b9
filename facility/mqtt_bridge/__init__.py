"""MQTT bridge to building systems: retained state, Home Assistant discovery, commands.

The topic schema is documented in :mod:`facility.mqtt_bridge.topics`, the
command format and its authentication in :mod:`facility.mqtt_bridge.commands`.
"""

from facility.mqtt_bridge.bridge import BUS_TYPES, BridgeAuthError, MqttBridge
from facility.mqtt_bridge.commands import (
    AlertAckCommand,
    CommandMessage,
    CommandRejected,
    DemandResponseCommand,
    FireAlarmCommand,
    ModeOverrideCommand,
    parse_command,
)
from facility.mqtt_bridge.config import BridgeSettings, DeviceInfo, TlsSettings
from facility.mqtt_bridge.discovery import Discovery
from facility.mqtt_bridge.topics import Topics, slug

__all__ = [
    "BUS_TYPES",
    "AlertAckCommand",
    "BridgeAuthError",
    "BridgeSettings",
    "CommandMessage",
    "CommandRejected",
    "DemandResponseCommand",
    "DeviceInfo",
    "Discovery",
    "FireAlarmCommand",
    "ModeOverrideCommand",
    "MqttBridge",
    "TlsSettings",
    "Topics",
    "parse_command",
    "slug",
]
