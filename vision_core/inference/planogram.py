"""The planogram: which SKU faces where on each shelf, and what one unit weighs.

Validated data, loaded from YAML like device profiles: a bad file is refused
with the file name and the key path of every bad value. Prices are exact
``Decimal`` and must be written as strings or integers in YAML (a YAML float
such as ``1.1`` is a binary float before it reaches us).

Tolerance is per unit: every unit of the SKU weighs within ``unit_weight_g``
plus or minus the tolerance (the larger of ``tolerance_g`` and
``tolerance_pct`` of the unit weight when both are given). Product inference
treats it as two standard deviations of the unit weight.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class PlanogramError(ValueError):
    """A planogram file or value that cannot be used; the message names the key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Facing(_Strict):
    """One SKU's stretch of a shelf."""

    sku: str = Field(min_length=1)
    name: str = ""
    unit_weight_g: float = Field(gt=0)
    tolerance_g: float | None = Field(default=None, gt=0)
    tolerance_pct: float | None = Field(default=None, gt=0, le=50)
    span_m: tuple[float, float] = Field(description="start and end along the shelf, metres")
    price: Decimal = Field(ge=0)

    @field_validator("price", mode="before")
    @classmethod
    def _exact_price(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('write the price as a string (e.g. "1.20") so it stays exact')
        return value

    @model_validator(mode="after")
    def _check(self) -> Facing:
        if self.tolerance_g is None and self.tolerance_pct is None:
            raise ValueError("tolerance_g or tolerance_pct is required")
        start, end = self.span_m
        if not start < end:
            raise ValueError(f"span_m must be [start, end] with start < end, got {self.span_m}")
        return self

    @property
    def unit_tolerance_g(self) -> float:
        """Per-unit tolerance in grams (the larger of the two forms given)."""
        pct = self.unit_weight_g * self.tolerance_pct / 100 if self.tolerance_pct else 0.0
        return max(self.tolerance_g or 0.0, pct)

    @property
    def centre_m(self) -> float:
        """Middle of the facing along the shelf."""
        return (self.span_m[0] + self.span_m[1]) / 2


class ShelfPlan(_Strict):
    """One shelf board: its length and facings.

    ``position_sigma_m`` is how far the load-cell split's position estimate
    strays beyond what the scale's own noise explains (one standard
    deviation: the board's flex, where a pack's weight sits under it); the
    scale's part grows as the grams moved shrink and is added per change
    (``ShelfInferrer.position_sigma_m``); ``scale_tolerance_g`` the scale's own
    error bound on a change, added to the units' tolerances; ``max_items``
    the most units one event is assumed to move.
    """

    length_m: float = Field(gt=0)
    position_sigma_m: float = Field(default=0.01, gt=0)
    scale_tolerance_g: float = Field(default=0.0, ge=0)
    max_items: int = Field(default=6, ge=1, le=10)
    facings: list[Facing] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> ShelfPlan:
        seen: dict[str, int] = {}
        for index, facing in enumerate(self.facings):
            if facing.sku in seen:
                raise ValueError(
                    f"facings.{index}.sku: {facing.sku!r} already faces at "
                    f"facings.{seen[facing.sku]} (one facing per SKU per shelf)"
                )
            seen[facing.sku] = index
            start, end = facing.span_m
            if start < 0 or end > self.length_m + 1e-9:
                raise ValueError(
                    f"facings.{index}.span_m: {facing.span_m} lies outside the shelf "
                    f"(0 .. {self.length_m} m)"
                )
        ordered = sorted(range(len(self.facings)), key=lambda i: self.facings[i].span_m)
        for a, b in itertools.pairwise(ordered):
            if self.facings[b].span_m[0] < self.facings[a].span_m[1] - 1e-9:
                raise ValueError(
                    f"facings.{b}.span_m: {self.facings[b].span_m} overlaps "
                    f"facings.{a}.span_m {self.facings[a].span_m}"
                )
        return self


class Planogram(_Strict):
    """Every shelf of the store by shelf id; a SKU has one weight and price store-wide."""

    shelves: dict[str, ShelfPlan]

    @model_validator(mode="after")
    def _consistent_skus(self) -> Planogram:
        first: dict[str, tuple[str, int, Facing]] = {}
        for shelf_id, shelf in self.shelves.items():
            for index, facing in enumerate(shelf.facings):
                if facing.sku not in first:
                    first[facing.sku] = (shelf_id, index, facing)
                    continue
                other_shelf, other_index, other = first[facing.sku]
                for key in ("unit_weight_g", "unit_tolerance_g", "price"):
                    if getattr(facing, key) != getattr(other, key):
                        raise ValueError(
                            f"shelves.{shelf_id}.facings.{index}: {facing.sku!r} has {key} "
                            f"{getattr(facing, key)} but {getattr(other, key)} at "
                            f"shelves.{other_shelf}.facings.{other_index}"
                        )
        return self

    def shelf(self, shelf_id: str) -> ShelfPlan:
        """The plan of one shelf; an unknown id is a clear error, not a KeyError."""
        try:
            return self.shelves[shelf_id]
        except KeyError:
            raise PlanogramError(f"shelf {shelf_id!r} is not in the planogram") from None

    def catalog(self) -> dict[str, Facing]:
        """One facing per SKU (weights, tolerance and price agree store-wide)."""
        found: dict[str, Facing] = {}
        for shelf in self.shelves.values():
            for facing in shelf.facings:
                found.setdefault(facing.sku, facing)
        return found


def parse_planogram(data: object, source: str) -> Planogram:
    """Validate loaded YAML data; errors name ``source`` and each bad key path."""
    try:
        return Planogram.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: invalid planogram"]
        for err in exc.errors():
            path = ".".join(str(part) for part in err["loc"]) or "(top level)"
            lines.append(f"  {path}: {err['msg']}")
        raise PlanogramError("\n".join(lines)) from None


def load_planogram(path: Path) -> Planogram:
    """Load and validate a planogram YAML file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PlanogramError(f"{path}: cannot read planogram: {exc}") from None
    return parse_planogram(data, str(path))
