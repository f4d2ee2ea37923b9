"""Checkout accuracy on the store simulator's scenarios, against a naive attributor.

    .venv/bin/python benchmarks/bench_checkout.py [--duration-s 1200] [--report DIR]
        [--scenarios quiet families busy]

Each scenario (``sim_devices/scenarios/store``) is simulated, then replayed
through walkout's adapter (:mod:`walkout.store_replay`) twice, on the same
records, the same track binding and the same exit binding:

1. ``engine``: the checkout engine (attribution that waits on ties, put-backs
   matched against carts, review instead of a guess, settlement policy);
2. ``naive``: a baseline written here: the nearest body in the event window
   wins (a bound track; unbound ones are skipped), products are the
   planogram's best guess even when tied, a put-back takes the unit of the
   nearest shopper's cart whose weight fits best, nothing ever waits, and the
   receipt settles when the group's last member is counted out.

Busy (and busy_shelfcam) runs its first ``--duration-s`` seconds of arrivals (default 1200: the
peak of ~100 people inside is reached after ~15 min); arrivals stop there
and everybody inside finishes, so every session is scored. Printed per scenario: every
metric with its definition, target vs measured, the fate of every true
take/put (ok, wrong quantity, wrong shopper, wrong SKU, missed), reviews by
reason, replay speed (sessions/s and records/s of the checkout path,
against the simulator's own generation speed), and the engine vs the naive
baseline. Figures are printed, never asserted; ``--report`` writes one
Markdown report with PNG plots per scenario.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections import Counter
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

from devices.bus import Message
from devices.gate.machine import Admitted, Entered, Exited
from sim_devices.store_sim import DEFINITIONS, SimulationResult, load_store_scenario, simulate
from sim_devices.store_sim.scenario import StoreScenario
from vision_core.checkout.messages import TrackSample
from vision_core.inference.attribution import FloorSample, ShelfLocation
from vision_core.inference.products import ProductInferrer
from vision_core.ledger.events import LineAdded, LinePutBack, ReceiptLine, ReceiptSettled
from vision_core.shelf_events import ShelfChange
from walkout.store_replay import (
    TARGETS,
    ScenarioResult,
    planogram_of,
    replay_scenario,
    shelf_locations,
    write_replay_report,
)

SCENARIOS = Path(__file__).resolve().parent.parent / "sim_devices" / "scenarios" / "store"
WINDOW_PAD_S = 1.5
"""Samples this far around a shelf change count for the naive attributor (as the engine's pad)."""


class NaiveCheckout:
    """Nearest body wins, never waits; the same inputs and outputs as the engine."""

    def __init__(self, scenario: StoreScenario) -> None:
        planogram = planogram_of(scenario)
        self.inferrer = ProductInferrer(planogram)
        self.catalog = planogram.catalog()
        self.shelves: dict[str, ShelfLocation] = shelf_locations(scenario)
        self.samples: dict[str, list[FloorSample]] = {}
        self.session_of: dict[str, str] = {}
        self.carts: dict[str, list[tuple[str, int]]] = {}
        self.people: dict[str, int] = {}
        self.exits: Counter[str] = Counter()

    def feed(self, message: Message) -> list[Message]:
        if isinstance(message, TrackSample):
            kept = self.samples.setdefault(message.track_id, [])
            kept.append(message.sample)
            if kept[0].t_mono < message.t_mono - 20.0:
                self.samples[message.track_id] = [
                    s for s in kept if s.t_mono >= message.t_mono - 20.0
                ]
            if message.session_id is not None:
                self.session_of[message.track_id] = message.session_id
            return []
        if isinstance(message, Admitted):
            self.carts[message.session_id] = []
            self.people[message.session_id] = 0
        elif isinstance(message, Entered):
            self.people[message.session_id] = self.people.get(message.session_id, 0) + 1
        elif isinstance(message, Exited) and message.session_id in self.carts:
            self.exits[message.session_id] += 1
            if self.exits[message.session_id] >= self.people[message.session_id]:
                return [self._settle(message.session_id, message.t_mono)]
        elif isinstance(message, ShelfChange):
            return self._change(message)
        return []

    def tick(self, t_mono: float) -> list[Message]:
        return []

    def open_carts(self) -> dict[str, tuple[dict[str, int], bool]]:
        out: dict[str, tuple[dict[str, int], bool]] = {}
        for session_id, cart in self.carts.items():
            lines: Counter[str] = Counter()
            for sku, qty in cart:
                lines[sku] += qty
            out[session_id] = (dict(lines), False)
        return out

    def _nearest_session(self, change: ShelfChange) -> str | None:
        shelf = self.shelves[change.shelf_id]
        lo, hi = change.started_mono - WINDOW_PAD_S, change.t_mono + WINDOW_PAD_S
        best: tuple[float, str] | None = None
        for track_id, samples in self.samples.items():
            session = self.session_of.get(track_id)
            if session is None or session not in self.carts:
                continue
            for s in samples:
                if lo <= s.t_mono <= hi:
                    d = shelf.distance_m(s.body_m, change.position_m)
                    if best is None or d < best[0]:
                        best = (d, session)
        return None if best is None else best[1]

    def _change(self, change: ShelfChange) -> list[Message]:
        session = self._nearest_session(change)
        if session is None:
            return []
        cart = self.carts[session]
        if change.kind == "take":
            items = self.inferrer.infer(change).items
            out: list[Message] = []
            for sku, qty in items:
                cart.append((sku, qty))
                out.append(
                    LineAdded(
                        source="naive",
                        t_mono=change.t_mono,
                        event_id=f"take:{change.shelf_id}@{change.t_mono!r}:{sku}",
                        session_id=session,
                        member="naive",
                        sku=sku,
                        qty=qty,
                        unit_price=self.catalog[sku].price,
                        evidence=(),
                        confidence=1.0,
                    )
                )
            return out
        held = Counter[str]()
        for sku, qty in cart:
            held[sku] += qty
        best: tuple[float, str, int] | None = None
        for sku, count in held.items():
            unit = self.catalog[sku].unit_weight_g
            for k in range(1, min(count, 3) + 1):
                miss = abs(change.delta_g - k * unit)
                if best is None or miss < best[0]:
                    best = (miss, sku, k)
        if best is None:
            return []
        _, sku, k = best
        cart.append((sku, -k))
        return [
            LinePutBack(
                source="naive",
                t_mono=change.t_mono,
                event_id=f"putback:{change.shelf_id}@{change.t_mono!r}:{sku}",
                session_id=session,
                member="naive",
                sku=sku,
                qty=k,
                evidence=(),
                confidence=1.0,
            )
        ]

    def _settle(self, session_id: str, t_mono: float) -> ReceiptSettled:
        cart = self.carts.pop(session_id)
        lines: Counter[str] = Counter()
        for sku, qty in cart:
            lines[sku] += qty
        receipt = tuple(
            ReceiptLine(
                sku=sku,
                qty=qty,
                unit_price=self.catalog[sku].price,
                amount=self.catalog[sku].price * qty,
                member="naive",
                evidence=(),
                confidence=1.0,
            )
            for sku, qty in lines.items()
            if qty > 0
        )
        return ReceiptSettled(
            source="naive",
            t_mono=t_mono,
            event_id=f"receipt:{session_id}",
            session_id=session_id,
            currency="EUR",
            lines=receipt,
            total=sum((line.amount for line in receipt), Decimal(0)),
        )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:7.3f} %"


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f} s" if key.endswith("_s") else _pct(value)


