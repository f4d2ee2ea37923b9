"""Scores of a checkout run against ground truth, with the definitions printed alongside.

Input is plain data keyed by the simulator's session ref (map the engine's
session ids through the credential, which is unique per session):
:class:`ProducedReceipt` per session, optionally the engine's
:class:`ProducedEvent` list, and the CPU seconds the engine used.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from sim_devices.store_sim.records import SessionTruth, ShelfEventTruth

DEFINITIONS: dict[str, str] = {
    "receipt_accuracy": (
        "exact-match receipts / all receipts: a session counts when its produced receipt "
        "has exactly the true SKUs and quantities (an empty true receipt must come out "
        "empty); a session with no produced receipt counts as wrong"
    ),
    "auto_accuracy": (
        "exact-match receipts / receipts not flagged for review (what was charged "
        "without a person looking)"
    ),
    "line_precision": (
        "units on produced receipts that are on the true receipt (per session and SKU, "
        "min(produced, true)) / all produced units"
    ),
    "line_recall": "the same matched units / all units on true receipts",
    "event_precision": (
        "produced take/put units matched to a true event of the same session, kind and SKU "
        "within the time tolerance (greedy, earliest first; min of the two quantities) "
        "/ all produced event units"
    ),
    "event_recall": "the same matched units / all true take/put units",
    "review_rate": "produced receipts flagged for review / produced receipts",
    "latency": (
        "exit-to-receipt latency: settle time - time the session's last member passed "
        "the exit, over receipts with a settle time; pN is the nearest-rank percentile "
        "(the smallest value with at least N% of values at or below it)"
    ),
    "cpu_per_shopper": "CPU seconds of the checkout process / people who entered",
}


@dataclass(frozen=True)
class ProducedReceipt:
    """What the checkout engine settled for one session; ``settled_t`` in scenario seconds."""

    session_ref: str
    lines: Mapping[str, int]
    review: bool = False
    settled_t: float | None = None


@dataclass(frozen=True)
class ProducedEvent:
    """A take or put the engine attributed to a session."""

    session_ref: str
    kind: Literal["take", "put"]
    sku: str
    qty: int
    t: float


@dataclass(frozen=True)
class Scores:
    """The metrics; ratios are None where their denominator is zero (or not measured)."""

    sessions: int
    produced: int
    exact: int
    receipt_accuracy: float | None
    auto_accuracy: float | None
    line_precision: float | None
    line_recall: float | None
    event_precision: float | None
    event_recall: float | None
    review_rate: float | None
    latencies_s: tuple[float, ...]
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    shoppers: int
    cpu_s: float | None
    cpu_per_shopper_s: float | None
    wrong_sessions: tuple[str, ...]


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile: the ceil(p/100 * n)-th smallest value; None for no values."""
    if not values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _clean(lines: Mapping[str, int]) -> dict[str, int]:
    return {sku: qty for sku, qty in lines.items() if qty != 0}


def _event_match(
    truth: Iterable[ShelfEventTruth], produced: Iterable[ProducedEvent], tolerance_s: float
) -> tuple[int, int, int]:
    """(matched units, produced units, true units)."""
    true_by_key: dict[tuple[str, str, str], list[ShelfEventTruth]] = defaultdict(list)
    true_units = 0
    for event in truth:
        true_by_key[(event.session_ref, event.kind, event.sku)].append(event)
        true_units += event.qty
    for events in true_by_key.values():
        events.sort(key=lambda e: e.t)
    used: set[int] = set()
    matched = produced_units = 0
    for made in sorted(produced, key=lambda e: e.t):
        produced_units += made.qty
        for candidate in true_by_key.get((made.session_ref, made.kind, made.sku), []):
            if id(candidate) in used or abs(candidate.t - made.t) > tolerance_s:
                continue
            used.add(id(candidate))
            matched += min(candidate.qty, made.qty)
            break
    return matched, produced_units, true_units


def score(
    sessions: Sequence[SessionTruth],
    produced: Mapping[str, ProducedReceipt],
    *,
    true_events: Sequence[ShelfEventTruth] = (),
    produced_events: Sequence[ProducedEvent] | None = None,
    shoppers: int | None = None,
    cpu_s: float | None = None,
    event_tolerance_s: float = 5.0,
) -> Scores:
    """Compare produced receipts (and events) with the truth; see :data:`DEFINITIONS`."""
    exact = auto_total = auto_exact = 0
    matched_units = produced_units = true_units = 0
    wrong: list[str] = []
    latencies: list[float] = []
    for truth in sessions:
        true_lines = _clean(truth.receipt)
        true_units += sum(true_lines.values())
        receipt = produced.get(truth.session_ref)
        if receipt is None:
            wrong.append(truth.session_ref)
            continue
        lines = _clean(receipt.lines)
        produced_units += sum(lines.values())
        matched_units += sum(min(q, true_lines.get(sku, 0)) for sku, q in lines.items())
        is_exact = lines == true_lines
        exact += is_exact
        if not is_exact:
            wrong.append(truth.session_ref)
        if not receipt.review:
            auto_total += 1
            auto_exact += is_exact
        if receipt.settled_t is not None:
            latencies.append(receipt.settled_t - truth.exit_t)
    known = {s.session_ref for s in sessions}
    counted = [r for ref, r in produced.items() if ref in known]
    event_precision = event_recall = None
    if produced_events is not None:
        hit, made, real = _event_match(true_events, produced_events, event_tolerance_s)
        event_precision, event_recall = _ratio(hit, made), _ratio(hit, real)
    people = shoppers if shoppers is not None else sum(s.group_size for s in sessions)
    return Scores(
        sessions=len(sessions),
        produced=len(counted),
        exact=exact,
        receipt_accuracy=_ratio(exact, len(sessions)),
        auto_accuracy=_ratio(auto_exact, auto_total),
        line_precision=_ratio(matched_units, produced_units),
        line_recall=_ratio(matched_units, true_units),
        event_precision=event_precision,
        event_recall=event_recall,
        review_rate=_ratio(sum(r.review for r in counted), len(counted)),
        latencies_s=tuple(latencies),
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
        latency_p99_s=percentile(latencies, 99),
        shoppers=people,
        cpu_s=cpu_s,
        cpu_per_shopper_s=_ratio(cpu_s, people) if cpu_s is not None else None,
        wrong_sessions=tuple(wrong),
    )
