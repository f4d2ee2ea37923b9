"""The vision section: what turns camera images into shopper tracks, and at what cost.

Optional: a store with cameras and no ``vision`` section runs the offline CPU
default (SSD-MobileNet-v2 with MoveNet wrists) on its frame cameras.
"""

from __future__ import annotations

from pydantic import Field

from vision_core.perception.config import PerceptionConfig
from walkout.config.errors import Strict


class FloorPoint(Strict):
    """A point on the floor plan, metres from the plan's origin."""

    x_m: float
    y_m: float


class VisionSection(Strict):
    """Detector backend and trade-offs, and the fps the supervisor may fall back to.

    ``low_fps``: frame cameras' cap under the supervisor's ``checkout_low_fps``
    camera profile (a camera already capped lower keeps its own cap).
    ``hand_height_m``: the height assumed for a wrist when it is put on the floor.
    """

    perception: PerceptionConfig = Field(default_factory=PerceptionConfig)
    low_fps: float = Field(default=5.0, gt=0, le=120)
    hand_height_m: float = Field(default=1.0, ge=0, le=2.5)
