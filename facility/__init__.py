"""Facility supervisor: store modes, alert rules and sinks, telemetry and the MQTT bridge."""
