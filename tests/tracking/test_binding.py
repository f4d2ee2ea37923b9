import pytest

from devices.gate.machine import Entered
from vision_core.inference.attribution import FloorSample, ShopperTrack
from vision_core.tracking.binding import (
    BindingError,
    BindingKind,
    BindingSettings,
    EntryGate,
    SessionBinder,
)

GATE = EntryGate("gate-in", (0.5, 0.5))
SETTINGS = BindingSettings(radius_m=1.5, window_s=4.0, lead_s=1.0)


def binder() -> SessionBinder:
    return SessionBinder([GATE, EntryGate("gate-2", (10.0, 0.5))], SETTINGS)


def entered(session: str, t: float, person: int = 1, size: int = 1, gate: str = "gate-in"):
    return Entered(
        source=gate,
        t_mono=t,
        session_id=session,
        credential="***",
        person=person,
        group_size=size,
    )


def track(track_id: str, t: float, at=(1.0, 1.0)) -> ShopperTrack:
    return ShopperTrack(track_id, None, [FloorSample(t, at)])


def test_track_at_the_gate_after_an_entry_gets_its_session_when_the_window_closes():
    b = binder()
    b.entered(entered("S1", 10.0))
    shopper = track("t1", 10.5)
    assert b.track_started(shopper) == "gate-in"
    assert b.advance(13.9) == ()  # window open until 14.0: a rival could still appear
    assert shopper.session_id is None
    (decision,) = b.advance(14.0)
    assert (decision.kind, decision.session_id, decision.track_ids) == (
        BindingKind.BOUND,
        "S1",
        ("t1",),
    )
    assert shopper.session_id == "S1"


def test_group_of_three_binds_three_tracks_to_one_session():
    b = binder()
    shoppers = [track("t1", 10.4), track("t2", 11.3), track("t3", 12.5, at=(0.2, 1.6))]
    for person, t in enumerate((10.0, 11.0, 12.0), start=1):
        b.entered(entered("G", t, person, 3))
    for s in shoppers:
        b.track_started(s)
    decisions = b.advance(16.0)
    assert [d.kind for d in decisions] == [BindingKind.BOUND] * 3
    assert [d.track_ids for d in decisions] == [("t1",), ("t2",), ("t3",)]
    assert {s.session_id for s in shoppers} == {"G"}


def test_two_sessions_back_to_back_bind_in_passing_order():
    b = binder()
    b.entered(entered("S1", 10.0))
    b.entered(entered("S2", 12.0))
    first, second = track("t1", 10.4), track("t2", 12.3)
    b.track_started(first)
    b.track_started(second)
    b.advance(20.0)
    assert (first.session_id, second.session_id) == ("S1", "S2")


def test_two_new_tracks_for_one_entry_are_ambiguous_and_neither_is_bound():
    b = binder()
    b.entered(entered("S1", 10.0))
    payer, tailgater = track("t1", 10.3), track("t2", 10.6)
    b.track_started(payer)
    b.track_started(tailgater)
    assert b.advance(14.9) == ()  # an entry sensed until 15.0 could still claim t2
    (decision,) = b.advance(15.0)
    assert decision.kind is BindingKind.AMBIGUOUS
    assert decision.session_id == "S1"
    assert decision.track_ids == ("t1", "t2")
    assert (payer.session_id, tailgater.session_id) == (None, None)
    assert b.advance(30.0) == ()  # decided once, not again as orphans
    resolved = b.resolve(payer, "S1")
    assert (resolved.kind, payer.session_id, resolved.track_ids) == (
        BindingKind.BOUND,
        "S1",
        ("t1",),
    )


def test_the_next_entry_sensed_just_after_the_window_still_claims_its_own_track():
    # S2's person is on camera at 13.9 and breaks the beam at 14.03, just past S1's window
    # (10.0 + 4.0): S1 has one track, not two
    b = binder()
    b.entered(entered("S1", 10.0))
    first, second = track("t1", 10.4), track("t2", 13.9)
    b.track_started(first)
    b.track_started(second)
    assert b.advance(14.02) == ()  # two tracks for one entry so far: wait for a late one
    b.entered(entered("S2", 14.03))
    decisions = b.advance(20.0)
    assert [(d.kind, d.session_id, d.track_ids) for d in decisions] == [
        (BindingKind.BOUND, "S1", ("t1",)),
        (BindingKind.BOUND, "S2", ("t2",)),
    ]


def test_a_tailgater_stays_ambiguous_when_the_next_session_comes_soon_after():
    # the next entry (14.5) can claim tracks from 13.5 on only: the tailgater at 10.6 is not its
    b = binder()
    b.entered(entered("S1", 10.0))
    for name, t in (("t1", 10.3), ("t2", 10.6), ("t3", 14.6)):
        b.track_started(track(name, t))
    b.entered(entered("S2", 14.5))
    first, second = b.advance(20.0)
    assert (first.kind, first.session_id, first.track_ids) == (
        BindingKind.AMBIGUOUS,
        "S1",
        ("t1", "t2"),
    )
    assert (second.kind, second.session_id, second.track_ids) == (BindingKind.BOUND, "S2", ("t3",))


def test_group_plus_tailgater_is_ambiguous_for_the_group():
    b = binder()
    b.entered(entered("G", 10.0, 1, 2))
    b.entered(entered("G", 11.0, 2, 2))
    for name, t in (("t1", 10.3), ("t2", 11.2), ("t3", 11.6)):
        b.track_started(track(name, t))
    (decision,) = b.advance(15.0)
    assert (decision.kind, decision.session_id) == (BindingKind.AMBIGUOUS, "G")
    assert decision.track_ids == ("t1", "t2", "t3")


def test_entry_with_no_track_and_track_with_no_entry_are_reported():
    b = binder()
    b.entered(entered("S1", 10.0))
    (missed,) = b.advance(14.0)
    assert (missed.kind, missed.session_id, missed.track_ids) == (BindingKind.NO_TRACK, "S1", ())
    stray = track("t9", 20.0)
    b.track_started(stray)
    assert b.advance(20.5) == ()  # an entry may still come (passage sensor later than camera)
    (orphan,) = b.advance(21.5)
    assert (orphan.kind, orphan.session_id, orphan.track_ids) == (
        BindingKind.NO_ENTRY,
        None,
        ("t9",),
    )
    assert stray.session_id is None


def test_track_far_from_every_gate_is_no_candidate():
    b = binder()
    b.entered(entered("S1", 10.0))
    assert b.track_started(track("t1", 10.5, at=(5.0, 5.0))) is None
    (decision,) = b.advance(14.0)
    assert decision.kind is BindingKind.NO_TRACK


def test_track_binds_to_its_own_gate_only():
    b = binder()
    b.entered(entered("S2", 10.0, gate="gate-2"))
    b.entered(entered("S1", 10.0))
    far = track("t2", 10.5, at=(10.2, 0.8))
    near = track("t1", 10.5)
    assert b.track_started(far) == "gate-2"
    assert b.track_started(near) == "gate-in"
    b.advance(14.0)
    assert (near.session_id, far.session_id) == ("S1", "S2")


def test_unknown_gate_and_empty_track_are_refused():
    b = binder()
    with pytest.raises(BindingError, match="gate-x"):
        b.entered(entered("S1", 1.0, gate="gate-x"))
    with pytest.raises(BindingError, match="no samples"):
        b.track_started(ShopperTrack("t", None))
