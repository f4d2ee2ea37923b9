"""One simulated shelf camera: its publisher, and the script it plays."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any, Self

from sim_devices.shelf_camera.publisher import Movement, ProductsPublisher, RecogniserSettings
from sim_devices.shelf_camera.script import ScriptStep

log = logging.getLogger(__name__)


class ShelfCameraSimulator:
    """A shelf camera on ``host``:``port``'s broker; plays ``script`` from its start.

    An async context manager: entering starts publishing (and the script's
    clock), leaving stops both. A script's steps are published at their
    ``t`` after the start, or as soon as the broker is reachable when it was
    not then (a camera buffers what it saw).
    """

    def __init__(
        self,
        camera_id: str = "shelfcam-1",
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        settings: RecogniserSettings | None = None,
        heartbeat_s: float = 5.0,
        seed: int = 0,
        script: list[ScriptStep] | None = None,
        topic_root: str = "walkout/cameras",
    ) -> None:
        self.publisher = ProductsPublisher(
            camera_id,
            host,
            port,
            settings=settings,
            heartbeat_s=heartbeat_s,
            seed=seed,
            topic_root=topic_root,
        )
        self.script = list(script or [])
        self.script_done = asyncio.Event()
        self._script_task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.publisher.start()
        self._script_task = asyncio.create_task(self._play(), name="sim-shelfcam-script")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._script_task = self._script_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.publisher.stop()

    async def movement(self, movement: Movement) -> dict[str, Any] | None:
        """One hand movement now; what the camera reported (None: missed or silent)."""
        return await self.publisher.movement(movement)

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for t, movement in self.script:
            delay = start + t - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)  # the script's own timeline
            await self.publisher.movement(movement)
        self.script_done.set()
        if self.script:
            log.info("script done: %d movement(s)", len(self.script))

    def ready(self) -> dict[str, Any]:
        """The ready line's camera part."""
        p = self.publisher
        return {
            "camera_id": p.camera_id,
            "mqtt": {"host": p.host, "port": p.port, "topic": p.topic},
            "heartbeat_s": p.heartbeat_s,
            "script_steps": len(self.script),
        }
