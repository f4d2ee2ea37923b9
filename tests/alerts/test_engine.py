from collections.abc import Iterable
from dataclasses import replace

import pytest

from devices.bus import Message
from devices.crac.messages import CracReading
from devices.ups.state import UpsReading, UpsStatus
from facility.alerts.defaults import default_rules
from facility.alerts.engine import AlertEngine, AlertNotFound
from facility.alerts.events import (
    AlertAcknowledged,
    AlertEscalated,
    AlertEvent,
    AlertFiring,
    AlertResolved,
    AlertState,
)
from facility.alerts.rules import (
    AbsenceRule,
    RateRule,
    Severity,
    StateRule,
    ThresholdRule,
)


def crac(t: float, supply: float | None, source: str = "crac1") -> CracReading:
    return CracReading(source=source, t_mono=t, supply_air_c=supply)


def ups(t: float, status: UpsStatus, source: str = "ups1", charge: float | None = 90) -> UpsReading:
    return UpsReading(source=source, t_mono=t, status=status, charge_pct=charge)


HOT = ThresholdRule(
    name="hot",
    message_type=CracReading,
    field="supply_air_c",
    above=27,
    clear=26,
    for_s=30,
    labels=(("area", "cooling"),),
    group_by=("area",),
)


def run(engine: AlertEngine, messages: Iterable[Message]) -> list[AlertEvent]:
    out: list[AlertEvent] = []
    for m in messages:
        out.extend(engine.feed(m))
    return out


def kinds(events: list[AlertEvent]) -> list[tuple[str, int, float]]:
    return [(e.kind.value, e.alert.id, e.t_mono) for e in events]


def test_for_duration_fires_at_due_time_not_at_first_breach() -> None:
    engine = AlertEngine([HOT])
    events = run(engine, [crac(0, 28), crac(10, 28), crac(20, 28)])
    assert events == []
    # The next reading comes at 40 s: the alert is due at 0 + 30 s.
    events = engine.feed(crac(40, 28))
    assert kinds(events) == [("firing", 1, 30.0)]
    alert = events[0].alert
    assert alert.started_mono == 0
    assert alert.value == 28
    assert alert.group_key == "area=cooling"


def test_breach_interrupted_before_for_s_fires_nothing() -> None:
    engine = AlertEngine([HOT])
    events = run(engine, [crac(0, 28), crac(20, 26.5), crac(25, 28), crac(50, 28)])
    assert events == []  # the band value at 20 s restarted the clock: due at 55 s
    assert kinds(engine.feed(crac(60, 28))) == [("firing", 1, 55.0)]


def test_unknown_value_neither_breaks_nor_starts() -> None:
    engine = AlertEngine([HOT])
    events = run(engine, [crac(0, 28), crac(10, None), crac(20, None), crac(31, None)])
    assert kinds(events) == [("firing", 1, 30.0)]


def test_hysteresis_edge_gives_one_alert() -> None:
    rule = ThresholdRule(
        name="hot", message_type=CracReading, field="supply_air_c", above=27, clear=26
    )
    engine = AlertEngine([rule])
    wobble = [crac(t, 27.2 if t % 2 == 0 else 26.8) for t in range(100)]
    events = run(engine, wobble)
    assert kinds(events) == [("firing", 1, 0.0)]
    events = engine.feed(crac(100, 25.9))
    assert kinds(events) == [("resolved", 1, 100.0)]
    assert events[0].alert.state is AlertState.RESOLVED


def test_without_hysteresis_the_same_wobble_flaps() -> None:
    # The counter-check to the test above: the clear threshold is what keeps it to one.
    rule = ThresholdRule(name="hot", message_type=CracReading, field="supply_air_c", above=27)
    engine = AlertEngine([rule])
    events = run(engine, [crac(t, 27.2 if t % 2 == 0 else 26.8) for t in range(10)])
    assert [e.kind.value for e in events].count("firing") == 5


