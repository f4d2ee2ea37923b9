"""A store scenario: floor plan, shoppers' arrivals and behaviour, sensor models, seed.

Written as YAML (``sim_devices/scenarios/store/*.yaml`` are the packaged
ones); every section but ``floor`` may be left out and takes the defaults
below. Validation is plain code, like the shelf simulator's scenarios (no
pydantic in the simulators), and every error starts with the key path::

    seed: 7
    duration_s: 1800              # arrivals stop here; everyone inside still finishes
    floor:
      entry: {id: entry-1, x_m: 1.0, y_m: 0.0}
      exit: {id: exit-1, x_m: 9.0, y_m: 0.0}
      shelves:
        - id: A1                  # board runs along +x from (x_m, y_m); shoppers
          x_m: 2.0                # stand standoff_m in front of it (towards -y)
          y_m: 3.0
          length_m: 1.2
          cells: 4                # cells evenly spaced from one end to the other
          products:
            - {sku: cola-033, unit_weight_g: 355, weight_sigma_g: 2,
               price: "1.20", span_m: [0.0, 0.6], stock: 24}
    arrivals:
      rate_per_min: 2.0           # or [{from_s: 0, rate_per_min: 1}, {from_s: 600, ...}]
      group_sizes: {1: 0.7, 2: 0.2, 4: 0.1}
      child_fraction: 0.3         # chance that a member other than the payer is a child
      max_in_store: 200           # a group that would exceed it turns away
    behaviour:
      stops: [2, 6]               # shelves visited, uniform, inclusive
      walk_speed_m_s: 1.0
      dwell_s: {median: 10, sigma: 0.5}   # lognormal time at one shelf
      take: 0.6                   # chance of a take at a stop
      quantity: {1: 0.85, 2: 0.15}
      put_back_same: 0.1          # chance, per stop, of returning an item taken from this shelf
      put_back_wrong: 0.03        # chance, per stop, of leaving an item from another shelf here
      crowding: 0.2               # chance the next shelf is one somebody else stands at now
      children: {take: 0.5, parent_puts_back: 0.6}
    sensors:
      scale: {rate_hz: 10, sigma_g: 0.8, drift_g_per_h: 2.0, settle_ratio: 0.3,
              settle_freq_hz: 2.5, settle_tau_s: 0.35, idle_every_s: 5,
              window_before_s: 1.0, window_after_s: 3.0}
      tracker: {rate_hz: 2, reach_rate_hz: 10, position_sigma_m: 0.05, hand_sigma_m: 0.03,
                wrist_miss_rate: 0.1, detection_miss_rate: 0.02, id_switch_per_min: 0.05,
                id_swap_radius_m: 1.0, appearance_dim: 16, appearance_sigma: 0.1}
      timing: {jitter_s: 0.005}
      shelf_camera: {shelves: [A1], accuracy: 0.95, miss_rate: 0.05, concentration: 20}

``sensors.shelf_camera`` is off when left out: no camera records, and every
other record of a seed stays exactly as it was.

Distributions over integers (``group_sizes``, ``quantity``) are weights that
need not sum to 1. Prices are strings (or integers) so they stay exact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml


class StoreScenarioError(ValueError):
    """A store scenario that cannot be run; the message starts with the key path."""


# model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """A place on the floor plan, metres from the plan's origin."""

    x_m: float
    y_m: float


@dataclass(frozen=True)
class GateSpec:
    """An entry or exit gate: where people pass."""

    gate_id: str
    x_m: float
    y_m: float


@dataclass(frozen=True)
class ProductSpec:
    """One SKU's facing on a shelf.

    ``weight_sigma_g`` is the unit-to-unit spread of real items (one standard
    deviation); ``stock`` units sit evenly over ``span_m`` at the start.
    """

    sku: str
    unit_weight_g: float
    price: Decimal
    span_m: tuple[float, float]
    stock: int
    name: str = ""
    weight_sigma_g: float = 0.0

    @property
    def centre_m(self) -> float:
        """Middle of the facing along the shelf."""
        return (self.span_m[0] + self.span_m[1]) / 2


