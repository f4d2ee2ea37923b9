"""I/O module profiles and gate wiring: validation with the key path in every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.errors import ProfileError
from devices.gate.dio_profile import (
    DioWiring,
    builtin_dio_profiles,
    get_dio_profile,
    load_dio_profile_file,
    parse_dio_profile,
    parse_wiring,
)

IO8 = {
    "name": "x8",
    "kind": "dio",
    "coils": {"address": 0, "count": 8},
    "discrete_inputs": {"address": 0, "count": 8},
}


def test_builtin_profiles() -> None:
    profiles = builtin_dio_profiles()
    assert set(profiles) >= {"io8", "io8-basic"}
    io8 = profiles["io8"]
    assert io8.pulse is not None
    assert (io8.pulse.on_address, io8.pulse.off_address, io8.pulse.unit_ms) == (0x200, 0x400, 100)
    assert io8.watchdog is not None
    assert io8.watchdog.address == 0x300
    assert profiles["io8-basic"].pulse is None


def test_profile_errors_name_the_key() -> None:
    bad = {**IO8, "pulse": {"on_address": 512, "off_address": 1024, "unit_ms": 0}, "colour": 1}
    with pytest.raises(ProfileError) as info:
        parse_dio_profile(bad, "site/x8.yaml")
    text = str(info.value)
    assert text.startswith("site/x8.yaml: invalid I/O module profile")
    assert "pulse.unit_ms: Input should be greater than or equal to 1" in text
    assert "colour: Extra inputs are not permitted" in text
    with pytest.raises(ProfileError, match=r"coils: Value error, address 65530 \+ count 8"):
        parse_dio_profile({**IO8, "coils": {"address": 65530, "count": 8}}, "p")


def test_site_folder_profiles_come_first(tmp_path: Path) -> None:
    (tmp_path / "scale.yaml").write_text("name: io8\nkind: scale\n")  # another kind: skipped
    (tmp_path / "mine.yaml").write_text(
        "name: io8\nkind: dio\ncoils: {count: 4}\ndiscrete_inputs: {count: 4}\n"
    )
    assert get_dio_profile("io8", (tmp_path,)).coils.count == 4
    assert get_dio_profile("io8").coils.count == 8
    with pytest.raises(ProfileError, match=r"unknown I/O module profile 'io16' \(known: io8"):
        get_dio_profile("io16")
    (tmp_path / "broken.yaml").write_text("name: [\n")
    with pytest.raises(ProfileError, match="cannot read profile"):
        load_dio_profile_file(tmp_path / "broken.yaml")


def test_wiring_errors() -> None:
    with pytest.raises(ProfileError) as info:
        parse_wiring({"lock_coil": -1, "passage_inpt": 3}, "gates.entry.wiring")
    text = str(info.value)
    assert "gates.entry.wiring: invalid gate wiring" in text
    assert "lock_coil: Input should be greater than or equal to 0" in text
    assert "passage_inpt: Extra inputs are not permitted" in text
    with pytest.raises(ProfileError, match="tamper_input and passage_input are both channel 2"):
        parse_wiring({"lock_coil": 0, "passage_input": 2, "tamper_input": 2})
    with pytest.raises(ProfileError, match="granted_coil and lock_coil are both channel 0"):
        parse_wiring({"lock_coil": 0, "granted_coil": 0})
    with pytest.raises(ProfileError, match="shorter than three poll periods"):
        parse_wiring({"lock_coil": 0, "poll_hz": 5, "module_watchdog_s": 0.5})
    assert parse_wiring({"lock_coil": 0, "poll_hz": 5, "module_watchdog_s": None}).poll_hz == 5


def test_wiring_against_the_module() -> None:
    io8 = get_dio_profile("io8")
    wiring = DioWiring(lock_coil=3, exit_request_input=8, poll_hz=60, module_watchdog_s=7000)
    with pytest.raises(ProfileError) as info:
        wiring.check_against(io8, "gates.exit.wiring")
    assert str(info.value).splitlines() == [
        "gates.exit.wiring: does not fit module io8",
        "  exit_request_input: input 8 outside 0..7 of io8",
        "  module_watchdog_s: 7000.0 s is longer than io8's maximum 6553.5 s",
        "  poll_hz: 60.0 above io8's maximum 50.0",
    ]
