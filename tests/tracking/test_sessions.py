"""Track sessions on hand-made samples: entry binding, id-switch continuation, exit binding."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest

from devices.bus import Message
from devices.gate.machine import Entered, Exited
from vision_core.checkout.messages import TrackSample
from vision_core.inference.attribution import FloorSample
from vision_core.tracking.binding import BindingError, BindingSettings, EntryGate
from vision_core.tracking.floor import Point
from vision_core.tracking.sessions import (
    EXIT_LOOKS,
    FORGET_AFTER_S,
    TrackSessions,
    TrackSessionSettings,
)

ENTRY = EntryGate("gate-in", (1.0, 0.5))
OUT_A = (9.0, 0.0)
OUT_B = (0.0, 9.0)
SETTINGS = TrackSessionSettings(
    binding=BindingSettings(radius_m=1.5, window_s=4.0, lead_s=1.0),
    exit_delay_s=0.6,
    exit_radius_m=1.2,
    exit_lookback_s=1.5,
    continue_radius_m=0.8,
)


def sessions(**changes: Any) -> TrackSessions:
    settings = replace(SETTINGS, **changes)
    return TrackSessions([ENTRY], {"out-a": OUT_A, "out-b": OUT_B}, settings)


def entered(session: str, t: float) -> Entered:
    return Entered(
        source="gate-in", t_mono=t, session_id=session, credential="***", person=1, group_size=1
    )


def sample_msg(track: str, session: str | None, t: float, at: Point) -> TrackSample:
    return TrackSample(
        source="tracker", t_mono=t, track_id=track, session_id=session, sample=FloorSample(t, at)
    )


def see(s: TrackSessions, track: str, t: float, at: Point) -> list[Message]:
    """What a driver does with one tracker sample: decisions due first, then the sample."""
    return s.advance(t) + s.sample(track, FloorSample(t, at))


def bound_track(s: TrackSessions, session: str, track: str, t: float) -> None:
    """``session`` enters at ``t``; ``track`` appears at the gate and is bound by ``t + 4``."""
    s.entered(entered(session, t))
    see(s, track, t + 0.5, (1.2, 0.9))
    assert s.advance(t + 4.0) == [sample_msg(track, session, t + 0.5, (1.2, 0.9))]


def test_track_at_the_entry_is_bound_when_the_window_closes_and_samples_carry_the_session() -> None:
    s = sessions()
    s.entered(entered("S1", 10.0))
    assert see(s, "trk-1", 10.5, (1.2, 0.9)) == [sample_msg("trk-1", None, 10.5, (1.2, 0.9))]
    assert see(s, "trk-1", 12.0, (2.0, 2.0)) == [sample_msg("trk-1", None, 12.0, (2.0, 2.0))]
    assert s.advance(13.9) == []  # a rival could still appear until 14.0
    # bound: the latest sample again, now with the session (its evidence so far becomes S1's)
    assert s.advance(14.0) == [sample_msg("trk-1", "S1", 12.0, (2.0, 2.0))]
    assert see(s, "trk-1", 14.2, (2.5, 2.5)) == [sample_msg("trk-1", "S1", 14.2, (2.5, 2.5))]
    assert s.counts == {"bound": 1}


def test_bind_false_runs_the_timers_but_not_the_binder() -> None:
    s = sessions()
    s.entered(entered("S1", 10.0))
    see(s, "trk-1", 10.5, (1.2, 0.9))
    assert s.advance(20.0, bind=False) == []
    assert s.counts == {}
    assert s.advance(20.0) == [sample_msg("trk-1", "S1", 10.5, (1.2, 0.9))]


def test_id_switch_mid_store_continues_the_track_that_just_ended_there() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 19.8, (5.0, 5.2))
    see(s, "trk-1", 20.0, (5.0, 5.0))  # last seen under this id
    assert see(s, "trk-2", 20.2, (5.3, 5.0)) == [sample_msg("trk-2", None, 20.2, (5.3, 5.0))]
    see(s, "trk-2", 20.6, (5.6, 5.0))
    assert s.next_due() == pytest.approx(20.8)
    assert s.advance(20.7) == []
    assert s.advance(20.8) == [sample_msg("trk-2", "S1", 20.6, (5.6, 5.0))]
    assert s.sample("trk-2", FloorSample(21.0, (5.9, 5.0))) == [
        sample_msg("trk-2", "S1", 21.0, (5.9, 5.0))
    ]
    assert s.counts["track_continued"] == 1
    assert s.next_due() == math.inf


def test_continuation_refused_when_the_new_track_starts_too_far_away() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 20.0, (5.0, 5.0))
    see(s, "trk-2", 20.2, (5.0, 6.0))  # 1.0 m from where trk-1 ended, radius 0.8 m
    assert s.advance(20.8) == []
    assert see(s, "trk-2", 21.0, (5.0, 6.1)) == [sample_msg("trk-2", None, 21.0, (5.0, 6.1))]
    assert s.counts["track_not_continued"] == 1
    assert s.counts["track_continued"] == 0


def test_continuation_refused_when_the_nearby_track_is_still_seen() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 20.0, (5.0, 5.0))
    see(s, "trk-2", 20.2, (5.3, 5.0))  # a second person next to the first, not an id switch
    see(s, "trk-1", 20.4, (5.0, 5.1))
    assert s.advance(20.8) == []
    assert s.counts["track_not_continued"] == 1


def test_continue_tracks_off_leaves_a_track_away_from_the_entry_unbound() -> None:
    s = sessions(continue_tracks=False)
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 20.0, (5.0, 5.0))
    see(s, "trk-2", 20.2, (5.3, 5.0))
    assert s.next_due() == math.inf
    assert s.advance(30.0) == []
    assert s.counts == {"bound": 1}


def test_exit_is_bound_to_the_track_that_ended_at_the_gate_not_to_one_still_seen() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    bound_track(s, "S2", "trk-2", 20.0)
    see(s, "trk-1", 40.0, (9.0, 0.6))  # 0.6 m from the exit, then gone
    see(s, "trk-2", 40.0, (9.0, 0.3))  # nearer, but still in the store
    assert s.exited(Exited(source="out-a", t_mono=40.0)) == []
    see(s, "trk-2", 40.2, (9.0, 0.4))
    see(s, "trk-2", 40.4, (9.0, 0.5))
    assert s.next_due() == pytest.approx(40.6)
    assert s.advance(40.59) == []
    assert s.advance(40.6) == [Exited(source="out-a", t_mono=40.0, session_id="S1")]
    assert s.counts["exit_unbound"] == 0


def test_exit_with_nobody_ended_there_stays_unbound_and_closes_nobody() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    bound_track(s, "S2", "trk-2", 20.0)
    see(s, "trk-1", 40.0, (9.0, 0.6))
    s.exited(Exited(source="out-a", t_mono=40.0))
    assert s.advance(40.6) == [Exited(source="out-a", t_mono=40.0, session_id="S1")]
    # a tailgater right behind: trk-1 has gone out already, trk-2 is at the gate but still seen
    see(s, "trk-2", 40.6, (9.0, 0.5))
    s.exited(Exited(source="out-a", t_mono=40.8))
    see(s, "trk-2", 41.0, (9.0, 0.5))
    assert s.advance(41.4) == []
    assert s.counts["exit_unbound"] == 1
    # trk-2's session is still open: its own exit later is bound to it
    see(s, "trk-2", 50.0, (9.0, 0.2))
    s.exited(Exited(source="out-a", t_mono=50.0))
    assert s.advance(50.6) == [Exited(source="out-a", t_mono=50.0, session_id="S2")]


def test_two_exits_each_bound_to_the_track_that_ended_at_that_gate() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    bound_track(s, "S2", "trk-2", 20.0)
    see(s, "trk-1", 30.0, (0.3, 8.8))  # at out-b
    see(s, "trk-2", 30.0, (8.8, 0.3))  # at out-a
    s.exited(Exited(source="out-a", t_mono=30.0))
    s.exited(Exited(source="out-b", t_mono=30.1))
    assert s.advance(31.0) == [
        Exited(source="out-a", t_mono=30.0, session_id="S2"),
        Exited(source="out-b", t_mono=30.1, session_id="S1"),
    ]


def test_an_exited_that_names_its_session_passes_untouched() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 30.0, (9.0, 0.3))
    assert s.exited(Exited(source="out-a", t_mono=30.0, session_id="S1")) == []
    assert s.next_due() == math.inf
    assert s.advance(31.0) == []
    # nothing was marked out: an anonymous passage at the same time still finds trk-1
    s.exited(Exited(source="out-a", t_mono=30.0))
    assert s.advance(31.0) == [Exited(source="out-a", t_mono=30.0, session_id="S1")]


def test_evacuation_through_the_entry_gate_is_bound_at_the_entry_point() -> None:
    s = sessions()
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 30.0, (1.0, 0.8))
    s.exited(Exited(source="gate-in", t_mono=30.0, evacuation=True))
    assert s.advance(30.6) == [
        Exited(source="gate-in", t_mono=30.0, session_id="S1", evacuation=True)
    ]


@pytest.mark.parametrize(("slack_s", "bound"), [(0.05, False), (0.15, True)])
def test_a_track_seen_one_camera_frame_after_the_passage_ended_there_with_a_frames_slack(
    slack_s: float, bound: bool
) -> None:
    """A 10 fps camera shows the person once more 0.1 s after the door: their last sample."""
    s = sessions(ended_slack_s=slack_s)
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 39.9, (9.0, 0.3))
    s.exited(Exited(source="out-a", t_mono=40.0))
    see(s, "trk-1", 40.1, (9.0, 0.1))  # one frame after the passage, then gone
    decided = s.advance(40.6)
    if bound:
        assert decided == [Exited(source="out-a", t_mono=40.0, session_id="S1")]
        assert s.counts["exit_unbound"] == 0
    else:
        # the default slack takes the track for one still inside: nobody ended there
        assert decided == []
        assert s.counts["exit_unbound"] == 1


@pytest.mark.parametrize("slack_s", [0.05, 0.15, 0.25])
def test_an_id_switch_between_two_camera_frames_is_continued_whatever_the_exit_slack(
    slack_s: float,
) -> None:
    """At 10 fps the new id's first frame comes 0.1 s after the old id's last one."""
    s = sessions(ended_slack_s=slack_s)
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-1", 20.0, (5.0, 5.0))  # last seen under this id
    see(s, "trk-2", 20.1, (5.05, 5.0))
    assert s.advance(20.8) == [sample_msg("trk-2", "S1", 20.1, (5.05, 5.0))]
    assert s.counts["track_continued"] == 1


def test_a_track_still_seen_after_the_new_one_started_is_not_continued_by_it() -> None:
    # two people side by side: the new track is someone else, whatever the exit slack
    s = sessions(ended_slack_s=0.25)
    bound_track(s, "S1", "trk-1", 10.0)
    see(s, "trk-2", 20.0, (5.3, 5.0))
    see(s, "trk-1", 20.1, (5.0, 5.0))  # still seen after trk-2 began, then lost
    assert s.advance(20.8) == []
    assert s.counts["track_continued"] == 0


def test_ended_slack_may_be_zero_but_not_negative() -> None:
    assert TrackSessionSettings(ended_slack_s=0.0).ended_slack_s == 0.0
    for bad in (-0.01, math.nan, math.inf):
        with pytest.raises(ValueError, match="ended_slack_s"):
            TrackSessionSettings(ended_slack_s=bad)


def test_unknown_gates_and_bad_settings_are_refused_with_their_names() -> None:
    s = sessions()
    with pytest.raises(BindingError, match="'side-door'"):
        s.exited(Exited(source="side-door", t_mono=1.0))
    with pytest.raises(BindingError, match="'side-door'"):
        s.entered(
            Entered(
                source="side-door", t_mono=1.0, session_id="S", credential="*", person=1,
                group_size=1,
            )
        )  # fmt: skip
    with pytest.raises(BindingError, match="exit gate"):
        TrackSessions([ENTRY], {})
    with pytest.raises(ValueError, match="exit_delay_s"):
        TrackSessionSettings(exit_delay_s=0.0)
    with pytest.raises(ValueError, match="continue_radius_m"):
        TrackSessionSettings(continue_radius_m=math.nan)


def test_tracks_long_silent_are_forgotten_and_decisions_stay_the_same() -> None:
    sessions = TrackSessions([EntryGate("gate-in", (1.0, 0.5))], {"gate-out": (9.0, 0.5)})
    for n in range(50):  # fifty shoppers an hour apart, each seen once far from every gate
        t = n * 3600.0
        sessions.sample(f"t{n}", FloorSample(t, (5.0, 5.0)))
        sessions.advance(t + 1.0)
    assert sessions.known_tracks <= 1  # only the newest is remembered
    # a track seen within the window is still there
    sessions.sample("fresh", FloorSample(200_000.0, (5.0, 5.0)))
    sessions.advance(200_000.0 + FORGET_AFTER_S / 2)
    assert sessions.known_tracks == 1


def switch_at_the_entry(s: TrackSessions) -> None:
    """S1 (one person) enters at 10.0; trk-1 starts at the gate, ends at 11.0; trk-2 goes on.

    trk-2 starts one tracker period later 0.22 m from where trk-1 ended, and
    itself within the gate's radius: a binder candidate as well.
    """
    s.entered(entered("S1", 10.0))
    see(s, "trk-1", 10.5, (1.2, 0.9))
    see(s, "trk-1", 11.0, (1.3, 1.2))  # last seen under this id
    assert see(s, "trk-2", 11.5, (1.4, 1.4)) == [sample_msg("trk-2", None, 11.5, (1.4, 1.4))]
    see(s, "trk-2", 12.0, (1.6, 1.8))


def test_id_switch_at_the_entry_before_binding_is_one_person_not_a_rival() -> None:
    s = sessions()
    switch_at_the_entry(s)
    assert s.advance(13.9) == []  # continued at 12.1, but nobody is bound yet
    # before the change the next two failed: a track starting at the gate was never
    # checked for continuation (counts stayed empty), and at 14.0 the binder saw two
    # candidates for one entry: {"ambiguous": 1}, nobody bound, no message
    assert s.counts == {"track_continued": 1}
    assert s.advance(14.0) == [
        sample_msg("trk-1", "S1", 11.0, (1.3, 1.2)),
        sample_msg("trk-2", "S1", 12.0, (1.6, 1.8)),
    ]
    assert s.counts == {"bound": 1, "track_continued": 1}
    assert see(s, "trk-2", 14.5, (2.0, 2.2)) == [sample_msg("trk-2", "S1", 14.5, (2.0, 2.2))]
    assert s.next_due() == math.inf
    # trk-2 holds S1 now: its exit closes S1
    see(s, "trk-2", 30.0, (9.0, 0.3))
    s.exited(Exited(source="out-a", t_mono=30.0))
    assert s.advance(30.6) == [Exited(source="out-a", t_mono=30.0, session_id="S1")]


def test_second_person_at_the_entry_while_the_first_is_still_seen_is_no_continuation() -> None:
    s = sessions()
    s.entered(replace(entered("S1", 10.0), person=1, group_size=2))
    see(s, "trk-1", 10.5, (1.2, 0.9))
    see(s, "trk-1", 11.0, (1.3, 1.2))
    s.entered(replace(entered("S1", 11.4), person=2, group_size=2))
    see(s, "trk-2", 11.5, (1.4, 1.4))  # where trk-1 was last seen, as after an id switch ...
    see(s, "trk-1", 11.5, (1.4, 1.7))  # ... but trk-1 is still there: a second person
    see(s, "trk-2", 12.0, (1.3, 1.5))
    see(s, "trk-1", 12.0, (1.5, 2.1))
    assert s.advance(13.9) == []
    assert s.counts == {}  # trk-2 neither continued nor "not continued": it waits for the binder
    assert s.advance(14.0) == [sample_msg("trk-1", "S1", 12.0, (1.5, 2.1))]
    assert s.advance(15.4) == [sample_msg("trk-2", "S1", 12.0, (1.3, 1.5))]
    assert s.counts == {"bound": 2}


def test_a_second_id_switch_before_binding_still_follows_the_first_track() -> None:
    # trk-1 -> trk-2 -> trk-3 inside the binder window: one person, bound once, and the
    # session reaches all three tracks' evidence
    s = sessions()
    switch_at_the_entry(s)
    see(s, "trk-3", 12.5, (1.7, 2.0))
    assert s.advance(13.2) == []
    assert s.counts == {"track_continued": 2}
    published = s.advance(14.0)
    assert [(m.track_id, m.session_id) for m in published] == [
        ("trk-1", "S1"),
        ("trk-2", "S1"),
        ("trk-3", "S1"),
    ]
    assert s.counts == {"bound": 1, "track_continued": 2}


# --- a crowded exit: people of other sessions wait there, the tracker misses a frame ------------

DELAY = SETTINGS.exit_delay_s
EXIT_T = 41.2  # the leaver passes out-a; tracker samples every 0.5 s: 40.0, 40.5, 41.0, 41.5 ...
LEFT = Exited(source="out-a", t_mono=EXIT_T)


def waiting_at_out_a(s: TrackSessions, second: str = "S2") -> None:
    """trk-1 (S1) and trk-2 (``second``) wait at out-a; trk-1's person passes at ``EXIT_T``.

    trk-1's samples stop at 41.0 (0.8 m from the gate point); trk-2 stands
    nearer (0.4 m) and its 41.5 sample is missed, so at the first look
    (``EXIT_T + DELAY``) both seem to have ended at the gate.
    """
    if second == "S1":  # a group of two: both people of S1
        s.entered(replace(entered("S1", 10.0), person=1, group_size=2))
        see(s, "trk-1", 10.5, (1.2, 0.9))
        s.entered(replace(entered("S1", 11.5), person=2, group_size=2))
        see(s, "trk-2", 12.0, (1.2, 0.9))
        see(s, "trk-1", 12.0, (2.0, 2.5))  # still seen: trk-2 is a second person
        assert s.advance(20.0) == [
            sample_msg("trk-1", "S1", 12.0, (2.0, 2.5)),
            sample_msg("trk-2", "S1", 12.0, (1.2, 0.9)),
        ]
    else:
        bound_track(s, "S1", "trk-1", 10.0)
        bound_track(s, second, "trk-2", 20.0)
    for t in (40.0, 40.5, 41.0):
        see(s, "trk-1", t, (9.0, 0.8))
        see(s, "trk-2", t, (9.0, 0.4))
    assert s.exited(LEFT) == []


def test_crowded_exit_waits_until_the_missed_person_shows_again() -> None:
    s = sessions()
    waiting_at_out_a(s)
    # before the change this failed: at the first look the nearer track was taken,
    # [Exited(..., session_id="S2")], and S1's session never closed
    assert s.advance(EXIT_T + DELAY) == []
    assert s.next_due() == pytest.approx(EXIT_T + 2 * DELAY)
    # trk-2 shows again: it is still inside, so the passage was trk-1's; decided at once,
    # before trk-2's own sample
    assert s.advance(42.0) == []
    assert s.sample("trk-2", FloorSample(42.0, (9.0, 0.4))) == [
        Exited(source="out-a", t_mono=EXIT_T, session_id="S1"),
        sample_msg("trk-2", "S2", 42.0, (9.0, 0.4)),
    ]
    # S2 stays open (trk-2 was not counted out): its own passage later closes it
    see(s, "trk-2", 42.5, (9.0, 0.2))
    s.exited(Exited(source="out-a", t_mono=42.7))
    assert s.advance(42.7 + DELAY) == [Exited(source="out-a", t_mono=42.7, session_id="S2")]
    assert s.counts["exit_unbound"] == 0


def test_crowded_exit_nobody_shows_again_the_nearest_wins_at_the_last_look() -> None:
    s = sessions()
    waiting_at_out_a(s)  # trk-2 is never seen again (gone out unseen, or lost by the cameras)
    # before the change the first look already gave [Exited(..., session_id="S2")]
    for look in range(1, EXIT_LOOKS):
        assert s.advance(EXIT_T + look * DELAY) == []
    last_look = EXIT_T + EXIT_LOOKS * DELAY
    assert s.next_due() == pytest.approx(last_look)
    assert s.advance(last_look - 0.01) == []
    assert s.advance(last_look) == [Exited(source="out-a", t_mono=EXIT_T, session_id="S2")]
    assert s.next_due() == math.inf


def test_group_waiting_at_the_exit_is_decided_at_once() -> None:
    s = sessions()
    waiting_at_out_a(s, second="S1")  # both tracks are S1's: no need to wait
    # passes on the previous behaviour as well; fails when the wait is applied to any
    # several tracks, not only to tracks of several sessions (the first look gives [])
    assert s.advance(EXIT_T + DELAY) == [Exited(source="out-a", t_mono=EXIT_T, session_id="S1")]
    assert s.next_due() == math.inf


def test_a_passage_decided_by_a_sample_is_not_decided_again_by_its_later_looks() -> None:
    s = sessions()
    waiting_at_out_a(s)
    # before the change the first assert failed ([Exited(..., session_id="S2")] at once)
    assert s.advance(EXIT_T + DELAY) == []
    assert see(s, "trk-2", 42.0, (9.0, 0.4))[0] == Exited(
        source="out-a", t_mono=EXIT_T, session_id="S1"
    )
    see(s, "trk-2", 42.5, (9.0, 0.4))
    # the second look (42.4) is still in the timers: deciding the passage again there would
    # find nobody ended (trk-1 is out, trk-2 seen) and count a spurious unbound exit, or,
    # with another track of S1 still looking ended, count S1 out twice
    assert s.advance(EXIT_T + EXIT_LOOKS * DELAY + 1.0) == []
    assert s.counts["exit_unbound"] == 0
    assert s.next_due() == math.inf


def three_sessions_waiting() -> TrackSessions:
    """As :func:`waiting_at_out_a`, and S3's trk-3 waits nearest the gate point."""
    s = sessions()
    waiting_at_out_a(s)
    bound_track(s, "S3", "trk-3", 30.0)
    for t in (40.0, 40.5, 41.0):
        see(s, "trk-3", t, (9.0, 0.0))
    return s


