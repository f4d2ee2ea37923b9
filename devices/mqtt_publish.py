"""One MQTT publish that a task cancellation cannot slip through.

aiomqtt waits for the broker's acknowledgement with ``asyncio.wait_for``. On
Python 3.11, when the acknowledgement and a cancellation arrive in the same
loop turn, ``wait_for`` returns the result and drops the cancellation
(CPython gh-86296, fixed in 3.12). The cancelled task then runs on: a
publisher loop goes back to waiting for work and its owner's ``await task``
never returns, so a store process hangs on stop. ``publish`` re-raises the
cancellation the task still owes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt


async def publish(client: aiomqtt.Client, /, topic: str, *args: Any, **kwargs: Any) -> None:
    """``client.publish(topic, ...)``, then raise ``CancelledError`` if one was swallowed."""
    await client.publish(topic, *args, **kwargs)
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
