"""Checkout in real time with the shelves in the loop, against accelerated replay of the same run.

    .venv/bin/python benchmarks/bench_checkout_hil.py [--duration-s 150] [--scenario quiet]
        [--cameras] [--box-noise-px 3] [--miss-rate 0.02] [--id-switch-rate 0]

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
   run's records at their real times, or with ``--cameras`` come from a
   grid of overlapping smart-camera simulators (with box jitter and missed
   detections) through the runtime's vision path and its fusion across
   cameras (:mod:`walkout.store_hil_cameras`);
2. ``replay``: :func:`walkout.store_replay.replay_scenario`, as fast as it
   goes, on the simulator's own weight records.

Default 150 s: quiet's arrivals in that window (seed 11) give 3 sessions and
4 takes/puts, and the last shopper leaves at ~169 s, so the run takes about
3 minutes of real time. Printed side by side: receipt accuracy, event
precision/recall, review rate, latency p50/p95 (store time from exit to
receipt), CPU per shopper (the checkout path's CPU; for ``hil`` also the
whole process's, Modbus polling included), readings received per shelf, the
gate machine's messages and the simulated doors' counters. With
``--cameras`` also the grid, metadata messages per camera (and their rate),
each simulator's detections and misses, shopper samples, shopper tracks
started against the people the cameras were shown, and fusion merges (a camera's track
joined to a shopper another camera had started; shoppers seen by two
cameras or more). Figures are printed, never asserted.
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
from walkout.store_hil_cameras import CameraSetup
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
    if hil.cameras:
        print_cameras(hil)


def print_cameras(hil: HilResult) -> None:
    """The camera path's figures: the grid, its messages, and what fusion made of them."""
    wall_s = hil.outcome.wall_s or 1.0
    print(f"cameras: {len(hil.cameras)} top-down, tracks from the camera path "
          f"({hil.track_records} track records fed)")  # fmt: skip
    for placement in hil.cameras:
        cid = placement.camera_id
        count = hil.camera_messages.get(cid, 0)
        sim = hil.camera_sims.get(cid, {})
        (x, y), (w, d) = placement.origin_m, placement.floor_m
        print(
            f"  {cid:<8} floor {w:.2f} x {d:.2f} m at ({x:.2f}, {y:.2f}): {count:>6} messages "
            f"{count / wall_s:5.1f}/s, {sim.get('people', 0)} detections, "
            f"{sim.get('misses', 0)} missed, {sim.get('id_switches', 0)} id switches"
        )
    c = hil.camera
    print(
        f"vision path: {c.get('messages', 0)} messages, {c.get('observations', 0)} "
        f"observations, {c.get('samples', 0)} shopper samples"
    )
    print(
        f"shopper tracks started {c.get('tracks_started', 0)} (people {hil.camera_people}), "
        f"ended {c.get('tracks_ended', 0)}; fusion merges {c.get('merges', 0)}, "
        f"shoppers seen by 2+ cameras {c.get('merged_shoppers', 0)}"
    )
    binding = ", ".join(f"{k} {v}" for k, v in sorted(hil.outcome.binding.items())) or "none"
    print(f"track sessions: {binding}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="quiet")
    parser.add_argument(
        "--duration-s", type=float, default=150.0, help="seconds of arrivals simulated"
    )
    parser.add_argument(
        "--cameras", action="store_true", help="tracks from smart-camera simulators, not records"
    )
    defaults = CameraSetup()
    parser.add_argument("--box-noise-px", type=float, default=defaults.box_noise_px)
    parser.add_argument("--miss-rate", type=float, default=defaults.miss_rate)
    parser.add_argument(
        "--id-switch-rate",
        type=float,
        default=defaults.id_switch_rate,
        help="per person and frame, the chance a camera gives the person a new track id",
    )
    args = parser.parse_args()
    setup = CameraSetup(
        box_noise_px=args.box_noise_px,
        miss_rate=args.miss_rate,
        id_switch_rate=args.id_switch_rate,
    )
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
        hil = asyncio.run(run_hil(run, Path(tmp) / "hil", cameras=args.cameras, camera_setup=setup))
    print_results(hil, accelerated)


if __name__ == "__main__":
    main()
