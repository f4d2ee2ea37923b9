"""Grid events from UPS readings: bands, hysteresis, minimum duration, unknowns, replay."""

from __future__ import annotations

import itertools
import random

import pytest

from devices.ups.grid import DATA_LOST, GridConfig, GridEventDetector
from devices.ups.state import GridEvent, GridEventKind, InputLine, UpsReading, UpsStatus

SAG, SWELL, FREQ, BATT = (
    GridEventKind.SAG,
    GridEventKind.SWELL,
    GridEventKind.FREQUENCY,
    GridEventKind.ON_BATTERY,
)
# nominal 230 V, +-10 %, hysteresis 2 %: sag below 207.0, ends >= 211.6;
# swell above 253.0, ends <= 248.4; 50 Hz +- 1, hysteresis 0.2: ends within +-0.8.
CONFIG = GridConfig(stale_after_s=30.0)


def reading(
    t: float,
    v: float | None = 230.0,
    hz: float | None = 50.0,
    status: UpsStatus = UpsStatus.ON_LINE,
    lines: tuple[InputLine, ...] = (),
) -> UpsReading:
    return UpsReading(
        source="ups1", t_mono=t, status=status, input_v=v, input_hz=hz, input_lines=lines
    )


def run(detector: GridEventDetector, readings: list[UpsReading]) -> list[GridEvent]:
    return [event for r in readings for event in detector.feed(r)]


def summary(events: list[GridEvent]) -> list[tuple[object, ...]]:
    return [(e.kind, e.ended, e.t_mono, e.started_mono, e.duration_s, e.worst) for e in events]


def test_sag_start_and_end_with_duration_and_worst() -> None:
    volts = [230, 229, 205, 190, 198.5, 209, 212, 230]
    events = run(GridEventDetector(CONFIG), [reading(t, v) for t, v in enumerate(volts, 100)])
    assert summary(events) == [
        (SAG, False, 102, 102, None, 205),
        (SAG, True, 106, 102, 4, 190),  # 209 is inside the hysteresis: not yet back
    ]
    assert events[0].detail == "input 205.0 V below 207.0 V"
    assert all(e.source == "ups1" for e in events)


def test_swell() -> None:
    volts = [230, 254, 260, 257, 250, 248, 240]
    events = run(GridEventDetector(CONFIG), [reading(t, v) for t, v in enumerate(volts)])
    assert summary(events) == [(SWELL, False, 1, 1, None, 254), (SWELL, True, 5, 1, 4, 260)]


def test_jump_from_swell_to_sag_ends_one_before_starting_the_other() -> None:
    events = run(GridEventDetector(CONFIG), [reading(0, 260), reading(1, 200), reading(2, 230)])
    assert [(e.kind, e.ended) for e in events] == [
        (SWELL, False),
        (SWELL, True),
        (SAG, False),
        (SAG, True),
    ]


def test_frequency_band_and_worst_is_furthest_from_nominal() -> None:
    hz = [50.0, 51.2, 48.5, 49.0, 49.3, 50.0]
    events = run(GridEventDetector(CONFIG), [reading(t, 230, f) for t, f in enumerate(hz)])
    assert summary(events) == [(FREQ, False, 1, 1, None, 51.2), (FREQ, True, 4, 1, 3, 48.5)]


def test_transfer_to_battery_and_back() -> None:
    statuses = [
        UpsStatus.ON_LINE,
        UpsStatus.ON_BATTERY,
        UpsStatus.LOW_BATTERY,
        UpsStatus.ON_BATTERY,
        UpsStatus.BYPASS,
    ]
    readings = [
        reading(t, 230, 50, s) for t, s in zip([10, 11.5, 30, 40, 41.25], statuses, strict=True)
    ]
    events = run(GridEventDetector(CONFIG), readings)
    assert summary(events) == [
        (BATT, False, 11.5, 11.5, None, None),
        (BATT, True, 41.25, 11.5, 29.75, None),
    ]


