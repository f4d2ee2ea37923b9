"""The driver's profiles and the simulator's register tables were written apart; they must agree.

A disagreement is a bug in one of them (or a manual read two ways): the driver would read
the wrong register, scale or word order against the simulator as it would against a unit.
"""

from __future__ import annotations

import pytest

from devices.crac import CracProfile, get_crac_profile
from sim_devices.crac import DEFAULT_PARAMS, IRC2_BITS, IRC2_REGISTERS, PCW1_BITS, PCW1_REGISTERS
from sim_devices.crac import registers as sim_registers

MAPS = {
    "pcw1": (PCW1_REGISTERS, PCW1_BITS, sim_registers.PCW1_MODEL_CODE),
    "irc2": (IRC2_REGISTERS, IRC2_BITS, sim_registers.IRC2_MODEL_CODE),
}


@pytest.mark.parametrize("model", sorted(MAPS))
def test_every_register_agrees(model: str) -> None:
    profile = get_crac_profile(model)
    table, _, _ = MAPS[model]
    sim = {reg.name: reg for reg in table}
    assert set(profile.points) == set(sim)
    for name, point in profile.points.items():
        reg = sim[name]
        assert (point.table.value, point.address, point.type.value) == (
            reg.table.value,
            reg.address,
            reg.type,
        ), name
        assert point.scale == pytest.approx(reg.scale), name
        if reg.width == 2:
            assert point.word_order.value == reg.word_order, name


@pytest.mark.parametrize("model", sorted(MAPS))
def test_alarm_bits_agree(model: str) -> None:
    profile = get_crac_profile(model)
    _, bits, _ = MAPS[model]
    words = {word.point: dict(word.bits) for word in profile.alarms}
    assert words == {name: names for name, names in bits.items() if name.startswith("alarms")}


def bit_name(profile: CracProfile, bits: dict[str, dict[int, str]], path: str) -> str:
    ref = profile.readings.bits()[path]
    return bits[ref.point][ref.bit]


def test_pcw1_status_and_output_bits_agree() -> None:
    profile = get_crac_profile("pcw1")
    assert bit_name(profile, PCW1_BITS, "unit_on") == "unit_running"
    assert bit_name(profile, PCW1_BITS, "local_mode") == "local_mode"
    assert bit_name(profile, PCW1_BITS, "humidifier_on") == "humidifier"
    assert [bit_name(profile, PCW1_BITS, f"compressors.{i}") for i in range(2)] == [
        "compressor_1",
        "compressor_2",
    ]
    assert [bit_name(profile, PCW1_BITS, f"heater.{i}") for i in range(2)] == [
        "heater_1",
        "heater_2",
    ]


def test_irc2_status_bits_and_run_value_agree() -> None:
    profile = get_crac_profile("irc2")
    assert bit_name(profile, IRC2_BITS, "unit_on") == "running"
    assert bit_name(profile, IRC2_BITS, "local_mode") == "local_mode"
    assert bit_name(profile, IRC2_BITS, "compressors.0") == "compressor"
    command = profile.commands.unit_on
    assert command is not None
    assert (command.on_value, command.off_value) == (
        sim_registers.IRC2_RUN,
        sim_registers.IRC2_STANDBY,
    )


@pytest.mark.parametrize("model", sorted(MAPS))
def test_identify_register_holds_the_model_code(model: str) -> None:
    profile = get_crac_profile(model)
    table, _, code = MAPS[model]
    assert profile.identify is not None
    assert profile.identify.equals == code
    reg = next(r for r in table if r.name == "model_code")
    assert (profile.identify.table.value, profile.identify.address) == (
        reg.table.value,
        reg.address,
    )


@pytest.mark.parametrize("model", sorted(MAPS))
def test_the_units_default_range_lies_inside_the_documented_one(model: str) -> None:
    profile = get_crac_profile(model)
    params = DEFAULT_PARAMS[model]
    assert profile.commands.setpoint is not None
    low, high = (
        params.supply_setpoint_range_c
        if profile.commands.setpoint.point in ("supply_setpoint", "inlet_setpoint")
        else params.return_setpoint_range_c
    )
    assert profile.commands.setpoint.min_c <= low < high <= profile.commands.setpoint.max_c
