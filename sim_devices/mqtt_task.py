"""Stopping a simulator's MQTT publishing task, which a single cancel may not stop."""

from __future__ import annotations

import asyncio
import logging


async def stop_publishing(task: asyncio.Task[None] | None, log: logging.Logger) -> None:
    """Cancel ``task`` until it has ended; log how it ended if it failed.

    aiomqtt awaits through ``asyncio.wait_for``, which on Python 3.11 can
    swallow a cancellation that meets a publish confirmation: one cancel is
    not enough, so it is repeated until the task is done.
    """
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if task is not None and not task.cancelled() and task.exception() is not None:
        log.warning("%s ended with %r", task.get_name(), task.exception())
