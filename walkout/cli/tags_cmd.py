"""``walkout tags push``: put prices (or a test pattern) on the store's price tags.

A price file is CSV with a header: ``tag,sku,name,price`` and optionally
``currency,unit_price,promo``. Every tag's result is shown; a tag that did
not confirm the change is listed as not updated and the exit status is 1.
"""

from __future__ import annotations

import csv
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from devices.esl.fleet import BulkResult
from devices.esl.model import TagContent
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load, run_device_call
from walkout.config import EslSection
from walkout.runtime import make_tag_backend, make_tag_fleet

app = typer.Typer(help="Price-tag screens (ESL).", no_args_is_help=True)

EXIT_NOT_UPDATED = 1
REQUIRED_COLUMNS = ("tag", "sku", "name", "price")


def read_price_file(path: Path) -> dict[str, TagContent]:
    """Tag id -> content from a CSV price file; ValueError naming the line on bad input."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            columns = rows[0].keys() if rows else ()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if not rows or missing:
        raise ValueError(f"{path}: needs a header with {', '.join(REQUIRED_COLUMNS)} and rows")
    changes: dict[str, TagContent] = {}
    for line, row in enumerate(rows, start=2):
        tag = (row["tag"] or "").strip()
        if tag in changes:
            raise ValueError(f"{path}:{line}: tag {tag} appears twice")
        try:
            changes[tag] = TagContent(
                sku=row["sku"].strip(),
                name=row["name"].strip(),
                price=Decimal(row["price"].strip()),
                currency=(row.get("currency") or "EUR").strip(),
                unit_price=(row.get("unit_price") or "").strip() or None,
                promo=(row.get("promo") or "").strip() or None,
            )
        except InvalidOperation:
            raise ValueError(f"{path}:{line}: price {row['price']!r} is not a number") from None
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{line}: {exc}") from None
    return changes


def test_pattern(tags: list[str]) -> dict[str, TagContent]:
    """A recognisable label per tag: its own id as the name, a zero price."""
    return {
        tag: TagContent(sku="TEST", name=f"walkout test {tag}", price=Decimal("0.00"), promo=tag)
        for tag in tags
    }


def _show(result: BulkResult) -> None:
    table = RichTable("tag", "result", "attempts", "seconds", "reason", title="tags")
    for tag in sorted(result.results):
        push = result.results[tag]
        mark = "[green]updated[/]" if push.acked else f"[red]NOT updated ({push.outcome})[/]"
        table.add_row(tag, mark, str(push.attempts), f"{push.latency_s:.2f}", push.reason)
    console.print(table)
    total = len(result.results)
    console.print(
        f"{total - result.failures} of {total} tags updated in {result.elapsed_s:.1f} s"
        + (f"; not updated: {', '.join(result.not_updated)}" if result.failures else "")
    )


@app.command("push")
def push(
    prices: Annotated[
        Path | None, typer.Option(help="CSV: tag,sku,name,price[,currency,unit_price,promo]")
    ] = None,
    pattern: Annotated[
        bool, typer.Option("--test-pattern", help="show a test label on every tag instead")
    ] = False,
    tag: Annotated[
        list[str] | None, typer.Option(help="only these tags (repeat); default: every mapped tag")
    ] = None,
    config: Path = CONFIG_OPTION,
) -> None:
    """Push prices or a test pattern, with progress and a per-tag result table."""
    cfg = load(config)
    if cfg.esl is None:
        raise fail("store.yaml has no 'esl' section", EXIT_CONFIG)
    esl: EslSection = cfg.esl
    if (prices is None) == (not pattern):
        raise fail("give either --prices FILE or --test-pattern", EXIT_CONFIG)
    if prices is not None:
        try:
            changes = read_price_file(prices)
        except ValueError as exc:
            raise fail(str(exc), EXIT_CONFIG) from None
    else:
        mapped = [t for tags in esl.shelves.values() for t in tags]
        targets = list(tag) if tag else mapped
        if not targets:
            raise fail("no tags: map tags to shelves in esl.shelves or give --tag", EXIT_CONFIG)
        changes = test_pattern(targets)
    if tag and prices is not None:
        wanted = set(tag)
        changes = {t: c for t, c in changes.items() if t in wanted}

    async def go() -> BulkResult:
        backend = make_tag_backend(esl, cfg.store.id)
        fleet = make_tag_fleet(esl, backend)
        with Progress(
            TextColumn("pushing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} not updated"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            bar = progress.add_task("push", total=len(changes), failed=0)
            try:
                await backend.connect()
                result = await fleet.bulk_update(
                    changes,
                    on_progress=lambda p: progress.update(bar, completed=p.done, failed=p.failures),
                )
            finally:
                await backend.close()
        return result

    result = run_device_call(go())
    _show(result)
    if result.failures:
        raise typer.Exit(EXIT_NOT_UPDATED)
