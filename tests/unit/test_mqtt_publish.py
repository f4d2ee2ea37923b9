"""A cancellation that aiomqtt's wait on the acknowledgement swallowed is raised again."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiomqtt
import pytest

from devices.mqtt_publish import publish


class SwallowingClient:
    """Acknowledges the publish in the very turn its task is cancelled (gh-86296 on 3.11)."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.published.append(topic)  # the acknowledgement won, the cancel is dropped


async def test_a_swallowed_cancellation_is_raised_after_the_publish() -> None:
    client = SwallowingClient()
    task = asyncio.create_task(publish(cast(aiomqtt.Client, client), "t/1", b"x"))
    await asyncio.sleep(0)  # let it reach the wait for the acknowledgement
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client.published == ["t/1"]


async def test_an_ordinary_publish_returns() -> None:
    class Plain:
        async def publish(self, topic: str, *args: Any, **kwargs: Any) -> None:
            self.topic = topic

    client = Plain()
    await publish(cast(aiomqtt.Client, client), "t/2", b"y", qos=1)
    assert client.topic == "t/2"
