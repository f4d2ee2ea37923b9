"""The hand-made run in real time: weights and gates from their simulators over Modbus.

The shelves' weights come from the shelf simulator and the gate events from
the runtime's gate machine driving the digital-I/O simulator's doors; only
tracks are records. The run ends at 45 s of scenario time, so this takes
about a minute of real time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim_devices.scenario import parse_scenario
from sim_devices.store_sim.hil import shelf_sim_scenario
from walkout.store_hil import run_hil, scenario_document
from walkout.store_replay import ReplaySettings

from .tiny import PEOPLE, TRUE_RECEIPTS, tiny_run


def test_the_shelf_simulator_reads_back_the_scenario_written_for_it() -> None:
    scenario, _ = shelf_sim_scenario(tiny_run().scenario)
    text = yaml.safe_dump(scenario_document(scenario))
    assert parse_scenario(yaml.safe_load(text)) == scenario


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_hil_gives_the_true_receipts_from_polled_weights_and_real_gates(
    tmp_path: Path,
) -> None:
    run = tiny_run()
    # shopper 2 enters exactly the binding window (4 s) after shopper 1, and the beam is
    # sensed a poll after it breaks: the binder must wait for that entry (it does)
    settings = ReplaySettings()
    result = await run_hil(run, tmp_path, settings=settings)

    # the weights came over Modbus from the shelf simulator: ~10 Hz per shelf for ~45 s
    assert set(result.samples) == {"A", "B"}
    assert all(count > 200 for count in result.samples.values()), result.samples
    assert result.dropped == 0

    # the gates: the machine admitted both credentials from the allow list, unlocked the
    # entry for each person and the exit on each button press, over Modbus; each person
    # broke a beam and nobody was refused, tailgated or pushed a locked door
    assert result.gate_messages == {"Admitted": 2, "Entered": 2, "Exited": 2}
    assert (result.doors["entry"]["passages"], result.doors["entry"]["forced"]) == (2, 0)
    assert (result.doors["exit"]["passages"], result.doors["exit"]["forced"]) == (2, 0)
    assert result.doors["exit"]["presses"] == 2
    # the entry relocked after the last person (the exit may still be in its last pulse)
    assert result.doors["entry"]["locked"]
    assert result.module["pulses"] >= 4  # two entries, two exits
    # each passage was sensed at its scenario time, give or take the poll (20 Hz + debounce)
    true_passages = sorted(
        [("in", "Entered", enter_t) for _, enter_t, _, _ in PEOPLE.values()]
        + [("out", "Exited", exit_t) for _, _, exit_t, _ in PEOPLE.values()],
        key=lambda p: p[2],
    )
    assert [p[:2] for p in result.passages] == [p[:2] for p in true_passages]
    for (_, _, sensed_t), (_, _, passed_t) in zip(result.passages, true_passages, strict=True):
        assert -0.05 <= sensed_t - passed_t < 0.5

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
