"""Settings of the MQTT bridge, validated like the rest of store.yaml (pydantic, extra="forbid").

The broker's own credentials and ACLs are the first gate for commands; the
``senders`` allow-list is the second one, checked on every command's ``from``
field (see :mod:`facility.mqtt_bridge.commands`).
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

TOPIC_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
"""What a store id or device id may contain once it is a topic level or a HA object id."""


class _ClosingSSLSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails.

    paho-mqtt 2.x wraps the socket, handshakes, and on failure (unknown CA,
    wrong host) raises without closing it: every retry against a broker with a
    bad certificate would leak one descriptor until the garbage collector
    happened to run.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


class TlsSettings(BaseModel):
    """TLS to the broker: a CA to trust and, for mutual TLS, a client certificate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False  # skip host name verification (test brokers only)

    def context(self) -> ssl.SSLContext:
        """An SSL context; raises ``OSError``/``ssl.SSLError`` naming a bad file."""
        ctx = ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file is not None else None
        )
        if self.cert_file is not None:
            ctx.load_cert_chain(
                str(self.cert_file), str(self.key_file) if self.key_file is not None else None
            )
        if self.insecure:
            ctx.check_hostname = False
        ctx.sslsocket_class = _ClosingSSLSocket
        return ctx


class DeviceInfo(BaseModel):
    """What Home Assistant shows about one physical device (from the store's inventory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None


class BridgeSettings(BaseModel):
    """Where the broker is, who we are on it, and who may command the store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_id: str
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None  # default: "walkout-<store_id>-bridge"
    tls: TlsSettings | None = None
    keepalive_s: int = Field(default=30, ge=5, le=3600)
    timeout_s: float = Field(default=10.0, gt=0)
    base_topic: str = "walkout"
    discovery_prefix: str = "homeassistant"
    discovery_retain: bool = True
    senders: dict[str, list[str]] = Field(default_factory=dict)
    max_command_bytes: int = Field(default=4096, ge=64)
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_cap_s: float = Field(default=30.0, gt=0)
    devices: dict[str, DeviceInfo] = Field(default_factory=dict)

    @field_validator("store_id")
    @classmethod
    def _segment(cls, value: str) -> str:
        if not TOPIC_SEGMENT.match(value):
            raise ValueError("store_id may only contain letters, digits, '_' and '-'")
        return value

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.startswith("/"):
            raise ValueError("must be a non-empty topic prefix without wildcards or leading '/'")
        return value.rstrip("/")

    @property
    def identifier(self) -> str:
        """The MQTT client id."""
        return self.client_id or f"walkout-{self.store_id}-bridge"