def test_blackout_is_a_sag_and_a_transfer_but_not_a_frequency_event() -> None:
    readings = [
        reading(0),
        reading(1, 0.0, 0.0, UpsStatus.ON_BATTERY),
        reading(2, 0.0, 0.0, UpsStatus.ON_BATTERY),
        reading(3),
    ]
    events = run(GridEventDetector(CONFIG), readings)
    assert [(e.kind, e.ended) for e in events] == [
        (BATT, False),
        (SAG, False),
        (BATT, True),
        (SAG, True),
    ]
    assert "interruption" in events[1].detail


def test_noise_on_the_band_edge_gives_one_event() -> None:
    rng = random.Random(3)
    # 40 s of a signal wobbling +-1.5 V around the sag threshold (207 V), then recovery.
    volts = [207 + rng.uniform(-1.5, 1.5) for _ in range(400)] + [230] * 5
    crossings = sum(1 for a, b in itertools.pairwise(volts) if (a < 207) != (b < 207))
    assert crossings > 50  # the test signal really does cross the threshold often
    events = run(GridEventDetector(CONFIG), [reading(t / 10, v) for t, v in enumerate(volts)])
    assert [(e.kind, e.ended) for e in events] == [(SAG, False), (SAG, True)]
    assert events[1].worst == min(volts)
    assert events[1].t_mono == 40.0


def test_without_hysteresis_the_same_noise_storms() -> None:
    rng = random.Random(3)
    volts = [207 + rng.uniform(-1.5, 1.5) for _ in range(400)]
    detector = GridEventDetector(GridConfig(voltage_hysteresis_pct=0.0))
    events = run(detector, [reading(t / 10, v) for t, v in enumerate(volts)])
    assert len(events) > 50


def test_minimum_duration_filters_short_dips() -> None:
    config = GridConfig(min_duration_s=0.5, stale_after_s=None)
    # A 0.3 s dip (three readings 0.1 s apart), then a 1 s one.
    times = [0.0, 0.1, 0.2, 0.3, 0.4, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.1]
    volts = [230, 200, 195, 200, 230, 200, 199, 198, 197, 196, 195, 197, 199, 200, 201, 230, 230]
    events = run(
        GridEventDetector(config), [reading(t, v) for t, v in zip(times, volts, strict=True)]
    )
    assert summary(events) == [
        (SAG, False, 1.5, 1.0, None, 195),  # declared once 0.5 s have passed, dated from its start
        (SAG, True, 2.0, 1.0, 1.0, 195),
    ]


def test_minimum_duration_counts_reading_time_not_reading_count() -> None:
    config = GridConfig(min_duration_s=10.0)
    detector = GridEventDetector(config)
    assert run(detector, [reading(0, 200), reading(9.99, 200)]) == []
    (start,) = detector.feed(reading(10.0, 200))
    assert (start.kind, start.started_mono, start.t_mono) == (SAG, 0.0, 10.0)


def test_unknown_values_neither_start_nor_end() -> None:
    detector = GridEventDetector(CONFIG)
    assert run(detector, [reading(0, None, None, UpsStatus.UNKNOWN)]) == []
    (start,) = detector.feed(reading(1, 200))
    assert start.kind is SAG
    # 20 s of readings that do not know the input (< stale_after_s = 30 s): still open.
    assert run(detector, [reading(t, None, None, UpsStatus.FAULT) for t in range(2, 22)]) == []
    assert detector.open_events == {SAG: 1}
    (end,) = detector.feed(reading(22, 230))
    assert (end.ended, end.duration_s, end.detail) == (True, 21, "")


def test_unknown_value_does_not_break_a_pending_start() -> None:
    detector = GridEventDetector(GridConfig(min_duration_s=2.0))
    events = run(detector, [reading(0, 200), reading(1, None), reading(2, 200)])
    assert summary(events) == [(SAG, False, 2, 0, None, 200)]


