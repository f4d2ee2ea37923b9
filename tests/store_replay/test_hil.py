"""The hand-made run in real time: weights from the shelf simulator over Modbus, not records.

The run ends at 45 s of scenario time, so this takes about a minute of real time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim_devices.scenario import parse_scenario
from sim_devices.store_sim.hil import shelf_sim_scenario
from walkout.store_hil import run_hil, scenario_document
from walkout.store_replay import ReplaySettings

from .tiny import TRUE_RECEIPTS, tiny_run


def test_the_shelf_simulator_reads_back_the_scenario_written_for_it() -> None:
    scenario, _ = shelf_sim_scenario(tiny_run().scenario)
    text = yaml.safe_dump(scenario_document(scenario))
    assert parse_scenario(yaml.safe_load(text)) == scenario


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_hil_gives_the_true_receipts_from_polled_weights(tmp_path: Path) -> None:
    run = tiny_run()
    settings = ReplaySettings()
    result = await run_hil(run, tmp_path, settings=settings)

    # the weights came over Modbus from the shelf simulator: ~10 Hz per shelf for ~45 s
    assert set(result.samples) == {"A", "B"}
    assert all(count > 200 for count in result.samples.values()), result.samples
    assert result.dropped == 0

    receipts = result.outcome.receipts
    assert set(receipts) == set(TRUE_RECEIPTS)  # every session got a receipt
    assert not any(r.review for r in receipts.values())
    assert {ref: dict(r.lines) for ref, r in receipts.items()} == TRUE_RECEIPTS
    assert result.outcome.unclosed == []

    # times are back on scenario time: a receipt follows its exit (40 s, 45 s) by the
    # exit binding delay, give or take the poll and loop scheduling
    exits = {s.session_ref: s.exit_t for s in run.truth.sessions}
    for ref, receipt in receipts.items():
        assert receipt.settled_t is not None
        assert receipt.settled_t - exits[ref] == pytest.approx(settings.exit_delay_s, abs=1.0)
    # each take and put is attributed near its true time (a board settles within ~1 s)
    for made in result.outcome.events:
        true_t = [e.t for e in run.truth.events if (e.kind, e.sku) == (made.kind, made.sku)]
        assert min(abs(made.t - t) for t in true_t) < 3.0, made
    assert result.breakdown == {"ok": 4}
    assert result.scores.event_recall == 1.0
    assert result.scores.event_precision == 1.0
    assert result.scores.cpu_s is not None
    assert result.scores.cpu_s > 0
