"""Shoppers: groups on one bill, and the walk-dwell-reach process of each person.

A person is a generator process for :class:`~sim_devices.store_sim.world.World`:
it yields the scenario time at which it wants to continue, and acts on the
world (takes, put-backs) when resumed. What it decides uses the world's
state at that moment (stock left, who stands at which shelf), so two people
reaching for the last can of a SKU are resolved in time order.

People walk at ``walk_speed_m_s`` along the world's routes
(:mod:`~sim_devices.store_sim.route`: straight where nothing is in the way,
otherwise around the boards with a clearance; no collisions between people);
a person stands ``standoff_m`` in front of the board at the place of the
product they came for, and each reach puts one hand on the board for
:data:`REACH_S` around the moment the weight changes. Hands do not pass
through each other: a reach to a spot another person's hand holds (within
a hand's width) waits until that hand is out; two people still reach into
one board, and one facing, at once, a hand's width apart or more.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from sim_devices.store_sim.records import XY
from sim_devices.store_sim.scenario import ProductSpec, ShelfSpec

if TYPE_CHECKING:
    from sim_devices.store_sim.world import World

REACH_S = 0.4
"""A hand is on the board this long before and after the weight changes."""

GATE_INSIDE_M = 0.5
"""People wait this far inside the store from a gate's passage point."""

Action = Literal["take", "put_same", "put_wrong", "parent_put"]


@dataclass
class Unit:
    """One item a group carries; ``weight_g`` is this unit's real weight."""

    sku: str
    weight_g: float
    home_shelf_id: str
    home_position_m: float
    taker: str
    by_child: bool


@dataclass
class Person:
    """One shopper; ``path`` holds (t, x, y) keyframes, ``reaches`` (t, hand point)."""

    shopper_id: str
    group: Group
    is_child: bool
    enter_t: float
    path: list[tuple[float, float, float]] = field(default_factory=list)
    reaches: list[tuple[float, XY]] = field(default_factory=list)
    exit_t: float = math.inf

    def at(self, t: float, x: float, y: float) -> None:
        """Add a keyframe: the person is at (x, y) at time t."""
        self.path.append((t, x, y))

    @property
    def where(self) -> XY:
        """Position at the last keyframe."""
        _, x, y = self.path[-1]
        return (x, y)


@dataclass
class Group:
    """People admitted on one credential; one of them (member 1) pays for all."""

    session_ref: str
    credential: str
    admit_t: float
    members: list[Person] = field(default_factory=list)
    held: list[Unit] = field(default_factory=list)
    at_exit: list[Person] = field(default_factory=list)

    @property
    def children(self) -> int:
        """Members who are children."""
        return sum(p.is_child for p in self.members)


def choose(rng: random.Random, weighted: tuple[tuple[int, float], ...]) -> int:
    """One value of an integer distribution given as (value, weight) pairs."""
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


def shop(world: World, person: Person, rng: random.Random) -> Iterator[float]:
    """The process of one person, from passing the entry to waiting at the exit."""
    plan = world.scenario.floor
    behaviour = world.scenario.behaviour
    entry = plan.entry
    person.at(person.enter_t, entry.x_m, entry.y_m)
    inside_t = person.enter_t + GATE_INSIDE_M / behaviour.walk_speed_m_s
    person.at(inside_t, entry.x_m, entry.y_m + GATE_INSIDE_M)
    yield person.path[-1][0]
    previous: ShelfSpec | None = None
    for _ in range(rng.randint(*behaviour.stops)):
        shelf = world.choose_shelf(person, previous, rng)
        product = rng.choice(shelf.products)
        along = rng.uniform(*product.span_m)
        stand = (shelf.x_m + along, shelf.y_m - plan.standoff_m)
        arrive = walk(world, person, stand)
        yield arrive
        world.occupy(shelf.shelf_id, person.shopper_id)
        dwell = rng.lognormvariate(math.log(behaviour.dwell.median_s), behaviour.dwell.sigma)
        actions = plan_actions(
            person,
            rng,
            take=behaviour.take,
            child_take=behaviour.child_take,
            put_back_same=behaviour.put_back_same,
            put_back_wrong=behaviour.put_back_wrong,
            parent_puts_back=behaviour.parent_puts_back,
        )
        for j, action in enumerate(actions):
            yield arrive + dwell * (j + 1) / (len(actions) + 1)
            spot = world.reach_position(person, shelf, along, action)
            while (free := world.hand_free_at(person, shelf.shelf_id, spot)) > world.now:
                yield free  # another hand is at that spot: wait until it is out
            world.act(person, shelf, product, along, action, rng)
        person.at(arrive + dwell, *stand)
        yield arrive + dwell
        world.release(shelf.shelf_id, person.shopper_id)
        previous = shelf
    out = plan.exit
    wait = (out.x_m, out.y_m + GATE_INSIDE_M)
    yield walk(world, person, wait)
    world.at_exit(person)


def walk(world: World, person: Person, goal: XY) -> float:
    """Keyframes from where the person is now to ``goal`` along the world's route; arrival time.

    One keyframe per waypoint, each timed by the walk speed along its own
    leg; a straight route gives the same single keyframe (and time) as
    walking there directly.
    """
    speed = world.scenario.behaviour.walk_speed_m_s
    t = world.now
    here = person.where
    for point in world.router.route(here, goal):
        t += math.dist(here, point) / speed
        person.at(t, *point)
        here = point
    return t


def plan_actions(
    person: Person,
    rng: random.Random,
    *,
    take: float,
    child_take: float,
    put_back_same: float,
    put_back_wrong: float,
    parent_puts_back: float,
) -> list[Action]:
    """What a person means to do at one stop; each is checked again when it is due.

    The payer may first take back something a child picked up; a take comes
    before the put-backs so that "take, look, put back" happens at one stop.
    """
    actions: list[Action] = []
    is_payer = person is person.group.members[0]
    if is_payer and rng.random() < parent_puts_back:
        actions.append("parent_put")
    if rng.random() < (child_take if person.is_child else take):
        actions.append("take")
    if rng.random() < put_back_same:
        actions.append("put_same")
    if rng.random() < put_back_wrong:
        actions.append("put_wrong")
    return actions


def unit_weight_g(product: ProductSpec, rng: random.Random) -> float:
    """The real weight of one unit: nominal plus the unit-to-unit spread, never below 10%."""
    weight = rng.gauss(product.unit_weight_g, product.weight_sigma_g)
    return max(weight, 0.1 * product.unit_weight_g)
