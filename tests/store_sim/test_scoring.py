from pathlib import Path

import pytest

from sim_devices.store_sim import (
    DEFINITIONS,
    ProducedEvent,
    ProducedReceipt,
    SessionTruth,
    ShelfEventTruth,
    percentile,
    score,
    write_report,
)


def _session(ref: str, receipt: dict[str, int], exit_t: float = 100.0) -> SessionTruth:
    return SessionTruth(ref, f"card-{ref}", 1, 0, 0.0, exit_t, receipt)


TRUTH = [
    _session("S1", {"cola": 2, "crisps": 1}, exit_t=100.0),  # produced exactly
    _session("S2", {"cola": 1, "water": 1}, exit_t=200.0),  # water missing
    _session("S3", {"choc": 1}, exit_t=300.0),  # an extra cola, sent to review
    _session("S4", {}, exit_t=400.0),  # bought nothing, produced empty
    _session("S5", {"water": 3}, exit_t=500.0),  # no receipt at all
]
PRODUCED = {
    "S1": ProducedReceipt("S1", {"cola": 2, "crisps": 1}, settled_t=101.0),
    "S2": ProducedReceipt("S2", {"cola": 1}, settled_t=203.0),
    "S3": ProducedReceipt("S3", {"choc": 1, "cola": 1}, review=True, settled_t=310.0),
    "S4": ProducedReceipt("S4", {"cola": 0}, settled_t=400.5),
}


def test_receipt_metrics_by_hand() -> None:
    s = score(TRUTH, PRODUCED)
    assert (s.sessions, s.produced, s.exact) == (5, 4, 2)
    assert s.receipt_accuracy == pytest.approx(2 / 5)  # S1 and S4
    assert s.auto_accuracy == pytest.approx(2 / 3)  # S1, S2, S4 unreviewed; S1, S4 exact
    # produced units: S1 3, S2 1, S3 2, S4 0 = 6; matched 3 + 1 + 1 = 5
    assert s.line_precision == pytest.approx(5 / 6)
    # true units: 3 + 2 + 1 + 0 + 3 = 9
    assert s.line_recall == pytest.approx(5 / 9)
    assert s.review_rate == pytest.approx(1 / 4)
    assert sorted(s.latencies_s) == pytest.approx([0.5, 1.0, 3.0, 10.0])
    assert s.wrong_sessions == ("S2", "S3", "S5")
    assert s.shoppers == 5
    assert s.cpu_per_shopper_s is None
    assert s.event_precision is None


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([3.0, 1.0, 2.0], 99) == 3.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="percentile"):
        percentile([1.0], 0)


def _event(t: float, ref: str, kind: str, sku: str, qty: int) -> ShelfEventTruth:
    return ShelfEventTruth(t, ref, f"{ref}-1", kind, sku, qty, 100.0 * qty, "A", 0.1, "A")  # type: ignore[arg-type]


def test_event_precision_and_recall() -> None:
    true_events = [
        _event(10.0, "S1", "take", "cola", 2),
        _event(20.0, "S1", "take", "crisps", 1),
        _event(30.0, "S1", "put", "crisps", 1),
        _event(40.0, "S2", "take", "cola", 1),
    ]
    produced = [
        ProducedEvent("S1", "take", "cola", 1, 11.0),  # 1 of 2 units
        ProducedEvent("S1", "take", "crisps", 1, 21.0),  # right
        ProducedEvent("S1", "put", "crisps", 1, 60.0),  # too late: no match
        ProducedEvent("S1", "take", "cola", 1, 41.0),  # wrong session for that take
    ]
    s = score(
        TRUTH[:2],
        PRODUCED,
        true_events=true_events,
        produced_events=produced,
        cpu_s=3.0,
        event_tolerance_s=5.0,
    )
    # matched units: 1 (cola) + 1 (crisps) = 2; produced 4; true 5
    assert s.event_precision == pytest.approx(2 / 4)
    assert s.event_recall == pytest.approx(2 / 5)
    assert s.cpu_per_shopper_s == pytest.approx(3.0 / 2)


def test_all_exact() -> None:
    truth = [_session("S1", {"a": 1})]
    s = score(truth, {"S1": ProducedReceipt("S1", {"a": 1})})
    assert s.receipt_accuracy == 1.0
    assert s.line_precision == 1.0
    assert s.line_recall == 1.0
    assert s.latency_p50_s is None


def test_report_has_values_definitions_and_plots(tmp_path: Path) -> None:
    s = score(TRUTH, PRODUCED, cpu_s=2.5)
    path = write_report(tmp_path / "r", s, title="hand-built")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# hand-built")
    assert "| receipt accuracy | 40.00 % |" in text
    assert "| review rate | 25.00 % |" in text
    assert "| CPU per shopper | 0.500 s |" in text
    assert "| latency p95 | 10.000 s |" in text
    for key, definition in DEFINITIONS.items():
        assert f"**{key}**: {definition}" in text
    assert (tmp_path / "r" / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "S2, S3, S5" in text
