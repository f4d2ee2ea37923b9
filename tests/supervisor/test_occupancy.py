"""Occupancy from gate events: who is inside, and vision correcting the gate's guess."""

from __future__ import annotations

from devices.gate.machine import Entered, Exited
from facility.supervisor.occupancy import GUESS_KEPT_S, OccupancyTracker


def entered(session: str, t: float, person: int = 1, size: int = 1) -> Entered:
    return Entered(
        source="gate-in", t_mono=t, session_id=session, credential="c", person=person,
        group_size=size,
    )  # fmt: skip


def inside(tracker: OccupancyTracker, t: float = 1000.0) -> dict[str, int]:
    return {s.session_id: 1 for s in tracker.snapshot(t).sessions}


def test_an_anonymous_exit_counts_out_the_longest_inside() -> None:
    tracker = OccupancyTracker()
    tracker.feed(entered("early", 10.0))
    tracker.feed(entered("late", 20.0))
    tracker.feed(Exited(source="gate-out", t_mono=30.0))
    assert set(inside(tracker)) == {"late"}
    assert tracker.people == 1


def test_vision_naming_the_passage_moves_the_count_to_the_right_session() -> None:
    tracker = OccupancyTracker()
    tracker.feed(entered("early", 10.0))
    tracker.feed(entered("late", 20.0))
    tracker.feed(Exited(source="gate-out", t_mono=30.0))  # guessed: early
    corrected = tracker.feed(Exited(source="gate-out", t_mono=30.0, session_id="late"))
    assert corrected is not None
    assert [s.session_id for s in corrected.sessions] == ["early"]
    assert tracker.people == 1  # one passage, counted once


def test_a_right_guess_is_not_counted_twice() -> None:
    tracker = OccupancyTracker()
    tracker.feed(entered("early", 10.0))
    tracker.feed(entered("late", 20.0))
    tracker.feed(Exited(source="gate-out", t_mono=30.0))
    assert tracker.feed(Exited(source="gate-out", t_mono=30.0, session_id="early")) is None
    assert set(inside(tracker)) == {"late"}


def test_a_group_keeps_its_members_count_through_a_correction() -> None:
    tracker = OccupancyTracker()
    tracker.feed(entered("family", 10.0, 1, 2))
    tracker.feed(entered("family", 10.5, 2, 2))
    tracker.feed(entered("solo", 20.0))
    tracker.feed(Exited(source="gate-out", t_mono=30.0))  # guessed: family
    tracker.feed(Exited(source="gate-out", t_mono=30.0, session_id="solo"))
    assert tracker.people == 2
    assert set(inside(tracker)) == {"family"}


def test_a_settled_session_is_not_brought_back_by_a_late_correction() -> None:
    tracker = OccupancyTracker()
    tracker.feed(entered("early", 10.0))
    tracker.feed(entered("late", 20.0))
    tracker.feed(Exited(source="gate-out", t_mono=30.0))  # guessed: early
    tracker.close("early", 31.0)
    tracker.feed(Exited(source="gate-out", t_mono=30.0, session_id="late"))
    assert tracker.people == 0


def test_a_bound_exit_without_an_earlier_guess_counts_out_its_session() -> None:
    tracker = OccupancyTracker()
    tracker.feed(entered("early", 10.0))
    tracker.feed(entered("late", 20.0))
    tracker.feed(Exited(source="gate-out", t_mono=30.0, session_id="late"))
    assert set(inside(tracker)) == {"early"}


def test_old_guesses_are_forgotten() -> None:
    tracker = OccupancyTracker()
    for n in range(5):
        tracker.feed(entered(f"s{n}", float(n)))
    tracker.feed(Exited(source="gate-out", t_mono=10.0))  # guessed: s0
    tracker.feed(Exited(source="gate-out", t_mono=10.0 + GUESS_KEPT_S + 1))  # guessed: s1
    # too late to correct the first passage: the guess stands and the named exit counts too
    # (vision names a passage within a second; a minute late it is taken as a passage of its own)
    tracker.feed(Exited(source="gate-out", t_mono=10.0, session_id="s4"))
    assert set(inside(tracker)) == {"s2", "s3"}
