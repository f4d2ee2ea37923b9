"""A store closed on battery shuts down once empty and settled, and in no other case.

Readings are hand-built in event time. The UPS reports 900 s at 40 % load:
at closing's load that is about 1125 s, which no longer covers a 610 s visit
plus the 300 s shutdown reserve and margins, so the runtime budget closes the
store at the first on-battery poll, while the 300 s runtime floor stays far
off. Any shutdown below is therefore the empty-store rule's.
"""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from devices.health import Health, HealthChanged, HealthState
from devices.ups.state import UpsReading, UpsStatus
from facility.supervisor import (
    Decision,
    ModeChanged,
    OpenSession,
    Policy,
    ShutdownHost,
    StoreMode,
    StoreOccupancy,
    Supervisor,
    default_policy,
)
from facility.supervisor.rules import EmptyShutdownRule
from walkout.config.services import SupervisorSection
from walkout.facility_wiring import supervisor_policy

GRID_OUT_T = 1.0
SETTLEMENT_S = 10.0
GRACE_S = 60.0


def ups(t: float, *, on_battery: bool = True, runtime_s: float = 900.0) -> UpsReading:
    return UpsReading(
        source="ups-1",
        t_mono=t,
        status=UpsStatus.ON_BATTERY if on_battery else UpsStatus.ON_LINE,
        runtime_s=runtime_s,
        charge_pct=55.0,
        load_pct=40.0,
        output_power_w=4000.0,
        input_v=0.0 if on_battery else 230.0,
    )


def occupancy(t: float, *inside: str, settlement_s: float = SETTLEMENT_S) -> StoreOccupancy:
    return StoreOccupancy(
        source="checkout",
        t_mono=t,
        sessions=tuple(OpenSession(s, 300.0) for s in inside),
        settlement_s=settlement_s,
        typical_visit_s=600.0,
    )


def changes(decisions: list[Decision]) -> list[ModeChanged]:
    return [d for d in decisions if isinstance(d, ModeChanged)]


def closing_on_battery(policy: Policy | None = None, *inside: str) -> Supervisor:
    """On line at 0 s with ``inside`` in the store (default one shopper); grid out at 1 s."""
    sup = Supervisor(policy or default_policy())
    sup.feed(ups(0.0, on_battery=False))
    sup.feed(occupancy(0.0, *(inside or ("s1",))))
    first = changes(sup.feed(ups(GRID_OUT_T)))
    assert [(c.mode, c.rule) for c in first] == [(StoreMode.CLOSING, "runtime_budget")]
    return sup


def polls(
    sup: Supervisor, until_t: float, *, on_battery: bool = True, step_s: float = 1.0
) -> list[Decision]:
    """UPS polls every ``step_s`` from just after the supervisor's time up to ``until_t``."""
    out: list[Decision] = []
    t = (sup.now or 0.0) + step_s
    while t <= until_t:
        out += sup.feed(ups(t, on_battery=on_battery))
        t += step_s
    return out


def test_an_empty_settled_store_on_battery_shuts_down_after_the_grace() -> None:
    sup = closing_on_battery()
    polls(sup, 9.0)
    sup.feed(occupancy(10.0))  # the last shopper leaves at 10 s
    before = polls(sup, 10.0 + SETTLEMENT_S + GRACE_S - 1.0)
    assert changes(before) == []
    assert sup.mode is StoreMode.CLOSING
    out = polls(sup, 10.0 + SETTLEMENT_S + GRACE_S)
    [changed] = changes(out)
    assert changed.mode is StoreMode.SHUTDOWN
    assert changed.t_mono == 10.0 + SETTLEMENT_S + GRACE_S
    assert changed.rule == "empty_shutdown"
    assert changed.figure("empty_s") == SETTLEMENT_S + GRACE_S
    assert changed.figure("sessions") == 0
    assert changed.figure("charge_pct") == 55.0
    assert changed.figure("runtime_s") == 900.0
    assert changed.figure("closing_rule") == "runtime_budget"
    assert "empty for 70 s" in changed.explanation
    assert "charge 55 %, runtime 900 s" in changed.explanation
    assert [d.after_s for d in out if isinstance(d, ShutdownHost)] == [0.0]


