"""The default ``action_failed`` alert rule on ActionOutcome messages, through the engine."""

from __future__ import annotations

from facility.actuation import ActionOutcome
from facility.alerts.defaults import default_rules
from facility.alerts.engine import AlertEngine
from facility.alerts.events import AlertFiring, AlertResolved
from facility.alerts.rules import Severity, rule_from_dict
from facility.supervisor import StoreMode


def outcome(kind: str, ok: bool, t: float) -> ActionOutcome:
    return ActionOutcome(
        source=f"actuation.{kind}",
        t_mono=t,
        kind=kind,
        mode=StoreMode.CLOSING,
        ok=ok,
        detail="gpu1: no permission" if not ok else "done",
        duration_s=0.01,
    )


def test_failed_action_fires_and_the_next_success_of_that_kind_resolves() -> None:
    engine = AlertEngine(default_rules())
    assert engine.feed(outcome("cap_gpus", True, 1.0)) == []
    fired = engine.feed(outcome("cap_gpus", False, 2.0))
    assert len(fired) == 1
    assert isinstance(fired[0], AlertFiring)
    alert = fired[0].alert
    assert (alert.rule, alert.source, alert.severity) == (
        "action_failed",
        "actuation.cap_gpus",
        Severity.WARNING,
    )
    assert alert.value == "false"
    # Another kind succeeding does not resolve it; a second failure does not repeat it.
    assert engine.feed(outcome("set_screens", True, 3.0)) == []
    assert engine.feed(outcome("cap_gpus", False, 4.0)) == []
    resolved = engine.feed(outcome("cap_gpus", True, 5.0))
    assert [type(e) for e in resolved] == [AlertResolved]


def test_unacknowledged_failure_escalates_to_critical() -> None:
    engine = AlertEngine(default_rules())
    engine.feed(outcome("set_entry", False, 10.0))
    events = engine.tick(10.0 + 120.0)
    assert [e.alert.severity for e in events] == [Severity.CRITICAL]


def test_the_rule_can_be_written_in_a_rules_file() -> None:
    rule = rule_from_dict(
        {
            "kind": "state",
            "name": "x",
            "message": "ActionOutcome",
            "field": "ok",
            "values": ["false"],
        }
    )
    assert rule.message_type is ActionOutcome
