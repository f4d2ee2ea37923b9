"""The two ways to feed a run to a consumer: as fast as it can take it, or in real time.

Both take the same time-ordered records from :func:`~sim_devices.store_sim.world.simulate`.
:func:`replay` only iterates (the consumer is driven by the records' own
timestamps, so thousands of visits go through in seconds).
:func:`play_realtime` hands each record over when an injected clock reaches
its time, for hardware-in-the-loop runs where a sink drives the real-protocol
simulators (weights to the shelf simulator, credentials to the OSDP reader);
``speed`` > 1 pairs with :class:`sim_devices.clock.AcceleratedClock`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from sim_devices.store_sim.records import Record

Clock = Callable[[], float]

DUE_WITHIN_S = 1e-6
"""A record this close to its time is due: float clocks far from zero cannot always
step by less (the spacing of floats near 1e3 s is ~1e-13 s, near 1e9 s ~1e-7 s)."""
Sleep = Callable[[float], Awaitable[None]]


class Timed(Protocol):
    """Anything due at scenario time ``t`` (sensor records, hardware-in-the-loop actions)."""

    @property
    def t(self) -> float: ...


T = TypeVar("T", bound=Timed)


def replay(records: Iterable[Record], *, until_t: float | None = None) -> Iterator[Record]:
    """Records in time order, stopping before ``until_t`` when given."""
    for record in records:
        if until_t is not None and record.t >= until_t:
            return
        yield record


async def play_realtime(
    records: Iterable[T],
    sink: Callable[[T], Awaitable[None]],
    *,
    clock: Clock,
    sleep: Sleep = asyncio.sleep,
    speed: float = 1.0,
) -> int:
    """Call ``sink`` with each record once ``clock`` has moved by its scenario time.

    Scenario time 0 is ``clock()`` at the call. ``sleep`` takes real seconds:
    a wait of ``d`` clock seconds sleeps ``d / speed`` and then re-reads the
    clock, so a late wake-up is never compounded. Returns how many records
    were handed over.
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    start = clock()
    count = 0
    for record in records:
        while (wait := record.t - (clock() - start)) > DUE_WITHIN_S:
            await sleep(wait / speed)
        await sink(record)
        count += 1
    return count
