"""Condition waits for tests: poll a predicate, or wait for a message, instead of sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from devices.bus import Message, Subscription

WAIT_S = 15.0

M = TypeVar("M", bound=Message)


async def wait_until(
    predicate: Callable[[], object], timeout_s: float = WAIT_S, what: str = ""
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` after ``timeout_s``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {timeout_s:g} s: {what or predicate}")
        await asyncio.sleep(0.02)


async def next_message(
    sub: Subscription,
    kind: type[M],
    check: Callable[[M], bool] = lambda _: True,
    timeout_s: float = WAIT_S,
) -> M:
    """The next message of ``kind`` on ``sub`` that passes ``check``; others are skipped."""
    async with asyncio.timeout(timeout_s):
        while True:
            message = await sub.get()
            if isinstance(message, kind) and check(message):
                return message
