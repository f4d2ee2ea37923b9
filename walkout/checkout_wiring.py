"""The checkout from config: shelf events, the engine, its ledger and service.

``open_checkout`` opens the ledger (replaying its journal: open carts come
back after a crash), builds the engine from the planogram and the shelves'
floor positions, and closes the ledger on every exit path. Its inputs are
the gates' events, the tracks, and the ``ShelfChange`` events that
``shelf_change_service`` makes of the scales' weights (which ``walkout run``
starts whether or not the store checks out).

With ``shelf_cameras`` in store.yaml the engine also gets the cameras'
product sightings: ties between same-weight products on those shelves are
weighed by what the camera saw in the hand, and put-backs by what it saw
put down. The sightings come over the bus (the runtime starts the cameras'
driver) into :class:`~walkout.shelf_camera_hints.BusShelfCameraHints`, which
takes every sighting already published before it answers: a sighting must
be published before the shelf change it explains is decided, and one that
arrives later is not used for that change.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass

from devices.bus import Bus
from vision_core.checkout.config import CheckoutSettings
from vision_core.checkout.engine import CheckoutEngine
from vision_core.checkout.service import CheckoutService
from vision_core.inference.attribution import AttributionSettings, ShelfLocation
from vision_core.inference.planogram import Planogram, load_planogram
from vision_core.inference.products import ProductInferrer
from vision_core.ledger.ledger import Ledger
from vision_core.shelf_events import DEFAULT_STEPS, ShelfChangeDetector, ShelfChangeService
from walkout.config import ConfigError, Shelf, StoreConfig
from walkout.shelf_camera_hints import BusShelfCameraHints


def shelf_location(shelf: Shelf) -> ShelfLocation:
    """A shelf's front edge on the floor plan, from its location, heading and length."""
    assert shelf.location is not None  # checked by checkout_shelves
    loc = shelf.location
    heading = math.radians(loc.heading_deg)
    end = (
        loc.x_m + shelf.length_m * math.cos(heading),
        loc.y_m + shelf.length_m * math.sin(heading),
    )
    return ShelfLocation(shelf.id, (loc.x_m, loc.y_m), end)


def checkout_shelves(config: StoreConfig, planogram: Planogram) -> dict[str, ShelfLocation]:
    """Every shelf's front edge; refused when a shelf has no location or no planogram entry."""
    section = config.checkout
    assert section is not None
    planned = set(planogram.shelves)
    problems = []
    for index, shelf in enumerate(config.shelves):
        where = f"shelves[{index}] (id={shelf.id})"
        if shelf.location is None:
            problems.append(
                (f"{where}.location", "the checkout needs every shelf on the floor plan")
            )
        if shelf.id not in planned:
            problems.append((where, f"not in the planogram {section.planogram}"))
    if problems:
        raise ConfigError("store.yaml", problems)
    return {shelf.id: shelf_location(shelf) for shelf in config.shelves}


def shelf_camera_hints(config: StoreConfig, planogram: Planogram) -> BusShelfCameraHints | None:
    """Hints for the shelves with a camera (None without ``shelf_cameras``), not listening yet.

    A watched shelf's alternatives (what a wrong answer may name) are its
    planogram facings; store.yaml's check has made sure each is a configured
    shelf, and ``checkout_shelves`` that each is in the planogram.
    """
    if not config.shelf_cameras:
        return None
    return BusShelfCameraHints.from_planogram(
        planogram, sorted({c.shelf for c in config.shelf_cameras})
    )


def shelf_change_service(config: StoreConfig, bus: Bus) -> ShelfChangeService:
    """One change detector per configured shelf (``split_lifts`` per shelf), on the bus."""
    detectors = [
        ShelfChangeDetector(s.id, s.length_m, steps=DEFAULT_STEPS if s.split_lifts else None)
        for s in config.shelves
    ]
    return ShelfChangeService(bus, detectors)


@dataclass
class CheckoutWiring:
    """What the checkout runs: shelf events feed the engine's service."""

    ledger: Ledger
    engine: CheckoutEngine
    service: CheckoutService
    hints: BusShelfCameraHints | None = None
    """The shelf cameras' sightings, when store.yaml has ``shelf_cameras``."""

    async def flush(self) -> None:
        """The actuator's ledger control: checkpoint the journal before shutdown."""
        self.ledger.flush()


@contextlib.asynccontextmanager
async def open_checkout(config: StoreConfig, bus: Bus) -> AsyncIterator[CheckoutWiring | None]:
    """The checkout when store.yaml has a ``checkout`` section (None otherwise)."""
    section = config.checkout
    if section is None:
        yield None
        return
    planogram = load_planogram(section.planogram)
    shelves = checkout_shelves(config, planogram)
    hints = shelf_camera_hints(config, planogram)
    settings = CheckoutSettings(
        currency=section.currency,
        wait_s=section.wait_s,
        settle_deadline_s=section.settle_deadline_s,
        dwell_s=section.dwell_s,
        learn_hand_sigma=section.learn_hand_sigma,
        attribution=AttributionSettings(hand_sigma_m=section.hand_sigma_m),
    )
    section.ledger.parent.mkdir(parents=True, exist_ok=True)
    limit = None
    if section.ledger_size_limit_mb is not None:
        limit = int(section.ledger_size_limit_mb * 1024 * 1024)
    ledger = Ledger.open(
        section.ledger, policy=settings.settlement_policy(), size_limit_bytes=limit
    )
    try:
        inferrer = None
        if hints is not None:
            hints.listen(bus)
            inferrer = ProductInferrer(planogram, camera_hints=hints.hints())
        engine = CheckoutEngine(
            ledger, planogram, shelves, settings, inferrer=inferrer, sightings=hints
        )
        yield CheckoutWiring(
            ledger, engine, CheckoutService(bus, ledger, engine, tick_s=section.tick_s), hints
        )
    finally:
        if hints is not None:
            hints.close()
        ledger.close()
