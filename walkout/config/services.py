"""The store's own services: supervisor, alerting, telemetry and the MQTT bridge.

Each section is optional in store.yaml. ``supervisor`` and ``alerts`` run
when their section is present (both default to on, with the shipped policy
and rules); ``telemetry`` and ``mqtt`` need a server to talk to, so they run
only when configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from walkout.config.errors import Strict
from walkout.config.secrets import SecretRef

ModeName = Literal["normal", "conserve", "degraded", "closing", "shutdown"]
CameraProfile = Literal["all", "checkout_only", "checkout_low_fps", "off"]
ScreenMode = Literal["normal", "static", "off"]


class ModeActionsConfig(Strict):
    """What one mode does; a key left out keeps the shipped default for that mode."""

    cameras: CameraProfile | None = None
    screens: ScreenMode | None = None
    entry_locked: bool | None = None
    gpu_cap_frac: float | None = Field(default=None, ge=0, le=1)
    load_factor: float | None = Field(default=None, gt=0, le=1)
    flush_ledger: bool | None = None
    shutdown_after_s: float | None = Field(default=None, ge=0)


class HostShutdown(Strict):
    """How the host is shut down when the store reaches ``shutdown``.

    ``command`` is run without a shell (an argv list). ``delay_s`` is the last
    grace period between the signal and the command: the ledger is flushed and
    the exits are already open by then. With ``dry_run`` the command is only logged
    (the bench and commissioning use it).
    """

    command: list[str] = Field(default_factory=lambda: ["systemctl", "poweroff"], min_length=1)
    delay_s: float = Field(default=30.0, ge=0, le=3600)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    dry_run: bool = False


class SupervisorSection(Strict):
    """The facility supervisor: store modes from power, cooling and GPU readings.

    ``shutdown_when_empty_s``: a store closing on battery (grid out) shuts
    down once it has been empty, and its last receipts settled, for this
    long, instead of draining the battery to the floors; ``null`` turns it
    off. A fire alarm or an operator closing the store never triggers it.
    """

    enabled: bool = True
    tick_s: float = Field(default=1.0, gt=0, le=60, description="how often time is judged")
    min_dwell_s: dict[ModeName, float] = Field(default_factory=dict)
    actions: dict[ModeName, ModeActionsConfig] = Field(default_factory=dict)
    ups_rated_w: float | None = Field(default=None, gt=0)
    shutdown_when_empty_s: float | None = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="on battery, shut a closed store down once empty and settled this long",
    )
    shutdown: HostShutdown = HostShutdown()
    action_timeout_s: float = Field(default=10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _dwell_non_negative(self) -> SupervisorSection:
        bad = sorted(mode for mode, s in self.min_dwell_s.items() if s < 0)
        if bad:
            raise ValueError(f"min_dwell_s must be >= 0 (bad: {', '.join(bad)})")
        return self


class LogSinkConfig(Strict):
    """Alerts to the process log."""

    type: Literal["log"]
    name: str = "log"


class WebhookSinkConfig(Strict):
    """Alerts POSTed as JSON to a URL."""

    type: Literal["webhook"]
    name: str = "webhook"
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=5.0, gt=0, le=60)


class MqttSinkConfig(Strict):
    """Alerts published on an MQTT topic (the broker of the ``mqtt`` section by default)."""

    type: Literal["mqtt"]
    name: str = "mqtt"
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    prefix: str = "walkout/alerts"


class EmailSinkConfig(Strict):
    """Alerts mailed over SMTP."""

    type: Literal["email"]
    name: str = "email"
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: str
    recipients: list[str] = Field(min_length=1)
    starttls: bool = False
    username: str | None = None
    password: SecretRef | None = None


SinkConfig = Annotated[
    LogSinkConfig | WebhookSinkConfig | MqttSinkConfig | EmailSinkConfig,
    Field(discriminator="type"),
]


def _log_only() -> list[SinkConfig]:
    return [LogSinkConfig(type="log")]


class AlertsSection(Strict):
    """Alert history and where alerts go (the shipped rules always run)."""

    enabled: bool = True
    db: Path = Path("alerts.db")
    sinks: list[SinkConfig] = Field(default_factory=lambda: _log_only())
    tick_s: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _unique_sink_names(self) -> AlertsSection:
        names = [s.name for s in self.sinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"sink names must be unique; repeated: {', '.join(dupes)}")
        return self


class TelemetrySection(Strict):
    """Every reading to an InfluxDB v2 write endpoint, buffered on disk while it is down."""

    url: str = Field(pattern=r"^https?://")
    bucket: str = "walkout"
    org: str = "walkout"
    token: SecretRef | None = None
    buffer_dir: Path = Path("telemetry-buffer")
    buffer_max_mb: float = Field(default=512.0, gt=0)
    batch_points: int = Field(default=5000, ge=1, le=100_000)
    flush_interval_s: float = Field(default=1.0, gt=0, le=60)


class MqttTls(Strict):
    """TLS to the broker: the CA that signed it, and our own certificate when it asks."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False


class MqttSection(Strict):
    """The bridge to building systems: state and discovery out, commands in.

    ``senders``: each sender (the ``from`` of a command) -> the commands it may
    send (``fire_alarm``, ``demand_response``, ``mode_override``, ``alert_ack``);
    anything else is refused with an error reply.
    """

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretRef | None = None
    client_id: str | None = None
    tls: MqttTls | None = None
    base_topic: str = "walkout"
    discovery_prefix: str = "homeassistant"
    senders: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _login_pair(self) -> MqttSection:
        if self.password is not None and self.username is None:
            raise ValueError("'password' is given without 'username'")
        return self


class CheckoutSection(Strict):
    """The checkout: planogram, ledger and the settlement trade-offs.

    ``wait_s``: how long an attribution tie may wait for more evidence.
    ``settle_deadline_s``: after the shopper left, what is still undecided goes
    to review this long after, so the receipt is never held up further.
    ``hand_sigma_m``: how far off the cameras may place the hand that made a
    change (metres, one sigma); with ``learn_hand_sigma`` it is the starting
    value, replaced by what the store's own sure cases show once enough are in.
    """

    planogram: Path
    ledger: Path = Path("ledger.db")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    wait_s: float = Field(default=10.0, gt=0, le=600)
    settle_deadline_s: float = Field(default=5.0, gt=0, le=3600)
    dwell_s: float = Field(default=3.0, gt=0, le=600)
    hand_sigma_m: float = Field(default=0.15, gt=0, le=1.0)
    learn_hand_sigma: bool = True
    tick_s: float = Field(default=0.5, gt=0, le=10)
    ledger_size_limit_mb: float | None = Field(default=None, gt=0)
