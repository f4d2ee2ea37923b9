"""Test-side tools for the ESL tests: a real Mosquitto broker and condition waits."""

from __future__ import annotations

from collections.abc import Callable

from peers import waiting
from peers.mosquitto import Mosquitto

__all__ = ["Mosquitto", "wait_until"]

WAIT_S = 10.0


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = WAIT_S, what: str = ""
) -> None:
    """:func:`peers.waiting.wait_until` with the ESL tests' shorter default timeout."""
    await waiting.wait_until(predicate, timeout_s, what)
