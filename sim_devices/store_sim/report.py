"""A Markdown report with plots: the scores, what each one means, and the run behind them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sim_devices.store_sim.records import StoreTruth
from sim_devices.store_sim.scoring import DEFINITIONS, Scores


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f} %"


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} s"


def _plot_latency(latencies_s: Sequence[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    try:
        ax.hist(latencies_s, bins=min(50, max(5, len(latencies_s) // 5)), color="#4477aa")
        ax.set_xlabel("exit-to-receipt latency (s)")
        ax.set_ylabel("receipts")
        ax.set_title("Exit-to-receipt latency")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _plot_occupancy(truth: StoreTruth, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    try:
        times = [0.0] + [t / 60 for t, _ in truth.occupancy]
        counts = [0] + [c for _, c in truth.occupancy]
        ax.step(times, counts, where="post", color="#228833")
        ax.set_xlabel("scenario time (min)")
        ax.set_ylabel("people inside")
        ax.set_title(f"People in the store (peak {truth.peak_in_store})")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def write_report(
    directory: str | Path,
    scores: Scores,
    *,
    title: str = "Store simulation",
    truth: StoreTruth | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``report.md`` (and PNG plots next to it) into ``directory``; returns the file."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        ("receipt accuracy", _pct(scores.receipt_accuracy), "receipt_accuracy"),
        ("accuracy without review", _pct(scores.auto_accuracy), "auto_accuracy"),
        ("line precision", _pct(scores.line_precision), "line_precision"),
        ("line recall", _pct(scores.line_recall), "line_recall"),
        ("event precision", _pct(scores.event_precision), "event_precision"),
        ("event recall", _pct(scores.event_recall), "event_recall"),
        ("review rate", _pct(scores.review_rate), "review_rate"),
        ("latency p50", _seconds(scores.latency_p50_s), "latency"),
        ("latency p95", _seconds(scores.latency_p95_s), "latency"),
        ("latency p99", _seconds(scores.latency_p99_s), "latency"),
        ("CPU per shopper", _seconds(scores.cpu_per_shopper_s), "cpu_per_shopper"),
    ]
    lines = [
        f"# {title}",
        "",
        f"Sessions: {scores.sessions}; receipts produced: {scores.produced}; "
        f"exact: {scores.exact}; people: {scores.shoppers}.",
    ]
    if truth is not None:
        lines.append(
            f"Peak in store: {truth.peak_in_store}; groups turned away: {truth.turned_away}; "
            f"true shelf events: {len(truth.events)}; takes from empty facings: "
            f"{truth.sold_out_takes}."
        )
    lines += ["", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value, _ in rows]
    lines += ["", "## Definitions", ""]
    lines += [f"- **{key}**: {text}" for key, text in DEFINITIONS.items()]
    if scores.latencies_s:
        _plot_latency(scores.latencies_s, out / "latency.png")
        lines += ["", "![latency](latency.png)"]
    if truth is not None and truth.occupancy:
        _plot_occupancy(truth, out / "occupancy.png")
        lines += ["", "![occupancy](occupancy.png)"]
    if scores.wrong_sessions:
        shown = ", ".join(scores.wrong_sessions[:20])
        more = len(scores.wrong_sessions) - 20
        lines += ["", f"Sessions not exact: {shown}" + (f" and {more} more" if more > 0 else "")]
    if notes:
        lines += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
