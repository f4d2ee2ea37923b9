"""A take in the gap between an id swap and its re-identification goes to who made it."""

from pathlib import Path

import pytest

from vision_core.checkout.engine import CheckoutInputError
from vision_core.checkout.messages import TrackRelabelled
from vision_core.ledger.events import AttributionPending, AttributionResolved, LineAdded

from .scenario import admit, at_shelf, away, feed_all, shelf_change, store, walk

ALICE, BOB = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
# t1 follows Alice until 9.0, then (a tracker swap) Bob, who reaches into the shelf at
# 10.0; re-identification sees it at 10.5 from samples since 9.0.
RELABEL = TrackRelabelled(
    source="tracker",
    t_mono=10.5,
    track_id="t1",
    new_track_id="t1~1",
    since_mono=9.0,
    session_id="s2",
)


def swap_then_take(engine, *, relabel: bool) -> list:
    feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
    feed_all(engine, walk(8.0, 8.5, {ALICE: away(2.5), BOB: away(4.0)}))
    # from 9.0 t1 shows Bob at the shelf (still bound to s1); t2 shows Alice walking off
    feed_all(engine, walk(9.0, 10.5, {ALICE: at_shelf(2.5), BOB: away(4.0)}))
    if relabel:
        assert engine.feed(RELABEL) == []  # nothing undecided yet
    return engine.feed(shelf_change("A1", -330.0, 0.5, 10.0, 11.0))


def test_without_the_relabel_the_take_goes_to_the_session_the_track_had(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        out = swap_then_take(engine, relabel=False)
        assert [(type(m), m.session_id) for m in out] == [(LineAdded, "s1")]


def test_the_relabel_moves_the_gap_to_the_new_id_before_the_take(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        out = swap_then_take(engine, relabel=True)
        assert [(type(m), m.session_id) for m in out] == [(LineAdded, "s2")]
        assert out[0].evidence == ("A1@11.0", "track:t1~1")


def test_a_take_waiting_on_the_swapped_track_is_decided_again(tmp_path: Path):
    # the take comes first and ties between the swapped track (s1) and Bob's own
    # track seen near the shelf (s2): the relabel makes both evidence s2's
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        near = (("t2", "s2", "s2/1"), ((2.55, 0.5), (2.55, 0.03)))
        feed_all(engine, walk(9.0, 10.5, {ALICE: at_shelf(2.5), near[0]: near[1]}))
        pending = engine.feed(shelf_change("A1", -330.0, 0.5, 10.0, 11.0))
        assert [(type(m), m.session_id) for m in pending] == [
            (AttributionPending, "s1"),
            (AttributionPending, "s2"),
        ]
        out = engine.feed(RELABEL)
        assert [(type(m), m.session_id) for m in out] == [
            (LineAdded, "s2"),
            (AttributionResolved, "s1"),
            (AttributionResolved, "s2"),
        ]


def test_a_relabel_onto_a_track_with_samples_is_refused(tmp_path: Path):
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, walk(9.0, 9.5, {ALICE: away(2.5), ("t1~1", "s2", None): away(3.0)}))
        with pytest.raises(CheckoutInputError, match="has samples already"):
            engine.feed(RELABEL)
