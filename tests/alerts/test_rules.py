import pytest

from devices.crac.messages import CracAlarm, CracReading
from devices.health import Health, HealthChanged, HealthState
from devices.ups.state import UpsReading, UpsStatus
from facility.alerts.defaults import DEFAULT_RULES, default_rules
from facility.alerts.rules import (
    RuleError,
    StateRule,
    ThresholdRule,
    Verdict,
    rule_from_dict,
    rules_from_list,
)


def test_defaults_load_and_have_unique_names() -> None:
    rules = default_rules()
    assert len(rules) == len(DEFAULT_RULES)
    assert len({r.name for r in rules}) == len(rules)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"field": "charge_pct"}, "exactly one of 'above' or 'below'"),
        ({"field": "charge_pct", "above": 1, "below": 2}, "exactly one"),
        ({"field": "charge", "below": 30}, "has no field 'charge'"),
        ({"field": "charge_pct", "below": 30, "clear": 20}, "clear 20 must be >= below 30"),
        ({"field": "charge_pct", "below": float("nan")}, "finite"),
        ({"field": "charge_pct", "below": 30, "for_s": -1}, "for_s must be >= 0"),
        ({"field": "charge_pct", "below": 30, "severity": "panic"}, "severity must be one of"),
        ({"field": "charge_pct", "below": 30, "labels": (("rule", "x"),)}, "set by the engine"),
    ],
)
def test_threshold_rule_refuses_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(RuleError, match=match):
        ThresholdRule(name="r", message_type=UpsReading, **kwargs)  # type: ignore[arg-type]


def test_nested_field_and_property_paths() -> None:
    rule = StateRule(
        name="off", message_type=HealthChanged, field="health.state", values=frozenset({"offline"})
    )
    msg = HealthChanged(source="ups1", t_mono=0, health=Health("ups1", HealthState.OFFLINE))
    assert rule.judge(msg) == (Verdict.BREACH, "offline")
    dt = ThresholdRule(name="dt", message_type=CracReading, field="delta_t_k", below=3)
    reading = CracReading(source="c", t_mono=0, supply_air_c=20, return_air_c=22)
    assert dt.judge(reading) == (Verdict.BREACH, 2.0)
    with pytest.raises(RuleError, match=r"has no field .health\.nope."):
        StateRule(name="x", message_type=HealthChanged, field="health.nope")


def test_state_rule_on_collections_and_enums() -> None:
    alarm = StateRule(name="a", message_type=CracAlarm, field="active")
    raised = CracAlarm(source="c", t_mono=0, raised=("hp",), cleared=(), active=("hp", "lp"))
    none = CracAlarm(source="c", t_mono=0, raised=(), cleared=("hp",), active=())
    assert alarm.judge(raised) == (Verdict.BREACH, "hp,lp")
    assert alarm.judge(none)[0] is Verdict.CLEAR
    ob = StateRule(
        name="ob", message_type=UpsReading, field="status", values=frozenset({"on_battery"})
    )
    assert ob.judge(UpsReading(source="u", t_mono=0, status=UpsStatus.ON_BATTERY))[0] is (
        Verdict.BREACH
    )
    assert ob.judge(UpsReading(source="u", t_mono=0, status=UpsStatus.ON_LINE))[0] is (
        Verdict.CLEAR
    )


def test_rule_from_dict_errors_name_the_rule() -> None:
    with pytest.raises(RuleError, match=r"'hot'.*kind must be one of"):
        rule_from_dict({"name": "hot", "kind": "magic"})
    with pytest.raises(RuleError, match=r"'hot'.*message must be one of"):
        rule_from_dict({"name": "hot", "kind": "threshold", "message": "Toaster"})
    with pytest.raises(RuleError, match=r"unknown keys \['abov'\]"):
        rule_from_dict(
            {"name": "hot", "kind": "threshold", "message": "CracReading", "field": "supply_air_c",
             "abov": 3}
        )  # fmt: skip
    with pytest.raises(RuleError, match="names repeat"):
        rules_from_list(
            [{"name": "a", "kind": "absence", "message": "UpsReading", "after_s": 5}] * 2
        )
