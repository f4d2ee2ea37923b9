"""What a UPS reading must say, computed from a recording's text and the MIB's units.

This is the tests' own oracle: it reads the ``.snmprec`` lines (``snmprec.py``)
and applies RFC 1628 / PowerNet-MIB units and each unit's known deviations,
written here from the MIB texts and from reading the recordings, not from the
driver or its YAML profiles.

RFC 1628 units: upsBatteryVoltage 0.1 V, upsInputFrequency 0.1 Hz,
upsInputVoltage V, upsInputCurrent 0.1 A, upsOutputVoltage V,
upsOutputCurrent 0.1 A, upsOutputPower W, upsOutputPercentLoad %,
upsEstimatedMinutesRemaining min, upsSecondsOnBattery s. NonNegativeInteger
objects make -1 "unknown"; an INTEGER object sent as TimeTicks is a
placeholder, not a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peers.snmprec import NUMBER_TAGS, TIMETICKS, Record, oid_key

UPS = "1.3.6.1.2.1.33.1."
APC = "1.3.6.1.4.1.318.1.1.1."


@dataclass(frozen=True)
class Quirk:
    """A recorded unit's deviation from RFC 1628, as found by reading its recording."""

    why: str
    scale: dict[str, float] = field(default_factory=dict)
    unknown: dict[str, frozenset[int]] = field(default_factory=dict)
    unsupported: frozenset[str] = frozenset()


# Keyed by the recording a file comes from; variants keep their origin's quirks.
QUIRKS: dict[str, Quirk] = {
    "huawei-gse200m": Quirk(
        why="Huawei UPS5000 on a GSE200M card: 5000 = 50.00 Hz, 2369 = 236.9 V, output "
        "power 34 = 3.4 kW (219.9 V x 18.3 A at PF 0.85, 8 % of 40 kW), -1 temperature",
        scale={
            "input.frequency_hz": 0.01,
            "input.voltage_v": 0.1,
            "output.voltage_v": 0.1,
            "output.power_w": 100.0,
        },
        unknown={"battery_temperature_c": frozenset({-1})},
    ),
    "eaton-93e-80": Quirk(
        why="1092 min is 65535 s / 60: the card's saturated runtime "
        "(xupsBatTimeRemaining.0 = 65535 in the same recording)",
        unknown={"runtime_s": frozenset({1092})},
    ),
    "ingrasys-power-switch": Quirk(
        why="Santak Array 3A3: input current 0 A on every phase while the output carries "
        "28-41 A on mains: not measured",
        unsupported=frozenset({"input.current_a"}),
    ),
}

QUIRK_NAMES = {  # the profile quirk each recording must be identified with
    "huawei-gse200m": ("huawei-ups5000-gse200m",),
    "eaton-93e-80": ("eaton-mge-card-runtime-ceiling",),
    "ingrasys-power-switch": ("santak-webpower-pro-ii",),
    "eastpower-istars-swv053": (),
    "phoenixtec-power": (),
}

_ALARM_NAMES = [  # upsWellKnownAlarms 1..24, in RFC 1628 order, without "upsAlarm"
    "batteryBad", "onBattery", "lowBattery", "depletedBattery", "tempBad", "inputBad",
    "outputBad", "outputOverload", "onBypass", "bypassBad", "outputOffAsRequested",
    "upsOffAsRequested", "chargerFailed", "upsOutputOff", "upsSystemOff", "fanFailure",
    "fuseFailure", "generalFault", "diagnosticTestFailed", "communicationsLost",
    "awaitingPower", "shutdownPending", "shutdownImminent", "testInProgress",
]  # fmt: skip
WELL_KNOWN_ALARMS = {f"{UPS}6.3.{n}": name for n, name in enumerate(_ALARM_NAMES, start=1)}
FAULT_ALARMS = {"outputBad", "upsOutputOff", "upsSystemOff", "generalFault"}
OUTPUT_SOURCE = {1: "unknown", 2: "fault", 3: "on_line", 4: "bypass", 5: "on_battery"}
OUTPUT_SOURCE |= {6: "on_line", 7: "on_line"}  # booster / reducer: AVR on mains
BATTERY_STATUS = {1: "unknown", 2: "normal", 3: "low", 4: "depleted"}
SEVERITY = ("fault", "low_battery", "on_battery", "bypass", "on_line")


