"""Re-identification by appearance: swaps are found, look-alikes and noise are not swaps."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from devices.bus import Message
from devices.gate.machine import Entered
from vision_core.checkout.messages import TrackRelabelled, TrackSample
from vision_core.inference.attribution import FloorSample
from vision_core.tracking.binding import BindingSettings, EntryGate
from vision_core.tracking.reid import AppearanceTracker, ReidSettings
from vision_core.tracking.sessions import TrackSessions, TrackSessionSettings

DIM = 16
Vector = np.ndarray[tuple[int, ...], np.dtype[np.float64]]
SETTINGS = ReidSettings(template_samples=4, window_samples=3, min_similarity=0.6, margin=0.2)


def people(n: int) -> list[Vector]:
    """``n`` people who look nothing alike: orthonormal appearance vectors."""
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(0.0, 1.0, (DIM, n)))
    return [q[:, i] for i in range(n)]


def looks(who: Vector, rng: np.random.Generator, sigma: float = 0.15) -> tuple[float, ...]:
    sample = who + rng.normal(0.0, sigma, DIM)
    return tuple((sample / np.linalg.norm(sample)).tolist())


ALICE, BOB, CAROL = people(3)


def walk(
    tracker: AppearanceTracker,
    rng: np.random.Generator,
    t0: float,
    steps: int,
    who: dict[str, Vector],
) -> list[tuple[float, str, str]]:
    """Each track shows its person for ``steps`` samples, 0.5 s apart; the moves seen."""
    moves = []
    for k in range(steps):
        t = t0 + 0.5 * k
        for track_id, face in who.items():
            moved = tracker.observe(track_id, t, (2.0, 2.0), looks(face, rng))
            if moved is not None:
                moves.append((t, track_id, moved))
    return moves


def test_a_swap_moves_both_tracks_to_the_person_they_follow_now() -> None:
    rng = np.random.default_rng(7)
    tracker = AppearanceTracker(SETTINGS)
    tracker.start("trk-a", "trk-a")
    tracker.start("trk-b", "trk-b")
    assert walk(tracker, rng, 0.0, 10, {"trk-a": ALICE, "trk-b": BOB}) == []
    # the tracker swaps the ids: trk-a is on Bob, trk-b on Alice
    moves = walk(tracker, rng, 5.0, 6, {"trk-a": BOB, "trk-b": ALICE})
    assert sorted((track, to) for _, track, to in moves) == [("trk-a", "trk-b"), ("trk-b", "trk-a")]
    assert tracker.identity_of("trk-a") == "trk-b"
    assert tracker.identity_of("trk-b") == "trk-a"
    # found within the window: both moves by the third sample after the swap
    assert max(t for t, _, _ in moves) <= 5.0 + 0.5 * (SETTINGS.window_samples - 1)
    # and it stays put afterwards
    assert walk(tracker, rng, 10.0, 10, {"trk-a": BOB, "trk-b": ALICE}) == []


def test_noise_alone_never_moves_a_track() -> None:
    rng = np.random.default_rng(11)
    tracker = AppearanceTracker(SETTINGS)
    for name in ("a", "b", "c"):
        tracker.start(name, name)
    assert walk(tracker, rng, 0.0, 400, {"a": ALICE, "b": BOB, "c": CAROL}) == []


def test_a_look_alike_held_by_a_track_that_still_matches_it_is_not_taken() -> None:
    rng = np.random.default_rng(3)
    tracker = AppearanceTracker(SETTINGS)
    tracker.start("a", "a")
    tracker.start("b", "b")
    walk(tracker, rng, 0.0, 10, {"a": ALICE, "b": BOB})
    # trk-a now shows somebody who looks like Bob, while trk-b still shows Bob: no swap
    assert walk(tracker, rng, 5.0, 6, {"a": BOB, "b": BOB}) == []
    assert tracker.identity_of("a") == "a"


def look_alike(who: Vector, other: Vector, cosine: float) -> Vector:
    """Somebody whose appearance has ``cosine`` with ``who``'s (``other`` orthogonal to it)."""
    return cosine * who + math.sqrt(1.0 - cosine**2) * other


def test_a_swap_between_look_alikes_moves_both_tracks() -> None:
    # Alice and her look-alike (cosine 0.7): after the swap each track still matches its
    # own identity above min_similarity (about 0.66), so neither looks gone on its own
    twin = look_alike(ALICE, BOB, 0.7)
    found = []
    for settings in (SETTINGS, replace(SETTINGS, sure_similarity=SETTINGS.min_similarity)):
        rng = np.random.default_rng(13)
        tracker = AppearanceTracker(settings)
        tracker.start("a", "a")
        tracker.start("b", "b")
        assert walk(tracker, rng, 0.0, 10, {"a": ALICE, "b": twin}) == []
        found.append(walk(tracker, rng, 5.0, 8, {"a": twin, "b": ALICE}))
        if settings is SETTINGS:
            assert (tracker.identity_of("a"), tracker.identity_of("b")) == ("b", "a")
    paired, unpaired = found
    assert sorted((track, to) for _, track, to in paired) == [("a", "b"), ("b", "a")]
    assert unpaired == []  # without the pairwise look, the swap goes unnoticed


