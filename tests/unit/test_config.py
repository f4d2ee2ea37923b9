from pathlib import Path

import pytest
import yaml

from walkout.config import ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "walkout" / "examples" / "store.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_example_config_is_valid():
    cfg = load_config(EXAMPLE)
    assert cfg.shelf("A1").cells == [0, 1, 2, 3]
    assert cfg.bus("rs485-a").type == "rtu"
    assert cfg.calibration_file == EXAMPLE.parent / "calibration.yaml"


def test_unknown_key_is_named_with_its_path():
    data = example()
    data["shelves"][1]["colour"] = "red"
    assert problems(data) == [("shelves[1] (id=A2).colour", "Extra inputs are not permitted")]


def test_wrong_type_names_path_and_value():
    data = example()
    data["modbus"]["buses"][2]["baudrate"] = 12345
    [(path, message)] = problems(data)
    assert path == "modbus.buses[2] (id=rs485-a).baudrate"
    assert "12345" in message


def test_unit_id_out_of_range():
    data = example()
    data["modbus"]["units"][0]["unit_id"] = 248
    [(path, message)] = problems(data)
    assert path == "modbus.units[0] (id=sc-01).unit_id"
    assert "247" in message


def test_cross_references_are_checked():
    data = example()
    data["modbus"]["units"][1]["bus"] = "nope"
    data["modbus"]["units"][3]["profile"] = "no-such-profile"
    data["shelves"][0]["cells"] = [0, 1, 12]
    data["shelves"][2]["unit"] = "sc-01"
    data["shelves"][2]["cells"] = [1]
    found = dict(problems(data))
    assert "no bus named 'nope'" in found["modbus.units[1] (id=sc-02).bus"]
    assert "unknown device profile 'no-such-profile'" in found["modbus.units[3] (id=tx-04).profile"]
    assert "outside 0..9" in found["shelves[0] (id=A1).cells[2]"]
    assert "already belongs to shelf A1" in found["shelves[2] (id=B1).cells[0]"]


def test_duplicate_unit_address_on_one_bus():
    data = example()
    data["modbus"]["units"][3]["unit_id"] = 3
    assert "unit id 3 is used twice" in dict(problems(data))["modbus.units[3] (id=tx-04).unit_id"]


def test_missing_key_and_not_a_mapping(tmp_path):
    data = example()
    del data["store"]["id"]
    assert problems(data) == [("store.id", "Field required")]
    assert problems(["a", "list"])[0][0] == "(top level)"


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "store.yaml"
    path.write_text("store:\n  id: x\n  name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.problems[0][0].startswith("line ")


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