def test_no_shutdown_while_a_session_is_open() -> None:
    sup = closing_on_battery(None, "s1", "s2")
    sup.feed(occupancy(10.0, "s2"))  # one of two has left
    out = polls(sup, 2000.0, step_s=5.0)
    assert changes(out) == []
    assert sup.mode is StoreMode.CLOSING
    assert "empty_shutdown" not in sup.held_rules()


def test_an_exited_session_counts_until_its_settlement_allowance_has_passed() -> None:
    slow_settlement_s = 120.0
    sup = closing_on_battery()
    sup.feed(occupancy(10.0, settlement_s=slow_settlement_s))
    # The grace alone would have passed at 70 s; the receipt is still settling then.
    assert changes(polls(sup, 10.0 + slow_settlement_s + GRACE_S - 1.0)) == []
    [changed] = changes(polls(sup, 10.0 + slow_settlement_s + GRACE_S))
    assert changed.mode is StoreMode.SHUTDOWN
    assert changed.figure("settlement_s") == slow_settlement_s


def test_an_entry_during_the_grace_restarts_it() -> None:
    sup = closing_on_battery()
    sup.feed(occupancy(10.0))
    polls(sup, 49.0)
    sup.feed(occupancy(50.0, "late-member"))  # a group member still inside comes through
    sup.feed(occupancy(60.0))
    assert changes(polls(sup, 60.0 + SETTLEMENT_S + GRACE_S - 1.0)) == []
    [changed] = changes(polls(sup, 60.0 + SETTLEMENT_S + GRACE_S))
    assert changed.mode is StoreMode.SHUTDOWN


def test_a_source_repeating_empty_does_not_restart_the_grace() -> None:
    sup = closing_on_battery()
    out: list[Decision] = []
    t = 10.0
    while t <= 10.0 + SETTLEMENT_S + GRACE_S:
        out += sup.feed(occupancy(t))  # a checkout republishing "nobody inside"
        out += sup.feed(ups(t))
        t += 5.0
    [changed] = changes(out)
    assert changed.mode is StoreMode.SHUTDOWN
    assert changed.t_mono == 10.0 + SETTLEMENT_S + GRACE_S


def test_no_shutdown_when_the_grid_returns_during_the_grace() -> None:
    sup = closing_on_battery()
    sup.feed(occupancy(10.0))
    polls(sup, 40.0)
    out = polls(sup, 3000.0, on_battery=False, step_s=5.0)
    assert StoreMode.SHUTDOWN not in [c.mode for c in changes(out)]
    assert sup.mode is StoreMode.NORMAL  # the store reopens once closing's dwell has passed


def test_no_shutdown_without_occupancy() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0, on_battery=False))
    assert [c.mode for c in changes(sup.feed(ups(GRID_OUT_T)))] == [StoreMode.CLOSING]
    assert changes(polls(sup, 2000.0, step_s=5.0)) == []
    assert sup.mode is StoreMode.CLOSING


def test_no_shutdown_while_the_occupancy_source_is_offline() -> None:
    sup = closing_on_battery()
    sup.feed(occupancy(10.0))
    polls(sup, 20.0)
    sup.feed(
        HealthChanged(source="health", t_mono=20.5, health=Health("checkout", HealthState.OFFLINE))
    )
    assert changes(polls(sup, 2000.0, step_s=5.0)) == []
    assert sup.mode is StoreMode.CLOSING


def test_emptiness_counts_anew_after_the_occupancy_source_was_offline() -> None:
    sup = closing_on_battery()
    sup.feed(occupancy(10.0))
    polls(sup, 20.0)
    for t, state in ((20.5, HealthState.OFFLINE), (21.5, HealthState.ONLINE)):
        sup.feed(HealthChanged(source="health", t_mono=t, health=Health("checkout", state)))
    # Back, but who came and went meanwhile is unknown until it says again.
    assert changes(polls(sup, 500.0, step_s=5.0)) == []
    sup.feed(occupancy(500.0))
    assert changes(polls(sup, 500.0 + SETTLEMENT_S + GRACE_S - 1.0)) == []
    [changed] = changes(polls(sup, 500.0 + SETTLEMENT_S + GRACE_S))
    assert changed.mode is StoreMode.SHUTDOWN


