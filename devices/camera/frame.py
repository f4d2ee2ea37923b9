"""The decoded image every frame source yields."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
"""An OpenCV image: height x width x 3 BGR for frames, height x width for grey."""


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded camera image.

    ``t_mono`` is the monotonic time at which the frame's bytes had fully
    arrived (MJPEG) or were grabbed (capture), before decoding, so a slow
    decoder does not make frames look younger than they are. ``seq`` counts
    the frames this source delivered, from 0, across reconnects; gaps are not
    possible (dropped frames never get a number). ``source_ts`` is the
    camera's own timestamp in seconds when the stream carries one (an MJPEG
    part's ``X-Timestamp`` header, wall-clock time of the camera; a video's
    presentation time for capture sources), else None.

    ``probe`` is a small grey copy (about 160 px wide, nearest-neighbour, so
    sensor noise survives) made by the decoding thread for the quality checks;
    None where nothing made one.
    """

    camera_id: str
    image: Image
    t_mono: float
    seq: int
    source_ts: float | None = None
    probe: Image | None = None

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])
