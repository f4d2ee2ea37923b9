"""The JSONL files a run is written to: the sensor stream and the ground truth.

``stream.jsonl``: one sensor record per line, in time order, ``type`` one of
``gate``, ``weight``, ``track``, ``shelf_camera`` (fields as in
:mod:`~sim_devices.store_sim.records`).
``truth.jsonl``: ``session``, ``event``, ``shopper`` and ``track_truth`` lines,
then one ``summary`` line (peak in store, groups turned away, occupancy).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sim_devices.store_sim.records import (
    Record,
    SessionTruth,
    ShelfEventTruth,
    ShopperTruth,
    StoreTruth,
    TrackTruth,
    as_json,
    record_from_json,
)


def write_stream(path: Path, records: Iterable[Record]) -> int:
    """Write the sensor records; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(as_json(record), separators=(",", ":")) + "\n")
            count += 1
    return count


def read_stream(path: Path) -> Iterator[Record]:
    """The sensor records of a stream file, in file order."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                yield record_from_json(json.loads(line))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None


def write_truth(path: Path, truth: StoreTruth) -> None:
    """Write the ground truth of one run."""
    with path.open("w", encoding="utf-8") as out:
        for group in (truth.sessions, truth.events, truth.shoppers, truth.tracks):
            for item in group:
                out.write(json.dumps(as_json(item), separators=(",", ":")) + "\n")
        summary: dict[str, Any] = {
            "type": "summary",
            "peak_in_store": truth.peak_in_store,
            "turned_away": truth.turned_away,
            "occupancy": truth.occupancy,
            "sold_out_takes": truth.sold_out_takes,
        }
        out.write(json.dumps(summary, separators=(",", ":")) + "\n")


def read_truth(path: Path) -> StoreTruth:
    """The ground truth written by :func:`write_truth`."""
    sessions: list[SessionTruth] = []
    events: list[ShelfEventTruth] = []
    shoppers: list[ShopperTruth] = []
    tracks: list[TrackTruth] = []
    summary: dict[str, Any] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                data = json.loads(line)
                if data.get("type") == "summary":
                    summary = data
                    continue
                item = record_from_json(data)
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from None
            if isinstance(item, SessionTruth):
                sessions.append(item)
            elif isinstance(item, ShelfEventTruth):
                events.append(item)
            elif isinstance(item, ShopperTruth):
                shoppers.append(item)
            elif isinstance(item, TrackTruth):
                tracks.append(item)
            else:
                raise ValueError(f"{path}:{number}: a sensor record in a truth file")
    return StoreTruth(
        sessions=tuple(sessions),
        events=tuple(events),
        shoppers=tuple(shoppers),
        tracks=tuple(tracks),
        peak_in_store=int(summary.get("peak_in_store", 0)),
        turned_away=int(summary.get("turned_away", 0)),
        occupancy=tuple((float(t), int(c)) for t, c in summary.get("occupancy", [])),
        sold_out_takes=int(summary.get("sold_out_takes", 0)),
    )
