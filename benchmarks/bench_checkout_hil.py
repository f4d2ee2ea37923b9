"""Checkout in real time with the shelves in the loop, against accelerated replay of the same run.

    .venv/bin/python benchmarks/bench_checkout_hil.py [--duration-s 150] [--scenario quiet]

The scenario's first ``--duration-s`` seconds of arrivals are simulated once
(everybody inside then finishes). The run goes through the checkout twice:

1. ``hil``: :func:`walkout.store_hil.run_hil`, in real time: the shelf
   simulator process serves one Modbus TCP unit per shelf, the run's takes
   and put-backs are sent to it at their times, the real runtime polls the
   units and its ``ShelfWeights`` feed the checkout; the digital-I/O
   simulator process serves the entry and exit doors, credentials are
   presented on the runtime's bus, people walk through the doors (and press
   the exit button) at their times, and the runtime's gate machine's
   ``Admitted``/``Entered``/``Exited`` feed the checkout; tracks are the
   run's records at their real times (no camera simulator in this loop);
2. ``replay``: :func:`walkout.store_replay.replay_scenario`, as fast as it
   goes, on the simulator's own weight records.

Default 150 s: quiet's arrivals in that window (seed 11) give 3 sessions and
4 takes/puts, and the last shopper leaves at ~169 s, so the run takes about
3 minutes of real time. Printed side by side: receipt accuracy, event
precision/recall, review rate, latency p50/p95 (store time from exit to
receipt), CPU per shopper (the checkout path's CPU; for ``hil`` also the
whole process's, Modbus polling included), readings received per shelf, the
gate machine's messages and the simulated doors' counters.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sim_devices.store_sim import load_store_scenario, simulate
from walkout.store_hil import HilResult, run_hil
from walkout.store_replay import TARGETS, ScenarioResult, replay_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "sim_devices" / "scenarios" / "store"

ROWS = (
    "receipt_accuracy",
    "event_precision",
    "event_recall",
    "review_rate",
    "latency_p50_s",
    "latency_p95_s",
    "cpu_per_shopper_s",
)


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key == "cpu_per_shopper_s":
        return f"{1000 * value:.2f} ms"
    return f"{value:.3f} s" if key.endswith("_s") else f"{100 * value:7.3f} %"


def print_results(hil: HilResult, accelerated: ScenarioResult) -> None:
    """The two runs' metrics side by side, then what only the real-time run has."""
    h, a = hil.scores, accelerated.scores
    print(f"\n=== {hil.name}: {h.sessions} sessions scored, {h.shoppers} people ===")
    print(f"{'metric':<20} {'hil':>12} {'replay':>12}   target")
    for key in ROWS:
        target = TARGETS.get(key)
        aim = f"{target[0]} {target[1]:g}" if target else ""
        print(
            f"{key:<20} {_fmt(key, getattr(h, key)):>12} {_fmt(key, getattr(a, key)):>12}   {aim}"
        )
    print(f"receipts produced {h.produced}/{h.sessions} (replay {a.produced}), exact {h.exact} "
          f"(replay {a.exact})")  # fmt: skip
    for label, result in (("hil", hil), ("replay", accelerated)):
        fates = ", ".join(f"{k} {v}" for k, v in sorted(result.breakdown.items())) or "none"
        print(f"true take/put units, {label:<6}: {fates}")
    shoppers = h.shoppers or 1
    out = hil.outcome
    print(
        f"hil: wall {out.wall_s:.1f} s, checkout CPU {out.cpu_s:.3f} s, whole process CPU "
        f"{hil.process_cpu_s:.2f} s ({1000 * hil.process_cpu_s / shoppers:.1f} ms per shopper, "
        f"Modbus polling included)"
    )
    print(
        f"replay: wall {accelerated.outcome.wall_s:.3f} s, checkout CPU "
        f"{accelerated.outcome.cpu_s:.3f} s"
    )
    print("Modbus readings received per shelf (rate over the hil wall time):")
    for shelf_id, count in sorted(hil.samples.items()):
        print(f"  {shelf_id:<12} {count:>6}  {count / out.wall_s:5.1f} Hz")
    print(f"readings dropped by the subscription: {hil.dropped}")
    messages = ", ".join(f"{k} {v}" for k, v in sorted(hil.gate_messages.items())) or "none"
    print(f"gate machine messages: {messages}")
    for name, door in sorted(hil.doors.items()):
        print(
            f"  door {name:<6} passages {door['passages']}, forced {door['forced']}, "
            f"button presses {door['presses']}"
        )
    print(f"DIO module: {hil.module.get('pulses', 0)} pulses, "
          f"{hil.module.get('coil_writes', 0)} coil writes")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="quiet")
    parser.add_argument(
        "--duration-s", type=float, default=150.0, help="seconds of arrivals simulated"
    )
    args = parser.parse_args()
    scenario = load_store_scenario(SCENARIOS / f"{args.scenario}.yaml")
    scenario = replace(scenario, duration_s=min(args.duration_s, scenario.duration_s))
    t0 = time.perf_counter()
    run = simulate(scenario)
    sim_s = time.perf_counter() - t0
    last_t = max(r.t for r in run.records)
    print(
        f"{scenario.name}: {len(run.truth.sessions)} sessions, {len(run.truth.events)} takes/puts, "
        f"last record at {last_t:.1f} s (simulated in {sim_s:.2f} s); hil runs in real time"
    )
    with tempfile.TemporaryDirectory(prefix="bench-checkout-hil-") as tmp:
        accelerated = replay_scenario(run, Path(tmp) / "replay", simulate_s=sim_s)
        hil = asyncio.run(run_hil(run, Path(tmp) / "hil"))
    print_results(hil, accelerated)


if __name__ == "__main__":
    main()
