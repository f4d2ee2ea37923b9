"""The alert engine: rules over a time-ordered stream of bus messages.

Pure and synchronous, driven only by the messages' ``t_mono`` and by
``tick(t)``: the same messages (and ticks) always give the same alerts with
the same ids and times, so a recorded day replays through it faster than
real time, like ``devices.ups.grid``.

Timers (``for_s``, ``clear_for_s``, escalation, absence) fire at their *due*
time, not at the time the engine happens to notice them: an alert whose
``for_s`` ran out between two readings fires at ``started + for_s`` whatever
the tick rate, so replay at another cadence gives identical events.

Deduplication: at most one active alert per (rule, source); a breach while
one is active changes nothing. A new alert for the same pair needs the old
one resolved first.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from devices.bus import Message
from facility.alerts.events import (
    Alert,
    AlertAcknowledged,
    AlertEscalated,
    AlertEvent,
    AlertFiring,
    AlertResolved,
    AlertState,
)
from facility.alerts.rules import (
    AbsenceRule,
    AnyRule,
    RateRule,
    RuleError,
    StateRule,
    ThresholdRule,
    Verdict,
)

_LOGGER = logging.getLogger(__name__)


class AlertNotFound(LookupError):
    """No active alert has that id (unknown, or already resolved)."""


@dataclass
class _Track:
    """What the engine knows about one (rule, source) pair."""

    pending_since: float | None = None
    pending_value: float | str | None = None
    alert: Alert | None = None
    clear_since: float | None = None
    escalate_base: float = 0.0
    last_seen: float | None = None  # absence rules
    samples: deque[tuple[float, float]] = field(default_factory=deque)  # rate rules


class AlertEngine:
    """Turns messages into alert lifecycle events.

    ``next_id`` is the first alert id to hand out: pass the store's
    ``next_alert_id()`` so ids stay unique across restarts.
    """

    def __init__(self, rules: Sequence[AnyRule], *, next_id: int = 1) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise RuleError(f"alert rule names repeat: {sorted(names)}")
        self.rules: tuple[AnyRule, ...] = tuple(rules)
        self._by_name = {r.name: r for r in self.rules}
        self._tracks: dict[tuple[str, str], _Track] = {}
        self._next_id = next_id
        self._now: float | None = None

    @property
    def now(self) -> float | None:
        """Latest event time seen (message or tick); None before the first."""
        return self._now

    # --- input ------------------------------------------------------------------------

    def feed(self, message: Message) -> list[AlertEvent]:
        """Judge one message; returns the lifecycle events it (and due timers) caused."""
        t = self._clock(message.t_mono)
        events = self._advance(t)
        for rule in self.rules:
            if rule.applies_to(message):
                events.extend(self._judge(rule, message, t))
        return events

    def tick(self, t_mono: float) -> list[AlertEvent]:
        """Let event time pass without a message: timers due by ``t_mono`` fire."""
        return self._advance(self._clock(t_mono))

    def acknowledge(self, alert_id: int, by: str, t_mono: float | None = None) -> AlertEvent | None:
        """Mark an active alert as taken; stops its escalation.

        Returns None when it was already acknowledged (acknowledging twice is
        harmless); raises ``AlertNotFound`` for an unknown or resolved id.
        """
        t = self._clock(t_mono if t_mono is not None else (self._now or 0.0))
        for track in self._tracks.values():
            alert = track.alert
            if alert is not None and alert.id == alert_id:
                if alert.state is AlertState.ACKNOWLEDGED:
                    return None
                track.alert = replace(
                    alert, state=AlertState.ACKNOWLEDGED, acked_by=by, acked_mono=t
                )
                _LOGGER.info(
                    "alert %d (%s on %s) acknowledged by %s", alert_id, alert.rule, alert.source, by
                )
                return AlertAcknowledged(source=alert.source, t_mono=t, alert=track.alert)
        raise AlertNotFound(f"no active alert with id {alert_id}")

    def restore(self, alerts: Iterable[Alert], t_mono: float) -> list[AlertEvent]:
        """Take back the active alerts of a previous run (from the store).

        Escalation timers restart at ``t_mono``: the previous run's event
        times need not be on this run's clock. An alert whose rule no longer
        exists is resolved at once (the returned events), not left active
        for ever.
        """
        t = self._clock(t_mono)
        events: list[AlertEvent] = []
        for alert in alerts:
            self._next_id = max(self._next_id, alert.id + 1)
            if not alert.active:
                continue
            if alert.rule not in self._by_name:
                done = replace(alert, state=AlertState.RESOLVED, resolved_mono=t)
                events.append(AlertResolved(source=alert.source, t_mono=t, alert=done))
                continue
            track = self._track(alert.rule, alert.source)
            track.alert = alert
            track.escalate_base = t
            track.last_seen = t
        return events

    # --- queries ----------------------------------------------------------------------

    def active(self) -> list[Alert]:
        """Active alerts, by id."""
        return sorted((t.alert for t in self._tracks.values() if t.alert), key=lambda a: a.id)

    def groups(self) -> dict[str, list[Alert]]:
        """Active alerts by group key, for sinks that bundle notifications."""
        out: dict[str, list[Alert]] = {}
        for alert in self.active():
            out.setdefault(alert.group_key, []).append(alert)
        return out

    # --- internals --------------------------------------------------------------------

    def _clock(self, t: float) -> float:
        if self._now is not None and t < self._now:
            _LOGGER.debug(
                "event time went back from %.3f to %.3f; using %.3f", self._now, t, self._now
            )
            return self._now
        self._now = t
        return t

    def _track(self, rule: str, source: str) -> _Track:
        key = (rule, source)
        track = self._tracks.get(key)
        if track is None:
            track = self._tracks[key] = _Track()
        return track

    def _judge(self, rule: AnyRule, message: Message, t: float) -> list[AlertEvent]:
        track = self._track(rule.name, message.source)
        if isinstance(rule, AbsenceRule):
            track.last_seen = t
            if track.alert is not None:
                return [self._resolve(rule.name, message.source, track, t)]
            return []
        verdict: Verdict
        value: float | str | None
        if isinstance(rule, ThresholdRule | StateRule):
            verdict, value = rule.judge(message)
        else:
            verdict, value = self._rate(rule, track, message, t)
        return self._apply(rule, message.source, track, verdict, value, t)

    @staticmethod
    def _rate(
        rule: RateRule, track: _Track, message: Message, t: float
    ) -> tuple[Verdict, float | None]:
        value = rule.value(message)
        if value is None:
            return Verdict.UNKNOWN, None
        samples = track.samples
        samples.append((t, value))
        while samples and samples[0][0] < t - rule.window_s:
            samples.popleft()
        t0, v0 = samples[0]
        if t - t0 < rule.span_s:
            return Verdict.UNKNOWN, None
        rate = (value - v0) / (t - t0) * 60.0
        return rule.judge_rate(rate), rate

    def _apply(
        self,
        rule: AnyRule,
        source: str,
        track: _Track,
        verdict: Verdict,
        value: float | str | None,
        t: float,
    ) -> list[AlertEvent]:
        if verdict is Verdict.UNKNOWN:
            return []
        if verdict is Verdict.BREACH:
            track.clear_since = None
            if track.alert is not None:
                return []
            if track.pending_since is None:
                track.pending_since, track.pending_value = t, value
            if t - track.pending_since >= rule.for_s:
                return [self._fire(rule, source, track, t)]
            return []
        track.pending_since = None
        if verdict is Verdict.BAND or track.alert is None:
            track.clear_since = None
            return []
        if track.clear_since is None:
            track.clear_since = t
        if t - track.clear_since >= rule.clear_for_s:
            return [self._resolve(rule.name, source, track, t)]
        return []

    def _fire(self, rule: AnyRule, source: str, track: _Track, t: float) -> AlertEvent:
        started = track.pending_since if track.pending_since is not None else t
        labels = tuple(sorted(rule.label_map(source, rule.severity).items()))
        alert = Alert(
            id=self._next_id,
            rule=rule.name,
            source=source,
            severity=rule.severity,
            summary=rule.summary or rule.name,
            labels=labels,
            group_key=rule.group_key(source),
            started_mono=started,
            fired_mono=t,
            value=track.pending_value,
        )
        self._next_id += 1
        track.alert, track.pending_since, track.clear_since = alert, None, None
        track.escalate_base = t
        _LOGGER.warning("alert %d firing: %s on %s (%s)", alert.id, rule.name, source, alert.value)
        return AlertFiring(source=source, t_mono=t, alert=alert)

    def _resolve(self, rule: str, source: str, track: _Track, t: float) -> AlertEvent:
        assert track.alert is not None
        alert = replace(track.alert, state=AlertState.RESOLVED, resolved_mono=t)
        track.alert, track.clear_since, track.pending_since = None, None, None
        _LOGGER.info("alert %d resolved: %s on %s", alert.id, rule, source)
        return AlertResolved(source=source, t_mono=t, alert=alert)

    def _escalate(self, rule: AnyRule, track: _Track, t: float) -> AlertEvent:
        assert track.alert is not None
        before = track.alert.severity
        after = before.escalated()
        labels = tuple(sorted({**dict(track.alert.labels), "severity": after.value}.items()))
        track.alert = replace(
            track.alert, severity=after, labels=labels, escalations=track.alert.escalations + 1
        )
        _LOGGER.warning(
            "alert %d escalated to %s: %s on %s, not acknowledged",
            track.alert.id,
            after,
            rule.name,
            track.alert.source,
        )
        return AlertEscalated(
            source=track.alert.source, t_mono=t, alert=track.alert, previous_severity=before
        )

    def _due(self, rule: AnyRule, track: _Track) -> tuple[float, str] | None:
        """The earliest timer of this track and what it does, if any."""
        candidates: list[tuple[float, str]] = []
        if isinstance(rule, AbsenceRule):
            if track.alert is None and track.last_seen is not None:
                candidates.append((track.last_seen + rule.after_s + rule.for_s, "absent"))
        else:
            if track.alert is None and track.pending_since is not None:
                candidates.append((track.pending_since + rule.for_s, "fire"))
            if track.alert is not None and track.clear_since is not None:
                candidates.append((track.clear_since + rule.clear_for_s, "resolve"))
        alert = track.alert
        if (
            alert is not None
            and alert.state is AlertState.FIRING
            and rule.escalate_after_s is not None
            and alert.escalations < rule.max_escalations
        ):
            due = track.escalate_base + rule.escalate_after_s * (alert.escalations + 1)
            candidates.append((due, "escalate"))
        return min(candidates) if candidates else None

    def _advance(self, t: float) -> list[AlertEvent]:
        """Run every timer due by ``t``, in due-time order (ties by rule order, then source)."""
        self._seed_expected(t)
        events: list[AlertEvent] = []
        order = {r.name: i for i, r in enumerate(self.rules)}
        while True:
            best: tuple[float, int, str, str, str] | None = None
            for (name, source), track in self._tracks.items():
                rule = self._by_name[name]
                due = self._due(rule, track)
                if due is not None and due[0] <= t:
                    cand = (due[0], order[name], source, due[1], name)
                    if best is None or cand < best:
                        best = cand
            if best is None:
                return events
            when, _, source, what, name = best
            rule = self._by_name[name]
            track = self._tracks[(name, source)]
            if what == "fire":
                events.append(self._fire(rule, source, track, when))
            elif what == "resolve":
                events.append(self._resolve(name, source, track, when))
            elif what == "escalate":
                events.append(self._escalate(rule, track, when))
            else:  # absent
                assert track.last_seen is not None
                track.pending_since, track.pending_value = track.last_seen, when - track.last_seen
                events.append(self._fire(rule, source, track, when))

    def _seed_expected(self, t: float) -> None:
        """Start the silence clock of expected sources at the first event time seen."""
        for rule in self.rules:
            if isinstance(rule, AbsenceRule):
                for source in rule.expected:
                    track = self._track(rule.name, source)
                    if track.last_seen is None and track.alert is None:
                        track.last_seen = t