def test_three_sessions_at_the_exit_each_sample_narrows_the_candidates() -> None:
    # S1 leaves; S2 and S3 wait nearer and are both missed once: trk-2's sample leaves
    # trk-1 and trk-3 (two sessions, still put off), trk-3's decides; the timers left
    # (second look, and the third look twice over) decide nothing more
    s = three_sessions_waiting()
    # before the change: [Exited(..., session_id="S3")] here (nearest at the first look)
    assert s.advance(EXIT_T + DELAY) == []
    assert see(s, "trk-2", 42.0, (9.0, 0.4)) == [sample_msg("trk-2", "S2", 42.0, (9.0, 0.4))]
    assert see(s, "trk-3", 42.0, (9.0, 0.0)) == [
        Exited(source="out-a", t_mono=EXIT_T, session_id="S1"),
        sample_msg("trk-3", "S3", 42.0, (9.0, 0.0)),
    ]
    assert s.advance(EXIT_T + EXIT_LOOKS * DELAY + 1.0) == []
    assert s.counts["exit_unbound"] == 0
    assert s.next_due() == math.inf


def test_a_candidate_seen_again_after_the_second_look_does_not_use_up_the_last_look() -> None:
    # S2 and S3 (the nearest) are both missed twice; trk-2 showing again must not end
    # the wait: trk-3 shows in the same frame, and the passage is S1's
    s = three_sessions_waiting()
    assert s.advance(EXIT_T + DELAY) == []
    assert s.advance(EXIT_T + 2 * DELAY) == []
    assert see(s, "trk-2", 42.5, (9.0, 0.4)) == [sample_msg("trk-2", "S2", 42.5, (9.0, 0.4))]
    out = see(s, "trk-3", 42.5, (9.0, 0.0))
    assert out[0] == Exited(source="out-a", t_mono=EXIT_T, session_id="S1")
    assert s.advance(50.0) == []


def test_a_group_member_counted_out_in_the_others_place_is_found_at_its_own_passage() -> None:
    # a group of two waits at the exit; the nearer one (still inside, a frame missed) is
    # counted out for the first passage: right session, wrong track. When it shows again
    # the other is marked out instead, and its own passage 2 s later closes the group
    s = sessions()
    waiting_at_out_a(s, second="S1")
    assert s.advance(EXIT_T + DELAY) == [Exited(source="out-a", t_mono=EXIT_T, session_id="S1")]
    for t in (42.0, 42.5, 43.0):
        see(s, "trk-2", t, (9.0, 0.4))
    assert s.exited(Exited(source="out-a", t_mono=43.2)) == []
    assert s.advance(43.2 + DELAY) == [Exited(source="out-a", t_mono=43.2, session_id="S1")]
    assert s.counts["exit_unbound"] == 0
