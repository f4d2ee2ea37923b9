from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sim_devices.store_sim.scenario import (
    StoreScenarioError,
    load_store_scenario,
    parse_store_scenario,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "sim_devices" / "scenarios" / "store"


@pytest.mark.parametrize("name", ["quiet", "busy", "families"])
def test_packaged_scenarios_load(name: str) -> None:
    scenario = load_store_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.name == name
    assert scenario.floor.shelves
    assert all(p.stock > 0 for s in scenario.floor.shelves for p in s.products)


def test_busy_has_the_features_it_promises() -> None:
    busy = load_store_scenario(SCENARIOS / "busy.yaml")
    assert busy.arrivals.child_fraction > 0
    assert max(size for size, _ in busy.arrivals.group_sizes) > 2
    assert busy.behaviour.crowding > 0
    assert busy.behaviour.put_back_wrong > 0
    assert busy.sensors.tracker.id_switch_per_min > 0


def test_values_are_read(small: dict[str, Any]) -> None:
    scenario = parse_store_scenario(small)
    shelf = scenario.shelf("A")
    assert (shelf.x_m, shelf.y_m, shelf.length_m, shelf.cells) == (1.0, 3.0, 1.2, 4)
    assert shelf.products[0].price == Decimal("1.20")
    assert scenario.shelf("C").products[0].price == Decimal(1)
    assert scenario.arrivals.group_sizes == ((1, 0.5), (2, 0.3), (3, 0.2))
    assert scenario.behaviour.quantity == ((1, 0.7), (2, 0.3))
    assert scenario.behaviour.stops == (2, 5)
    assert scenario.sensors.scale.sigma_g == 0.5
    assert scenario.arrivals.rate_at(10.0) == 4.0


def test_rate_steps(small: dict[str, Any]) -> None:
    small["arrivals"]["rate_per_min"] = [
        {"from_s": 0, "rate_per_min": 1},
        {"from_s": 60, "rate_per_min": 5},
    ]
    arrivals = parse_store_scenario(small).arrivals
    assert [arrivals.rate_at(t) for t in (0.0, 59.9, 60.0, 1000.0)] == [1.0, 1.0, 5.0, 5.0]


def _set(path: str, value: Any) -> Any:
    def patch(doc: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return patch


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (_set("floorr", {}), r"^floorr: unknown key"),
        (_set("floor/shelves/1/lenght_m", 1), r"^floor\.shelves\[1\]\.lenght_m: unknown key"),
        (_set("floor/shelves/0/cells", "4"), r"^floor\.shelves\[0\]\.cells: expected an integer"),
        (_set("floor/shelves/0/cells", 0), r"^floor\.shelves\[0\]\.cells: must be >= 1"),
        (
            _set("floor/shelves/0/products/0/price", 1.2),
            r"^floor\.shelves\[0\]\.products\[0\]\.price: write the price as a string",
        ),
        (
            _set("floor/shelves/0/products/1/span_m", [0.5, 1.2]),
            r"^floor\.shelves\[0\]\.products: 'cola' and 'water' overlap",
        ),
        (
            _set("floor/shelves/0/products/1/span_m", [0.6, 1.5]),
            r"^floor\.shelves\[0\]\.products\[1\]\.span_m\[1\]: must be <= 1\.2",
        ),
        (
            _set("floor/shelves/1/products/0/sku", "cola"),
            r"^floor\.shelves\[1\]\.products\[0\]: 'cola' has another unit weight",
        ),
        (_set("floor/shelves/2/id", "A"), r"^floor\.shelves\[2\]\.id: 'A' appears twice"),
        (_set("floor/shelves/0/products/0/unit_weight_g", 0), r"unit_weight_g: must be > 0"),
        (_set("floor/shelves/0/products/0/stock", True), r"stock: expected an integer"),
        (
            _set("arrivals/group_sizes", {0: 1}),
            r"^arrivals\.group_sizes\.0: must be an integer >= 1",
        ),
        (_set("arrivals/group_sizes", {1: 0}), r"^arrivals\.group_sizes: weights are all zero"),
        (_set("arrivals/child_fraction", 1.5), r"^arrivals\.child_fraction: must be <= 1"),
        (
            _set(
                "arrivals/rate_per_min",
                [{"from_s": 10, "rate_per_min": 1}, {"from_s": 5, "rate_per_min": 2}],
            ),
            r"^arrivals\.rate_per_min: expected steps with increasing from_s",
        ),
        (_set("behaviour/stops", [3, 1]), r"^behaviour\.stops: expected integers 1 <= min <= max"),
        (_set("behaviour/take", -0.1), r"^behaviour\.take: must be >= 0"),
        (_set("behaviour/dwell_s", {"median": 0}), r"^behaviour\.dwell_s\.median: must be > 0"),
        (_set("behaviour/children", {"tke": 1}), r"^behaviour\.children\.tke: unknown key"),
        (_set("sensors/scale", {"rate_hz": 0}), r"^sensors\.scale\.rate_hz: must be > 0"),
        (_set("sensors/tracker", {"wrist_miss_rate": 2}), r"^sensors\.tracker\.wrist_miss_rate"),
        (_set("sensors/timing", {"jiter_s": 1}), r"^sensors\.timing\.jiter_s: unknown key"),
        (_set("duration_s", float("nan")), r"^duration_s: must be finite"),
    ],
)
def test_bad_values_name_the_key(patch: Any, message: str, small: dict[str, Any]) -> None:
    patch(small)
    with pytest.raises(StoreScenarioError, match=message):
        parse_store_scenario(small)


def test_missing_floor_and_not_a_mapping(small: dict[str, Any]) -> None:
    del small["floor"]
    with pytest.raises(StoreScenarioError, match=r"^floor: required"):
        parse_store_scenario(small)
    with pytest.raises(StoreScenarioError, match="expected a mapping, got list"):
        parse_store_scenario([1, 2])


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("floor: [unclosed\n", encoding="utf-8")
    with pytest.raises(StoreScenarioError, match=r"broken\.yaml"):
        load_store_scenario(broken)
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\nfloor: {}\n", encoding="utf-8")
    with pytest.raises(StoreScenarioError, match=r"bad\.yaml: floor\.shelves: required"):
        load_store_scenario(bad)
    with pytest.raises(StoreScenarioError, match=r"missing\.yaml"):
        load_store_scenario(tmp_path / "missing.yaml")
