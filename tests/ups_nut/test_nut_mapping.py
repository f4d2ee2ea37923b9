"""NUT words and variables to walkout's normalised UPS reading (no server needed)."""

from __future__ import annotations

import random

import pytest

from devices.ups.nut import fold_status, quote, reading_from_nut, split_words, split_words_slowly
from devices.ups.state import BatteryStatus, InputLine, OutputLine, UpsStatus


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('VAR ups1 ups.status "OL"', ["VAR", "ups1", "ups.status", "OL"]),
        ('VAR ups1 ups.status "OB LB"', ["VAR", "ups1", "ups.status", "OB LB"]),
        ('VAR u x "say \\"hi\\""', ["VAR", "u", "x", 'say "hi"']),
        ('VAR u x "back\\\\slash"', ["VAR", "u", "x", "back\\slash"]),
        ('VAR u x ""', ["VAR", "u", "x", ""]),
        ("  spaced   out\t", ["spaced", "out"]),
        ('UPS a "b c"', ["UPS", "a", "b c"]),
        ("a\\ b", ["a b"]),
    ],
)
def test_split_words(line: str, words: list[str]) -> None:
    assert split_words(line) == words


def test_fast_path_agrees_with_the_reference_tokeniser() -> None:
    rng = random.Random(5)
    alphabet = ['"', "\\", " ", " ", "\t", "a", "b", "VAR", "ups.status", "\u00e9", "1.5"]
    lines = ['VAR ups1 ups.status "OB LB"', 'UPS a ""', '"x"', 'a"b"', 'a "b" ', 'a "b"c"']
    lines += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(5000)]
    for line in lines:
        try:
            expected: list[str] | str = split_words_slowly(line)
        except ValueError as exc:
            expected = str(exc)
        try:
            got: list[str] | str = split_words(line)
        except ValueError as exc:
            got = str(exc)
        assert got == expected, line


@pytest.mark.parametrize("line", ['VAR u x "open', "ends in \\"])
def test_split_words_refuses_broken_lines(line: str) -> None:
    with pytest.raises(ValueError, match=r"quote|backslash"):
        split_words(line)


@pytest.mark.parametrize("value", ["plain", "two words", 'q"uote', "back\\slash", "", '\\"'])
def test_quote_round_trips(value: str) -> None:
    assert split_words(f"PASSWORD {quote(value)}") == ["PASSWORD", value]


@pytest.mark.parametrize(
    ("status", "folded"),
    [
        ("OL", UpsStatus.ON_LINE),
        ("OL CHRG", UpsStatus.ON_LINE),
        ("OL LB CHRG", UpsStatus.ON_LINE),  # recharging after an outage: still on mains
        ("OB DISCHRG", UpsStatus.ON_BATTERY),
        ("OB LB", UpsStatus.LOW_BATTERY),
        ("LB", UpsStatus.LOW_BATTERY),
        ("OL BYPASS", UpsStatus.BYPASS),
        ("OB BYPASS", UpsStatus.ON_BATTERY),
        ("OL OFF", UpsStatus.FAULT),
        ("OB LB OFF", UpsStatus.FAULT),
        ("OL TRIM", UpsStatus.ON_LINE),
        ("OL BOOST", UpsStatus.ON_LINE),
        ("OL RB", UpsStatus.ON_LINE),
        ("OB FSD LB", UpsStatus.LOW_BATTERY),
        ("WAIT", UpsStatus.UNKNOWN),
        ("", UpsStatus.UNKNOWN),
    ],
)
def test_status_flags_fold_by_precedence(status: str, folded: UpsStatus) -> None:
    assert fold_status(frozenset(status.split())) is folded


def test_absent_variables_are_unknown() -> None:
    reading = reading_from_nut("u", 5.0, {"ups.status": "OL"})
    assert reading.status is UpsStatus.ON_LINE
    assert reading.battery_status is BatteryStatus.NORMAL
    assert reading.t_mono == 5.0
    for name in (
        "seconds_on_battery",
        "runtime_s",
        "charge_pct",
        "battery_voltage_v",
        "battery_temperature_c",
        "input_v",
        "input_hz",
        "input_line_bads",
        "load_pct",
        "output_power_w",
    ):
        assert getattr(reading, name) is None, name
    assert reading.input_lines == ()
    assert reading.output_lines == ()


def test_no_status_at_all() -> None:
    reading = reading_from_nut("u", 0.0, {"battery.charge": "50"})
    assert reading.status is UpsStatus.UNKNOWN
    assert reading.battery_status is BatteryStatus.UNKNOWN
    assert reading.charge_pct == 50


@pytest.mark.parametrize("raw", ["", "n/a", "nan", "inf", "12,5"])
def test_values_that_are_not_numbers_are_unknown(raw: str) -> None:
    reading = reading_from_nut("u", 0.0, {"ups.status": "OL", "battery.charge": raw})
    assert reading.charge_pct is None


def test_alarms_from_flags_and_ups_alarm() -> None:
    reading = reading_from_nut(
        "u",
        0.0,
        {"ups.status": "ALARM OB LB RB OVER FSD", "ups.alarm": " Replace battery! "},
    )
    assert reading.alarms == (
        "onBattery",
        "lowBattery",
        "batteryBad",
        "outputOverload",
        "forcedShutdown",
        "Replace battery!",
    )
    assert reading.battery_status is BatteryStatus.LOW


def test_three_phase_lines_and_the_most_loaded_phase() -> None:
    reading = reading_from_nut(
        "u",
        0.0,
        {
            "ups.status": "OL",
            "input.frequency": "49.9",
            "input.L1-N.voltage": "230",
            "input.L2-N.voltage": "0",
            "input.L3.current": "4.5",
            "output.L1-N.voltage": "229",
            "output.L1.realpower": "1000",
            "output.L2.realpower": "1500",
            "output.L3.realpower": "500",
            "output.L2.power.percent": "80",
            "output.L3.power.percent": "95",
            "ups.load": "60",
        },
    )
    assert reading.input_lines == (
        InputLine(1, 230.0, 49.9, None),
        InputLine(2, 0.0, 49.9, None),
        InputLine(3, None, 49.9, 4.5),
    )
    assert reading.input_v == 230.0
    assert reading.input_hz == 49.9
    assert reading.output_lines == (
        OutputLine(1, 229.0, None, 1000.0, None),
        OutputLine(2, None, None, 1500.0, 80.0),
        OutputLine(3, None, None, 500.0, 95.0),
    )
    assert reading.load_pct == 95
    assert reading.output_power_w == 3000


def test_single_phase_power_prefers_ups_realpower() -> None:
    reading = reading_from_nut(
        "u", 0.0, {"ups.status": "OL", "ups.realpower": "420", "output.realpower": "400"}
    )
    assert reading.output_power_w == 420
    assert reading.output_lines == (OutputLine(1, None, None, 400.0, None),)
