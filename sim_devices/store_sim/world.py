"""The discrete-event store: arrivals, gates, stock, who stands where, what moved.

:func:`simulate` runs a scenario to the end (arrivals stop at
``duration_s``; everyone inside finishes) and returns the sensor stream and
the ground truth. The run is a pure function of the scenario and its seed:
events at the same time run in the order they were scheduled, and every
random draw comes from a generator seeded from the scenario's seed and a
fixed name (``"{seed}:arrivals"``, ``"{seed}:scale:{shelf}"`` ...), so adding
a sensor does not change what the shoppers do.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from sim_devices.store_sim.records import (
    GateRecord,
    Record,
    SessionTruth,
    ShelfEventTruth,
    ShopperTruth,
    StoreTruth,
)
from sim_devices.store_sim.route import Router
from sim_devices.store_sim.scenario import ProductSpec, ShelfSpec, StoreScenario
from sim_devices.store_sim.sensors import (
    ShelfChangeTruth,
    scale_records,
    shelf_camera_records,
    track_records,
)
from sim_devices.store_sim.shoppers import (
    GATE_INSIDE_M,
    REACH_S,
    Action,
    Group,
    Person,
    Unit,
    choose,
    shop,
    unit_weight_g,
)

ADMIT_TO_ENTRY_S = 0.8
"""From a credential being accepted to the first member passing the entry."""

HAND_WIDTH_M = 0.12
"""Two hands closer than this along a board would meet: one waits for the other."""

ARM_REACH_M = 0.5
"""Along the board, a put-back lands on the item's own facing only within this reach
of where the person stands; farther away it lands where they stand (same shelf,
wrong place)."""


@dataclass
class SimulationResult:
    """The sensor stream, time-ordered, and what really happened."""

    scenario: StoreScenario
    records: list[Record]
    truth: StoreTruth


def rng_for(seed: int, name: str) -> random.Random:
    """A generator of its own for one part of the run (string seeds are stable across runs)."""
    return random.Random(f"{seed}:{name}")


@dataclass
class World:
    """State of the store during a run; shoppers act on it through its methods."""

    scenario: StoreScenario
    now: float = 0.0
    gates: list[GateRecord] = field(default_factory=list)
    events: list[ShelfEventTruth] = field(default_factory=list)
    changes: dict[str, list[ShelfChangeTruth]] = field(default_factory=dict)
    people: list[Person] = field(default_factory=list)
    sessions: list[SessionTruth] = field(default_factory=list)
    inside: int = 0
    turned_away: int = 0
    sold_out_takes: int = 0
    occupancy_changes: list[tuple[float, int]] = field(default_factory=list)
    _heap: list[tuple[float, int, Iterator[float]]] = field(default_factory=list)
    _seq: int = 0
    _groups: int = 0
    _stock: dict[tuple[str, str], int] = field(default_factory=dict)
    _standing: dict[str, set[str]] = field(default_factory=dict)
    _hands: dict[str, list[tuple[float, str, float]]] = field(default_factory=dict)
    """Per shelf, every reach so far: (time, shopper, position along the board)."""
    _entry_free_t: float = -math.inf
    _exit_free_t: float = -math.inf
    router: Router = field(init=False, repr=False, compare=False)
    """Walking routes around the boards, built once per run."""

    def __post_init__(self) -> None:
        self.router = Router.for_shelves(self.scenario.floor.shelves)
        for shelf in self.scenario.floor.shelves:
            self.changes[shelf.shelf_id] = []
            self._standing[shelf.shelf_id] = set()
            self._hands[shelf.shelf_id] = []
            for product in shelf.products:
                self._stock[(shelf.shelf_id, product.sku)] = product.stock

    # engine ----------------------------------------------------------------------------

    def start(self, process: Iterator[float], at: float) -> None:
        """Run ``process`` from time ``at`` on."""
        heapq.heappush(self._heap, (at, self._seq, process))
        self._seq += 1

    def run(self) -> None:
        """Advance until no process has anything left to do."""
        while self._heap:
            t, seq, process = heapq.heappop(self._heap)
            self.now = t
            wake = next(process, None)
            if wake is not None:
                heapq.heappush(self._heap, (max(wake, t), seq, process))

    # arrivals and gates ------------------------------------------------------------------

    def arrivals(self, rng: random.Random, member_rng: random.Random) -> Iterator[float]:
        """Groups arrive as a Poisson process with a piecewise rate (thinning)."""
        spec = self.scenario.arrivals
        top_per_s = max(step.rate_per_min for step in spec.rates) / 60.0
        if top_per_s <= 0:
            return
        t = 0.0
        while True:
            t += rng.expovariate(top_per_s)
            if t >= self.scenario.duration_s:
                return
            if rng.random() * top_per_s < spec.rate_at(t) / 60.0:
                yield t
                self.admit(choose(rng, spec.group_sizes), member_rng)

    def admit(self, size: int, rng: random.Random) -> None:
        """A credential for ``size`` people at the entry: admitted, or turned away when full.

        The entry lane passes one person at a time, ``gate_gap_s`` apart: a
        group that arrives while another is still passing waits outside and
        shows its credential when the lane is free (two groups never pass
        side by side, as they cannot through a real gate).
        """
        spec = self.scenario.arrivals
        if self.inside + size > spec.max_in_store:
            self.turned_away += 1
            return
        self._groups += 1
        ref = f"S{self._groups:06d}"
        admit_t = max(self.now, self._entry_free_t - ADMIT_TO_ENTRY_S)
        group = Group(ref, credential=f"card-{self._groups:06d}", admit_t=admit_t)
        gate = self.scenario.floor.entry.gate_id
        self.gates.append(GateRecord(admit_t, "admit", gate, group.credential, ref, 0, size))
        for k in range(size):
            child = k > 0 and rng.random() < spec.child_fraction
            enter_t = admit_t + ADMIT_TO_ENTRY_S + k * spec.gate_gap_s
            self._entry_free_t = enter_t + spec.gate_gap_s
            person = Person(f"{ref}-{k + 1}", group, child, enter_t)
            group.members.append(person)
            self.people.append(person)
            self.gates.append(
                GateRecord(enter_t, "enter", gate, group.credential, ref, k + 1, size)
            )
            self.occupancy_changes.append((enter_t, 1))
            person_rng = rng_for(self.scenario.seed, f"shopper:{person.shopper_id}")
            self.start(shop(self, person, person_rng), enter_t)
        self.inside += size

    def at_exit(self, person: Person) -> None:
        """A person waits at the exit; the group leaves together once all are there.

        Like the entry, the exit lane passes one person at a time: a group
        waits inside until the group before it has passed.
        """
        group = person.group
        group.at_exit.append(person)
        if len(group.at_exit) < len(group.members):
            return
        spec = self.scenario.arrivals
        out = self.scenario.floor.exit
        step_s = GATE_INSIDE_M / self.scenario.behaviour.walk_speed_m_s  # wait spot to gate
        first_t = max(self.now + step_s, self._exit_free_t)
        for k, member in enumerate(group.at_exit):
            member.exit_t = first_t + k * spec.gate_gap_s
            self._exit_free_t = member.exit_t + spec.gate_gap_s
            member.at(member.exit_t - step_s, out.x_m, out.y_m + GATE_INSIDE_M)
            member.at(member.exit_t, out.x_m, out.y_m)
            self.gates.append(GateRecord(member.exit_t, "exit", out.gate_id, None, None, 0, 1))
            self.occupancy_changes.append((member.exit_t, -1))
        self.inside -= len(group.members)
        receipt = Counter(unit.sku for unit in group.held)
        self.sessions.append(
            SessionTruth(
                session_ref=group.session_ref,
                credential=group.credential,
                group_size=len(group.members),
                children=group.children,
                admit_t=group.admit_t,
                exit_t=max(m.exit_t for m in group.members),
                receipt=dict(sorted(receipt.items())),
            )
        )

    # shelves -------------------------------------------------------------------------------

    def choose_shelf(
        self, person: Person, previous: ShelfSpec | None, rng: random.Random
    ) -> ShelfSpec:
        """The next shelf: with the crowding chance one where somebody else stands now."""
        shelves = self.scenario.floor.shelves
        if rng.random() < self.scenario.behaviour.crowding:
            busy = [
                s
                for s in shelves
                if s is not previous and self._standing[s.shelf_id] - {person.shopper_id}
            ]
            if busy:
                return rng.choice(busy)
        others = [s for s in shelves if s is not previous] or list(shelves)
        return rng.choice(others)

    def occupy(self, shelf_id: str, shopper_id: str) -> None:
        """A person now stands at a shelf."""
        self._standing[shelf_id].add(shopper_id)

    def release(self, shelf_id: str, shopper_id: str) -> None:
        """A person walked away from a shelf."""
        self._standing[shelf_id].discard(shopper_id)

    def stock(self, shelf_id: str, sku: str) -> int:
        """Units of a SKU left on its facing."""
        return self._stock.get((shelf_id, sku), 0)

    def act(
        self,
        person: Person,
        shelf: ShelfSpec,
        product: ProductSpec,
        along_m: float,
        action: Action,
        rng: random.Random,
    ) -> None:
        """Carry out one planned action if it is still possible; reaches only if it is."""
        group = person.group
        if action == "take":
            qty = min(
                choose(rng, self.scenario.behaviour.quantity),
                self.stock(shelf.shelf_id, product.sku),
            )
            if qty <= 0:
                self.sold_out_takes += 1
                return
            self._stock[(shelf.shelf_id, product.sku)] -= qty
            units = [
                Unit(
                    product.sku,
                    unit_weight_g(product, rng),
                    shelf.shelf_id,
                    along_m,
                    person.shopper_id,
                    person.is_child,
                )
                for _ in range(qty)
            ]
            group.held.extend(units)
            self._record(person, "take", units, shelf, along_m)
            return
        unit = self._unit_to_put(person, shelf, action)
        if unit is None:
            return
        group.held.remove(unit)
        at_home = _within_reach_of_home(unit, shelf, along_m)
        position = unit.home_position_m if at_home else along_m
        if at_home:
            self._stock[(shelf.shelf_id, unit.sku)] += 1
        self._record(person, "put", [unit], shelf, position)

    def _unit_to_put(self, person: Person, shelf: ShelfSpec, action: Action) -> Unit | None:
        """The unit a put-back action would return, if the group holds one."""
        held = person.group.held
        if action == "put_same":
            mine = [
                u
                for u in held
                if u.taker == person.shopper_id and u.home_shelf_id == shelf.shelf_id
            ]
        elif action == "put_wrong":
            mine = [
                u
                for u in held
                if u.taker == person.shopper_id and u.home_shelf_id != shelf.shelf_id
            ]
        else:
            mine = [u for u in held if u.by_child]
        return mine[-1] if mine else None

    def reach_position(
        self, person: Person, shelf: ShelfSpec, along_m: float, action: Action
    ) -> float:
        """Where along the board the hand goes for ``action``.

        A put-back within reach of the item's own facing lands there; anything
        else where the person stands.
        """
        if action == "take":
            return along_m
        unit = self._unit_to_put(person, shelf, action)
        if unit is not None and _within_reach_of_home(unit, shelf, along_m):
            return unit.home_position_m
        return along_m

    def hand_free_at(self, person: Person, shelf_id: str, position_m: float) -> float:
        """When ``person`` can reach to ``position_m`` without their hand meeting another's.

        Two hands cannot grab the same spot at once: a reach holds the spot
        (``HAND_WIDTH_M`` either side) for ``REACH_S`` before and after its
        weight change, so another reach there waits until that one is over.
        Only reaches made so far count: a later one waits for this in turn.
        """
        free = self.now
        for t, other, position in reversed(self._hands[shelf_id]):
            if t < self.now - 2 * REACH_S:
                break
            if other != person.shopper_id and abs(position - position_m) < HAND_WIDTH_M:
                free = max(free, t + 2 * REACH_S)
        return free

    def _record(
        self, person: Person, kind: str, units: list[Unit], shelf: ShelfSpec, position_m: float
    ) -> None:
        weight = math.fsum(u.weight_g for u in units)
        self.events.append(
            ShelfEventTruth(
                t=self.now,
                session_ref=person.group.session_ref,
                shopper_id=person.shopper_id,
                kind="take" if kind == "take" else "put",
                sku=units[0].sku,
                qty=len(units),
                weight_g=weight,
                shelf_id=shelf.shelf_id,
                position_m=position_m,
                home_shelf_id=units[0].home_shelf_id,
                by_child=person.is_child,
            )
        )
        delta = -weight if kind == "take" else weight
        self.changes[shelf.shelf_id].append(ShelfChangeTruth(self.now, delta, position_m))
        person.reaches.append((self.now, (shelf.x_m + position_m, shelf.y_m)))
        self._hands[shelf.shelf_id].append((self.now, person.shopper_id, position_m))


def _within_reach_of_home(unit: Unit, shelf: ShelfSpec, along_m: float) -> bool:
    """Whether a person standing at ``along_m`` puts ``unit`` back on its own facing."""
    return unit.home_shelf_id == shelf.shelf_id and abs(unit.home_position_m - along_m) <= (
        ARM_REACH_M
    )


def simulate(scenario: StoreScenario) -> SimulationResult:
    """Run a scenario to its end; the same scenario (and seed) gives the same result."""
    world = World(scenario)
    seed = scenario.seed
    world.start(world.arrivals(rng_for(seed, "arrivals"), rng_for(seed, "members")), 0.0)
    world.run()
    end_t = max((p.exit_t for p in world.people), default=scenario.duration_s)
    records: list[Record] = list(world.gates)
    jitter = scenario.sensors.jitter_s
    if jitter > 0:
        gate_rng = rng_for(seed, "gate-jitter")
        records = [
            GateRecord(
                g.t + gate_rng.gauss(0.0, jitter),
                g.kind,
                g.gate_id,
                g.credential,
                g.session_ref,
                g.person,
                g.group_size,
            )
            for g in world.gates
        ]
    for shelf in scenario.floor.shelves:
        records.extend(
            scale_records(
                shelf,
                scenario.sensors,
                world.changes[shelf.shelf_id],
                end_t,
                rng_for(seed, f"scale:{shelf.shelf_id}"),
            )
        )
    tracks, track_truth = track_records(
        world.people, scenario.sensors, rng_for(seed, "tracker"), REACH_S
    )
    records.extend(tracks)
    camera = scenario.sensors.shelf_camera
    if camera is not None:
        # after every other sensor, each camera on a generator of its own: the
        # other records of a seed are the same with cameras on or off
        for shelf_id in camera.shelves:
            records.extend(
                shelf_camera_records(
                    scenario.shelf(shelf_id),
                    camera,
                    world.events,
                    jitter,
                    rng_for(seed, f"shelf-camera:{shelf_id}"),
                )
            )
    records.sort(key=lambda r: r.t)
    occupancy: list[tuple[float, int]] = []
    count = 0
    for t, delta in sorted(world.occupancy_changes):
        count += delta
        occupancy.append((t, count))
    truth = StoreTruth(
        sessions=tuple(sorted(world.sessions, key=lambda s: s.session_ref)),
        events=tuple(world.events),
        shoppers=tuple(
            ShopperTruth(p.shopper_id, p.group.session_ref, p.is_child, p.enter_t, p.exit_t)
            for p in world.people
        ),
        tracks=tuple(track_truth),
        peak_in_store=max((c for _, c in occupancy), default=0),
        turned_away=world.turned_away,
        occupancy=tuple(occupancy),
        sold_out_takes=world.sold_out_takes,
    )
    return SimulationResult(scenario, records, truth)