@dataclass(frozen=True)
class ShelfSpec:
    """One shelf board: along +x from (``x_m``, ``y_m``), ``cells`` load cells under it."""

    shelf_id: str
    x_m: float
    y_m: float
    length_m: float
    cells: int
    products: tuple[ProductSpec, ...]


@dataclass(frozen=True)
class FloorPlan:
    """Gates and shelves. ``standoff_m``: how far in front of a board a shopper stands."""

    entry: GateSpec
    exit: GateSpec
    shelves: tuple[ShelfSpec, ...]
    standoff_m: float = 0.45


@dataclass(frozen=True)
class RateStep:
    """From ``from_s`` on, groups arrive at ``rate_per_min`` (Poisson)."""

    from_s: float
    rate_per_min: float


@dataclass(frozen=True)
class Arrivals:
    """How groups arrive; ``group_sizes`` maps size to weight."""

    rates: tuple[RateStep, ...] = (RateStep(0.0, 1.0),)
    group_sizes: tuple[tuple[int, float], ...] = ((1, 1.0),)
    child_fraction: float = 0.0
    max_in_store: int = 500
    gate_gap_s: float = 1.5
    """Seconds between two people of one group passing a gate."""

    def rate_at(self, t_s: float) -> float:
        """Groups per minute at scenario time ``t_s``."""
        rate = 0.0
        for step in self.rates:
            if step.from_s <= t_s:
                rate = step.rate_per_min
        return rate


@dataclass(frozen=True)
class Dwell:
    """Lognormal time at one shelf: ``median`` seconds, ``sigma`` of the log."""

    median_s: float = 10.0
    sigma: float = 0.5


@dataclass(frozen=True)
class Behaviour:
    """Per-stop chances and timings of one shopper (see the module docstring)."""

    stops: tuple[int, int] = (2, 5)
    walk_speed_m_s: float = 1.0
    dwell: Dwell = Dwell()
    take: float = 0.6
    quantity: tuple[tuple[int, float], ...] = ((1, 1.0),)
    put_back_same: float = 0.05
    put_back_wrong: float = 0.0
    crowding: float = 0.0
    child_take: float = 0.5
    parent_puts_back: float = 0.5


@dataclass(frozen=True)
class ScaleModel:
    """Load cells after calibration: noise, drift, settling; sampled only when it matters.

    Samples come at ``rate_hz`` from ``window_before_s`` before to
    ``window_after_s`` after each load change, and one every
    ``idle_every_s`` otherwise (replay speed: a quiet shelf tells nothing new).
    """

    rate_hz: float = 10.0
    sigma_g: float = 0.5
    drift_g_per_h: float = 0.0
    settle_ratio: float = 0.3
    settle_freq_hz: float = 2.5
    settle_tau_s: float = 0.35
    idle_every_s: float = 5.0
    window_before_s: float = 1.0
    window_after_s: float = 3.0


@dataclass(frozen=True)
class TrackerModel:
    """Camera tracking on the floor plan.

    Samples at ``rate_hz``, and at ``reach_rate_hz`` within a second of a
    reach into a shelf. ``wrist_miss_rate`` drops each hand point,
    ``detection_miss_rate`` a whole sample; ``id_switch_per_min`` is the
    Poisson rate, per track-minute, of id switches: with somebody within
    ``id_swap_radius_m`` the two people's ids swap, otherwise the track
    continues under a new id.

    ``appearance_dim`` > 0 gives every sample an appearance embedding of
    that many dimensions, as a re-identification model would: each person
    has a fixed random unit vector, and each sample is that vector plus
    Gaussian noise of ``appearance_sigma`` per dimension, normalised. The
    embedding follows the person, not the track id, so a swap shows in it.
    """

    rate_hz: float = 2.0
    reach_rate_hz: float = 10.0
    position_sigma_m: float = 0.05
    hand_sigma_m: float = 0.03
    wrist_miss_rate: float = 0.0
    detection_miss_rate: float = 0.0
    id_switch_per_min: float = 0.0
    id_swap_radius_m: float = 0.0
    appearance_dim: int = 0
    appearance_sigma: float = 0.1


