"""The checkout engine on simulated stores: the quiet scenario and a hand-made run."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim_devices.store_sim import SimulationResult, load_store_scenario, simulate
from walkout.store_replay import (
    ReplaySettings,
    event_breakdown,
    planogram_of,
    replay_scenario,
    write_replay_report,
)

from .tiny import TRUE_RECEIPTS, tiny_run

QUIET = Path(__file__).resolve().parents[2] / "sim_devices" / "scenarios" / "store" / "quiet.yaml"


@pytest.fixture(scope="module")
def quiet() -> SimulationResult:
    return simulate(load_store_scenario(QUIET))


def test_quiet_scores_every_receipt_and_writes_the_report(
    quiet: SimulationResult, tmp_path: Path
) -> None:
    result = replay_scenario(quiet, tmp_path / "work")
    scores = result.scores
    assert scores.sessions == len(quiet.truth.sessions) >= 5
    assert result.outcome.unclosed == []
    assert scores.produced == scores.sessions  # no receipt missing
    # quiet: lone shoppers (15 % pairs, one bill), no crowding, no wrong-shelf put-backs,
    # no lost wrists or id switches, 2-3 cm of track noise against a 15 cm hand sigma and
    # 0.5 g of scale noise against a 52 g lightest unit: nothing is ambiguous by design,
    # but two sessions may meet at a shelf by chance, so one receipt in ten may go wrong
    assert scores.receipt_accuracy is not None
    assert scores.receipt_accuracy >= 0.9
    assert scores.latency_p95_s is not None
    assert scores.latency_p95_s < 5.0
    assert scores.cpu_s is not None
    assert scores.cpu_s > 0
    report = write_replay_report(tmp_path / "report", result, quiet)
    text = report.read_text(encoding="utf-8")
    assert "receipt_accuracy: target >= 0.999" in text
    assert "## Definitions" in text
    assert (tmp_path / "report" / "latency.png").stat().st_size > 0
    assert (tmp_path / "report" / "occupancy.png").stat().st_size > 0


def test_hand_made_run_gives_exactly_the_true_receipts(tmp_path: Path) -> None:
    run = tiny_run()
    result = replay_scenario(run, tmp_path)
    receipts = result.outcome.receipts
    assert {ref: dict(r.lines) for ref, r in receipts.items()} == TRUE_RECEIPTS
    assert not any(r.review for r in receipts.values())
    # shopper 1 left at 40 s, shopper 2 at 45 s: receipts after the exit binding delay
    settled = {ref: r.settled_t for ref, r in receipts.items()}
    assert settled["S000001"] == pytest.approx(40.0 + ReplaySettings().exit_delay_s)
    assert settled["S000002"] == pytest.approx(45.0 + ReplaySettings().exit_delay_s)
    made = sorted((e.session_ref, e.kind, e.sku, e.qty) for e in result.outcome.events)
    assert made == [
        ("S000001", "put", "cola", 1),
        ("S000001", "take", "choc", 1),
        ("S000001", "take", "cola", 1),
        ("S000002", "take", "water", 1),
    ]
    assert result.breakdown == {"ok": 4}
    assert result.scores.receipt_accuracy == 1.0
    assert result.outcome.binding["bound"] == 2


def test_breakdown_names_each_fate() -> None:
    from sim_devices.store_sim import ProducedEvent, ShelfEventTruth

    def true(t: float, ref: str, sku: str, qty: int = 1) -> ShelfEventTruth:
        return ShelfEventTruth(t, ref, f"{ref}-1", "take", sku, qty, 1.0, "A", 0.1, "A")

    truth = [
        true(1, "S1", "cola"),
        true(10, "S1", "water", 2),
        true(20, "S2", "cola"),
        true(30, "S2", "choc"),
        true(40, "S1", "gum"),
    ]
    made = [
        ProducedEvent("S1", "take", "cola", 1, 1.5),  # ok
        ProducedEvent("S1", "take", "water", 1, 10.2),  # 1 of 2: wrong quantity
        ProducedEvent("S1", "take", "cola", 1, 20.1),  # S2's cola on S1: wrong shopper
        ProducedEvent("S2", "take", "crisps", 1, 30.3),  # S2 took choc: wrong SKU
        ProducedEvent("S2", "take", "soap", 1, 60.0),  # matches nothing: extra
    ]
    assert event_breakdown(truth, made) == {
        "ok": 1,
        "wrong_qty": 2,
        "wrong_shopper": 1,
        "wrong_sku": 1,
        "missed": 1,
        "extra": 1,
    }


def test_planogram_tolerance_covers_three_sigma() -> None:
    plan = planogram_of(tiny_run().scenario)
    assert plan.shelves["A"].facings[0].unit_tolerance_g == pytest.approx(6.0)  # 3 x 2 g
    assert plan.shelves["B"].facings[1].unit_tolerance_g == pytest.approx(3.0)  # 3 x 1 g
