"""SNMP CRAC profiles: the shipped one loads through the common loader; bad ones name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from peers.snmprec import OID

from devices.crac import (
    CracProfile,
    builtin_crac_profiles,
    builtin_snmp_crac_profiles,
    get_crac_profile,
    load_crac_profile_file,
    parse_crac_profile,
)
from devices.crac.snmp_profile import SnmpCracProfile
from devices.errors import ProfileError

from .conftest import RECORDING
from .expected import rows_by_identity

HUMIDITY_CONTROL = "1.3.6.1.4.1.476.1.42.3.4.2.1.1"
PROFILE_FILE = Path(__file__).resolve().parents[2] / "devices/profiles/crac/liebert-gp.yaml"


def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PROFILE_FILE.read_text())
    return data


def test_the_loader_returns_either_kind() -> None:
    liebert = get_crac_profile("liebert_gp")
    assert isinstance(liebert, SnmpCracProfile)
    assert isinstance(get_crac_profile("pcw1"), CracProfile)
    assert set(builtin_snmp_crac_profiles()) == {"liebert_gp"}
    assert "liebert_gp" not in builtin_crac_profiles()  # those build a ModbusCrac
    assert liebert.commands.setpoint is not None
    assert liebert.commands.setpoint.tolerance == pytest.approx(0.5)
    assert [s.column for s in liebert.readings.supply_air_c] == [50, 3]
    assert liebert.used_rows() == {
        ("temperature", "supply_air"),
        ("temperature", "return_air"),
        ("humidity", "return_air"),
        ("humidity", "control"),
    }


def test_unknown_name_lists_both_kinds() -> None:
    with pytest.raises(ProfileError, match=r"\(known over SNMP: liebert_gp\)"):
        get_crac_profile("x9")


def test_the_profile_fits_the_recording() -> None:
    """Every identity the profile reads a value from is one the recorded unit has, but one."""
    from peers.snmprec import read_snmprec

    records = read_snmprec(RECORDING)
    liebert = get_crac_profile("liebert_gp")
    assert isinstance(liebert, SnmpCracProfile)
    assert all(oid in records for oid in liebert.identify.detect)
    for name, table in liebert.tables.items():
        assert records[f"{table.identity}.1"].tag == OID, name
        found = rows_by_identity(records, table.entry + ".")
        missing = {row for row, identity in table.rows.items() if identity not in found}
        assert missing == ({"supply_air"} if name == "humidity" else set()), name
    states = [s.oid for s in liebert.readings.states().values()]
    assert [oid for oid in states if oid not in records] == ["1.3.6.1.4.1.476.1.42.3.4.3.3.0"]


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw())
    change(data)
    return data


CASES = [
    (
        lambda d: d["readings"]["supply_air_c"][0].update(row="suply_air"),
        r"readings\.supply_air_c\.0\.row: table 'temperature' has no row 'suply_air' "
        r"\(known: control, return_air, supply_air\)",
    ),
    (
        lambda d: d["readings"]["return_air_c"][1].update(table="temp"),
        r"readings\.return_air_c\.1\.table: no table named 'temp' \(known: humidity, temperature\)",
    ),
    (
        lambda d: d["tables"]["temperature"].update(entry="lgpEnvTemperatureEntryDegC"),
        r"tables\.temperature\.entry: not a numeric OID: 'lgpEnvTemperatureEntryDegC'",
    ),
    (
        lambda d: d["commands"]["setpoint"].update(colum=6),
        r"commands\.setpoint\.colum: Extra inputs are not permitted",
    ),
    (
        lambda d: d["readings"]["fan_pct"].update(table="temperature"),
        r"readings\.fan_pct\.0: give either 'oid' or 'table', 'row' and 'column', not both",
    ),
    (
        lambda d: d["readings"]["humidity_pct"][2].pop("column"),
        r"readings\.humidity_pct\.2: a table cell needs 'table', 'row' and 'column' "
        r"\(missing: column\)",
    ),
    (
        lambda d: d["readings"]["supply_air_c"][1].update(column=2),
        r"readings\.supply_air_c\.1\.column: column 2 is the identity column",
    ),
    (
        lambda d: d["readings"]["unit_on"].update(off_values=[1, 2]),
        r"readings\.unit_on: value\(s\) \[1\] are in both on_values and off_values",
    ),
    (
        lambda d: d["readings"].pop("unit_on"),
        r"commands\.unit_on: needs readings\.unit_on",
    ),
    (
        lambda d: d["alarms"]["names"].update({"1.3.6.1.4.1.476.1.42.3.2.1.99": "Odd Alarm"}),
        r"alarms\.names: alarm names are lower_case_with_underscores: Odd Alarm",
    ),
    (
        lambda d: d["commands"]["setpoint"].update(min_c=40),
        r"commands\.setpoint: min_c 40 is not below max_c 35",
    ),
    (
        lambda d: d["tables"]["humidity"]["rows"].update(extra=HUMIDITY_CONTROL),
        r"tables\.humidity\.rows: rows 'control' and 'extra' have the same identity",
    ),
    (lambda d: d.update(protocol="bacnet"), r"protocol: 'bacnet' is not one of 'modbus', 'snmp'"),
    (lambda d: d.pop("identify"), r"identify: Field required"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_bad_profile_names_file_and_key(change: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as caught:
        parse_crac_profile(broken(change), "site/bad.yaml")
    assert str(caught.value).startswith("site/bad.yaml: invalid CRAC profile")


def test_yaml_on_off_keys_are_caught(tmp_path: Path) -> None:
    text = PROFILE_FILE.read_text().replace("switch_on:", "on:")
    path = tmp_path / "onoff.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_crac_profile_file(path)
    assert "commands.unit_on: key(s) read by YAML as true" in str(caught.value)


def test_a_site_folder_may_hold_snmp_profiles(tmp_path: Path) -> None:
    site = dict(raw(), name="site_liebert", description="site copy")
    site["commands"] = dict(site["commands"], verify_timeout_s=9.0)
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(site))
    profile = get_crac_profile("site_liebert", (tmp_path,))
    assert isinstance(profile, SnmpCracProfile)
    assert profile.commands.verify_timeout_s == 9.0
    assert isinstance(get_crac_profile("irc2", (tmp_path,)), CracProfile)