def test_the_rule_refuses_facts_with_someone_inside_or_the_source_offline() -> None:
    sup = closing_on_battery()
    polls(sup, 500.0)
    facts = sup.facts
    assert facts is not None
    assert facts.empty_since_t is None  # s1 is inside
    rule = EmptyShutdownRule()
    assert rule.evaluate(dataclasses.replace(facts, empty_since_t=0.0)) is None
    emptied = dataclasses.replace(facts, empty_since_t=0.0, occupancy=occupancy(0.0))
    finding = rule.evaluate(emptied)
    assert finding is not None
    assert finding.mode is StoreMode.SHUTDOWN
    assert rule.evaluate(dataclasses.replace(emptied, occupancy_offline=True)) is None


def test_no_shutdown_on_stale_occupancy_when_a_staleness_limit_is_set() -> None:
    policy = default_policy()
    rules = tuple(
        EmptyShutdownRule(occupancy_stale_s=30.0) if isinstance(r, EmptyShutdownRule) else r
        for r in policy.rules
    )
    sup = closing_on_battery(Policy(rules=rules))
    sup.feed(occupancy(10.0))  # and never again
    assert changes(polls(sup, 2000.0, step_s=5.0)) == []
    assert sup.mode is StoreMode.CLOSING


def test_no_shutdown_when_the_ups_falls_silent() -> None:
    sup = closing_on_battery()
    sup.feed(occupancy(10.0))
    # Nothing but time from 10 s: the UPS is stale from 41 s, before the grace ends.
    out: list[Decision] = []
    for t in range(11, 400):
        out += sup.tick(float(t))
    assert changes(out) == []
    assert "stale_ups" in sup.held_rules()


def test_disabled_by_policy() -> None:
    sup = closing_on_battery(default_policy().with_empty_shutdown(None))
    sup.feed(occupancy(10.0))
    assert changes(polls(sup, 2000.0, step_s=5.0)) == []
    assert sup.mode is StoreMode.CLOSING


def test_a_fire_alarm_with_grid_power_does_not_shut_an_empty_store_down() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0, on_battery=False))
    sup.feed(occupancy(0.0, "s1"))
    sup.hold("fire_alarm", StoreMode.CLOSING, 5.0, explanation="fire panel")
    sup.feed(occupancy(10.0))  # evacuated
    assert changes(polls(sup, 2000.0, on_battery=False, step_s=5.0)) == []
    assert sup.mode is StoreMode.CLOSING


def test_closing_held_only_by_people_does_not_shut_down_on_battery() -> None:
    """A fire alarm or operator closing with ample battery: the battery alone would not close."""
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0, on_battery=False, runtime_s=7200.0))
    sup.feed(occupancy(0.0, "s1"))
    sup.hold("mode_override", StoreMode.CLOSING, 1.0, until_t=5000.0, exact=True)
    sup.feed(occupancy(10.0))
    out: list[Decision] = []
    for t in range(11, 2000, 5):
        out += sup.feed(ups(float(t), runtime_s=7200.0))
    assert changes(out) == []
    assert sup.mode is StoreMode.CLOSING
    assert "runtime_budget" not in sup.held_rules()


def test_a_fire_alarm_does_not_keep_a_battery_closed_store_up() -> None:
    sup = closing_on_battery()
    sup.hold("fire_alarm", StoreMode.CLOSING, 2.0, explanation="fire panel")
    sup.feed(occupancy(10.0))
    [changed] = changes(polls(sup, 10.0 + SETTLEMENT_S + GRACE_S))
    assert (changed.mode, changed.rule) == (StoreMode.SHUTDOWN, "empty_shutdown")


def test_a_policy_refuses_a_closing_rule_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="closing_rules names rules the policy does not have"):
        Policy(rules=(EmptyShutdownRule(),))
    with pytest.raises(ValueError, match="grace_s must be >= 0"):
        EmptyShutdownRule(grace_s=-1.0)


def test_store_yaml_sets_or_removes_the_grace() -> None:
    def grace(section: SupervisorSection) -> float | None:
        rules = supervisor_policy(section, ("ups-1",)).rules
        found = [r.grace_s for r in rules if isinstance(r, EmptyShutdownRule)]
        assert len(found) <= 1
        return found[0] if found else None

    assert grace(SupervisorSection()) == 60.0
    assert grace(SupervisorSection.model_validate({"shutdown_when_empty_s": 15})) == 15.0
    assert grace(SupervisorSection.model_validate({"shutdown_when_empty_s": None})) is None
    with pytest.raises(ValidationError, match="shutdown_when_empty_s"):
        SupervisorSection.model_validate({"shutdown_when_empty_s": -1})
