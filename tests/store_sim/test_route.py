"""Walking routes around shelf boards, on hand-made floor plans and on the busy scenario.

The checks here use their own geometry (segment crossing, point-to-segment
distance, dense sampling along a path), not the router's clipping code; the
expected lengths are worked out by hand from the clearance rectangles.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace
from pathlib import Path

import pytest

from sim_devices.store_sim import TrackRecord, load_store_scenario, simulate
from sim_devices.store_sim.records import XY
from sim_devices.store_sim.route import Board, Router, boards_of, route
from sim_devices.store_sim.scenario import StoreScenario
from sim_devices.store_sim.shoppers import Person
from sim_devices.store_sim.world import World, rng_for

BUSY = Path(__file__).resolve().parents[2] / "sim_devices" / "scenarios" / "store" / "busy.yaml"
C = 0.6
STANDOFF = 0.45


def ends(board: Board) -> tuple[XY, XY]:
    return (board.x_m, board.y_m), (board.x_m + board.length_m, board.y_m)


def cross(o: XY, a: XY, b: XY) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def segments_touch(p: XY, q: XY, a: XY, b: XY) -> bool:
    """Closed segments pq and ab share a point (orientation test, collinear overlap included)."""
    d1, d2 = cross(a, b, p), cross(a, b, q)
    d3, d4 = cross(p, q, a), cross(p, q, b)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True

    def on(o: XY, s: XY, e: XY) -> bool:
        return (
            cross(s, e, o) == 0
            and min(s[0], e[0]) <= o[0] <= max(s[0], e[0])
            and min(s[1], e[1]) <= o[1] <= max(s[1], e[1])
        )

    return on(p, a, b) or on(q, a, b) or on(a, p, q) or on(b, p, q)


def point_segment_m(o: XY, a: XY, b: XY) -> float:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((o[0] - ax) * dx + (o[1] - ay) * dy) / length2))
    return math.dist(o, (ax + t * dx, ay + t * dy))


def segment_segment_m(p: XY, q: XY, a: XY, b: XY) -> float:
    if segments_touch(p, q, a, b):
        return 0.0
    return min(
        point_segment_m(p, a, b),
        point_segment_m(q, a, b),
        point_segment_m(a, p, q),
        point_segment_m(b, p, q),
    )


def polyline(start: XY, waypoints: list[XY]) -> list[tuple[XY, XY]]:
    points = [start, *waypoints]
    return list(itertools.pairwise(points))


def length_m(start: XY, waypoints: list[XY]) -> float:
    return math.fsum(math.dist(p, q) for p, q in polyline(start, waypoints))


def samples(p: XY, q: XY, step_m: float = 0.01) -> list[XY]:
    n = max(1, math.ceil(math.dist(p, q) / step_m))
    return [(p[0] + (q[0] - p[0]) * k / n, p[1] + (q[1] - p[1]) * k / n) for k in range(n + 1)]


def in_band(o: XY, board: Board, clearance_m: float, tol_m: float = 1e-6) -> bool:
    """The point lies inside the board's clearance rectangle by more than ``tol_m``."""
    c = clearance_m - tol_m
    return board.x_m - c < o[0] < board.x_m + board.length_m + c and abs(o[1] - board.y_m) < c


# hand-made floor plans ------------------------------------------------------------------


def test_straight_when_nothing_is_in_the_way() -> None:
    boards = [Board(0.0, 3.0, 2.0)]
    assert route(boards, (-1.0, 0.0), (5.0, 0.5)) == [(5.0, 0.5)]
    assert route(boards, (5.0, 0.0), (5.0, 8.0)) == [(5.0, 8.0)], "beside the board, clear of it"
    # from a stand point straight out through the open front side, and back in
    assert route(boards, (0.7, 3.0 - STANDOFF), (0.2, 0.0)) == [(0.2, 0.0)]
    assert route(boards, (3.0, 0.0), (1.9, 3.0 - STANDOFF)) == [(1.9, 3.0 - STANDOFF)]


def test_goal_behind_a_board_goes_around_its_nearer_end() -> None:
    board = Board(0.0, 3.0, 2.0)
    start, goal = (0.5, 1.0), (0.5, 5.0)
    waypoints = route([board], start, goal)
    # around the left end: to the clearance rectangle's corners (-0.6, 2.4) and (-0.6, 3.6)
    assert waypoints == [pytest.approx((-C, 3.0 - C)), pytest.approx((-C, 3.0 + C)), goal]
    shortest = 2 * math.hypot(0.5 + C, 3.0 - C - 1.0) + 2 * C
    assert length_m(start, waypoints) == pytest.approx(shortest, rel=1e-9)
    for p, q in polyline(start, waypoints):
        assert not segments_touch(p, q, *ends(board))
        assert segment_segment_m(p, q, *ends(board)) >= C - 1e-9


