"""CRAC profiles: the shipped ones load; bad ones are refused naming the file and the key path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from devices.crac import (
    builtin_crac_profiles,
    get_crac_profile,
    load_crac_profile_file,
    parse_crac_profile,
)
from devices.errors import ProfileError
from devices.modbus.registers import DataType, Table, WordOrder

PROFILE_DIR = Path(__file__).resolve().parents[2] / "devices" / "profiles" / "crac"


def raw(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())
    return data


def test_shipped_profiles() -> None:
    profiles = builtin_crac_profiles()
    assert set(profiles) == {"pcw1", "irc2"}
    pcw1, irc2 = profiles["pcw1"], profiles["irc2"]
    supply = pcw1.points[pcw1.readings.supply_air_c or ""]
    assert (supply.type, supply.scale, supply.unknown) == (DataType.INT16, 0.1, -32768)
    inlet = irc2.points[irc2.readings.supply_air_c or ""]
    assert (inlet.type, inlet.word_order) == (DataType.FLOAT32, WordOrder.LITTLE)
    assert irc2.readings.return_setpoint_c is None
    assert irc2.commands.clear_alarms is None
    assert len(pcw1.readings.compressors) == 2
    assert pcw1.setpoint_tolerance_c() == pytest.approx(0.05)
    assert irc2.setpoint_tolerance_c() == pytest.approx(0.01)
    assert get_crac_profile("pcw1") is pcw1


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown CRAC profile 'x9' \(known: irc2, pcw1\)"):
        get_crac_profile("x9")


def broken(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw("pcw1"))
    change(data)
    return data


CASES = [
    (
        lambda d: d["points"]["fan_speed"].update(scal=0.1),
        r"points\.fan_speed\.scal: Extra inputs are not permitted",
    ),
    (
        lambda d: d["points"]["fan_speed"].update(type="int8"),
        r"points\.fan_speed\.type: Input should be 'int16'",
    ),
    (
        lambda d: d["points"]["fan_speed"].update(address=70000),
        r"points\.fan_speed\.address: Input should be less than or equal to 65535",
    ),
    (
        lambda d: d["readings"].update(supply_air_c="supply_temp"),
        r"readings\.supply_air_c: no point named 'supply_temp'",
    ),
    (
        lambda d: d["readings"]["compressors"][1].update(point="outputz"),
        r"readings\.compressors\.1\.point: no point named 'outputz'",
    ),
    (
        lambda d: d["alarms"][1]["bits"].update({16: "late_alarm"}),
        r"alarms\.1\.bits\.16: bit 16 beyond the 16 bits of 'alarms_2'",
    ),
    (
        lambda d: d["alarms"][1]["bits"].update({5: "water_leak"}),
        r"alarms\.1\.bits\.5: alarm 'water_leak' is already alarms\.0\.bits\.9",
    ),
    (
        lambda d: d["alarms"][0].update(point="return_air_tmp"),
        r"alarms\.0\.point: no point named 'return_air_tmp'",
    ),
    (
        lambda d: d["commands"]["setpoint"].update(point="supply_air_temp"),
        r"commands\.setpoint\.point: 'supply_air_temp' is an input register",
    ),
    (
        lambda d: d["commands"]["setpoint"].update(min_c=40),
        r"commands\.setpoint: min_c 40\.0 is not below max_c 35\.0",
    ),
    (
        lambda d: d["points"]["return_air_temp"].update(unknown=70000),
        r"points\.return_air_temp: unknown: 70000 does not fit int16",
    ),
    (lambda d: d.update(kind="scale"), r"kind: Input should be 'crac'"),
    (lambda d: d.pop("readings"), r"readings: Field required"),
]


@pytest.mark.parametrize(("change", "message"), CASES)
def test_bad_profile_names_file_and_key(change: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message) as caught:
        parse_crac_profile(broken(change), "site/bad.yaml")
    assert str(caught.value).startswith("site/bad.yaml: invalid CRAC profile")


def test_every_problem_is_reported_at_once() -> None:
    def two_fields(d: dict[str, Any]) -> None:
        d["points"]["fan_speed"]["type"] = "int8"
        d["readings"]["unit_on"]["bit"] = 40

    with pytest.raises(ProfileError) as caught:
        parse_crac_profile(broken(two_fields), "x.yaml")
    assert "points.fan_speed.type: Input should be" in str(caught.value)
    assert "readings.unit_on.bit: Input should be less than or equal to 31" in str(caught.value)

    # references are checked once every field is valid; all of them at once, too
    def two_references(d: dict[str, Any]) -> None:
        d["readings"]["fan_pct"] = "fan"
        d["commands"]["clear_alarms"]["point"] = "reset"

    with pytest.raises(ProfileError) as caught:
        parse_crac_profile(broken(two_references), "x.yaml")
    assert str(caught.value).splitlines() == [
        "x.yaml: invalid CRAC profile",
        "  readings.fan_pct: no point named 'fan'",
        "  commands.clear_alarms.point: no point named 'reset'",
    ]


def test_bits_need_an_integer_point() -> None:
    data = raw("irc2")
    data["readings"]["unit_on"]["point"] = "humidity"
    with pytest.raises(ProfileError, match=r"readings\.unit_on\.point: 'humidity' is float32"):
        parse_crac_profile(data, "irc2.yaml")


def test_yaml_on_off_keys_are_caught(tmp_path: Path) -> None:
    """YAML 1.1 reads ``on:``/``off:`` as booleans: the profile says which keys it wants."""
    text = (PROFILE_DIR / "pcw1.yaml").read_text().replace("on_value: 1, off_value: 0", "on: 1")
    path = tmp_path / "onoff.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_crac_profile_file(path)
    assert (
        str(caught.value)
        .splitlines()[1]
        .startswith("  commands.unit_on: key(s) read by YAML as true (on/off/yes/no are booleans")
    )


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ProfileError, match=r"bad\.yaml: not valid YAML"):
        load_crac_profile_file(bad)
    with pytest.raises(ProfileError, match=r"gone\.yaml: cannot read profile"):
        load_crac_profile_file(tmp_path / "gone.yaml")


def test_site_folder_first_other_kinds_skipped(tmp_path: Path) -> None:
    site = dict(raw("pcw1"), name="site_pcw", description="site copy")
    site["points"] = dict(site["points"])
    site["points"]["return_setpoint"] = dict(site["points"]["return_setpoint"], address=111)
    (tmp_path / "a_scale.yaml").write_text(yaml.safe_dump({"name": "mc10", "kind": "scale"}))
    (tmp_path / "b_site.yaml").write_text(yaml.safe_dump(site))
    profile = get_crac_profile("site_pcw", (tmp_path,))
    assert profile.points["return_setpoint"].address == 111
    assert profile.points["return_setpoint"].table is Table.HOLDING
    assert get_crac_profile("irc2", (tmp_path,)).name == "irc2"  # built-ins still found


def test_broken_site_profile_is_reported_even_when_another_is_wanted(tmp_path: Path) -> None:
    site = dict(raw("pcw1"), name="site_pcw")
    site["readings"] = dict(site["readings"], fan_pct="nope")
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(site))
    with pytest.raises(ProfileError, match=r"broken\.yaml: invalid CRAC profile"):
        get_crac_profile("pcw1", (tmp_path,))
