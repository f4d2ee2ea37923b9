"""Tag panels as data: resolution and colours per OpenEPaperLink hardware type.

The access point reports each tag's ``hwType``; the renderer needs the
panel's size and the exact colours it can show. The table lives in
``displays.yaml`` (from OpenEPaperLink's ``resources/tagtypes/*.json``) so a
new panel is a new entry, not new code. The file is validated when loaded;
an unknown hardware type is an error that names the type, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.errors import ProfileError

ColorName = Literal["white", "black", "red", "yellow"]

COLOR_RGB: Mapping[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "yellow": (255, 255, 0),
}
"""Panel colours as the access point's colortable gives them."""


class Display(BaseModel):
    """One panel: ``colors`` in palette order, white (the background) first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hw_type: int = Field(ge=0, le=255)
    name: str
    width: int = Field(ge=16, le=2048)
    height: int = Field(ge=16, le=2048)
    colors: tuple[ColorName, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _palette(self) -> Display:
        if self.colors[0] != "white" or "black" not in self.colors:
            raise ValueError("colors must start with white and include black")
        if len(set(self.colors)) != len(self.colors):
            raise ValueError("colors must not repeat")
        return self

    @property
    def accent(self) -> ColorName | None:
        """The highlight colour (red, else yellow), or None on a black/white panel."""
        for color in ("red", "yellow"):
            if color in self.colors:
                return color
        return None

    def index(self, color: str) -> int:
        """Palette index of ``color``; ValueError when the panel cannot show it."""
        try:
            return self.colors.index(color)
        except ValueError:
            raise ValueError(f"{self.name} cannot show {color!r} (has {self.colors})") from None

    def palette_rgb(self) -> list[tuple[int, int, int]]:
        """RGB of each palette entry, in order."""
        return [COLOR_RGB[c] for c in self.colors]


class _DisplayFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    displays: list[Display]


def load_displays(path: Path | None = None) -> dict[int, Display]:
    """Displays keyed by hardware type, from ``path`` or the packaged table."""
    if path is None:
        text = resources.files("devices.esl").joinpath("displays.yaml").read_text("utf-8")
        where = "devices/esl/displays.yaml"
    else:
        text = path.read_text("utf-8")
        where = str(path)
    try:
        parsed = _DisplayFile.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"{where}: {loc}: {first['msg']}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{where}: not valid YAML: {exc}") from None
    out: dict[int, Display] = {}
    for display in parsed.displays:
        if display.hw_type in out:
            raise ProfileError(f"{where}: hw_type 0x{display.hw_type:02X} is listed twice")
        out[display.hw_type] = display
    return out


@cache
def packaged_displays() -> Mapping[int, Display]:
    """The packaged table, loaded once."""
    return load_displays()


def display_for(hw_type: int, table: Mapping[int, Display] | None = None) -> Display:
    """The panel of ``hw_type``; ProfileError names the type when it is not in the table."""
    displays = packaged_displays() if table is None else table
    try:
        return displays[hw_type]
    except KeyError:
        raise ProfileError(
            f"unknown tag hardware type 0x{hw_type:02X}: add it to devices/esl/displays.yaml"
        ) from None
