"""A small store for the checkout scenarios: two shelves, a few SKUs, message builders.

Floor plan (metres): shelf A1's front edge runs along y = 0 from x = 2.0 to
3.2, shelf C1's from x = 6.0 to 7.2; shoppers stand at y > 0. A hand "in the
shelf" at x is at (x, 0.02), the body half a metre back at (x, 0.5).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from devices.bus import Message
from devices.gate.machine import Admitted, Entered, Exited
from vision_core.checkout.config import CheckoutSettings
from vision_core.checkout.engine import CheckoutEngine
from vision_core.checkout.messages import TrackSample
from vision_core.inference.attribution import FloorSample, Point, ShelfLocation
from vision_core.inference.planogram import Planogram, parse_planogram
from vision_core.ledger.ledger import Ledger
from vision_core.shelf_events import ShelfChange

PRICES = {"can-330": Decimal("1.29"), "bottle-500": Decimal("0.99"), "crisps-150": Decimal("2.49")}

PLANOGRAM: Planogram = parse_planogram(
    {
        "shelves": {
            "A1": {
                "length_m": 1.2,
                "facings": [
                    {"sku": "can-330", "unit_weight_g": 330, "tolerance_g": 5,
                     "span_m": [0.0, 0.6], "price": "1.29"},
                    {"sku": "bottle-500", "unit_weight_g": 500, "tolerance_g": 8,
                     "span_m": [0.6, 1.2], "price": "0.99"},
                ],
            },
            "C1": {
                "length_m": 1.2,
                "facings": [
                    {"sku": "crisps-150", "unit_weight_g": 160, "tolerance_g": 5,
                     "span_m": [0.0, 1.2], "price": "2.49"},
                ],
            },
        }
    },
    "checkout-test",
)  # fmt: skip

SHELVES = {
    "A1": ShelfLocation("A1", (2.0, 0.0), (3.2, 0.0)),
    "C1": ShelfLocation("C1", (6.0, 0.0), (7.2, 0.0)),
}


AT_EXIT = CheckoutSettings(settle_after_s=0.0)
"""The scenarios' default: a receipt may settle at the exit event itself, so each
scenario reads its receipt right after the exit (the grace has its own test)."""


def open_ledger(path: Path, settings: CheckoutSettings | None = None) -> Ledger:
    return Ledger.open(path, policy=(settings or AT_EXIT).settlement_policy())


def make_engine(ledger: Ledger, settings: CheckoutSettings | None = None) -> CheckoutEngine:
    return CheckoutEngine(ledger, PLANOGRAM, SHELVES, settings or AT_EXIT)


@contextmanager
def store(path: Path, settings: CheckoutSettings | None = None) -> Iterator[CheckoutEngine]:
    with open_ledger(path, settings) as ledger:
        yield make_engine(ledger, settings)


def admit(session_id: str, t: float, people: int = 1) -> list[Message]:
    """The gate admitting a credential for ``people`` and each of them going in."""
    out: list[Message] = [
        Admitted(
            source="gate-in",
            t_mono=t,
            session_id=session_id,
            credential="****9876",
            group_size=people,
            latency_s=0.2,
        )
    ]
    for person in range(1, people + 1):
        out.append(
            Entered(
                source="gate-in",
                t_mono=t + 0.5 * person,
                session_id=session_id,
                credential="****9876",
                person=person,
                group_size=people,
            )
        )
    return out


def leave(session_id: str, t: float) -> Exited:
    return Exited(source="gate-out", t_mono=t, session_id=session_id)


def at_shelf(x: float) -> tuple[Point, Point | None]:
    """Body half a metre from the shelf edge, hand in the shelf, both at x."""
    return (x, 0.5), (x, 0.02)


def away(x: float) -> tuple[Point, Point | None]:
    """Standing 3 m back in the store, no hand seen."""
    return (x, 3.0), None


def sample(
    track_id: str,
    session_id: str | None,
    t: float,
    body: Point,
    hand: Point | None,
    member: str | None = None,
) -> TrackSample:
    hands = () if hand is None else (hand,)
    return TrackSample(
        source="tracker",
        t_mono=t,
        track_id=track_id,
        session_id=session_id,
        sample=FloorSample(t, body, hands),
        member=member,
    )


def walk(
    t0: float,
    t1: float,
    where: dict[tuple[str, str | None, str | None], tuple[Point, Point | None]],
    step: float = 0.5,
) -> list[TrackSample]:
    """Samples every ``step`` s from t0 to t1 inclusive for each (track, session, member)."""
    out: list[TrackSample] = []
    n = round((t1 - t0) / step)
    for i in range(n + 1):
        t = t0 + i * step
        for (track_id, session_id, member), (body, hand) in where.items():
            out.append(sample(track_id, session_id, t, body, hand, member))
    return out


def shelf_change(
    shelf_id: str, delta_g: float, position_m: float | None, t0: float, t1: float
) -> ShelfChange:
    return ShelfChange(
        source=f"scale-{shelf_id}",
        t_mono=t1,
        shelf_id=shelf_id,
        kind="take" if delta_g < 0 else "put",
        delta_g=delta_g,
        started_mono=t0,
        position_m=position_m,
    )


def feed_all(engine: CheckoutEngine, messages: Iterable[Message]) -> list[Message]:
    out: list[Message] = []
    for message in messages:
        out.extend(engine.feed(message))
    return out