@dataclass(frozen=True)
class _Field:
    oid: str
    scale: float
    min: int | None = None
    max: int | None = None


RFC1628_VALUES = {
    "seconds_on_battery": _Field(UPS + "2.2.0", 1, 0),
    "runtime_s": _Field(UPS + "2.3.0", 60, 0),
    "charge_pct": _Field(UPS + "2.4.0", 1, 0, 100),
    "battery_voltage_v": _Field(UPS + "2.5.0", 0.1, 0),
    "battery_temperature_c": _Field(UPS + "2.7.0", 1),
    "input_line_bads": _Field(UPS + "3.1.0", 1, 0),
}
INPUT_COLUMNS = {"frequency_hz": (2, 0.1), "voltage_v": (3, 1.0), "current_a": (4, 0.1)}
OUTPUT_COLUMNS = {"voltage_v": (2, 1.0), "current_a": (3, 0.1), "power_w": (4, 1.0)}
OUTPUT_COLUMNS |= {"load_pct": (5, 1.0)}


def _number(record: Record | None) -> int | None:
    """The integer of an INTEGER-like object; None if absent or sent as another syntax."""
    if record is None or record.base_tag not in NUMBER_TAGS or ":" in record.tag:
        return None
    return int(record.value)


def _convert(record: Record | None, key: str, f: _Field, quirk: Quirk) -> float | None:
    raw = _number(record)
    if raw is None or key in quirk.unsupported or raw in quirk.unknown.get(key, ()):
        return None
    if (f.min is not None and raw < f.min) or (f.max is not None and raw > f.max):
        return None
    return raw * quirk.scale.get(key, f.scale)


def _table(
    records: dict[str, Record],
    entry: str,
    columns: dict[str, tuple[int, float]],
    count_oid: str,
    table: str,
    quirk: Quirk,
) -> list[dict[str, object]]:
    rows: dict[tuple[int, ...], dict[str, Record]] = {}
    for name, (column, _) in columns.items():
        prefix = f"{entry}.{column}."
        for oid, record in records.items():
            if oid.startswith(prefix):
                rows.setdefault(oid_key(oid[len(prefix) :]), {})[name] = record
    suffixes = sorted(rows)
    count = _number(records.get(count_oid))
    if count is not None and len(suffixes) > count:
        suffixes = suffixes[:count]  # rows past upsXxxNumLines are padding
    lines = []
    for suffix in suffixes:
        line: dict[str, object] = {"index": suffix[0]}  # "N.0" indices: line N
        for name, (_, scale) in columns.items():
            key = f"{table}.{name}"
            line[name] = _convert(rows[suffix].get(name), key, _Field("", scale, 0), quirk)
        lines.append(line)
    return lines


def expected_ietf(records: dict[str, Record], origin: str) -> dict[str, object]:
    """The reading a UPS-MIB unit with these records must give (``origin``: its recording)."""
    quirk = QUIRKS.get(origin, Quirk(why="none"))
    out: dict[str, object] = {
        name: _convert(records.get(f.oid), name, f, quirk) for name, f in RFC1628_VALUES.items()
    }
    inputs = _table(records, UPS + "3.3.1", INPUT_COLUMNS, UPS + "3.2.0", "input", quirk)
    outputs = _table(records, UPS + "4.4.1", OUTPUT_COLUMNS, UPS + "4.3.0", "output", quirk)
    out["input_lines"] = inputs
    out["output_lines"] = outputs
    out["input_v"] = inputs[0]["voltage_v"] if inputs else None
    out["input_hz"] = inputs[0]["frequency_hz"] if inputs else None
    loads = [line["load_pct"] for line in outputs if line["load_pct"] is not None]
    out["load_pct"] = max(loads) if loads else None
    powers = [line["power_w"] for line in outputs]
    out["output_power_w"] = sum(powers) if powers and None not in powers else None
    battery = BATTERY_STATUS.get(_number(records.get(UPS + "2.1.0")) or 1, "unknown")
    out["battery_status"] = battery
    alarms = []
    for oid, record in sorted(records.items(), key=lambda i: oid_key(i[0])):
        if oid.startswith(UPS + "6.2.1.2."):  # upsAlarmDescr
            alarms.append(WELL_KNOWN_ALARMS.get(record.value, record.value))
    out["alarms"] = tuple(alarms)
    source = OUTPUT_SOURCE.get(_number(records.get(UPS + "4.1.0")) or 1, "unknown")
    candidates = [source]
    if source == "on_battery" and battery in ("low", "depleted"):
        candidates.append("low_battery")
    if FAULT_ALARMS & set(alarms):
        candidates.append("fault")
    known = [c for c in candidates if c != "unknown"]
    out["status"] = min(known, key=SEVERITY.index) if known else "unknown"
    out["via"] = "snmp:ietf"
    return out