@dataclass(frozen=True)
class ShelfCameraModel:
    """Cameras over some shelves that recognise the product in a hand.

    Each true take or put on one of ``shelves`` gives one sighting, none
    with probability ``miss_rate``. Its confidence is drawn from a Beta
    distribution with mean ``accuracy`` and ``concentration`` (alpha + beta;
    larger: confidences closer to ``accuracy``), and the sighting names the
    right SKU with exactly that probability, another SKU of the shelf
    otherwise: the confidences are calibrated, and a fraction ``accuracy``
    of sightings is right overall.
    """

    shelves: tuple[str, ...]
    accuracy: float = 0.95
    miss_rate: float = 0.05
    concentration: float = 20.0


@dataclass(frozen=True)
class Sensors:
    """Sensor models; ``jitter_s`` is the standard deviation added to every timestamp.

    ``shelf_camera`` None: no shelf cameras.
    """

    scale: ScaleModel = ScaleModel()
    tracker: TrackerModel = TrackerModel()
    jitter_s: float = 0.0
    shelf_camera: ShelfCameraModel | None = None


@dataclass(frozen=True)
class StoreScenario:
    """Everything one store simulation needs; the same seed gives the same run."""

    floor: FloorPlan
    seed: int = 0
    duration_s: float = 600.0
    name: str = ""
    arrivals: Arrivals = Arrivals()
    behaviour: Behaviour = Behaviour()
    sensors: Sensors = Sensors()

    def shelf(self, shelf_id: str) -> ShelfSpec:
        """The shelf with this id."""
        for shelf in self.floor.shelves:
            if shelf.shelf_id == shelf_id:
                return shelf
        raise KeyError(f"no shelf {shelf_id!r}")


# parsing -------------------------------------------------------------------------------


