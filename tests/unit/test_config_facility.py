import os
from pathlib import Path

import pytest
import yaml

from walkout.config import ConfigError, SecretError, SecretRef, parse_config

EXAMPLE = Path(__file__).parents[2] / "walkout" / "examples" / "store.yaml"


def with_facility(facility: dict) -> dict:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["facility"] = facility
    return data


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    return info.value.problems


def test_ups_of_both_kinds_and_crac_parse():
    cfg = parse_config(
        with_facility(
            {
                "ups": [
                    {"id": "ups1", "type": "snmp", "agent": {"host": "10.0.0.5"}},
                    {"id": "ups2", "type": "nut", "ups": "rack"},
                ],
                "crac": [{"id": "crac1", "bus": "shelf-gw-1", "unit_id": 9, "profile": "pcw1"}],
            }
        )
    )
    snmp, nut = cfg.facility.ups
    assert snmp.type == "snmp"
    assert (snmp.agent.port, snmp.agent.version) == (161, "2c")
    assert nut.type == "nut"
    assert nut.port == 3493
    assert cfg.facility.grid.nominal_v == 230.0


def test_error_path_skips_the_union_tag():
    data = with_facility({"ups": [{"id": "ups1", "type": "nut", "ups": "rack", "colour": 1}]})
    assert problems(data) == [
        ("facility.ups[0] (id=ups1).colour", "Extra inputs are not permitted")
    ]


def test_snmp_v3_needs_its_section():
    data = with_facility(
        {"ups": [{"id": "u", "type": "snmp", "agent": {"host": "h", "version": "3"}}]}
    )
    [(path, message)] = problems(data)
    assert path == "facility.ups[0] (id=u).agent"
    assert "needs a 'v3' section" in message


def test_nut_login_needs_both_halves():
    data = with_facility({"ups": [{"id": "u", "type": "nut", "ups": "r", "username": "mon"}]})
    [(path, message)] = problems(data)
    assert path == "facility.ups[0] (id=u)"
    assert "both 'username' and 'password'" in message


def test_crac_on_unknown_bus_and_taken_address():
    data = with_facility(
        {
            "crac": [
                {"id": "c1", "bus": "nowhere", "unit_id": 1, "profile": "pcw1"},
                {"id": "c2", "bus": "rs485-a", "unit_id": 3, "profile": "pcw1"},
            ]
        }
    )
    found = dict(problems(data))
    assert "no bus named 'nowhere'" in found["facility.crac[0] (id=c1).bus"]
    # unit 3 on rs485-a already belongs to a shelf controller in the example
    assert found["facility.crac[1] (id=c2).unit_id"] == "unit id 3 is used twice on rs485-a"


def test_duplicate_ids_across_facility_devices():
    data = with_facility(
        {
            "ups": [{"id": "x", "type": "nut", "ups": "r"}],
            "crac": [{"id": "x", "bus": "shelf-gw-1", "unit_id": 30, "profile": "pcw1"}],
        }
    )
    assert ("facility.crac[0] (id=x).id", "duplicate id") in problems(data)


def test_secret_from_environment(monkeypatch):
    monkeypatch.setenv("WALKOUT_TEST_SECRET", "s3cret")
    assert SecretRef(env="WALKOUT_TEST_SECRET").reveal() == "s3cret"
    monkeypatch.delenv("WALKOUT_TEST_SECRET")
    with pytest.raises(SecretError, match="WALKOUT_TEST_SECRET is not set"):
        SecretRef(env="WALKOUT_TEST_SECRET").reveal()


def test_secret_file_must_be_private(tmp_path):
    path = tmp_path / "scbk"
    path.write_text("000102030405060708090a0b0c0d0e0f\n")
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match="readable by others"):
        SecretRef(file=path).reveal()
    os.chmod(path, 0o600)
    assert SecretRef(file=path).reveal_bytes_hex(16) == bytes(range(16))
    with pytest.raises(SecretError, match="has 16 bytes, expected 8"):
        SecretRef(file=path).reveal_bytes_hex(8)


def test_secret_ref_needs_exactly_one_source():
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef()
    with pytest.raises(ValueError, match="exactly one"):
        SecretRef(env="A", file=Path("/x"))


def test_crac_profile_must_exist():
    data = with_facility(
        {"crac": [{"id": "c1", "bus": "shelf-gw-1", "unit_id": 9, "profile": "nosuch"}]}
    )
    [(path, message)] = problems(data)
    assert path == "facility.crac[0] (id=c1).profile"
    assert "nosuch" in message
    assert "pcw1" in message  # the known profiles are listed


def test_grid_bands_must_nest():
    data = with_facility({"grid": {"sag_pct": 5, "voltage_hysteresis_pct": 6}})
    [(path, message)] = problems(data)
    assert path == "facility.grid"
    assert "voltage_hysteresis_pct" in message
