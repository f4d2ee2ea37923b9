"""The checkout scores hands with the width its own sure cases show, once it has enough."""

from dataclasses import replace
from pathlib import Path

from devices.bus import Message
from vision_core.inference.hand_spread import NEED_CASES
from vision_core.ledger.events import AttributionPending, LineAdded

from .scenario import AT_EXIT, admit, feed_all, shelf_change, store, walk

ONE, TWO = ("t1", "s1", "s1/1"), ("t2", "s2", "s2/1")
CAN_AT_M = 0.3  # on shelf A1 (front edge from x = 2.0), in the cans' facing


def lone_takes(n: int) -> list[Message]:
    """s1 alone at the shelf takes a can ``n`` times; the cameras put its wrist 2 cm off."""
    out: list[Message] = []
    x = 2.0 + CAN_AT_M
    for i in range(n):
        t0 = 10.0 + 5.0 * i
        out += walk(t0 - 1.0, t0 + 1.0, {ONE: ((x, 0.5), (x + 0.02, 0.02))})
        out.append(shelf_change("A1", -330.0, CAN_AT_M, t0, t0 + 1.0))
    return out


def neighbour_reaching_12_cm_away(t0: float) -> list[Message]:
    x = 2.0 + CAN_AT_M
    samples = walk(
        t0 - 1.0,
        t0 + 1.0,
        {ONE: ((x, 0.5), (x + 0.01, 0.02)), TWO: ((x + 0.12, 0.5), (x + 0.12, 0.02))},
    )
    return [*samples, shelf_change("A1", -330.0, CAN_AT_M, t0, t0 + 1.0)]


def charged(out: list[Message]) -> list[str]:
    return [m.session_id for m in out if isinstance(m, LineAdded)]


def test_after_enough_sure_cases_a_neighbour_12_cm_off_is_no_contender(tmp_path: Path) -> None:
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        assert charged(feed_all(engine, lone_takes(60))) == ["s1"] * 60
        out = feed_all(engine, neighbour_reaching_12_cm_away(400.0))
        assert charged(out) == ["s1"]
        assert engine.undecided == ()


def test_with_the_configured_width_the_same_neighbour_ties(tmp_path: Path) -> None:
    settings = replace(AT_EXIT, learn_hand_sigma=False)
    with store(tmp_path / "l.db", settings) as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, lone_takes(60))
        out = feed_all(engine, neighbour_reaching_12_cm_away(400.0))
        assert charged(out) == []
        assert {m.session_id for m in out if isinstance(m, AttributionPending)} == {"s1", "s2"}


def test_too_few_sure_cases_leave_the_configured_width(tmp_path: Path) -> None:
    with store(tmp_path / "l.db") as engine:
        feed_all(engine, [*admit("s1", 1.0), *admit("s2", 2.0)])
        feed_all(engine, lone_takes(NEED_CASES - 1))
        assert charged(feed_all(engine, neighbour_reaching_12_cm_away(200.0))) == []
