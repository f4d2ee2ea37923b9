"""Commands as holds: fire alarm and demand response are floors, an override is exact."""

from __future__ import annotations

import pytest

from devices.ups.state import UpsReading, UpsStatus
from facility.supervisor import (
    Decision,
    ModeChanged,
    SetEntry,
    StoreMode,
    Supervisor,
    default_policy,
)


def ups(t: float, status: UpsStatus = UpsStatus.ON_LINE, runtime_s: float = 3600.0) -> UpsReading:
    return UpsReading(
        source="ups-1",
        t_mono=t,
        status=status,
        runtime_s=runtime_s,
        charge_pct=100.0,
        load_pct=40.0,
        output_power_w=4000.0,
    )


def run_until(sup: Supervisor, t_end: float) -> list[Decision]:
    """Fresh on-line UPS readings every second up to ``t_end`` (no rule holds)."""
    out: list[Decision] = []
    t = (sup.now or 0.0) + 1.0
    while t <= t_end:
        out += sup.feed(ups(t))
        t += 1.0
    return out


def modes(decisions: list[Decision]) -> list[StoreMode]:
    return [d.mode for d in decisions if isinstance(d, ModeChanged)]


def test_fire_alarm_closes_at_once_and_the_store_waits_out_closing_dwell_after_it() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    out = sup.hold("fire_alarm", StoreMode.CLOSING, 5.0, explanation="fire panel")
    changed = [d for d in out if isinstance(d, ModeChanged)]
    assert [c.mode for c in changed] == [StoreMode.CLOSING]
    assert changed[0].rule == "fire_alarm"
    assert any(isinstance(d, SetEntry) and d.locked for d in out)
    assert modes(sup.release("fire_alarm", 30.0)) == []  # closing dwells 600 s
    assert modes(run_until(sup, 5.0 + 599.0)) == []
    assert modes(run_until(sup, 5.0 + 600.0)) == [StoreMode.NORMAL]


def test_demand_response_holds_conserve_until_it_expires_then_dwell_applies() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    assert modes(sup.hold("demand_response", StoreMode.CONSERVE, 10.0, until_t=70.0)) == [
        StoreMode.CONSERVE
    ]
    assert sup.holds() == {"demand_response": StoreMode.CONSERVE}
    assert modes(run_until(sup, 69.0)) == []
    # Expired at 70 s, but conserve's minimum dwell (120 s from 10 s) still holds.
    assert modes(run_until(sup, 129.0)) == []
    assert sup.holds() == {}
    assert modes(run_until(sup, 130.0)) == [StoreMode.NORMAL]


def test_an_exact_override_steps_down_without_dwell_and_expires() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    sup.hold("demand_response", StoreMode.CONSERVE, 1.0, until_t=1000.0)
    # An operator overrides to degraded, then to normal: each is applied at once.
    assert modes(sup.hold("mode_override", StoreMode.DEGRADED, 2.0, exact=True)) == [
        StoreMode.DEGRADED
    ]
    # The demand-response floor (conserve) still applies under an exact override.
    assert modes(sup.hold("mode_override", StoreMode.NORMAL, 3.0, exact=True)) == [
        StoreMode.CONSERVE
    ]


def test_override_cannot_keep_the_store_open_on_a_dying_battery() -> None:
    sup = Supervisor(default_policy())
    sup.feed(ups(0.0))
    sup.hold("mode_override", StoreMode.NORMAL, 1.0, until_t=10_000.0, exact=True)
    out: list[Decision] = []
    t = 2.0
    runtime = 600.0
    while t < 400.0:  # on battery with a short, shrinking runtime
        out += sup.feed(ups(t, UpsStatus.ON_BATTERY, runtime_s=max(runtime - t, 1.0)))
        t += 1.0
    changed = [d for d in out if isinstance(d, ModeChanged)]
    assert changed, "the store must leave normal although an override asks for it"
    assert changed[0].mode.severity >= StoreMode.CLOSING.severity
    assert "overrides mode_override" in changed[0].explanation


def test_a_hold_that_ends_before_it_starts_is_refused() -> None:
    sup = Supervisor(default_policy())
    with pytest.raises(ValueError, match="not after"):
        sup.hold("demand_response", StoreMode.CONSERVE, 10.0, until_t=5.0)
