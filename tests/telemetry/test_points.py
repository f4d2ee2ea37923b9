from __future__ import annotations

import math

import pytest

from devices.bus import Message
from devices.camera.quality import CameraProblem, CameraStatus
from devices.crac.messages import CracReading
from devices.esl.model import EslSnapshot, TagStatus
from devices.gpu.reading import GpuReading
from devices.health import Health, HealthChanged, HealthState
from devices.scale import ShelfWeights
from devices.ups.state import (
    BatteryStatus,
    GridEvent,
    GridEventKind,
    InputLine,
    OutputLine,
    UpsReading,
    UpsStatus,
)
from facility.telemetry.points import (
    KNOWN_SERIES,
    ConverterRegistry,
    Point,
    PointContext,
    WallClockAnchor,
    default_registry,
    encode_batch,
)

ANCHOR = WallClockAnchor(wall_ns=1_700_000_000_000_000_000, mono_s=100.0)
CTX = PointContext("s1", ANCHOR)
REG = default_registry()


def by_measurement(points: list[Point]) -> dict[str, list[Point]]:
    out: dict[str, list[Point]] = {}
    for p in points:
        out.setdefault(p.measurement, []).append(p)
    return out


def test_anchor_maps_monotonic_to_wall_clock() -> None:
    assert ANCHOR.to_ns(100.0) == 1_700_000_000_000_000_000
    assert ANCHOR.to_ns(101.5) == 1_700_000_001_500_000_000
    assert ANCHOR.to_ns(99.999) == 1_699_999_999_999_000_000


def test_ups_reading_omits_none_and_tags_store_and_device() -> None:
    reading = UpsReading(
        source="ups1",
        t_mono=102.0,
        status=UpsStatus.ON_BATTERY,
        battery_status=BatteryStatus.UNKNOWN,
        runtime_s=600.0,
        charge_pct=None,
        input_lines=(InputLine(1, voltage_v=0.0, frequency_hz=None),),
        output_lines=(OutputLine(1, voltage_v=230.0, load_pct=41.0), OutputLine(2)),
        alarms=("onBattery",),
    )
    points = by_measurement(REG.convert(reading, CTX))
    (ups,) = points["ups"]
    assert ups.tags == (("device", "ups1"), ("store", "s1"))
    assert ups.time_ns == 1_700_000_002_000_000_000
    assert dict(ups.fields) == {
        "on_battery": 1.0,
        "fault": 0.0,
        "runtime_s": 600.0,
        "alarms_active": 1.0,
    }
    (inp,) = points["ups_input"]
    assert dict(inp.tags)["line"] == "1"
    assert dict(inp.fields) == {"voltage_v": 0.0}  # a real 0 V stays, a None goes
    # The second output line reports nothing: no point at all rather than an empty one.
    (out,) = points["ups_output"]
    assert dict(out.fields) == {"voltage_v": 230.0, "load_pct": 41.0}


def test_ups_unknown_status_writes_no_on_battery() -> None:
    reading = UpsReading(
        source="u", t_mono=100.0, status=UpsStatus.UNKNOWN, battery_status=BatteryStatus.LOW
    )
    (ups,) = REG.convert(reading, CTX)
    assert dict(ups.fields) == {"battery_low": 1.0, "alarms_active": 0.0}


def test_grid_event_start_and_end() -> None:
    start = GridEvent(source="u", t_mono=100.0, kind=GridEventKind.SAG, started_mono=100.0)
    end = GridEvent(
        source="u",
        t_mono=103.0,
        kind=GridEventKind.SAG,
        started_mono=100.0,
        ended=True,
        duration_s=3.0,
        worst=180.5,
    )
    (p1,) = REG.convert(start, CTX)
    (p2,) = REG.convert(end, CTX)
    assert dict(p1.tags)["kind"] == "sag"
    assert dict(p1.fields) == {"active": 1.0}
    assert dict(p2.fields) == {"active": 0.0, "duration_s": 3.0, "worst": 180.5}


def test_shelf_weights_point_per_cell_and_total() -> None:
    msg = ShelfWeights(
        source="scale7",
        t_mono=100.25,
        shelf_id="A-3",
        weights_g=(100.0, 250.5),
        stable=(True, False),
        overload=(False, False),
    )
    points = by_measurement(REG.convert(msg, CTX))
    cells = {dict(p.tags)["cell"]: dict(p.fields) for p in points["shelf_cell"]}
    assert cells == {
        "0": {"weight_g": 100.0, "stable": 1.0, "overload": 0.0},
        "1": {"weight_g": 250.5, "stable": 0.0, "overload": 0.0},
    }
    (shelf,) = points["shelf"]
    assert dict(shelf.tags) == {"store": "s1", "device": "scale7", "shelf": "A-3"}
    assert dict(shelf.fields) == {"total_g": 350.5, "stable": 0.0}


def test_crac_reading_booleans_and_missing_fields() -> None:
    msg = CracReading(
        source="crac1",
        t_mono=100.0,
        supply_air_c=18.0,
        return_air_c=27.5,
        compressors_on=(True, False, True),
        unit_on=True,
        local_mode=False,
        alarms=None,
    )
    (p,) = REG.convert(msg, CTX)
    assert dict(p.fields) == {
        "supply_air_c": 18.0,
        "return_air_c": 27.5,
        "delta_t_k": 9.5,
        "compressors_running": 2.0,
        "unit_on": 1.0,
        "local_mode": 0.0,
    }


