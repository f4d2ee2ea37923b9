"""What every frame detector backend provides, and the box clean-up they share.

Backends are blocking (they run model inference) and are only ever called from one
worker thread at a time (:class:`~vision_core.perception.runner.DetectorRunner`), so
they need no locking. They take a batch of frames, possibly from several cameras, and
return one tuple of person detections per frame, in order, with boxes in the pixels of
that frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from devices.camera.detection import Detection
from devices.camera.frame import Frame


class FrameDetector(Protocol):
    """A person detector on decoded frames."""

    @property
    def name(self) -> str:
        """Short backend name for logs and benchmark tables."""
        ...

    @property
    def max_batch(self) -> int:
        """Most frames :meth:`detect` takes at once (1 = no batching)."""
        ...

    def detect(self, frames: Sequence[Frame]) -> list[tuple[Detection, ...]]:
        """People in each frame, in frame order; at most :attr:`max_batch` frames."""
        ...

    def close(self) -> None:
        """Release the model; the detector is unusable afterwards."""
        ...


def person_in_frame(
    frame: Frame, x1: float, y1: float, x2: float, y2: float, score: float
) -> Detection | None:
    """A :class:`Detection` with the box clipped to the frame; None when nothing is left.

    Detectors put boxes partly outside the image for people at its edge; clipped, the
    bottom centre stays a usable floor point. Boxes under one pixel after clipping, and
    non-finite output, are dropped rather than raised: they are model noise, not input.
    """
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2, score)):
        return None
    x1 = min(max(x1, 0.0), float(frame.width))
    x2 = min(max(x2, 0.0), float(frame.width))
    y1 = min(max(y1, 0.0), float(frame.height))
    y2 = min(max(y2, 0.0), float(frame.height))
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        return None
    return Detection(
        camera_id=frame.camera_id,
        t_mono=frame.t_mono,
        box=(x1, y1, x2, y2),
        score=min(max(score, 0.0), 1.0),
    )


def check_batch(frames: Sequence[Frame], max_batch: int, backend: str) -> None:
    """``ValueError`` naming the backend when a batch is empty, too large or not BGR images."""
    if not 1 <= len(frames) <= max_batch:
        raise ValueError(f"{backend}: batch of {len(frames)} frames, expected 1..{max_batch}")
    for frame in frames:
        shape = frame.image.shape
        if frame.image.ndim != 3 or shape[2] != 3 or shape[0] < 2 or shape[1] < 2:
            raise ValueError(
                f"{backend}: frame {frame.seq} of camera {frame.camera_id} has shape "
                f"{shape}, expected height x width x 3 (BGR)"
            )