def _apc(records: dict[str, Record], *sources: tuple[str, float, str]) -> float | None:
    """The first present PowerNet object of ``sources`` (oid suffix, scale, syntax), scaled."""
    for suffix, scale, syntax in sources:
        record = records.get(APC + suffix)
        if record is None or ":" in record.tag:
            continue
        if (record.base_tag == TIMETICKS) != (syntax == "timeticks"):
            continue
        return int(record.value) * scale
    return None


def expected_powernet(records: dict[str, Record]) -> dict[str, object]:
    """The reading a PowerNet unit with these records must give (PowerNet-MIB units)."""
    out_status = _number(records.get(APC + "4.1.1.0"))
    battery_raw = _number(records.get(APC + "2.1.1.0"))
    battery = {1: "unknown", 2: "normal", 3: "low"}.get(battery_raw or 1, "unknown")
    status = {2: "on_line", 3: "on_battery"}.get(out_status or 1, "unknown")
    if status == "on_battery" and battery == "low":
        status = "low_battery"
    voltage = _apc(records, ("3.3.1.0", 0.1, "n"), ("3.2.1.0", 1, "n"))
    frequency = _apc(records, ("3.3.4.0", 0.1, "n"), ("3.2.4.0", 1, "n"))
    output = {
        "index": 1,
        "voltage_v": _apc(records, ("4.3.1.0", 0.1, "n"), ("4.2.1.0", 1, "n")),
        "current_a": _apc(records, ("4.3.4.0", 0.1, "n"), ("4.2.4.0", 1, "n")),
        "power_w": _apc(records, ("4.2.8.0", 1, "n")),
        "load_pct": _apc(records, ("4.3.3.0", 0.1, "n"), ("4.2.3.0", 1, "n")),
    }
    alarms = []
    if out_status == 3:
        alarms.append("onBattery")
    if battery_raw == 3:
        alarms.append("lowBattery")
    if _number(records.get(APC + "2.2.4.0")) == 2:
        alarms.append("batteryNeedsReplacing")
    return {
        "status": status,
        "battery_status": battery,
        "seconds_on_battery": _apc(records, ("2.1.2.0", 0.01, "timeticks")),
        "runtime_s": _apc(records, ("2.2.3.0", 0.01, "timeticks")),
        "charge_pct": _apc(records, ("2.3.1.0", 0.1, "n"), ("2.2.1.0", 1, "n")),
        "battery_voltage_v": _apc(records, ("2.3.4.0", 0.1, "n"), ("2.2.8.0", 1, "n")),
        "battery_temperature_c": _apc(records, ("2.3.2.0", 0.1, "n"), ("2.2.2.0", 1, "n")),
        "input_v": voltage,
        "input_hz": frequency,
        "input_lines": [
            {"index": 1, "voltage_v": voltage, "frequency_hz": frequency, "current_a": None}
        ],
        "input_line_bads": None,
        "output_lines": [output],
        "load_pct": output["load_pct"],
        "output_power_w": output["power_w"],
        "alarms": tuple(alarms),
        "via": "snmp:powernet",
    }
