"""Test-side tools for the ESL tests: a real Mosquitto broker and condition waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from peers.mosquitto import Mosquitto

__all__ = ["Mosquitto", "wait_until"]

WAIT_S = 10.0


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = WAIT_S, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {what or predicate}")
        await asyncio.sleep(0.01)
