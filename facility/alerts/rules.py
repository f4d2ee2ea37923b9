"""Alert rules as plain, validated data.

A rule looks at one bus message type and judges each message of it as a
``Verdict``: the condition holds (BREACH), is clearly gone (CLEAR), sits in
the hysteresis band between the two (BAND), or cannot be judged because the
device did not report the value (UNKNOWN: neither starts, ends nor breaks an
alert, like ``devices.ups.grid``). Timing (``for_s``, ``clear_for_s``,
escalation) is applied by the engine, identically for every rule type.

Fields are named by attribute path on the message (``charge_pct``,
``health.state``, ``delta_t_k``); a path that the message type does not have
is refused when the rule is built, not when the first reading arrives.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devices.bus import Message
from devices.crac.messages import CracAlarm, CracReading
from devices.gpu.reading import GpuReading
from devices.health import Health, HealthChanged
from devices.ups.state import GridEvent, UpsReading, UpsTrap
from facility.actuation.outcome import ActionOutcome

# Message types rules may name by their class name (rule files, store.yaml).
MESSAGE_TYPES: dict[str, type[Message]] = {
    t.__name__: t
    for t in (
        UpsReading,
        GridEvent,
        UpsTrap,
        CracReading,
        CracAlarm,
        GpuReading,
        HealthChanged,
        ActionOutcome,
    )
}


_NAME = re.compile(r"[A-Za-z0-9_.-]+")


class Severity(enum.StrEnum):
    """How urgent an alert is; ``escalated`` gives the next level up."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 2 for critical: for "at least warning" queries."""
        return _SEVERITY_ORDER.index(self)

    def escalated(self) -> Severity:
        """One level up, critical stays critical."""
        return _SEVERITY_ORDER[min(self.rank + 1, len(_SEVERITY_ORDER) - 1)]


_SEVERITY_ORDER = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)


class Verdict(enum.Enum):
    """What one message says about a rule's condition."""

    BREACH = "breach"
    BAND = "band"  # between the trigger and the clear threshold: an alert stays as it is
    CLEAR = "clear"
    UNKNOWN = "unknown"  # value not reported: changes nothing


class RuleError(ValueError):
    """A rule is malformed; the message names the rule and the field."""


def _fail(rule: str, what: str) -> RuleError:
    return RuleError(f"alert rule {rule!r}: {what}")