def test_gpu_nan_and_none_are_omitted() -> None:
    msg = GpuReading(
        source="host-gpu",
        t_mono=100.0,
        index=3,
        power_w=212.5,
        temperature_c=math.nan,
        fan_pct=None,
        throttle_reasons=("SwPowerCap",),
    )
    (p,) = REG.convert(msg, CTX)
    assert dict(p.tags)["gpu"] == "3"
    assert dict(p.fields) == {"power_w": 212.5, "power_capped": 1.0, "thermal_slowdown": 0.0}


def test_gpu_without_any_value_writes_nothing() -> None:
    assert REG.convert(GpuReading(source="g", t_mono=100.0, index=0), CTX) == []


def test_health_changed_tags_the_device_whose_health_it_is() -> None:
    msg = HealthChanged(
        source="coordinator",
        t_mono=100.0,
        health=Health("scale7", HealthState.DEGRADED, "timeout", 99.0, 2),
    )
    (p,) = REG.convert(msg, CTX)
    assert dict(p.tags)["device"] == "scale7"
    assert dict(p.fields) == {"state": 1.0, "online": 0.0, "consecutive_failures": 2.0}


def test_camera_status_problem_flags() -> None:
    msg = CameraStatus(
        source="cam2",
        t_mono=100.0,
        camera_id="cam2",
        health=Health("cam2", HealthState.DEGRADED),
        problems=(CameraProblem.FROZEN,),
        fps=None,
        mean_luma=80.0,
    )
    (p,) = REG.convert(msg, CTX)
    fields = dict(p.fields)
    assert "fps" not in fields
    assert fields["problem_frozen"] == 1.0
    assert fields["problem_black"] == 0.0
    assert fields["problems"] == 1.0
    assert fields["state"] == 1.0


def test_esl_snapshot_one_point_per_tag_with_its_fields() -> None:
    tags = (
        TagStatus(source="ap1", t_mono=100.0, tag_id="T1", battery_mv=2900, rssi_dbm=-70),
        TagStatus(source="ap1", t_mono=100.0, tag_id="T2"),  # nothing known: no point
    )
    points = REG.convert(EslSnapshot(source="ap1", t_mono=100.0, tags=tags), CTX)
    assert len(points) == 1
    assert dict(points[0].tags)["tag"] == "T1"
    assert dict(points[0].fields) == {"battery_mv": 2900.0, "rssi_dbm": -70.0}


def test_line_protocol_escaping_and_float_fields() -> None:
    p = Point("my meas,x", (("shelf", "A 1,b=c"),), (("weight_g", 2.0),), 5)
    assert p.line() == "my\\ meas\\,x,shelf=A\\ 1\\,b\\=c weight_g=2.0 5"
    assert encode_batch([p, p]) == (p.line() + "\n" + p.line()).encode()


def test_empty_tag_values_are_left_out() -> None:
    p = CTX.point("m", GpuReading(source="", t_mono=100.0, index=0), {"a": 1})
    assert p is not None
    assert p.tags == (("store", "s1"),)


def test_every_produced_field_is_a_known_series() -> None:
    samples: list[Message] = [
        UpsReading(
            source="u",
            t_mono=100.0,
            status=UpsStatus.ON_LINE,
            battery_status=BatteryStatus.NORMAL,
            seconds_on_battery=0,
            runtime_s=1,
            charge_pct=1,
            battery_voltage_v=1,
            battery_temperature_c=1,
            input_v=1,
            input_hz=1,
            input_line_bads=0,
            load_pct=1,
            output_power_w=1,
            input_lines=(InputLine(1, 1, 1, 1),),
            output_lines=(OutputLine(1, 1, 1, 1, 1),),
        ),
        GpuReading(
            source="g",
            t_mono=100.0,
            index=0,
            power_w=1.0,
            energy_j=1.0,
            sm_clock_mhz=1.0,
            memory_used_mib=1.0,
        ),
        ShelfWeights(
            source="s", t_mono=1, shelf_id="x", weights_g=(1.0,), stable=(True,), overload=(True,)
        ),
    ]
    names = {
        f"{p.measurement}_{k}" for m in samples for p in REG.convert(m, CTX) for k, _ in p.fields
    }
    assert names <= KNOWN_SERIES
    assert {"ups_runtime_s", "ups_input_voltage_v", "gpu_power_w", "shelf_cell_weight_g"} <= names


def test_registry_looks_up_by_type_and_ignores_unknown() -> None:
    reg = ConverterRegistry()
    reg.register(UpsReading, (), lambda m, c: [Point("x", (), (("v", 1.0),), 0)])
    with pytest.raises(ValueError, match="already registered"):
        reg.register(UpsReading, (), lambda m, c: [])
    assert reg.convert(GpuReading(source="g", t_mono=0, index=0), CTX) == []
    assert len(reg.convert(UpsReading(source="u", t_mono=0, status=UpsStatus.ON_LINE), CTX)) == 1