ROWS = (
    ("receipt_accuracy", "receipt_accuracy"),
    ("auto_accuracy", "auto_accuracy"),
    ("line_precision", "line_precision"),
    ("line_recall", "line_recall"),
    ("event_precision", "event_precision"),
    ("event_recall", "event_recall"),
    ("review_rate", "review_rate"),
    ("latency_p50_s", "latency"),
    ("latency_p95_s", "latency"),
    ("latency_p99_s", "latency"),
    ("cpu_per_shopper_s", "cpu_per_shopper"),
)


def print_result(engine: ScenarioResult, naive: ScenarioResult, records: int, peak: int) -> None:
    s, n = engine.scores, naive.scores
    out = engine.outcome
    print(f"\n=== {engine.name}: {s.sessions} sessions scored, {s.shoppers} people, "
          f"peak {peak} inside, {records} records ===")  # fmt: skip
    print(f"{'metric':<20} {'engine':>12} {'naive':>12}   target")
    for key, _ in ROWS:
        target = TARGETS.get(key)
        aim = f"{target[0]} {target[1]:g}" if target else ""
        print(
            f"{key:<20} {_fmt(key, getattr(s, key)):>12} {_fmt(key, getattr(n, key)):>12}   {aim}"
        )
    print(f"receipts produced {s.produced}/{s.sessions}, exact {s.exact} (naive {n.exact})")
    fates = ", ".join(f"{k} {v}" for k, v in sorted(engine.breakdown.items()))
    naive_fates = ", ".join(f"{k} {v}" for k, v in sorted(naive.breakdown.items()))
    print(f"true take/put units, engine: {fates}")
    print(f"true take/put units, naive:  {naive_fates}")
    print("reviews by reason: " + (", ".join(f"{k} x{v}" for k, v in out.reviews.most_common())
                                   or "none"))  # fmt: skip
    print("notices: " + (", ".join(f"{k} x{v}" for k, v in out.notices.items()) or "none"))
    print("track binding: " + ", ".join(f"{k} {v}" for k, v in sorted(out.binding.items())))
    print(f"sessions never closed: {len(out.unclosed)}")
    sim_rate = s.sessions / engine.simulate_s if engine.simulate_s > 0 else math.inf
    print(
        f"replay speed: {engine.sessions_per_s:.1f} sessions/s, "
        f"{out.records / out.wall_s:,.0f} records/s (CPU {out.cpu_s:.2f} s); "
        f"simulator generated {sim_rate:.1f} sessions/s: replay/generation = "
        f"{engine.sessions_per_s / sim_rate:.2f}x; naive replay {naive.sessions_per_s:.1f} "
        f"sessions/s"
    )
    if s.receipt_accuracy is not None and n.receipt_accuracy:
        print(f"engine/naive receipt accuracy = {s.receipt_accuracy / n.receipt_accuracy:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["quiet", "families", "busy"])
    parser.add_argument(
        "--duration-s",
        type=float,
        default=1200.0,
        help="busy scenarios: seconds of arrivals replayed",
    )
    parser.add_argument("--report", type=Path, default=None, help="write reports here")
    args = parser.parse_args()
    print("Definitions:")
    for key, text in DEFINITIONS.items():
        print(f"- {key}: {text}")
    print("- item precision/recall targets are scored as event_precision/event_recall")
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp:
        for name in args.scenarios:
            scenario = load_store_scenario(SCENARIOS / f"{name}.yaml")
            if name.startswith("busy") and args.duration_s < scenario.duration_s:
                scenario = replace(scenario, duration_s=args.duration_s)
            t0 = time.perf_counter()
            run: SimulationResult = simulate(scenario)
            sim_s = time.perf_counter() - t0
            engine = replay_scenario(run, Path(tmp) / name / "engine", simulate_s=sim_s)
            naive = replay_scenario(
                run,
                Path(tmp) / name / "naive",
                checkout_factory=lambda sc, _path: NaiveCheckout(sc),
                simulate_s=sim_s,
            )
            print_result(engine, naive, engine.outcome.records, run.truth.peak_in_store)
            if args.report is not None:
                note = (
                    f"naive baseline (nearest body wins, never waits): receipt accuracy "
                    f"{_pct(naive.scores.receipt_accuracy).strip()}, event precision "
                    f"{_pct(naive.scores.event_precision).strip()}, event recall "
                    f"{_pct(naive.scores.event_recall).strip()}"
                )
                path = write_replay_report(args.report / name, engine, run, notes=[note])
                print(f"report: {path}")


if __name__ == "__main__":
    main()