def _finite(rule: str, name: str, value: float | None, *, positive: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(rule, f"{name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise _fail(rule, f"{name} must be > 0, got {value!r}")
    if value < 0:
        raise _fail(rule, f"{name} must be >= 0, got {value!r}")


def _check_path(rule: str, message_type: type[Message], path: str) -> None:
    """Refuse a field path the message type does not have (dataclass fields and properties)."""
    owner: Any = message_type
    for part in path.split("."):
        is_dc = dataclasses.is_dataclass(owner)
        names = {f.name for f in dataclasses.fields(owner)} if is_dc else set()
        if part in names:
            hint = {f.name: f.type for f in dataclasses.fields(owner)}[part]
            # Nested dataclass fields we know of: HealthChanged.health is a Health.
            owner = Health if hint in ("Health", Health) else None
            continue
        if owner is not None and isinstance(getattr(owner, part, None), property):
            owner = None
            continue
        known = ", ".join(sorted(names)) or "(not a dataclass)"
        raise _fail(rule, f"{message_type.__name__} has no field {path!r} (known: {known})")


def read_path(message: Message, path: str) -> Any:
    """The value at ``path`` on ``message``; None when an intermediate value is None."""
    value: Any = message
    for part in path.split("."):
        if value is None:
            return None
        value = getattr(value, part)
    return value


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def state_text(value: Any) -> str:
    """How a state value is compared: enums by value, booleans as ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """What every rule has.

    ``for_s``: the condition must hold this long (event time) before the
    alert fires; ``clear_for_s``: it must stay clear this long before the
    alert resolves (hysteresis in time, against a flapping state).
    ``escalate_after_s``: an alert not acknowledged this long is escalated
    (severity one level up), again every ``escalate_after_s`` up to
    ``max_escalations`` times. ``labels`` travel with the alert;
    ``group_by`` names the labels whose values form the alert's group key
    (``rule`` and ``source`` are labels too), so a sink can bundle, say, every
    cooling alert of the room into one notification.
    """

    name: str
    message_type: type[Message]
    severity: Severity = Severity.WARNING
    summary: str = ""
    sources: str = "*"  # fnmatch pattern on message.source
    for_s: float = 0.0
    clear_for_s: float = 0.0
    escalate_after_s: float | None = None
    max_escalations: int = 1
    labels: tuple[tuple[str, str], ...] = ()
    group_by: tuple[str, ...] = ("rule",)

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name or ""):
            raise _fail(self.name, "name must be non-empty letters, digits, '_', '-' or '.'")
        if not (isinstance(self.message_type, type) and issubclass(self.message_type, Message)):
            raise _fail(self.name, f"message_type must be a Message type: {self.message_type!r}")
        try:
            object.__setattr__(self, "severity", Severity(self.severity))
        except ValueError:
            raise _fail(
                self.name,
                f"severity must be one of {[s.value for s in Severity]}, got {self.severity!r}",
            ) from None
        _finite(self.name, "for_s", self.for_s)
        _finite(self.name, "clear_for_s", self.clear_for_s)
        _finite(self.name, "escalate_after_s", self.escalate_after_s, positive=True)
        if self.max_escalations < 0:
            raise _fail(self.name, f"max_escalations must be >= 0, got {self.max_escalations}")
        keys = [k for k, _ in self.labels]
        if len(keys) != len(set(keys)):
            raise _fail(self.name, f"labels repeat a key: {keys}")
        if "rule" in keys or "source" in keys or "severity" in keys:
            raise _fail(self.name, "labels 'rule', 'source' and 'severity' are set by the engine")
        if not self.group_by:
            raise _fail(self.name, "group_by needs at least one label name")

    def applies_to(self, message: Message) -> bool:
        """Whether this rule judges ``message`` (type and source pattern)."""
        return isinstance(message, self.message_type) and fnmatch.fnmatchcase(
            message.source, self.sources
        )

    def label_map(self, source: str, severity: Severity) -> dict[str, str]:
        """The alert's labels: the rule's own plus rule, source and severity."""
        return {**dict(self.labels), "rule": self.name, "source": source, "severity": severity}

    def group_key(self, source: str) -> str:
        """Equal for alerts that belong in one notification group."""
        labels = self.label_map(source, self.severity)
        return ",".join(f"{k}={labels.get(k, '')}" for k in self.group_by)


@dataclass(frozen=True, slots=True, kw_only=True)
class ThresholdRule(Rule):
    """A numeric field above or below a threshold, with a separate clear threshold.

    With ``above=27`` and ``clear=26`` the alert starts when the value
    exceeds 27 and ends only at 26 or lower: a value wobbling around 27 gives
    one alert, not one per reading. ``clear`` defaults to the threshold itself
    (no hysteresis). A value between the two thresholds cancels a pending
    (not yet fired) alert but keeps a firing one.
    """

    field: str
    above: float | None = None
    below: float | None = None
    clear: float | None = None

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        _check_path(self.name, self.message_type, self.field)
        if (self.above is None) == (self.below is None):
            raise _fail(self.name, "give exactly one of 'above' or 'below'")
        for name in ("above", "below", "clear"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise _fail(self.name, f"{name} must be a finite number, got {value!r}")
        if self.clear is not None:
            if self.above is not None and self.clear > self.above:
                raise _fail(self.name, f"clear {self.clear} must be <= above {self.above}")
            if self.below is not None and self.clear < self.below:
                raise _fail(self.name, f"clear {self.clear} must be >= below {self.below}")

    def judge(self, message: Message) -> tuple[Verdict, float | None]:
        """Verdict on one message, and the value it was judged on."""
        value = _number(read_path(message, self.field))
        if value is None:
            return Verdict.UNKNOWN, None
        if self.above is not None:
            clear = self.above if self.clear is None else self.clear
            if value > self.above:
                return Verdict.BREACH, value
            return (Verdict.CLEAR if value <= clear else Verdict.BAND), value
        assert self.below is not None
        clear = self.below if self.clear is None else self.clear
        if value < self.below:
            return Verdict.BREACH, value
        return (Verdict.CLEAR if value >= clear else Verdict.BAND), value


@dataclass(frozen=True, slots=True, kw_only=True)
class RateRule(Rule):
    """A numeric field changing faster than ``per_min`` (units per minute).

    The rate is the change between the oldest and newest sample within the
    last ``window_s`` seconds of event time, judged once the samples span at
    least ``min_span_s`` (default half the window: two readings a second apart
    say little about a room's trend). ``rising=True`` looks for increases,
    False for decreases. ``clear_per_min`` is the hysteresis (default
    ``per_min``).
    """

    field: str
    per_min: float
    rising: bool = True
    window_s: float = 300.0
    min_span_s: float | None = None
    clear_per_min: float | None = None

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        _check_path(self.name, self.message_type, self.field)
        _finite(self.name, "per_min", self.per_min, positive=True)
        _finite(self.name, "window_s", self.window_s, positive=True)
        _finite(self.name, "min_span_s", self.min_span_s, positive=True)
        _finite(self.name, "clear_per_min", self.clear_per_min)
        if self.min_span_s is not None and self.min_span_s > self.window_s:
            raise _fail(self.name, "min_span_s must be <= window_s")
        if self.clear_per_min is not None and self.clear_per_min > self.per_min:
            raise _fail(self.name, "clear_per_min must be <= per_min")

    @property
    def span_s(self) -> float:
        """The shortest span of samples a rate is computed over."""
        return self.window_s / 2 if self.min_span_s is None else self.min_span_s

    def judge_rate(self, rate_per_min: float | None) -> Verdict:
        """Verdict on a rate (signed, units per minute)."""
        if rate_per_min is None:
            return Verdict.UNKNOWN
        speed = rate_per_min if self.rising else -rate_per_min
        clear = self.per_min if self.clear_per_min is None else self.clear_per_min
        if speed > self.per_min:
            return Verdict.BREACH
        return Verdict.CLEAR if speed <= clear else Verdict.BAND

    def value(self, message: Message) -> float | None:
        """The sampled number, None when not reported."""
        return _number(read_path(message, self.field))


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsenceRule(Rule):
    """No message of the type from a source for ``after_s`` seconds: data is stale.

    ``expected`` names sources that must report from the start (a UPS that
    never says anything is absent too); any other source matching
    ``sources`` is watched from its first message on. Judged on message times
    and on ``AlertEngine.tick``. ``for_s`` adds to ``after_s``.
    """

    after_s: float
    expected: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        _finite(self.name, "after_s", self.after_s, positive=True)
        if len(set(self.expected)) != len(self.expected):
            raise _fail(self.name, f"expected repeats a source: {self.expected}")


@dataclass(frozen=True, slots=True, kw_only=True)
class StateRule(Rule):
    """A field in one of ``values`` (``UpsReading.status in {on_battery, low_battery}``).

    Values are compared as text: enums by value, booleans as ``true`` and
    ``false``. A collection field (``CracAlarm.active``, ``UpsReading.alarms``)
    breaches when it holds any of ``values``, or, with ``values`` empty, when
    it is not empty.
    """

    field: str
    values: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        Rule.__post_init__(self)
        _check_path(self.name, self.message_type, self.field)
        object.__setattr__(self, "values", frozenset(str(v) for v in self.values))

    def judge(self, message: Message) -> tuple[Verdict, str | None]:
        """Verdict on one message, and the state text it was judged on."""
        value = read_path(message, self.field)
        if value is None:
            return Verdict.UNKNOWN, None
        if isinstance(value, tuple | list | frozenset | set):
            items = sorted(state_text(v) for v in value)
            text = ",".join(items)
            hit = bool(items) if not self.values else not self.values.isdisjoint(items)
            return (Verdict.BREACH if hit else Verdict.CLEAR), text
        text = state_text(value)
        if not self.values:
            return (Verdict.BREACH if value else Verdict.CLEAR), text
        return (Verdict.BREACH if text in self.values else Verdict.CLEAR), text


AnyRule = ThresholdRule | RateRule | AbsenceRule | StateRule

_KINDS: dict[str, type[Rule]] = {
    "threshold": ThresholdRule,
    "rate": RateRule,
    "absence": AbsenceRule,
    "state": StateRule,
}


def rule_from_dict(data: Mapping[str, Any]) -> AnyRule:
    """Build one rule from plain data (a rules YAML entry): ``kind`` picks the type.

    ``message`` is a class name from ``MESSAGE_TYPES``; ``labels`` a mapping;
    ``values``/``group_by``/``expected`` lists.
    """
    raw = dict(data)
    name = str(raw.get("name", "?"))
    kind = raw.pop("kind", None)
    if kind not in _KINDS:
        raise _fail(name, f"kind must be one of {sorted(_KINDS)}, got {kind!r}")
    type_name = raw.pop("message", None)
    if type_name not in MESSAGE_TYPES:
        raise _fail(name, f"message must be one of {sorted(MESSAGE_TYPES)}, got {type_name!r}")
    raw["message_type"] = MESSAGE_TYPES[type_name]
    if "labels" in raw:
        labels = raw["labels"]
        if not isinstance(labels, Mapping):
            raise _fail(name, "labels must be a mapping of label name to value")
        raw["labels"] = tuple(sorted((str(k), str(v)) for k, v in labels.items()))
    for key, conv in (("values", frozenset), ("group_by", tuple), ("expected", tuple)):
        if key in raw:
            if isinstance(raw[key], str) or not isinstance(raw[key], list | tuple | set):
                raise _fail(name, f"{key} must be a list")
            raw[key] = conv(str(v) for v in raw[key])
    cls = _KINDS[kind]
    allowed = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _fail(name, f"unknown keys {unknown} for kind {kind!r}")
    try:
        rule = cls(**raw)
    except TypeError as exc:  # a required key is missing
        raise _fail(name, str(exc)) from None
    assert isinstance(rule, ThresholdRule | RateRule | AbsenceRule | StateRule)
    return rule


def rules_from_list(data: Any) -> tuple[AnyRule, ...]:
    """Build a rule set; names must be unique (they key the alerts)."""
    if not isinstance(data, list):
        raise RuleError(f"alert rules must be a list, got {type(data).__name__}")
    rules = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise RuleError(f"alert rule #{index} must be a mapping, got {type(item).__name__}")
        rules.append(rule_from_dict(item))
    names = [r.name for r in rules]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RuleError(f"alert rule names repeat: {dupes}")
    return tuple(rules)


__all__ = [
    "MESSAGE_TYPES",
    "AbsenceRule",
    "AnyRule",
    "RateRule",
    "Rule",
    "RuleError",
    "Severity",
    "StateRule",
    "ThresholdRule",
    "Verdict",
    "read_path",
    "rule_from_dict",
    "rules_from_list",
    "state_text",
]
