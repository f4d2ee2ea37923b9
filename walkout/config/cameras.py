"""Cameras: where their stream is, what they look at, and how their image maps to the floor."""

from __future__ import annotations

import urllib.parse
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

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


class ShelfCamera(Strict):
    """A camera over one shelf that recognises the products in shoppers' hands.

    It publishes its sightings (``walkout/cameras/<id>/products``, schema in
    :mod:`devices.camera.products`) to the broker at ``url``; the checkout
    uses them to tell apart same-weight products the scale cannot. One camera
    watches one shelf and a shelf has at most one camera: a movement two
    cameras both saw would count twice as evidence.
    """

    id: Identifier
    shelf: str = Field(description="the id of the shelf it watches (one of `shelves`)")
    url: str = Field(
        default="mqtt://127.0.0.1:1883", description="mqtt://host:port of the broker it uses"
    )
    topic_root: str = Field(default="walkout/cameras", min_length=1)
    stall_after_s: float = Field(
        default=15.0, gt=0, le=3600, description="silence (heartbeats included) that is a stall"
    )

    @field_validator("url")
    @classmethod
    def _mqtt_url(cls, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "mqtt" or not parts.hostname:
            raise ValueError("expected mqtt://host:port")
        try:
            parts.port  # noqa: B018  # raises for a port that is not a number in range
        except ValueError:
            raise ValueError("expected mqtt://host:port") from None
        return url

    @property
    def broker(self) -> tuple[str, int]:
        """``(host, port)`` of the broker (port 1883 when the URL gives none)."""
        parts = urllib.parse.urlsplit(self.url)
        return parts.hostname or "127.0.0.1", parts.port or 1883