def test_look_alikes_that_do_not_swap_stay_put() -> None:
    rng = np.random.default_rng(17)
    tracker = AppearanceTracker(SETTINGS)
    tracker.start("a", "a")
    tracker.start("b", "b")
    twin = look_alike(ALICE, BOB, 0.7)
    assert walk(tracker, rng, 0.0, 400, {"a": ALICE, "b": twin}) == []


def test_a_track_that_ended_holds_no_identity() -> None:
    # Bob's first track ends and goes on under "b2" (an id switch); later Alice's track and
    # b2 swap. The ended track still has Bob in its last window: it must not block the move.
    rng = np.random.default_rng(19)
    tracker = AppearanceTracker(SETTINGS)
    tracker.start("a", "a")
    tracker.start("b", "b")
    walk(tracker, rng, 0.0, 10, {"a": ALICE, "b": BOB})
    tracker.start("b2", "b")
    assert walk(tracker, rng, 5.0, 20, {"a": ALICE, "b2": BOB}) == []
    moves = walk(tracker, rng, 15.0, 6, {"a": BOB, "b2": ALICE})
    assert sorted((track, to) for _, track, to in moves) == [("a", "b"), ("b2", "a")]


def test_only_identities_seen_near_and_recently_are_candidates() -> None:
    rng = np.random.default_rng(5)
    tracker = AppearanceTracker(SETTINGS)
    tracker.start("a", "a")
    tracker.start("b", "b")
    for k in range(10):
        tracker.observe("a", 0.5 * k, (0.0, 0.0), looks(ALICE, rng))
        tracker.observe("b", 0.5 * k, (8.0, 0.0), looks(BOB, rng))  # across the store
    for k in range(6):
        assert tracker.observe("a", 5.0 + 0.5 * k, (0.0, 0.0), looks(BOB, rng)) is None
    far_in_time = AppearanceTracker(SETTINGS)
    far_in_time.start("a", "a")
    far_in_time.start("b", "b")
    for k in range(10):
        far_in_time.observe("a", 0.5 * k, (0.0, 0.0), looks(ALICE, rng))
        far_in_time.observe("b", 0.5 * k, (0.5, 0.0), looks(BOB, rng))
    # Bob's track was last seen 10 s before trk-a starts to look like him
    for k in range(6):
        assert far_in_time.observe("a", 15.0 + 0.5 * k, (0.0, 0.0), looks(BOB, rng)) is None


def test_forget_and_prune_drop_identities_nobody_holds() -> None:
    rng = np.random.default_rng(9)
    tracker = AppearanceTracker(SETTINGS)
    tracker.start("a", "a")
    tracker.start("b", "b")
    walk(tracker, rng, 0.0, 10, {"a": ALICE, "b": BOB})
    tracker.forget("b")  # trk-b ends (Bob left): his identity goes with his only track
    assert tracker.identities == {"a"}
    tracker.start("c", "c")
    walk(tracker, rng, 10.0, 10, {"a": ALICE, "c": CAROL})
    # the ids swap: trk-c shows Alice first (her identity is still taken: trk-a's window
    # shows her), then trk-a shows Carol, whose track does not look like her any more
    for k in range(3):
        assert tracker.observe("c", 15.0 + 0.1 * k, (2.0, 2.0), looks(ALICE, rng)) is None
    moves = [tracker.observe("a", 15.5 + 0.1 * k, (2.0, 2.0), looks(CAROL, rng)) for k in range(3)]
    assert [m for m in moves if m is not None] == ["c"]
    # "a" is held by nobody now, but waits: trk-c moves to it on its next look
    assert tracker.identities == {"a", "c"}
    tracker.prune(before_mono=15.0)  # seen after that: kept
    assert tracker.identities == {"a", "c"}
    tracker.prune(before_mono=100.0)
    assert tracker.identities == {"c"}
    tracker.forget("a")
    assert tracker.identities == {"c"}  # trk-c still holds it
    tracker.forget("c")
    assert tracker.identities == frozenset()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("template_samples", 0),
        ("window_samples", 0),
        ("min_similarity", 1.0),
        ("sure_similarity", 0.5),  # below min_similarity
        ("margin", 0.0),
    ],
)
def test_settings_out_of_range_are_refused_with_the_field_named(field: str, value: float) -> None:
    changes: dict[str, Any] = {field: value}
    with pytest.raises(ValueError, match=field):
        replace(ReidSettings(), **changes)


# --- through the track sessions -----------------------------------------------------------------

