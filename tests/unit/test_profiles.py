import pytest
import yaml

from devices.errors import ProfileError
from devices.modbus.registers import ReadBlock, Table, plan_reads
from devices.profiles import builtin_profiles, get_profile, load_profile_file, parse_profile


def test_builtin_profiles_load():
    profiles = builtin_profiles()
    assert {"mc10", "tx1"} <= set(profiles)


def test_mc10_reads_ten_cells_and_masks_in_one_transaction():
    profile = get_profile("mc10")
    blocks = plan_reads(profile.weight_spans(list(range(10))), max_gap=profile.max_read_gap)
    assert blocks == [ReadBlock(Table.INPUT, 0, 22)]


def test_tx1_reads_weight_and_status_in_one_transaction():
    profile = get_profile("tx1")
    assert plan_reads(profile.weight_spans([0])) == [ReadBlock(Table.HOLDING, 0, 3)]


def test_profile_error_names_file_and_key(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(builtin_profiles()["tx1"].model_dump(mode="json")))
    data["points"]["weight"]["type"] = "float64"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ProfileError) as info:
        load_profile_file(path)
    assert str(path) in str(info.value)
    assert "points.weight.type" in str(info.value)


def test_flag_must_reference_a_point():
    data = builtin_profiles()["tx1"].model_dump(mode="json")
    data["flags"]["stable"]["point"] = "nothing"
    with pytest.raises(ProfileError, match="no point named 'nothing'"):
        parse_profile(data, "x.yaml")


def test_site_profile_dir_overrides_builtin(tmp_path):
    data = builtin_profiles()["tx1"].model_dump(mode="json")
    data["name"] = "tx1-site"
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(data))
    assert get_profile("tx1-site", (tmp_path,)).name == "tx1-site"
    with pytest.raises(ProfileError, match="unknown device profile"):
        get_profile("tx1-site")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("5-1", "5 is after 1"),
        ("0-3", "1..247"),
        ("1-300", "1..247"),
        ("a", "expected N or N-M"),
        ("", "no unit ids"),
    ],
)
def test_unit_range_errors(text, message):
    from devices.modbus.scan import parse_unit_range

    with pytest.raises(ValueError, match=message):
        parse_unit_range(text)


def test_unit_range():
    from devices.modbus.scan import parse_unit_range

    assert parse_unit_range("1-3, 10") == [1, 2, 3, 10]


def test_site_folder_may_hold_other_kinds_of_profile(tmp_path):
    data = builtin_profiles()["tx1"].model_dump(mode="json")
    data["name"] = "tx1-site"
    (tmp_path / "a-scale.yaml").write_text(yaml.safe_dump(data))
    # A cooling unit's profile in the same folder is not a broken scale profile.
    (tmp_path / "b-crac.yaml").write_text("kind: crac\nname: site-crac\nregisters: {}\n")
    assert get_profile("tx1-site", (tmp_path,)).name == "tx1-site"
    with pytest.raises(ProfileError, match="unknown device profile 'site-crac'"):
        get_profile("site-crac", (tmp_path,))