def test_path_never_comes_within_clearance_of_a_board_end() -> None:
    boards = [Board(0.0, 3.0, 2.0), Board(3.0, 5.0, 1.0), Board(-1.0, 6.5, 1.5)]
    router = Router(boards, C)
    rng = random.Random(7)
    around = 0
    for _ in range(300):
        start = (rng.uniform(-3.0, 6.0), rng.uniform(-1.0, 9.0))
        goal = (rng.uniform(-3.0, 6.0), rng.uniform(-1.0, 9.0))
        if any(in_band(p, b, C) for p in (start, goal) for b in boards):
            continue
        waypoints = router.route(start, goal)
        around += len(waypoints) > 1
        assert waypoints[-1] == goal
        for p, q in polyline(start, waypoints):
            for board in boards:
                a, b = ends(board)
                assert not segments_touch(p, q, a, b)
                assert point_segment_m(a, p, q) >= C - 1e-9, (start, goal, waypoints)
                assert point_segment_m(b, p, q) >= C - 1e-9, (start, goal, waypoints)
    assert around > 30, "too few legs needed a detour for the check to mean much"


def test_stand_to_stand_across_rows_leaves_and_enters_from_the_front() -> None:
    row1, row2 = Board(0.0, 3.0, 1.2), Board(0.0, 5.5, 1.2)
    start, goal = (0.3, 3.0 - STANDOFF), (0.3, 5.5 - STANDOFF)
    waypoints = route([row1, row2], start, goal)
    # out of the front band, round row 1's left end (corners (-0.6, 2.4), (-0.6, 3.6)), into
    # row 2's front band from below
    assert waypoints == [pytest.approx((-C, 3.0 - C)), pytest.approx((-C, 3.0 + C)), goal]
    by_hand = math.hypot(0.3 + C, STANDOFF - C) + 2 * C + math.hypot(0.3 + C, 5.5 - STANDOFF - 3.6)
    assert length_m(start, waypoints) == pytest.approx(by_hand, rel=1e-9)
    for p, q in polyline(start, waypoints):
        assert not segments_touch(p, q, *ends(row1))
        assert not segments_touch(p, q, *ends(row2))


def test_stand_point_leaves_through_the_front_edge_not_past_the_end() -> None:
    board = Board(0.0, 3.0, 1.2)
    start, goal = (0.3, 3.0 - STANDOFF), (-3.0, 3.0 - STANDOFF)
    waypoints = route([board], start, goal)
    # straight along the band would pass the board's left end 0.45 m off; step out first
    assert waypoints == [pytest.approx((-C, 3.0 - C)), goal]
    by_hand = math.hypot(0.3 + C, C - STANDOFF) + math.hypot(3.0 - C, C - STANDOFF)
    assert length_m(start, waypoints) == pytest.approx(by_hand, rel=1e-9)


def test_passing_another_board_keeps_the_clearance_off_its_front() -> None:
    left, middle, right = Board(0.0, 3.0, 1.2), Board(2.0, 3.0, 1.2), Board(4.0, 3.0, 1.2)
    start, goal = (0.6, 3.0 - STANDOFF), (4.6, 3.0 - STANDOFF)
    waypoints = route([left, middle, right], start, goal)
    assert waypoints == [pytest.approx((1.4, 2.4)), pytest.approx((3.8, 2.4)), goal]
    for p, q in polyline(start, waypoints):
        assert segment_segment_m(p, q, *ends(middle)) >= C - 1e-9
    assert length_m(start, waypoints) == pytest.approx(
        2 * math.hypot(0.8, C - STANDOFF) + 2.4, rel=1e-9
    )


def test_clear_agrees_with_the_vectorised_corner_check() -> None:
    shelves = load_store_scenario(BUSY).floor.shelves
    router = Router.for_shelves(shelves)
    rng = random.Random(3)
    corners = [
        (x, y)
        for b in boards_of(shelves)
        for x in (b.x_m - C, b.x_m + b.length_m + C)
        for y in (b.y_m - C, b.y_m + C)
    ]
    assert [(round(x, 9), round(y, 9)) for x, y in router.corners] == [
        (round(x, 9), round(y, 9)) for x, y in corners
    ]
    checked = 0
    for _ in range(60):
        shelf = rng.choice(shelves)
        stand = (shelf.x_m + rng.uniform(0.0, shelf.length_m), shelf.y_m - STANDOFF)
        anywhere = (rng.uniform(0.0, 12.0), rng.uniform(0.0, 10.0))
        for point in (stand, anywhere):
            seen, _ = router._reach(point, point)
            for corner, distance in zip(router.corners, seen, strict=True):
                assert math.isfinite(distance) == router.clear(point, corner), (point, corner)
                checked += 1
    assert checked == 120 * len(corners)


