"""The simulated store floor: shelves, and people who walk or are placed.

Floor coordinates are metres: x along the store's width, y away from the
camera, origin at the near left corner. Walkers pick random targets in the
free floor (not inside a shelf), walk there in a straight line at their own
speed, pause, and pick again; they do not avoid each other or shelf edges on
the way (the camera simulator needs plausible motion, not crowd physics).
People placed through the control port stay where they are put until moved.

A placed person may carry a hand point: the floor point (metres) one hand
reaches to, None while the arms are down. It is what a scripted scene (the
store simulator's shoppers reaching into shelves) hands over, so the
metadata can show the reach as a wrist; walkers never reach. Each placement
is a person's whole state: placing them again without a hand lowers it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Point = tuple[float, float]
"""Floor metres."""

Placement = tuple[int, float, float] | tuple[int, float, float, Point | None]
"""``(id, x_m, y_m)`` or ``(id, x_m, y_m, hand_m)``; hand_m None: arms down."""


@dataclass(frozen=True, slots=True)
class Shelf:
    """A shelf's footprint: a rectangle on the floor."""

    name: str
    x_m: float
    y_m: float
    width_m: float
    depth_m: float

    def contains(self, x_m: float, y_m: float, margin_m: float = 0.0) -> bool:
        """Whether the point is on the footprint (grown by ``margin_m``)."""
        return (
            self.x_m - margin_m <= x_m <= self.x_m + self.width_m + margin_m
            and self.y_m - margin_m <= y_m <= self.y_m + self.depth_m + margin_m
        )


DEFAULT_SHELVES = (
    Shelf("A", 1.0, 2.0, 2.4, 0.6),
    Shelf("B", 4.6, 2.0, 2.4, 0.6),
    Shelf("C", 1.0, 4.2, 6.0, 0.6),
)
DEFAULT_FLOOR_M = (8.0, 6.0)
"""The floor the default shelves were laid out on, metres."""


def shelves_on(
    width_m: float, depth_m: float, shelves: Sequence[Shelf] = DEFAULT_SHELVES
) -> tuple[Shelf, ...]:
    """The shelves that lie wholly on a floor of this size.

    A camera over part of a store gets a floor of its own size; shelves that
    would stick out of it are left out rather than drawn cut off. They only
    shape the picture and the walkers' targets (scripted people ignore them).
    """
    return tuple(
        s for s in shelves if s.x_m + s.width_m <= width_m and s.y_m + s.depth_m <= depth_m
    )


@dataclass
class Person:
    """One person on the floor; ``manual`` people are moved only by the control port."""

    id: int
    x_m: float
    y_m: float
    manual: bool = False
    speed_mps: float = 1.0
    target: tuple[float, float] | None = None
    pause_s: float = 0.0
    hand_m: Point | None = None


@dataclass(frozen=True, slots=True)
class PersonState:
    """A person's position and reaching hand at one moment (what renderer and metadata see)."""

    id: int
    x_m: float
    y_m: float
    hand_m: Point | None = None


@dataclass
class Scene:
    """Floor size, shelves and the people on it."""

    width_m: float = DEFAULT_FLOOR_M[0]
    depth_m: float = DEFAULT_FLOOR_M[1]
    shelves: Sequence[Shelf] = DEFAULT_SHELVES
    seed: int = 0
    people: dict[int, Person] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.width_m)
            and math.isfinite(self.depth_m)
            and self.width_m > 0
            and self.depth_m > 0
        ):
            raise ValueError(
                f"the floor needs a finite positive width and depth, got "
                f"{self.width_m} x {self.depth_m} m"
            )
        self._rng = random.Random(self.seed)
        self._next_id = 1

    def add_walkers(self, count: int) -> list[int]:
        """Add ``count`` walking people at random free spots; their ids."""
        if count < 0:
            raise ValueError("count must be >= 0")
        ids = []
        for _ in range(count):
            x, y = self._free_point()
            person = Person(self._new_id(), x, y, speed_mps=self._rng.uniform(0.6, 1.4))
            self.people[person.id] = person
            ids.append(person.id)
        return ids

    def set_walkers(self, count: int) -> list[int]:
        """Replace every walker with ``count`` new ones (placed people stay)."""
        for pid in [p.id for p in self.people.values() if not p.manual]:
            del self.people[pid]
        return self.add_walkers(count)

    def place(self, placements: Iterable[Placement], *, replace: bool) -> None:
        """Put people at given spots; ``replace`` removes everyone else first.

        Every placement is checked before any is applied, so a bad one leaves
        the floor as it was.
        """
        placed: list[tuple[int, float, float, Point | None]] = []
        for placement in placements:
            pid, x, y = placement[0], placement[1], placement[2]
            hand = placement[3] if len(placement) == 4 else None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"person {pid}: position must be finite")
            if hand is not None and not (len(hand) == 2 and all(math.isfinite(c) for c in hand)):
                raise ValueError(f"person {pid}: hand must be two finite numbers, got {hand!r}")
            placed.append((pid, x, y, None if hand is None else (float(hand[0]), float(hand[1]))))
        if replace:
            self.people.clear()
        for pid, x, y, hand in placed:
            self.people[pid] = Person(pid, x, y, manual=True, hand_m=hand)
            self._next_id = max(self._next_id, pid + 1)

    def remove(self, pid: int) -> None:
        """Take a person off the floor (they left)."""
        self.people.pop(pid, None)

    def step(self, dt_s: float) -> None:
        """Move every walker by ``dt_s`` seconds."""
        if dt_s <= 0:
            return
        for person in self.people.values():
            if not person.manual:
                self._walk(person, dt_s)

    def snapshot(self) -> tuple[PersonState, ...]:
        """Everyone's position (and hand) now, by id."""
        return tuple(
            PersonState(p.id, p.x_m, p.y_m, p.hand_m)
            for p in sorted(self.people.values(), key=lambda p: p.id)
        )

    def _walk(self, person: Person, dt_s: float) -> None:
        if person.pause_s > 0:
            person.pause_s = max(0.0, person.pause_s - dt_s)
            return
        if person.target is None:
            person.target = self._free_point()
        tx, ty = person.target
        dx, dy = tx - person.x_m, ty - person.y_m
        dist = math.hypot(dx, dy)
        step = person.speed_mps * dt_s
        if dist <= step:
            person.x_m, person.y_m = tx, ty
            person.target = None
            person.pause_s = self._rng.uniform(0.0, 2.0)
            return
        person.x_m += dx / dist * step
        person.y_m += dy / dist * step

    def _free_point(self) -> tuple[float, float]:
        margin = 0.3
        for _ in range(100):
            x = self._rng.uniform(margin, self.width_m - margin)
            y = self._rng.uniform(margin, self.depth_m - margin)
            if not any(s.contains(x, y, 0.2) for s in self.shelves):
                return x, y
        return self.width_m / 2, margin

    def _new_id(self) -> int:
        pid = self._next_id
        self._next_id += 1
        return pid
