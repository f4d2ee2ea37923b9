import json
from pathlib import Path
from typing import Any

import pytest

from sim_devices.scenario import (
    FixtureUnitSpec,
    RtuServerSpec,
    ScenarioError,
    TcpServerSpec,
    UnitSpec,
    load_scenario,
    parse_scenario,
)

from .simtools import DEMO_SCENARIO


def test_demo_scenario_loads() -> None:
    scenario = load_scenario(DEMO_SCENARIO)
    kinds = [s.kind for s in scenario.servers]
    assert kinds == ["tcp", "tcp", "rtu"]
    assert isinstance(scenario.servers[0], TcpServerSpec)
    assert all(isinstance(u, UnitSpec) and u.cell_count == 4 for u in scenario.servers[0].units)
    rtu = scenario.servers[2]
    assert isinstance(rtu, RtuServerSpec)
    assert rtu.baudrate == 19200
    assert [u.model for u in rtu.units if isinstance(u, UnitSpec)] == ["mc10", "tx1"]


def base() -> dict[str, Any]:
    return {"servers": [{"kind": "tcp", "units": [{"unit_id": 1, "model": "mc10"}]}]}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (lambda d: d["servers"][0]["units"][0].update(celss=4), r"servers\[0\]\.units\[0\]\.celss"),
        (lambda d: d["servers"][0]["units"][0].update(cells=11), r"units\[0\]\.cells: mc10"),
        (lambda d: d["servers"][0]["units"][0].update(sigma_g="x"), r"units\[0\]\.sigma_g"),
        (lambda d: d["servers"][0]["units"][0].update(unit_id=0), r"units\[0\]\.unit_id"),
        (lambda d: d["servers"][0]["units"][0].update(model="mc20"), r"units\[0\]\.model"),
        (
            lambda d: d["servers"][0]["units"][0].update(cells=2, gain_errors=[0.1]),
            r"units\[0\]\.gain_errors",
        ),
        (lambda d: d["servers"][0].update(kind="udp"), r"servers\[0\]\.kind"),
        (lambda d: d["servers"][0].update(baudrate=9600), r"servers\[0\]\.baudrate: unknown"),
        (lambda d: d["servers"][0]["units"].append({"unit_id": 1}), r"servers\[0\]\.units"),
        (lambda d: d["servers"][0]["units"][0].update(items=[{"position_m": 1}]), r"weight_g"),
        (lambda d: d.update(extra=1), r"scenario\.extra"),
    ],
)
def test_validation_names_the_bad_key(patch: Any, message: str) -> None:
    data = base()
    patch(data)
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_rtu_validation() -> None:
    data: dict[str, Any] = {"servers": [{"kind": "rtu", "parity": "X", "units": [{"unit_id": 1}]}]}
    with pytest.raises(ScenarioError, match=r"servers\[0\]\.parity"):
        parse_scenario(data)
    data = {"servers": [{"kind": "rtu", "stopbits": 3, "units": [{"unit_id": 1}]}]}
    with pytest.raises(ScenarioError, match=r"servers\[0\]\.stopbits"):
        parse_scenario(data)


def test_tx1_defaults_to_one_cell() -> None:
    data = {"servers": [{"kind": "rtu", "parity": "e", "units": [{"unit_id": 2, "model": "tx1"}]}]}
    scenario = parse_scenario(data)
    server = scenario.servers[0]
    assert isinstance(server, RtuServerSpec)
    assert server.parity == "E"
    unit = server.units[0]
    assert isinstance(unit, UnitSpec)
    assert unit.cell_count == 1


def test_fixture_unit_resolved_relative_to_file(tmp_path: Path) -> None:
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "u.json").write_text(
        json.dumps(
            {"format": "walkout-modbus-fixture/1", "profile": "tx1", "unit_id": 9, "tables": {}}
        )
    )
    path = tmp_path / "s.yaml"
    path.write_text("servers:\n  - kind: tcp\n    units:\n      - fixture: fx/u.json\n")
    unit = load_scenario(path).servers[0].units[0]
    assert isinstance(unit, FixtureUnitSpec)
    assert unit.unit_id == 9
    assert unit.fixture == tmp_path / "fx" / "u.json"


def test_bad_fixture_named(tmp_path: Path) -> None:
    (tmp_path / "u.json").write_text(json.dumps({"format": "other"}))
    path = tmp_path / "s.yaml"
    path.write_text("servers:\n  - kind: tcp\n    units:\n      - fixture: u.json\n")
    with pytest.raises(ScenarioError, match=r"units\[0\]\.fixture: .*format"):
        load_scenario(path)


def test_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("servers: [\n")
    with pytest.raises(ScenarioError, match=r"s\.yaml"):
        load_scenario(path)
