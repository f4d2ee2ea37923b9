"""UPS profiles as data: the shipped ones load, bad ones are refused with file and key path.

Also the rules every value goes through (syntax, unknown values, ranges) and
the credentials' handling of secrets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from devices.errors import ProfileError
from devices.snmp import (
    AuthProtocol,
    Community,
    PrivProtocol,
    SnmpTarget,
    SnmpValue,
    Syntax,
    UsmUser,
)
from devices.ups.profile import (
    UpsIdentity,
    builtin_ups_profiles,
    get_ups_profile,
    load_ups_profile_file,
    parse_ups_profile,
)


def ietf_data() -> dict:
    return yaml.safe_load(yaml.safe_dump(builtin_ups_profiles()["ietf"].model_dump(mode="json")))


def test_builtin_profiles():
    profiles = builtin_ups_profiles()
    assert set(profiles) == {"ietf", "powernet"}
    assert profiles["powernet"].priority > profiles["ietf"].priority
    assert profiles["ietf"].self_test is not None
    assert profiles["ietf"].self_test.value_oid == "1.3.6.1.2.1.33.1.7.7.4"


def test_a_dumped_profile_validates_again():
    assert parse_ups_profile(ietf_data(), "roundtrip") == builtin_ups_profiles()["ietf"]


def test_unknown_key_is_refused_with_its_path():
    data = ietf_data()
    data["values"]["runtime_s"]["scael"] = 60
    with pytest.raises(ProfileError) as info:
        parse_ups_profile(data, "ups/bad.yaml")
    text = str(info.value)
    assert "ups/bad.yaml" in text
    assert "values.runtime_s.scael" in text


def test_bad_oid_and_bad_field_name():
    data = ietf_data()
    data["values"]["charge_pct"]["oid"] = "1.3.6.x.1"
    data["values"]["fuel_pct"] = {"oid": "1.3.6.1.2"}
    with pytest.raises(ProfileError) as info:
        parse_ups_profile(data, "site/x.yaml")
    text = str(info.value)
    assert "values.charge_pct.oid" in text
    assert "not a numeric OID" in text
    assert "values.fuel_pct" in text


def test_quirk_for_an_unmapped_field_is_refused():
    data = ietf_data()
    data["quirks"] = [
        {"name": "q", "match": {"model": "X"}, "output": {"voltage_v": {"scale": 0.1}}}
    ]
    data["output"] = None
    with pytest.raises(ProfileError, match=r"quirks\.0\.output\.voltage_v: the profile maps no"):
        parse_ups_profile(data, "q.yaml")


def test_quirk_needs_a_match_and_a_valid_regex():
    data = ietf_data()
    data["quirks"] = [{"name": "q", "match": {}}]
    with pytest.raises(ProfileError, match="at least one key"):
        parse_ups_profile(data, "q.yaml")
    data["quirks"] = [{"name": "q", "match": {"sys_descr": "(unclosed"}}]
    with pytest.raises(ProfileError, match=r"quirks\.0\.match\.sys_descr"):
        parse_ups_profile(data, "q.yaml")


def test_lines_need_columns_or_scalars():
    data = ietf_data()
    data["input"]["scalars"] = {"voltage_v": {"oid": "1.3.6.1.4.1.1.0"}}
    with pytest.raises(ProfileError, match="either 'columns'"):
        parse_ups_profile(data, "l.yaml")


def test_fault_alarm_must_be_a_known_alarm():
    data = ietf_data()
    data["status"]["fault_alarms"] = ["smoke"]
    with pytest.raises(ProfileError, match="'smoke' is not an alarm name"):
        parse_ups_profile(data, "f.yaml")


def test_site_profile_from_a_file(tmp_path: Path):
    data = ietf_data()
    data["name"] = "site-ietf"
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "scale.yaml").write_text("name: s\nkind: scale\n")  # another kind: skipped
    assert get_ups_profile("site-ietf", (tmp_path,)).name == "site-ietf"
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ProfileError, match=r"broken\.yaml"):
        load_ups_profile_file(tmp_path / "broken.yaml")
    with pytest.raises(ProfileError, match="unknown UPS profile 'nope'"):
        get_ups_profile("nope")


def test_quirks_match_and_apply():
    ietf = builtin_ups_profiles()["ietf"]
    huawei = ietf.resolve(UpsIdentity(sys_descr="Linux GSE200M 2.6.27", model="UPS5000"))
    assert huawei.quirks == ("huawei-ups5000-gse200m",)
    assert huawei.input is not None
    assert huawei.input.columns["frequency_hz"].scale == 0.01
    assert ietf.input is not None
    assert ietf.input.columns["frequency_hz"].scale == 0.1  # the profile itself is unchanged
    eaton = ietf.resolve(UpsIdentity(sys_object_id="1.3.6.1.4.1.705.1.2"))
    assert eaton.quirks == ("eaton-mge-card-runtime-ceiling",)
    other = ietf.resolve(UpsIdentity(sys_object_id="1.3.6.1.4.1.705.10"))
    assert other.quirks == ()  # 705.10 is not under 705.1


def test_value_rules():
    spec = builtin_ups_profiles()["ietf"].values["charge_pct"]
    assert spec.convert(SnmpValue(Syntax.INTEGER, 87)) == 87
    assert spec.convert(SnmpValue(Syntax.GAUGE32, 87)) == 87
    assert spec.convert(SnmpValue(Syntax.INTEGER, -1)) is None  # below the RFC range
    assert spec.convert(SnmpValue(Syntax.INTEGER, 101)) is None
    assert spec.convert(SnmpValue(Syntax.TIMETICKS, 87)) is None  # wrong syntax
    assert spec.convert(SnmpValue(Syntax.OCTET_STRING, b"87")) is None
    assert spec.convert(None) is None
    runtime = builtin_ups_profiles()["powernet"].values["runtime_s"]
    assert runtime.convert(SnmpValue(Syntax.TIMETICKS, 12345)) == pytest.approx(123.45)
    assert runtime.convert(SnmpValue(Syntax.INTEGER, 12345)) is None


def test_trap_names_in_both_forms():
    ietf = builtin_ups_profiles()["ietf"]
    assert ietf.trap_name("1.3.6.1.2.1.33.2.1") == "upsTrapOnBattery"
    assert ietf.trap_name("1.3.6.1.2.1.33.2.0.1") == "upsTrapOnBattery"
    assert ietf.trap_name("1.3.6.1.2.1.33.2.9") is None
    assert builtin_ups_profiles()["powernet"].trap_name("1.3.6.1.4.1.318.0.5") == "upsOnBattery"


def test_secrets_stay_out_of_repr():
    community = Community("s3cret-community")
    user = UsmUser("ops", AuthProtocol.SHA256, "auth-s3cret", PrivProtocol.AES, "priv-s3cret")
    for text in (repr(community), str(community), repr(user), str(user), repr((community, user))):
        assert "s3cret" not in text
    assert "authPriv" in repr(user)


def test_credentials_are_validated():
    with pytest.raises(ValueError, match="at least 8"):
        UsmUser("ops", AuthProtocol.SHA, "short")
    with pytest.raises(ValueError, match="needs authentication"):
        UsmUser("ops", priv_protocol=PrivProtocol.AES, priv_key="long-enough-key")
    with pytest.raises(ValueError, match="both a protocol and a key"):
        UsmUser("ops", AuthProtocol.SHA)
    with pytest.raises(ValueError, match="'1' or '2c'"):
        Community("public", version="3")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        SnmpTarget("127.0.0.1", 0)
    assert SnmpTarget("10.0.0.5", timeout_s=0.5, retries=2).transaction_s == pytest.approx(1.5)