def test_clear_for_s_holds_resolution() -> None:
    rule = StateRule(
        name="ob",
        message_type=UpsReading,
        field="status",
        values=frozenset({"on_battery"}),
        clear_for_s=10,
    )
    engine = AlertEngine([rule])
    events = run(
        engine,
        [
            ups(0, UpsStatus.ON_BATTERY),
            ups(2, UpsStatus.ON_LINE),
            ups(5, UpsStatus.ON_BATTERY),  # back on battery inside clear_for_s: same alert
            ups(6, UpsStatus.ON_LINE),
            ups(12, UpsStatus.ON_LINE),
        ],
    )
    assert kinds(events) == [("firing", 1, 0.0)]
    assert kinds(engine.tick(16)) == [("resolved", 1, 16.0)]


def test_dedup_one_alert_per_rule_and_source() -> None:
    rule = ThresholdRule(name="hot", message_type=CracReading, field="supply_air_c", above=27)
    engine = AlertEngine([rule])
    events = run(engine, [crac(t, 30) for t in range(5)] + [crac(5, 30, source="crac2")])
    assert [(e.alert.id, e.alert.source) for e in events] == [(1, "crac1"), (2, "crac2")]
    assert [a.id for a in engine.active()] == [1, 2]


def test_grouping_by_label() -> None:
    hot = ThresholdRule(
        name="hot", message_type=CracReading, field="supply_air_c", above=27,
        labels=(("area", "cooling"),), group_by=("area",),
    )  # fmt: skip
    ob = StateRule(
        name="ob", message_type=UpsReading, field="status", values=frozenset({"on_battery"}),
        labels=(("area", "power"),), group_by=("area",),
    )  # fmt: skip
    engine = AlertEngine([hot, ob])
    run(engine, [crac(0, 30), crac(0, 30, "crac2"), ups(1, UpsStatus.ON_BATTERY)])
    groups = engine.groups()
    assert sorted(groups) == ["area=cooling", "area=power"]
    assert [a.source for a in groups["area=cooling"]] == ["crac1", "crac2"]
    assert [a.source for a in groups["area=power"]] == ["ups1"]


def test_rate_rule() -> None:
    rule = RateRule(
        name="rising", message_type=CracReading, field="supply_air_c", per_min=1.0,
        clear_per_min=0.2, window_s=120, min_span_s=60,
    )  # fmt: skip
    engine = AlertEngine([rule])
    # 0.5 K per 10 s = 3 K/min, but nothing is judged before 60 s of samples.
    events = run(engine, [crac(t, 20 + t / 20) for t in range(0, 60, 10)])
    assert events == []
    events = engine.feed(crac(60, 23))
    assert kinds(events) == [("firing", 1, 60.0)]
    assert events[0].alert.value == pytest.approx(3.0)
    # Flat from now on: the 120 s window still holds the climb for a while.
    events = run(engine, [crac(t, 23) for t in range(70, 200, 10)])
    assert len(events) == 1
    assert events[0].kind.value == "resolved"
    # 2 minutes after the climb stopped the window is flat.
    assert events[0].t_mono <= 180


def test_rate_rule_falling() -> None:
    rule = RateRule(
        name="drain", message_type=UpsReading, field="charge_pct", per_min=5, rising=False,
        window_s=60,
    )  # fmt: skip
    engine = AlertEngine([rule])
    events = run(
        engine, [ups(t, UpsStatus.ON_BATTERY, charge=100 - t / 6) for t in range(0, 70, 10)]
    )
    assert [e.kind.value for e in events] == ["firing"]  # 10 %/min down


def test_absence_of_expected_and_of_seen_sources() -> None:
    rule = AbsenceRule(name="stale", message_type=UpsReading, after_s=60, expected=("ups1",))
    engine = AlertEngine([rule])
    assert engine.tick(0) == []
    engine.feed(ups(10, UpsStatus.ON_LINE, source="ups2"))
    events = engine.tick(65)
    assert [(e.kind.value, e.alert.source, e.t_mono) for e in events] == [("firing", "ups1", 60.0)]
    assert events[0].alert.value == 60.0
    events = engine.tick(100)
    assert [(e.kind.value, e.alert.source, e.t_mono) for e in events] == [("firing", "ups2", 70.0)]
    events = engine.feed(ups(101, UpsStatus.ON_LINE, source="ups1"))
    assert [(e.kind.value, e.alert.source) for e in events] == [("resolved", "ups1")]
    assert [a.source for a in engine.active()] == ["ups2"]


