"""Price-tag screens: which transport reaches them, and which tags sit on which shelf."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from walkout.config.errors import Strict


class OeplBackend(Strict):
    """An OpenEPaperLink access point, reached over HTTP."""

    type: Literal["oepl"]
    url: str = Field(pattern=r"^https?://", description="e.g. http://10.0.0.9")
    ack_timeout_s: float = Field(default=90.0, gt=0, le=3600, description="tags check in slowly")


class MqttBackend(Strict):
    """Tags on an MQTT broker, speaking walkout's topic schema."""

    type: Literal["mqtt"]
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic_root: str = "walkout/esl"
    ack_timeout_s: float = Field(default=5.0, gt=0, le=600)


EslBackend = Annotated[OeplBackend | MqttBackend, Field(discriminator="type")]


class ShelfMessages(Strict):
    """Rate limits on messages shown to a shopper who lingers at a shelf."""

    shelf_cooldown_s: float = Field(default=30.0, ge=0)
    per_minute: float = Field(default=20.0, gt=0)
    burst: int = Field(default=3, ge=1)
    max_duration_s: float = Field(default=300.0, gt=0)


class EslSection(Strict):
    """The store's price tags."""

    backend: EslBackend
    retries: int = Field(default=2, ge=0, le=10)
    concurrency: int = Field(default=32, ge=1, le=1024)
    shelves: dict[str, list[str]] = Field(
        default_factory=dict, description="shelf id -> the tags on its edge"
    )
    messages: ShelfMessages = ShelfMessages()
