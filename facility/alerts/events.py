"""Alerts and their lifecycle events as bus messages.

Every lifecycle event is durable: an alert that fired must reach the store
and the sinks even when a subscriber is slow. Each event carries the whole
alert as it is after the event, so a sink or the store needs no state of its
own to render it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

from devices.bus import Message
from facility.alerts.rules import Severity


class AlertState(enum.StrEnum):
    """Where an alert is in its life."""

    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # still active, a person has taken it
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """One alert: one rule on one source, from firing to resolution.

    Times ending in ``_mono`` are event time (the readings' ``t_mono``).
    ``started_mono`` is when the condition was first seen, ``fired_mono`` when
    ``for_s`` had passed. ``value`` is the reading that fired it (a number, a
    state text, or seconds of silence for an absence rule).
    """

    id: int
    rule: str
    source: str
    severity: Severity
    summary: str
    labels: tuple[tuple[str, str], ...]
    group_key: str
    started_mono: float
    fired_mono: float
    value: float | str | None = None
    state: AlertState = AlertState.FIRING
    escalations: int = 0
    acked_by: str | None = None
    acked_mono: float | None = None
    resolved_mono: float | None = None

    @property
    def active(self) -> bool:
        """Not resolved yet."""
        return self.state is not AlertState.RESOLVED

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for webhooks, MQTT and email bodies."""
        return {
            "id": self.id,
            "rule": self.rule,
            "source": self.source,
            "severity": self.severity.value,
            "summary": self.summary,
            "labels": dict(self.labels),
            "group_key": self.group_key,
            "started_mono": self.started_mono,
            "fired_mono": self.fired_mono,
            "value": self.value,
            "state": self.state.value,
            "escalations": self.escalations,
            "acked_by": self.acked_by,
            "acked_mono": self.acked_mono,
            "resolved_mono": self.resolved_mono,
        }


class AlertEventKind(enum.StrEnum):
    """The lifecycle steps a sink is told about."""

    FIRING = "firing"
    ESCALATED = "escalated"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent(Message):
    """Base of the lifecycle events; ``source`` is the alert's source device."""

    durable: ClassVar[bool] = True
    kind: ClassVar[AlertEventKind]
    alert: Alert

    def to_json(self) -> dict[str, Any]:
        """The event as a sink sends it."""
        return {"event": self.kind.value, "t_mono": self.t_mono, "alert": self.alert.to_json()}


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertFiring(AlertEvent):
    """The condition held for ``for_s``: a new alert."""

    kind: ClassVar[AlertEventKind] = AlertEventKind.FIRING


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEscalated(AlertEvent):
    """Nobody acknowledged the alert in time; ``previous_severity`` is the level before."""

    kind: ClassVar[AlertEventKind] = AlertEventKind.ESCALATED
    previous_severity: Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAcknowledged(AlertEvent):
    """A person took the alert: escalation stops, the alert stays until resolved."""

    kind: ClassVar[AlertEventKind] = AlertEventKind.ACKNOWLEDGED


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertResolved(AlertEvent):
    """The condition cleared for ``clear_for_s`` (or the data came back for absence)."""

    kind: ClassVar[AlertEventKind] = AlertEventKind.RESOLVED


@dataclass(frozen=True, slots=True, kw_only=True)
class SinkFailed(Message):
    """A sink could not deliver an event after every retry; durable, never swallowed.

    ``source`` is the sink's name.
    """

    durable: ClassVar[bool] = True
    alert_id: int
    event: AlertEventKind
    attempts: int
    error: str
