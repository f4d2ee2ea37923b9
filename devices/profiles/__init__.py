"""Device profiles: register maps as validated data files.

Adding a new scale model is a new YAML file under ``profiles/scale/``, not
new code. A profile is validated when loaded; a bad file is refused with the
file name and the path of the bad key.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.errors import ProfileError
from devices.modbus.registers import DataType, RegisterSpan, Table, WordOrder


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Point(_Strict):
    """One value in the register map.

    With ``cell_stride`` set, the point repeats per load cell: cell ``i``
    lives at ``address + i * cell_stride``.
    """

    table: Table
    address: int = Field(ge=0, le=65535)
    type: DataType
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0
    unit: str = ""
    cell_stride: int | None = Field(default=None, ge=1)
    redact: bool = False
    description: str = ""

    def span(self, cell: int = 0) -> RegisterSpan:
        """Registers holding this point (for cell ``cell`` when per-cell)."""
        offset = cell * self.cell_stride if self.cell_stride else 0
        return RegisterSpan(self.table, self.address + offset, self.type.width)


class Flag(_Strict):
    """A boolean read from one bit of a point.

    ``per_cell``: the bit for cell ``i`` is ``bit + i`` (a bit mask over cells).
    """

    point: str
    bit: int = Field(ge=0, le=31)
    per_cell: bool = False
    active_low: bool = False


class Write(_Strict):
    """Registers written by a command; ``"cell_mask"`` is replaced by the cells' bit mask."""

    table: Literal[Table.HOLDING] = Table.HOLDING
    address: int = Field(ge=0, le=65535)
    values: list[int | Literal["cell_mask"]] = Field(min_length=1, max_length=123)


class Command(_Strict):
    """A device command (tare, zero) as a sequence of register writes."""

    writes: list[Write] = Field(min_length=1)
    settle_s: float = Field(default=0.5, ge=0, description="time the device needs to apply it")
    verify_zero_g: float | None = Field(
        default=None, gt=0, description="after it, the cells must read within +- this (read-back)"
    )
    description: str = ""


class Identify(_Strict):
    """How ``walkout scan`` recognises this model: one register with a known value."""

    table: Table
    address: int = Field(ge=0, le=65535)
    type: DataType = DataType.UINT16
    word_order: WordOrder = WordOrder.BIG
    equals: int


class CalibrationProcedure(_Strict):
    """How to take a calibration point: average ``samples`` stable readings."""

    samples: int = Field(default=10, ge=1, le=1000)
    max_spread_g: float = Field(default=5.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)


class ScaleProfile(_Strict):
    """Register map of one load-cell controller model."""

    name: str
    kind: Literal["scale"]
    manufacturer: str = ""
    model: str = ""
    description: str = ""
    max_cells: int = Field(ge=1, le=64)
    max_read_gap: int = Field(
        default=0, ge=0, description="reserved registers the device answers inside a read"
    )
    identify: Identify
    points: dict[str, Point]
    flags: dict[str, Flag] = Field(default_factory=dict)
    commands: dict[str, Command] = Field(default_factory=dict)
    calibration: CalibrationProcedure = CalibrationProcedure()

    @model_validator(mode="after")
    def _check_references(self) -> ScaleProfile:
        weight = self.points.get("weight")
        if weight is None:
            raise ValueError("points.weight is required for a scale")
        if weight.cell_stride is None and self.max_cells > 1:
            raise ValueError("points.weight needs cell_stride when max_cells > 1")
        if "stable" not in self.flags:
            raise ValueError("flags.stable is required for a scale")
        for name, flag in self.flags.items():
            if flag.point not in self.points:
                raise ValueError(f"flags.{name}.point: no point named {flag.point!r}")
        return self

    def weight_spans(self, cells: list[int]) -> list[RegisterSpan]:
        """Registers to read for the given cells' weights and flags."""
        spans = [self.points["weight"].span(cell) for cell in cells]
        spans.extend(self.points[flag.point].span() for flag in self.flags.values())
        return spans


PROFILE_KINDS = ("scale",)


def parse_profile(data: object, source: str) -> ScaleProfile:
    """Validate loaded YAML data; errors name ``source`` and the key path."""
    try:
        return ScaleProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError.from_validation(exc, source, "device profile") from None


def load_profile_file(path: Path) -> ScaleProfile:
    """Load and validate one profile file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    return parse_profile(data, str(path))


@cache
def builtin_profiles() -> dict[str, ScaleProfile]:
    """Profiles shipped with walkout, by name."""
    found: dict[str, ScaleProfile] = {}
    for kind in PROFILE_KINDS:
        folder = resources.files(__name__).joinpath(kind)
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml"):
                data = yaml.safe_load(entry.read_text(encoding="utf-8"))
                profile = parse_profile(data, f"{kind}/{entry.name}")
                found[profile.name] = profile
    return found


def _kind_of(path: Path) -> str | None:
    """The ``kind`` a profile file declares, without validating it (None if unreadable)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None  # load_profile_file reports it properly
    kind = data.get("kind") if isinstance(data, dict) else None
    return kind if isinstance(kind, str) else None


def get_profile(name: str, extra_dirs: tuple[Path, ...] = ()) -> ScaleProfile:
    """A profile by name, from the site's own folders first, then the built-ins."""
    for folder in extra_dirs:
        for path in sorted(folder.glob("*.yaml")):
            if _kind_of(path) not in (None, "scale"):
                continue  # a cooling unit's or I/O module's profile in the same site folder
            profile = load_profile_file(path)
            if profile.name == name:
                return profile
    try:
        return builtin_profiles()[name]
    except KeyError:
        known = ", ".join(sorted(builtin_profiles()))
        raise ProfileError(f"unknown device profile {name!r} (known: {known})") from None
