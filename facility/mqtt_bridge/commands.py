"""Commands from building systems: parsing, the sender allow-list, and the bus messages.

A command is a JSON object published on ``<base>/<store>/cmd/<name>``::

    {"from": "bms", "correlation_id": "c-17", "minutes": 30}

Authentication has two gates. The broker's credentials and ACLs decide who
may publish on the command topics at all (give each building system its own
broker user). The bridge then checks the payload's ``from`` against the
``senders`` allow-list (sender -> command names). The payload field was
chosen over MQTT v5 user properties because many building gateways still
speak MQTT 3.1.1 and the sender must show in every logged command; since the
field is claimed by the publisher, it is only as strong as the broker ACL
that keeps other users off the command topics.

The correlation id comes from the payload's ``correlation_id`` or, failing
that, from MQTT v5 Correlation Data; it is echoed in the reply. A command
that fails any check is answered with ``ok: false`` and changes nothing; a
good one becomes a durable bus message for the supervisor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from devices.bus import Message

StoreModeName = Literal["normal", "conserve", "degraded", "closing", "shutdown"]


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    sender: Annotated[str, Field(alias="from", min_length=1, max_length=64)]
    correlation_id: Annotated[str | None, Field(max_length=128)] = None


class FireAlarmPayload(_Command):
    """The building's fire panel: ``active`` false clears the alarm."""

    active: bool = True


class DemandResponsePayload(_Command):
    """The grid operator asks for less load for ``minutes``."""

    minutes: Annotated[int, Field(ge=1, le=24 * 60)]


class ModeOverridePayload(_Command):
    """Hold the store in ``mode`` for ``minutes``."""

    mode: StoreModeName
    minutes: Annotated[int, Field(ge=1, le=24 * 60)]


class AlertAckPayload(_Command):
    """An operator acknowledged alert ``id``."""

    id: Annotated[str, Field(min_length=1, max_length=128)]


PAYLOADS: dict[str, type[_Command]] = {
    "fire_alarm": FireAlarmPayload,
    "demand_response": DemandResponsePayload,
    "mode_override": ModeOverridePayload,
    "alert_ack": AlertAckPayload,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandMessage(Message):
    """A command accepted from a building system; ``source`` is ``mqtt:<sender>``.

    Durable: a fire alarm must never be dropped by a full queue.
    """

    durable: ClassVar[bool] = True
    sender: str
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FireAlarmCommand(CommandMessage):
    """Fire alarm raised (``active``) or cleared: exits fail open while it is active."""

    active: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DemandResponseCommand(CommandMessage):
    """Shed load for ``minutes`` (a conserve request, not an order to close)."""

    minutes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeOverrideCommand(CommandMessage):
    """Hold the store in ``mode`` for ``minutes``."""

    mode: str
    minutes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertAckCommand(CommandMessage):
    """Alert ``alert_id`` was acknowledged by ``sender``."""

    alert_id: str


class CommandRejected(Exception):
    """A command that must change nothing; ``correlation_id`` if it could be read."""

    def __init__(self, reason: str, correlation_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.correlation_id = correlation_id


def _correlation_of(raw: object, fallback: str | None) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("correlation_id")
        if isinstance(value, str):
            return value[:128]
    return fallback


def parse_command(
    name: str,
    payload: bytes,
    *,
    senders: dict[str, list[str]],
    max_bytes: int,
    t_mono: float,
    correlation_data: str | None = None,
    retained: bool = False,
) -> CommandMessage:
    """Validate and authorise one command; raises :class:`CommandRejected` with the reason."""
    if len(payload) > max_bytes:
        raise CommandRejected(
            f"payload of {len(payload)} bytes is over the limit of {max_bytes}", correlation_data
        )
    try:
        raw = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandRejected(f"payload is not JSON: {exc}", correlation_data) from None
    correlation_id = _correlation_of(raw, correlation_data)
    if retained:
        # A retained command would run again on every reconnect: never act on one.
        raise CommandRejected("retained commands are refused", correlation_id)
    model = PAYLOADS.get(name)
    if model is None:
        raise CommandRejected(
            f"unknown command {name!r} (known: {', '.join(sorted(PAYLOADS))})", correlation_id
        )
    try:
        parsed = model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CommandRejected(f"invalid {name}: {problems}", correlation_id) from None
    correlation_id = parsed.correlation_id or correlation_data
    if name not in senders.get(parsed.sender, ()):
        raise CommandRejected(
            f"sender {parsed.sender!r} is not allowed to send {name!r}", correlation_id
        )
    return _to_message(parsed, t_mono, correlation_id)


def _to_message(parsed: _Command, t_mono: float, cid: str | None) -> CommandMessage:
    source, sender = f"mqtt:{parsed.sender}", parsed.sender
    if isinstance(parsed, FireAlarmPayload):
        return FireAlarmCommand(
            source=source, t_mono=t_mono, sender=sender, correlation_id=cid, active=parsed.active
        )
    if isinstance(parsed, DemandResponsePayload):
        return DemandResponseCommand(
            source=source, t_mono=t_mono, sender=sender, correlation_id=cid, minutes=parsed.minutes
        )
    if isinstance(parsed, ModeOverridePayload):
        return ModeOverrideCommand(
            source=source,
            t_mono=t_mono,
            sender=sender,
            correlation_id=cid,
            mode=parsed.mode,
            minutes=parsed.minutes,
        )
    assert isinstance(parsed, AlertAckPayload)
    return AlertAckCommand(
        source=source, t_mono=t_mono, sender=sender, correlation_id=cid, alert_id=parsed.id
    )
