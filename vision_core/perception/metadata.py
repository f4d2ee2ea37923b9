"""The ``metadata`` backend: smart cameras detect for themselves; walkout passes it on.

:class:`~devices.camera.metadata.MetadataSource` already turns each camera message into
:class:`~devices.camera.detection.PersonDetections`. The passthrough applies the same
score floor and camera selection the frame detectors have, so everything downstream
sees one stream with one policy. Give the source no bus of its own (``bus=None``) and
let :meth:`MetadataPassthrough.run` publish, or each message would arrive twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterable

from devices.bus import Bus
from devices.camera.detection import PersonDetections
from vision_core.perception.config import MetadataConfig


class MetadataPassthrough:
    """Filters smart-camera detections by camera and score."""

    def __init__(self, config: MetadataConfig | None = None) -> None:
        self.config = config or MetadataConfig()
        self._cameras = None if self.config.cameras is None else frozenset(self.config.cameras)
        self.passed = 0
        self.ignored = 0

    def accept(self, message: PersonDetections) -> PersonDetections | None:
        """``message`` without people under ``min_score``; None for a camera not selected."""
        if self._cameras is not None and message.camera_id not in self._cameras:
            self.ignored += 1
            return None
        self.passed += 1
        kept = tuple(d for d in message.detections if d.score >= self.config.min_score)
        if len(kept) == len(message.detections):
            return message
        return PersonDetections(
            source=message.source,
            t_mono=message.t_mono,
            camera_id=message.camera_id,
            detections=kept,
            frame=message.frame,
            source_ts=message.source_ts,
            width=message.width,
            height=message.height,
        )

    async def run(self, source: AsyncIterable[PersonDetections], bus: Bus) -> None:
        """Publish every accepted message of ``source`` on ``bus`` until the source ends."""
        async for message in source:
            accepted = self.accept(message)
            if accepted is not None:
                await bus.publish(accepted)