def test_stale_data_closes_an_open_event_as_data_lost() -> None:
    detector = GridEventDetector(CONFIG)
    run(
        detector,
        [reading(0, 200, 50, UpsStatus.ON_BATTERY), reading(5, 195, 50, UpsStatus.ON_BATTERY)],
    )
    assert run(detector, [reading(34, None, None, UpsStatus.UNKNOWN)]) == []
    events = detector.feed(reading(35, None, None, UpsStatus.UNKNOWN))
    assert [(e.kind, e.ended, e.t_mono, e.duration_s, e.detail) for e in events] == [
        (BATT, True, 35, 5, DATA_LOST),
        (SAG, True, 35, 5, DATA_LOST),
    ]
    assert events[1].worst == 195
    assert detector.open_events == {}


def test_tick_closes_stale_events_when_no_reading_arrives() -> None:
    detector = GridEventDetector(CONFIG)
    detector.feed(reading(0, 200))
    assert detector.tick(29) == []
    (end,) = detector.tick(31)
    assert (end.kind, end.detail, end.duration_s) == (SAG, DATA_LOST, 0)


def test_three_phase_sag_on_one_line() -> None:
    lines = (InputLine(1, 231.0), InputLine(2, 190.0), InputLine(3, 229.0))
    (start,) = GridEventDetector(CONFIG).feed(reading(0, 231.0, 50, lines=lines))
    assert (start.kind, start.worst) == (SAG, 190.0)
    assert start.detail == "input 190.0 V on L2 below 207.0 V"


def test_replaying_a_recorded_day_gives_the_same_events() -> None:
    rng = random.Random(11)
    readings = []
    status = UpsStatus.ON_LINE
    for n in range(5000):
        v = 230 + rng.gauss(0, 8) if n % 700 > 20 else rng.choice([0.0, 150.0, 260.0, None])
        hz = 50 + rng.gauss(0, 0.5) if rng.random() > 0.02 else None
        if rng.random() < 0.01:
            status = rng.choice(list(UpsStatus))
        readings.append(reading(n * 17.28, v, hz, status))
    config = GridConfig(min_duration_s=20.0, stale_after_s=120.0)
    first = run(GridEventDetector(config), readings)
    second = run(GridEventDetector(config), readings)
    assert len(first) > 10
    assert first == second
    # Starts and ends pair up per kind, in order.
    open_: dict[GridEventKind, float] = {}
    for event in first:
        if event.ended:
            assert open_.pop(event.kind) == event.started_mono
        else:
            assert event.kind not in open_
            open_[event.kind] = event.started_mono


def test_readings_out_of_order_or_from_another_ups_are_refused() -> None:
    detector = GridEventDetector(CONFIG)
    detector.feed(reading(10))
    with pytest.raises(ValueError, match="out of time order"):
        detector.feed(reading(9))
    other = UpsReading(source="ups2", t_mono=11, status=UpsStatus.ON_LINE)
    with pytest.raises(ValueError, match="one detector per UPS"):
        detector.feed(other)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"nominal_v": 0}, "nominal_v must be > 0"),
        ({"sag_pct": 100}, "sag_pct must be in"),
        ({"swell_pct": -1}, "swell_pct must be > 0"),
        ({"voltage_hysteresis_pct": 10}, "voltage_hysteresis_pct must be"),
        ({"interruption_pct": 95}, "interruption_pct must be"),
        ({"frequency_band_hz": 0}, "frequency_band_hz must be"),
        ({"frequency_hysteresis_hz": 1.0}, "frequency_hysteresis_hz must be"),
        ({"min_duration_s": -1}, "min_duration_s must be"),
        ({"on_battery_min_duration_s": -0.1}, "on_battery_min_duration_s must be"),
        ({"stale_after_s": 0}, "stale_after_s must be"),
        ({"nominal_hz": float("nan")}, "nominal_hz must be a finite number"),
    ],
)
def test_config_invariants(changes: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GridConfig(**changes)


def test_config_thresholds() -> None:
    config = GridConfig(nominal_v=120, sag_pct=15, swell_pct=5, voltage_hysteresis_pct=1)
    assert (config.sag_start_v, config.sag_end_v) == pytest.approx((102.0, 103.2))
    assert (config.swell_start_v, config.swell_end_v) == pytest.approx((126.0, 124.8))
