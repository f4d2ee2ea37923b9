"""Cameras: where their stream is, what they look at, and how their image maps to the floor."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from devices.camera.config import CameraConfig, CameraConfigError
from walkout.config.errors import Strict
from walkout.config.modbus import Identifier


class Camera(Strict):
    """One camera; ``floor`` is a 3x3 ``matrix`` or ``image_points``/``floor_points`` pairs.

    The homography is checked when the file is loaded (invertible, points not
    collinear, reprojection error within ``max_error_m``), so a mistyped point
    is refused with the camera named instead of mis-placing shoppers later.
    """

    id: Identifier
    role: Literal["ceiling", "shelf", "entry", "analytics"]
    url: str = Field(description="http://.../mjpeg, rtsp://..., file:///..., or mqtt:// metadata")
    fps_cap: float | None = Field(default=None, gt=0, le=120)
    shelves: list[str] = Field(default_factory=list)
    floor: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _geometry(self) -> Camera:
        try:
            self.driver_config()
        except CameraConfigError as exc:
            raise ValueError(str(exc)) from None
        return self

    def driver_config(self) -> CameraConfig:
        """The plain, validated config the camera drivers take."""
        return CameraConfig.from_dict(self.model_dump(exclude_none=True))
