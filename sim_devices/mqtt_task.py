"""A simulator's MQTT publishing task: kept connected while it runs, and stopped for sure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiomqtt

RETRY_S = 0.5
"""Wait before connecting again after the broker went away or refused."""


async def keep_publishing(
    host: str,
    port: int,
    identifier: str,
    session: Callable[[aiomqtt.Client], Awaitable[None]],
    *,
    connected: asyncio.Event,
    on_connect: Callable[[], None],
    log: logging.Logger,
    name: str,
) -> None:
    """Run ``session`` on a connected client, connecting again whenever the link fails.

    For ever: cancel the task to stop (:func:`stop_publishing`). ``connected``
    is set while a client is up; ``on_connect`` is called on each connect
    (the simulator's counters); ``name`` says whose link it is in the log.
    """
    while True:
        try:
            async with aiomqtt.Client(host, port, identifier=identifier, keepalive=10) as client:
                on_connect()
                connected.set()
                await session(client)
        except aiomqtt.MqttError as exc:
            log.warning("%s: %s; reconnecting", name, exc)
        finally:
            connected.clear()
        await asyncio.sleep(RETRY_S)


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