class _Section:
    """A mapping being read at key path ``where``; unknown keys are refused up front."""

    def __init__(self, raw: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(raw, Mapping):
            raise StoreScenarioError(f"{where}: expected a mapping, got {type(raw).__name__}")
        self.data: Mapping[str, Any] = raw
        self.where = where
        for key in raw:
            if key not in allowed:
                raise StoreScenarioError(
                    f"{self.path(str(key))}: unknown key (allowed: {', '.join(sorted(allowed))})"
                )

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def required(self, key: str) -> Any:
        if not self.has(key):
            raise StoreScenarioError(f"{self.path(key)}: required")
        return self.data[key]

    def number(
        self,
        key: str,
        default: float | None = None,
        *,
        low: float | None = None,
        high: float | None = None,
        open_low: bool = False,
    ) -> float:
        if not self.has(key):
            if default is None:
                raise StoreScenarioError(f"{self.path(key)}: required")
            return default
        return _check_number(self.data[key], self.path(key), low, high, open_low)

    def integer(self, key: str, default: int | None = None, *, low: int | None = None) -> int:
        if not self.has(key):
            if default is None:
                raise StoreScenarioError(f"{self.path(key)}: required")
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise StoreScenarioError(f"{self.path(key)}: expected an integer, got {value!r}")
        if low is not None and value < low:
            raise StoreScenarioError(f"{self.path(key)}: must be >= {low}, got {value}")
        return value

    def string(self, key: str, default: str | None = None) -> str:
        if not self.has(key):
            if default is None:
                raise StoreScenarioError(f"{self.path(key)}: required")
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value:
            raise StoreScenarioError(
                f"{self.path(key)}: expected a non-empty string, got {value!r}"
            )
        return value

    def fraction(self, key: str, default: float) -> float:
        return self.number(key, default, low=0.0, high=1.0)

    def section(self, key: str, allowed: set[str]) -> _Section:
        return _Section(self.data.get(key) or {}, self.path(key), allowed)

    def items(self, key: str) -> list[Any]:
        value = self.required(key)
        if not isinstance(value, list) or not value:
            raise StoreScenarioError(f"{self.path(key)}: expected a non-empty list")
        return value


def _check_number(
    value: Any, where: str, low: float | None, high: float | None, open_low: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StoreScenarioError(f"{where}: expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise StoreScenarioError(f"{where}: must be finite, got {value!r}")
    if low is not None and (number <= low if open_low else number < low):
        raise StoreScenarioError(f"{where}: must be {'>' if open_low else '>='} {low}, got {value}")
    if high is not None and number > high:
        raise StoreScenarioError(f"{where}: must be <= {high}, got {value}")
    return number


def _distribution(raw: Any, where: str) -> tuple[tuple[int, float], ...]:
    """``{value: weight}`` over positive integers, weights >= 0 and not all zero."""
    if not isinstance(raw, Mapping) or not raw:
        raise StoreScenarioError(f"{where}: expected a mapping of integer -> weight")
    pairs = []
    for key, weight in raw.items():
        try:
            value = int(key)
        except (TypeError, ValueError):
            raise StoreScenarioError(f"{where}.{key}: expected an integer key") from None
        if value < 1 or isinstance(key, bool):
            raise StoreScenarioError(f"{where}.{key}: must be an integer >= 1")
        pairs.append((value, _check_number(weight, f"{where}.{key}", 0.0, None)))
    if sum(w for _, w in pairs) <= 0:
        raise StoreScenarioError(f"{where}: weights are all zero")
    return tuple(sorted(pairs))


def _price(raw: Any, where: str) -> Decimal:
    if isinstance(raw, (bool, float)) or not isinstance(raw, int | str):
        raise StoreScenarioError(f'{where}: write the price as a string (e.g. "1.20"), got {raw!r}')
    try:
        price = Decimal(str(raw))
    except InvalidOperation:
        raise StoreScenarioError(f"{where}: not a price: {raw!r}") from None
    if not price.is_finite() or price < 0:
        raise StoreScenarioError(f"{where}: must be a price >= 0, got {raw!r}")
    return price


def _gate(s: _Section, key: str, default_id: str) -> GateSpec:
    g = s.section(key, {"id", "x_m", "y_m"})
    s.required(key)
    return GateSpec(g.string("id", default_id), g.number("x_m"), g.number("y_m"))


def _product(raw: Any, where: str, length_m: float) -> ProductSpec:
    p = _Section(
        raw, where, {"sku", "name", "unit_weight_g", "weight_sigma_g", "price", "span_m", "stock"}
    )
    span = p.required("span_m")
    if not isinstance(span, list) or len(span) != 2:
        raise StoreScenarioError(f"{where}.span_m: expected [start, end] in metres")
    start = _check_number(span[0], f"{where}.span_m[0]", 0.0, length_m)
    end = _check_number(span[1], f"{where}.span_m[1]", 0.0, length_m)
    if not start < end:
        raise StoreScenarioError(f"{where}.span_m: start must be < end, got {span}")
    return ProductSpec(
        sku=p.string("sku"),
        name=p.string("name", "") if p.has("name") else "",
        unit_weight_g=p.number("unit_weight_g", low=0.0, open_low=True),
        weight_sigma_g=p.number("weight_sigma_g", 0.0, low=0.0),
        price=_price(p.required("price"), f"{where}.price"),
        span_m=(start, end),
        stock=p.integer("stock", low=0),
    )


def _shelf(raw: Any, where: str) -> ShelfSpec:
    s = _Section(raw, where, {"id", "x_m", "y_m", "length_m", "cells", "products"})
    length = s.number("length_m", low=0.0, open_low=True)
    products = tuple(
        _product(p, f"{where}.products[{i}]", length) for i, p in enumerate(s.items("products"))
    )
    seen: set[str] = set()
    for i, product in enumerate(products):
        if product.sku in seen:
            raise StoreScenarioError(f"{where}.products[{i}].sku: {product.sku!r} appears twice")
        seen.add(product.sku)
    ordered = sorted(products, key=lambda p: p.span_m)
    for a, b in itertools.pairwise(ordered):
        if b.span_m[0] < a.span_m[1] - 1e-9:
            raise StoreScenarioError(f"{where}.products: {a.sku!r} and {b.sku!r} overlap")
    cells = s.integer("cells", 4, low=1)
    return ShelfSpec(s.string("id"), s.number("x_m"), s.number("y_m"), length, cells, products)


def _floor(raw: Any) -> FloorPlan:
    f = _Section(raw, "floor", {"entry", "exit", "shelves", "standoff_m"})
    shelves = tuple(_shelf(s, f"floor.shelves[{i}]") for i, s in enumerate(f.items("shelves")))
    ids: set[str] = set()
    catalog: dict[str, ProductSpec] = {}
    for i, shelf in enumerate(shelves):
        if shelf.shelf_id in ids:
            raise StoreScenarioError(f"floor.shelves[{i}].id: {shelf.shelf_id!r} appears twice")
        ids.add(shelf.shelf_id)
        for j, product in enumerate(shelf.products):
            first = catalog.setdefault(product.sku, product)
            if (first.unit_weight_g, first.price) != (product.unit_weight_g, product.price):
                raise StoreScenarioError(
                    f"floor.shelves[{i}].products[{j}]: {product.sku!r} has another unit "
                    "weight or price elsewhere (one per SKU store-wide)"
                )
    return FloorPlan(
        entry=_gate(f, "entry", "entry"),
        exit=_gate(f, "exit", "exit"),
        shelves=shelves,
        standoff_m=f.number("standoff_m", 0.45, low=0.0),
    )


def _rates(a: _Section) -> tuple[RateStep, ...]:
    raw = a.data.get("rate_per_min", 1.0)
    where = a.path("rate_per_min")
    if not isinstance(raw, list):
        return (RateStep(0.0, _check_number(raw, where, 0.0, None)),)
    steps = []
    for i, step in enumerate(raw):
        s = _Section(step, f"{where}[{i}]", {"from_s", "rate_per_min"})
        steps.append(RateStep(s.number("from_s", low=0.0), s.number("rate_per_min", low=0.0)))
    if not steps or any(b.from_s <= a.from_s for a, b in itertools.pairwise(steps)):
        raise StoreScenarioError(f"{where}: expected steps with increasing from_s")
    return tuple(steps)


def _arrivals(top: _Section) -> Arrivals:
    a = top.section(
        "arrivals", {"rate_per_min", "group_sizes", "child_fraction", "max_in_store", "gate_gap_s"}
    )
    sizes = (
        _distribution(a.data["group_sizes"], a.path("group_sizes"))
        if a.has("group_sizes")
        else Arrivals.group_sizes
    )
    return Arrivals(
        rates=_rates(a),
        group_sizes=sizes,
        child_fraction=a.fraction("child_fraction", 0.0),
        max_in_store=a.integer("max_in_store", 500, low=1),
        gate_gap_s=a.number("gate_gap_s", 1.5, low=0.0, open_low=True),
    )


def _behaviour(top: _Section) -> Behaviour:
    keys = {
        "stops",
        "walk_speed_m_s",
        "dwell_s",
        "take",
        "quantity",
        "put_back_same",
        "put_back_wrong",
        "crowding",
        "children",
    }
    b = top.section("behaviour", keys)
    stops = Behaviour.stops
    if b.has("stops"):
        raw = b.data["stops"]
        if not isinstance(raw, list) or len(raw) != 2:
            raise StoreScenarioError(f"{b.path('stops')}: expected [min, max]")
        lo, hi = raw
        if any(isinstance(v, bool) or not isinstance(v, int) for v in raw) or not 1 <= lo <= hi:
            raise StoreScenarioError(f"{b.path('stops')}: expected integers 1 <= min <= max")
        stops = (lo, hi)
    d = b.section("dwell_s", {"median", "sigma"})
    c = b.section("children", {"take", "parent_puts_back"})
    return Behaviour(
        stops=stops,
        walk_speed_m_s=b.number("walk_speed_m_s", 1.0, low=0.0, open_low=True),
        dwell=Dwell(
            d.number("median", 10.0, low=0.0, open_low=True), d.number("sigma", 0.5, low=0.0)
        ),
        take=b.fraction("take", 0.6),
        quantity=(
            _distribution(b.data["quantity"], b.path("quantity"))
            if b.has("quantity")
            else Behaviour.quantity
        ),
        put_back_same=b.fraction("put_back_same", 0.05),
        put_back_wrong=b.fraction("put_back_wrong", 0.0),
        crowding=b.fraction("crowding", 0.0),
        child_take=c.fraction("take", 0.5),
        parent_puts_back=c.fraction("parent_puts_back", 0.5),
    )


def _shelf_camera(s: _Section, shelf_ids: tuple[str, ...]) -> ShelfCameraModel | None:
    if not s.has("shelf_camera"):
        return None
    c = s.section("shelf_camera", {*ShelfCameraModel.__dataclass_fields__})
    where = c.path("shelves")
    raw = c.items("shelves")
    shelves: list[str] = []
    for i, shelf_id in enumerate(raw):
        if shelf_id not in shelf_ids:
            raise StoreScenarioError(
                f"{where}[{i}]: {shelf_id!r} is not a shelf of the floor "
                f"(shelves: {', '.join(shelf_ids)})"
            )
        if shelf_id in shelves:
            raise StoreScenarioError(f"{where}[{i}]: {shelf_id!r} appears twice")
        shelves.append(shelf_id)
    d = ShelfCameraModel(())
    return ShelfCameraModel(
        shelves=tuple(shelves),
        accuracy=c.number("accuracy", d.accuracy, low=0.0, high=1.0, open_low=True),
        miss_rate=c.number("miss_rate", d.miss_rate, low=0.0, high=1.0),
        concentration=c.number("concentration", d.concentration, low=0.0, open_low=True),
    )


def _sensors(top: _Section, shelf_ids: tuple[str, ...]) -> Sensors:
    s = top.section("sensors", {"scale", "tracker", "timing", "shelf_camera"})
    sc = s.section("scale", {*ScaleModel.__dataclass_fields__})
    d = ScaleModel()
    positive = {"rate_hz", "settle_freq_hz", "settle_tau_s", "idle_every_s"}
    scale = ScaleModel(
        **{
            k: sc.number(k, getattr(d, k), low=0.0, open_low=k in positive)
            for k in ScaleModel.__dataclass_fields__
            if k != "drift_g_per_h"
        },
        drift_g_per_h=sc.number("drift_g_per_h", d.drift_g_per_h),
    )
    tr = s.section("tracker", {*TrackerModel.__dataclass_fields__})
    t = TrackerModel()
    rates = {"wrist_miss_rate", "detection_miss_rate"}
    tracker = TrackerModel(
        **{
            k: tr.fraction(k, getattr(t, k))
            if k in rates
            else tr.number(k, getattr(t, k), low=0.0, open_low=k.endswith("rate_hz"))
            for k in TrackerModel.__dataclass_fields__
            if k != "appearance_dim"
        },
        appearance_dim=tr.integer("appearance_dim", t.appearance_dim, low=0),
    )
    timing = s.section("timing", {"jitter_s"})
    return Sensors(
        scale=scale,
        tracker=tracker,
        jitter_s=timing.number("jitter_s", 0.0, low=0.0),
        shelf_camera=_shelf_camera(s, shelf_ids),
    )


def parse_store_scenario(data: Any) -> StoreScenario:
    """Validate a decoded scenario document."""
    top = _Section(
        data, "", {"name", "seed", "duration_s", "floor", "arrivals", "behaviour", "sensors"}
    )
    floor = _floor(top.required("floor"))
    return StoreScenario(
        floor=floor,
        seed=top.integer("seed", 0),
        duration_s=top.number("duration_s", 600.0, low=0.0, open_low=True),
        name=top.string("name", "") if top.has("name") else "",
        arrivals=_arrivals(top),
        behaviour=_behaviour(top),
        sensors=_sensors(top, tuple(shelf.shelf_id for shelf in floor.shelves)),
    )


def load_store_scenario(path: str | Path) -> StoreScenario:
    """Read a YAML scenario file; errors start with the file name."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise StoreScenarioError(f"{path}: {exc}") from None
    try:
        scenario = parse_store_scenario(data)
    except StoreScenarioError as exc:
        raise StoreScenarioError(f"{path}: {exc}") from None
    return scenario if scenario.name else replace(scenario, name=path.stem)