def test_route_is_deterministic_and_rejects_a_bad_clearance() -> None:
    boards = [Board(0.0, 3.0, 2.0)]
    assert route(boards, (1.0, 1.0), (1.0, 5.0)) == route(boards, (1.0, 1.0), (1.0, 5.0))
    with pytest.raises(ValueError, match="clearance"):
        Router(boards, 0.0)


# the busy scenario ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def busy() -> StoreScenario:
    return replace(load_store_scenario(BUSY), duration_s=120.0)


def people_of(scenario: StoreScenario) -> list[Person]:
    """Run the world as :func:`simulate` does and keep its people (their keyframed paths)."""
    world = World(scenario)
    seed = scenario.seed
    world.start(world.arrivals(rng_for(seed, "arrivals"), rng_for(seed, "members")), 0.0)
    world.run()
    return world.people


def test_busy_paths_cross_no_board(busy: StoreScenario) -> None:
    boards = boards_of(busy.floor.shelves)
    people = people_of(busy)
    assert len(people) > 15
    legs = 0
    for person in people:
        points = [(x, y) for _, x, y in person.path]
        for p, q in itertools.pairwise(points):
            legs += 1
            for board in boards:
                assert not segments_touch(p, q, *ends(board)), (person.shopper_id, p, q)
                # inside a board's clearance band only in front, no nearer than a stand point
                for o in samples(p, q):
                    if in_band(o, board, C):
                        assert o[1] <= board.y_m - STANDOFF + 1e-9, (person.shopper_id, p, q)
    assert legs > 200


def test_busy_keyframes_are_timed_at_walking_speed(busy: StoreScenario) -> None:
    speed = busy.behaviour.walk_speed_m_s
    gate = (busy.floor.exit.x_m, busy.floor.exit.y_m)
    moves = 0
    for person in people_of(busy):
        times = [t for t, _, _ in person.path]
        assert times == sorted(times)
        for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(person.path):
            # the exit passage itself is timed by the gate, not by walking
            if (x0, y0) != (x1, y1) and (x1, y1) != gate:
                moves += 1
                assert math.dist((x0, y0), (x1, y1)) <= speed * (t1 - t0) + 1e-9
    assert moves > 100


def test_routing_keeps_the_stops_and_the_takes(
    busy: StoreScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only paths and times change: the same stops, dwells and takes as straight walking.

    Without crowding a person's choices depend on their own draws only (stock
    lasts), so straight and routed runs must stop at the same places for the
    same time and take the same units.
    """
    calm = replace(busy, behaviour=replace(busy.behaviour, crowding=0.0))

    def stops(people: list[Person]) -> dict[str, list[tuple[float, float, float]]]:
        out: dict[str, list[tuple[float, float, float]]] = {}
        for person in people:
            path = person.path
            out[person.shopper_id] = [
                (x0, y0, round(t1 - t0, 9))
                for (t0, x0, y0), (t1, x1, y1) in itertools.pairwise(path)
                if (x0, y0) == (x1, y1) and t1 > t0 and y0 > 1.0  # not the exit queue
            ]
        return out

    def takes(scenario: StoreScenario) -> list[tuple[str, str, str, int, float]]:
        events = simulate(scenario).truth.events
        return sorted(
            (e.shopper_id, e.shelf_id, e.sku, e.qty, e.weight_g) for e in events if e.kind == "take"
        )

    routed_stops, routed_takes = stops(people_of(calm)), takes(calm)
    monkeypatch.setattr(Router, "route", lambda _self, _start, goal: [goal])
    straight_stops, straight_takes = stops(people_of(calm)), takes(calm)
    assert routed_stops == straight_stops
    assert sum(len(s) for s in routed_stops.values()) > 50
    assert routed_takes == straight_takes
    assert len(routed_takes) > 20


def test_busy_tracked_bodies_stay_off_the_boards(busy: StoreScenario) -> None:
    """Through :func:`simulate`: no tracked body point lies on a board line.

    A crossing at walking speed puts a 2 Hz sample within 5 cm of the board in
    about one crossing of five; people stand 0.45 m off, more than 5 sigma of
    the tracker's position noise away.
    """
    boards = boards_of(busy.floor.shelves)
    bodies = [r.body_xy for r in simulate(busy).records if isinstance(r, TrackRecord)]
    assert len(bodies) > 5000
    near = [o for o in bodies for b in boards if point_segment_m(o, *ends(b)) < 0.05]
    assert near == []
