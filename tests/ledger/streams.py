"""Deterministic event streams for the ledger tests, with their own expected totals.

The generator keeps its own tally (units held per session and sku), so the
totals it expects come from arithmetic on the stream, not from the ledger.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from vision_core.ledger.events import (
    AttributionPending,
    AttributionResolved,
    LedgerEvent,
    LineAdded,
    LinePutBack,
    MemberJoined,
    SessionOpened,
)

PRICES = {
    "cola-330": Decimal("1.29"),
    "chips-60": Decimal("2.49"),
    "water-500": Decimal("0.99"),
    "gum-10": Decimal("0.10"),
    "sandwich": Decimal("4.35"),
}


@dataclass
class Stream:
    events: list[LedgerEvent] = field(default_factory=list)
    # expected[i] = {session: total} after events[:i]; computed without the ledger
    totals_after: list[dict[str, Decimal]] = field(default_factory=list)


def make_stream(seed: int, count: int, *, track_totals: bool = True) -> Stream:
    rng = random.Random(seed)
    stream = Stream()
    held: dict[str, dict[str, int]] = {}
    members: dict[str, list[str]] = {}
    pending: dict[str, list[str]] = {}
    t = 1000.0
    stream.totals_after.append({})
    while len(stream.events) < count:
        t += 0.01
        i = len(stream.events)
        roll = rng.random()
        sessions = sorted(held)
        event: LedgerEvent
        if not sessions or roll < 0.05:
            sid = f"s{i}"
            event = SessionOpened(
                source="gate",
                t_mono=t,
                event_id=f"open-{i}",
                session_id=sid,
                credential="card-000123456789",
                group_size=3,
                currency="EUR",
            )
            held[sid] = {}
            members[sid] = []
            pending[sid] = []
        else:
            sid = rng.choice(sessions)
            if not members[sid] or roll < 0.12:
                member = f"{sid}/{len(members[sid]) + 1}"
                members[sid].append(member)
                event = MemberJoined(
                    source="gate", t_mono=t, event_id=f"join-{i}", session_id=sid, member=member
                )
            elif roll < 0.20:
                item = f"item-{i}"
                pending[sid].append(item)
                event = AttributionPending(
                    source="attr",
                    t_mono=t,
                    event_id=f"pend-{i}",
                    session_id=sid,
                    item_id=item,
                    evidence=(f"shelf-{i}",),
                    reason="two hands",
                )
            elif roll < 0.26 and pending[sid]:
                item = pending[sid].pop(0)
                event = AttributionResolved(
                    source="attr",
                    t_mono=t,
                    event_id=f"res-{i}",
                    session_id=sid,
                    item_id=item,
                    outcome="other session",
                )
            elif roll < 0.45 and any(held[sid].values()):
                sku = rng.choice(sorted(s for s, n in held[sid].items() if n))
                qty = rng.randint(1, held[sid][sku])
                held[sid][sku] -= qty
                event = LinePutBack(
                    source="attr",
                    t_mono=t,
                    event_id=f"put-{i}",
                    session_id=sid,
                    member=rng.choice(members[sid]),
                    sku=sku,
                    qty=qty,
                    evidence=(f"shelf-{i}",),
                    confidence=0.9,
                )
            else:
                sku = rng.choice(sorted(PRICES))
                qty = rng.randint(1, 3)
                held[sid][sku] = held[sid].get(sku, 0) + qty
                event = LineAdded(
                    source="attr",
                    t_mono=t,
                    event_id=f"add-{i}",
                    session_id=sid,
                    member=rng.choice(members[sid]),
                    sku=sku,
                    qty=qty,
                    unit_price=PRICES[sku],
                    evidence=(f"shelf-{i}", f"cam-{i}"),
                    confidence=0.97,
                )
        stream.events.append(event)
        if track_totals:
            stream.totals_after.append(
                {s: sum((PRICES[k] * n for k, n in c.items()), Decimal(0)) for s, c in held.items()}
            )
    return stream