def test_escalation_until_acknowledged() -> None:
    rule = StateRule(
        name="ob", message_type=UpsReading, field="status", values=frozenset({"on_battery"}),
        severity=Severity.INFO, escalate_after_s=60, max_escalations=3,
    )  # fmt: skip
    engine = AlertEngine([rule])
    engine.feed(ups(0, UpsStatus.ON_BATTERY))
    events = engine.tick(130)
    assert [(e.kind.value, e.t_mono) for e in events] == [("escalated", 60.0), ("escalated", 120.0)]
    assert isinstance(events[0], AlertEscalated)
    assert events[0].previous_severity is Severity.INFO
    assert events[0].alert.severity is Severity.WARNING
    assert events[1].alert.severity is Severity.CRITICAL
    assert dict(events[1].alert.labels)["severity"] == "critical"
    ack = engine.acknowledge(1, "ops", 150)
    assert isinstance(ack, AlertAcknowledged)
    assert ack.alert.acked_by == "ops"
    assert engine.acknowledge(1, "someone else", 151) is None
    assert engine.tick(1000) == []  # no third escalation after the ack
    events = engine.feed(ups(1001, UpsStatus.ON_LINE))
    assert isinstance(events[0], AlertResolved)
    assert events[0].alert.acked_by == "ops"
    with pytest.raises(AlertNotFound):
        engine.acknowledge(1, "ops")


def test_new_alert_after_resolution_gets_a_new_id() -> None:
    rule = ThresholdRule(name="hot", message_type=CracReading, field="supply_air_c", above=27)
    engine = AlertEngine([rule], next_id=41)
    events = run(engine, [crac(0, 30), crac(1, 20), crac(2, 30)])
    assert kinds(events) == [("firing", 41, 0.0), ("resolved", 41, 1.0), ("firing", 42, 2.0)]


def test_replay_is_deterministic_whatever_the_tick_rate() -> None:
    msgs: list[Message] = []
    for t in range(0, 2000, 7):
        msgs.append(crac(t, 24 + 5 * ((t // 300) % 2) + (t % 3) * 0.4))
        if t % 400 < 200:
            msgs.append(ups(t + 0.5, UpsStatus.ON_BATTERY, charge=100 - t / 40))
    msgs.append(ups(2100, UpsStatus.ON_LINE))

    def replay(tick_every: float | None) -> list[tuple[str, int, str, float, str]]:
        engine = AlertEngine(default_rules())
        out: list[AlertEvent] = []
        next_tick = 0.0
        for m in msgs:
            while tick_every is not None and next_tick < m.t_mono:
                out.extend(engine.tick(next_tick))
                next_tick += tick_every
            out.extend(engine.feed(m))
        out.extend(engine.tick(3000))
        return [(e.kind.value, e.alert.id, e.alert.rule, e.t_mono, e.alert.severity) for e in out]

    first = replay(None)
    assert first == replay(None)
    assert first == replay(1.0)
    assert first == replay(13.0)
    assert {r for _, _, r, _, _ in first} >= {"crac_supply_air_high", "ups_on_battery"}


def test_restore_takes_alerts_back_and_resolves_those_of_removed_rules() -> None:
    engine = AlertEngine([HOT])
    fired = run(engine, [crac(0, 30), crac(40, 30)])
    assert isinstance(fired[0], AlertFiring)
    alert = fired[0].alert
    orphan = replace(alert, id=7, rule="gone")
    fresh = AlertEngine([HOT])
    events = fresh.restore([alert, orphan], t_mono=5)
    assert [(e.kind.value, e.alert.id) for e in events] == [("resolved", 7)]
    assert [a.id for a in fresh.active()] == [1]
    # Deduplicated against the restored alert, and the next id is past both.
    assert fresh.feed(crac(10, 30)) == []
    assert kinds(fresh.feed(crac(11, 20))) == [("resolved", 1, 11.0)]
    assert kinds(run(fresh, [crac(12, 30), crac(50, 30)])) == [("firing", 8, 42.0)]
