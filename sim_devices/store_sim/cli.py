"""Command line: ``python -m sim_devices store generate|score ...``.

``generate`` runs a scenario in accelerated replay and writes
``stream.jsonl`` and ``truth.jsonl`` into ``--out``, then prints one JSON
line: the counts, the wall time and the sessions generated per second.
``score`` compares receipts (JSONL lines ``{"session": "S000001", "lines":
{"sku": qty}, "review": false, "settled_t": 123.4}``; optional events lines
``{"session", "kind", "sku", "qty", "t"}``) with a truth file and writes the
Markdown report with plots into ``--report``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sim_devices.store_sim.jsonl import read_truth, write_stream, write_truth
from sim_devices.store_sim.report import write_report
from sim_devices.store_sim.scenario import StoreScenarioError, load_store_scenario
from sim_devices.store_sim.scoring import ProducedEvent, ProducedReceipt, score
from sim_devices.store_sim.world import simulate

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios" / "store"
"""The packaged scenarios (quiet, busy, families)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices store", description="shoppers with ground truth"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    gen = actions.add_parser("generate", help="run a scenario; write stream and truth JSONL")
    gen.add_argument(
        "--scenario",
        default=str(SCENARIOS / "quiet.yaml"),
        help="scenario YAML, or the name of a packaged one (quiet, busy, families)",
    )
    gen.add_argument("--out", type=Path, required=True, help="directory for the JSONL files")
    gen.add_argument("--seed", type=int, help="override the scenario's seed")
    gen.add_argument("--duration-s", type=float, help="override the arrival window")
    sc = actions.add_parser("score", help="score receipts against a truth file")
    sc.add_argument("--truth", type=Path, required=True)
    sc.add_argument("--receipts", type=Path, required=True)
    sc.add_argument("--events", type=Path, help="JSONL of the engine's take/put events")
    sc.add_argument("--cpu-s", type=float, help="CPU seconds the checkout engine used")
    sc.add_argument("--report", type=Path, required=True, help="directory for report.md")
    return parser


def _scenario_path(text: str) -> Path:
    path = Path(text)
    if not path.exists() and (SCENARIOS / f"{text}.yaml").exists():
        return SCENARIOS / f"{text}.yaml"
    return path


def _generate(args: argparse.Namespace) -> dict[str, Any]:
    scenario = load_store_scenario(_scenario_path(args.scenario))
    if args.seed is not None:
        scenario = replace(scenario, seed=args.seed)
    if args.duration_s is not None:
        if args.duration_s <= 0:
            raise StoreScenarioError(f"--duration-s: must be > 0, got {args.duration_s}")
        scenario = replace(scenario, duration_s=args.duration_s)
    started = time.perf_counter()
    result = simulate(scenario)
    simulated_s = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    count = write_stream(args.out / "stream.jsonl", result.records)
    write_truth(args.out / "truth.jsonl", result.truth)
    sessions = len(result.truth.sessions)
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "sessions": sessions,
        "people": len(result.truth.shoppers),
        "peak_in_store": result.truth.peak_in_store,
        "records": count,
        "events": len(result.truth.events),
        "sold_out_takes": result.truth.sold_out_takes,
        "simulate_s": round(simulated_s, 3),
        "sessions_per_s": round(sessions / simulated_s, 1) if simulated_s > 0 else None,
        "total_s": round(time.perf_counter() - started, 3),
        "stream": str(args.out / "stream.jsonl"),
        "truth": str(args.out / "truth.jsonl"),
    }


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{number}: expected a JSON object")
        rows.append(row)
    return rows


def _score(args: argparse.Namespace) -> dict[str, Any]:
    truth = read_truth(args.truth)
    receipts = {}
    for row in _jsonl(args.receipts):
        try:
            receipts[row["session"]] = ProducedReceipt(
                row["session"],
                dict(row["lines"]),
                bool(row.get("review", False)),
                row.get("settled_t"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{args.receipts}: bad receipt line {row}: {exc}") from None
    events = None
    if args.events is not None:
        try:
            events = [
                ProducedEvent(r["session"], r["kind"], r["sku"], int(r["qty"]), float(r["t"]))
                for r in _jsonl(args.events)
            ]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{args.events}: bad event line: {exc}") from None
    scores = score(
        truth.sessions,
        receipts,
        true_events=truth.events,
        produced_events=events,
        shoppers=len(truth.shoppers),
        cpu_s=args.cpu_s,
    )
    path = write_report(args.report, scores, title=f"Store simulation: {args.truth}", truth=truth)
    return {
        "report": str(path),
        "receipt_accuracy": scores.receipt_accuracy,
        "review_rate": scores.review_rate,
        "latency_p95_s": scores.latency_p95_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status (2 for bad input)."""
    args = _parser().parse_args(argv)
    try:
        answer = _generate(args) if args.action == "generate" else _score(args)
    except (StoreScenarioError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(answer))
    return 0
