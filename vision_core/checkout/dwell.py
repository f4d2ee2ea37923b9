"""Shoppers standing at a shelf, for the price-tag screens.

Proximity stands for facing: a floor sample carries no head direction, and
a body within ``radius_m`` of a shelf's front edge is, in an aisle, a body
in front of it. The nearest shelf within the radius is the one dwelt at; a
sample nearer another shelf (or none) ends the visit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vision_core.checkout.messages import ShelfDwell
from vision_core.inference.attribution import FloorSample, ShelfLocation

SOURCE = "checkout"


@dataclass(slots=True)
class _Visit:
    shelf_id: str
    since_mono: float
    reported: bool = False


class DwellDetector:
    """One visit per track; a notice when a visit reaches ``dwell_s``."""

    def __init__(
        self, shelves: Mapping[str, ShelfLocation], *, dwell_s: float, radius_m: float
    ) -> None:
        self._shelves = tuple(shelves.values())
        self.dwell_s = dwell_s
        self.radius_m = radius_m
        self._visits: dict[str, _Visit] = {}

    def nearest_shelf(self, sample: FloorSample) -> str | None:
        """The shelf whose front edge is nearest the body, if within the radius."""
        best: tuple[float, str] | None = None
        for shelf in self._shelves:
            d = shelf.distance_m(sample.body_m, None)
            if d <= self.radius_m and (best is None or (d, shelf.shelf_id) < best):
                best = (d, shelf.shelf_id)
        return None if best is None else best[1]

    def feed(self, track_id: str, session_id: str | None, sample: FloorSample) -> ShelfDwell | None:
        """Follow one track's sample; a notice when its visit just reached the dwell time."""
        shelf_id = self.nearest_shelf(sample)
        visit = self._visits.get(track_id)
        if shelf_id is None:
            self._visits.pop(track_id, None)
            return None
        if visit is None or visit.shelf_id != shelf_id:
            self._visits[track_id] = _Visit(shelf_id, sample.t_mono)
            return None
        seconds = sample.t_mono - visit.since_mono
        if visit.reported or seconds < self.dwell_s:
            return None
        visit.reported = True
        return ShelfDwell(
            source=SOURCE,
            t_mono=sample.t_mono,
            shelf_id=shelf_id,
            track_id=track_id,
            session_id=session_id,
            seconds=seconds,
        )

    def forget(self, track_id: str) -> None:
        """Drop a track that ended."""
        self._visits.pop(track_id, None)