ENTRY = EntryGate("gate-in", (1.0, 0.5))


def entered(session: str, t: float) -> Entered:
    return Entered(
        source="gate-in", t_mono=t, session_id=session, credential="***", person=1, group_size=1
    )


def test_track_sessions_give_a_swapped_track_the_other_session_under_a_new_id() -> None:
    rng = np.random.default_rng(21)
    settings = TrackSessionSettings(
        binding=BindingSettings(radius_m=1.5, window_s=4.0, lead_s=1.0), reid=SETTINGS
    )
    s = TrackSessions([ENTRY], {"gate-out": (9.0, 0.0)}, settings)
    out: list[Message] = []

    def see(track: str, t: float, at: tuple[float, float], face: Vector) -> None:
        out.extend(s.advance(t) + s.sample(track, FloorSample(t, at), looks(face, rng)))

    s.entered(entered("S-alice", 0.0))
    see("trk-1", 0.5, (1.2, 0.9), ALICE)
    s.entered(entered("S-bob", 6.0))
    see("trk-2", 6.5, (1.2, 0.9), BOB)
    for k in range(20):  # both shop side by side at one shelf
        t = 10.0 + 0.5 * k
        see("trk-1", t, (4.0, 2.5), ALICE)
        see("trk-2", t + 0.01, (4.5, 2.5), BOB)
    for k in range(10):  # the tracker swapped their ids
        t = 20.0 + 0.5 * k
        see("trk-1", t, (4.0, 2.5), BOB)
        see("trk-2", t + 0.01, (4.5, 2.5), ALICE)
    samples = [m for m in out if isinstance(m, TrackSample)]
    before = [(m.track_id, m.session_id) for m in samples if m.t_mono < 20.0]
    after = [(m.track_id, m.session_id) for m in samples if m.t_mono >= 22.0]
    assert ("trk-1", "S-alice") in before
    assert ("trk-2", "S-bob") in before
    assert set(after) == {("trk-1~1", "S-bob"), ("trk-2~1", "S-alice")}
    assert s.counts["reid_moved"] == 2
    assert not math.isnan(out[-1].t_mono)
    # the window that showed the other person (3 samples, from the swap at 20.0 on)
    # goes with the new id: the checkout moves those samples off the old one
    relabels = sorted(
        ((m.track_id, m.new_track_id, m.since_mono, m.session_id))
        for m in out
        if isinstance(m, TrackRelabelled)
    )
    assert relabels == [
        ("trk-1", "trk-1~1", 20.0, "S-bob"),
        ("trk-2", "trk-2~1", pytest.approx(20.01), "S-alice"),
    ]


def test_a_swap_before_the_entry_is_bound_gives_the_session_to_whoever_shows_the_newcomer() -> None:
    """Alice waits by the door as Bob comes in; their ids swap before Bob's entry is bound.

    The binder binds the track that came in at the door (trk-2), but by then
    it follows Alice; the session goes to Bob, on the track that shows him now.
    """
    rng = np.random.default_rng(5)
    settings = TrackSessionSettings(
        binding=BindingSettings(radius_m=1.5, window_s=4.0, lead_s=1.0), reid=SETTINGS
    )
    s = TrackSessions([ENTRY], {"gate-out": (9.0, 0.0)}, settings)
    out: list[Message] = []

    def see(track: str, t: float, at: tuple[float, float], face: Vector) -> None:
        out.extend(s.advance(t) + s.sample(track, FloorSample(t, at), looks(face, rng)))

    s.entered(entered("S-alice", 0.0))
    for k in range(16):  # Alice comes in and lingers by the door
        see("trk-1", 0.5 + 0.5 * k, (1.2, 0.9) if k == 0 else (2.2, 1.6), ALICE)
    s.entered(entered("S-bob", 8.5))
    for k in range(4):  # Bob comes in: his appearance is learnt on trk-2
        see("trk-2", 9.0 + 0.5 * k, (1.2, 0.9), BOB)
        see("trk-1", 9.01 + 0.5 * k, (2.2, 1.6), ALICE)
    for k in range(12):  # the tracker swapped them; the binder has not decided Bob's entry yet
        t = 11.0 + 0.5 * k
        see("trk-1", t, (1.6, 1.2), BOB)
        see("trk-2", t + 0.01, (2.2, 1.6), ALICE)
    see("trk-1", 20.0, (1.6, 1.2), BOB)
    latest = {m.track_id: m.session_id for m in out if isinstance(m, TrackSample)}
    assert latest["trk-1~1"] == "S-bob"
    assert latest["trk-2~1"] == "S-alice"
    assert s.counts["bound"] == 2
    moves = [m for m in out if isinstance(m, TrackRelabelled)]
    assert len(moves) == 2
    assert min(m.t_mono for m in moves) < 12.5  # both moved before the binding at 12.5+
