"""Condition waits for tests: poll a predicate instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

WAIT_S = 15.0


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = WAIT_S, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {what or predicate}")
        await asyncio.sleep(0.02)
