"""Scenario: which Modbus servers to run and which units (scales) sit on each.

Written as YAML (or built in Python from the dataclasses below)::

    servers:
      - kind: tcp
        host: 127.0.0.1
        port: 0                 # 0: pick a free port, reported at start-up
        units:
          - {unit_id: 1, model: mc10, cells: 4, length_m: 1.2, dead_load_g: 1800}
      - kind: rtu
        baudrate: 19200
        parity: N
        stopbits: 1
        link: /tmp/walkout/ttySIM   # optional symlink to the pty slave
        # device: /dev/ttyUSB0      # optional: serve an existing line instead
        units:
          - {unit_id: 1, model: mc10, cells: 4, items: [{weight_g: 350, position_m: 0.4}]}
          - {unit_id: 2, model: tx1}
          - {unit_id: 5, fixture: fixtures/mc10-unit5.json}

Validation errors name the offending key path (``servers[1].units[0].cells``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from sim_devices.fixture_unit import load_fixture

Model = Literal["mc10", "tx1"]
MODELS: tuple[Model, ...] = ("mc10", "tx1")
MAX_CELLS: dict[Model, int] = {"mc10": 10, "tx1": 1}


class ScenarioError(ValueError):
    """A scenario that cannot be run; the message starts with the key path."""


@dataclass(frozen=True)
class ItemSpec:
    """An item on the shelf at start-up (it has settled before the first read)."""

    weight_g: float
    position_m: float = 0.0
    label: str | None = None


@dataclass(frozen=True)
class UnitSpec:
    """A modelled scale. ``seed`` and ``serial_number`` default from the unit's place.

    ``gain_errors`` (fractions) and ``offsets_g`` are per cell, empty for
    none; ``settle_*`` and ``motion_band_g`` tune the settling model (see
    :class:`sim_devices.loadcell.ShelfParams`).
    """

    unit_id: int
    model: Model = "mc10"
    cells: int | None = None
    length_m: float = 1.0
    dead_load_g: float = 0.0
    capacity_g: float = 20000.0
    sigma_g: float = 0.5
    drift_g_per_h: float = 0.0
    gain_errors: tuple[float, ...] = ()
    offsets_g: tuple[float, ...] = ()
    seed: int | None = None
    serial_number: int | None = None
    firmware: int = 0x0103
    items: tuple[ItemSpec, ...] = ()
    settle_ratio: float = 0.3
    settle_freq_hz: float = 2.5
    settle_tau_s: float = 0.35
    motion_band_g: float | None = None

    def __post_init__(self) -> None:
        _check_unit_id(self.unit_id)
        if self.model not in MODELS:
            raise ScenarioError(f"model: must be one of {list(MODELS)}, got {self.model!r}")
        limit = MAX_CELLS[self.model]
        if not 1 <= self.cell_count <= limit:
            raise ScenarioError(f"cells: {self.model} has 1..{limit} cells, got {self.cells}")
        for name in ("gain_errors", "offsets_g"):
            values = getattr(self, name)
            if values and len(values) != self.cell_count:
                raise ScenarioError(f"{name}: {len(values)} values for {self.cell_count} cells")
        if self.capacity_g <= 0:
            raise ScenarioError("capacity_g: must be > 0")
        if self.sigma_g < 0:
            raise ScenarioError("sigma_g: must be >= 0")
        if self.serial_number is not None and not 0 <= self.serial_number <= 0xFFFFFFFF:
            raise ScenarioError("serial_number: must fit in uint32")
        if not 0 <= self.firmware <= 0xFFFF:
            raise ScenarioError("firmware: must fit in uint16")

    @property
    def cell_count(self) -> int:
        """Configured cells; 4 for an mc10 and 1 for a tx1 unless given."""
        if self.cells is not None:
            return self.cells
        return 4 if self.model == "mc10" else 1


@dataclass(frozen=True)
class FixtureUnitSpec:
    """A unit serving a ``walkout dump`` fixture; ``fixture`` is resolved against the file."""

    unit_id: int
    fixture: Path

    def __post_init__(self) -> None:
        _check_unit_id(self.unit_id)


AnyUnitSpec = UnitSpec | FixtureUnitSpec


@dataclass(frozen=True)
class TcpServerSpec:
    """A Modbus TCP server; several units on one server behave as a gateway."""

    units: tuple[AnyUnitSpec, ...]
    host: str = "127.0.0.1"
    port: int = 0
    kind: Literal["tcp"] = "tcp"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ScenarioError(f"port: {self.port} is not 0..65535")
        _check_units(self.units)


@dataclass(frozen=True)
class RtuServerSpec:
    """One RTU line: a new pty (optionally symlinked at ``link``) or an existing ``device``."""

    units: tuple[AnyUnitSpec, ...]
    baudrate: int = 19200
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    link: str | None = None
    device: str | None = None
    kind: Literal["rtu"] = "rtu"

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise ScenarioError(f"baudrate: must be > 0, got {self.baudrate}")
        if self.parity not in ("N", "E", "O"):
            raise ScenarioError(f"parity: must be N, E or O, got {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ScenarioError(f"stopbits: must be 1 or 2, got {self.stopbits}")
        if self.link is not None and self.device is not None:
            raise ScenarioError("link: cannot be combined with device")
        _check_units(self.units)


ServerSpec = TcpServerSpec | RtuServerSpec


@dataclass(frozen=True)
class Scenario:
    """Everything one simulator process serves."""

    servers: tuple[ServerSpec, ...]
    name: str = ""

    def __post_init__(self) -> None:
        if not self.servers:
            raise ScenarioError("servers: at least one server is needed")


def _check_unit_id(unit_id: int) -> None:
    if not 1 <= unit_id <= 247:
        raise ScenarioError(f"unit_id: {unit_id} is not 1..247")


def _check_units(units: tuple[AnyUnitSpec, ...]) -> None:
    if not units:
        raise ScenarioError("units: at least one unit is needed")
    seen: set[int] = set()
    for unit in units:
        if unit.unit_id in seen:
            raise ScenarioError(f"units: unit_id {unit.unit_id} appears twice")
        seen.add(unit.unit_id)


# parsing ------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _check_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ScenarioError(
                f"{where}.{key}: unknown key (allowed: {', '.join(sorted(allowed))})"
            )


Kind = Literal["integer", "number", "string"]
_TYPES: dict[str, tuple[type, ...]] = {"integer": (int,), "number": (int, float), "string": (str,)}


def _value(data: Mapping[str, Any], key: str, where: str, kind: Kind, default: Any) -> Any:
    """``data[key]`` checked to be of ``kind`` (bools are not numbers), or ``default``."""
    if data.get(key) is None:
        return default
    value: Any = data[key]
    if isinstance(value, bool) or not isinstance(value, _TYPES[kind]):
        raise ScenarioError(
            f"{where}.{key}: expected {'an' if kind == 'integer' else 'a'} {kind}, got {value!r}"
        )
    return float(data[key]) if kind == "number" else value


def _floats(data: Mapping[str, Any], key: str, where: str) -> tuple[float, ...]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ScenarioError(f"{where}.{key}: expected a list of numbers")
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ScenarioError(f"{where}.{key}[{i}]: expected a number, got {v!r}")
    return tuple(float(v) for v in value)


_ITEM_KEYS = {"weight_g", "position_m", "label"}
_UNIT_FLOATS = (
    "length_m",
    "dead_load_g",
    "capacity_g",
    "sigma_g",
    "drift_g_per_h",
    "settle_ratio",
    "settle_freq_hz",
    "settle_tau_s",
    "motion_band_g",
)
_UNIT_KEYS = {
    "unit_id",
    "model",
    "cells",
    "seed",
    "serial_number",
    "firmware",
    "gain_errors",
    "offsets_g",
    "items",
    *_UNIT_FLOATS,
}
_SERVER_KEYS = {
    "tcp": {"kind", "host", "port", "units"},
    "rtu": {"kind", "baudrate", "parity", "stopbits", "link", "device", "units"},
}


def _item(raw: Any, where: str) -> ItemSpec:
    data = _mapping(raw, where)
    _check_keys(data, _ITEM_KEYS, where)
    if "weight_g" not in data:
        raise ScenarioError(f"{where}.weight_g: required")
    return ItemSpec(
        weight_g=_value(data, "weight_g", where, "number", None),
        position_m=_value(data, "position_m", where, "number", 0.0),
        label=_value(data, "label", where, "string", None),
    )


def _unit(raw: Any, where: str, base_dir: Path) -> AnyUnitSpec:
    data = _mapping(raw, where)
    try:
        if "fixture" in data:
            _check_keys(data, {"unit_id", "fixture"}, where)
            fixture = _value(data, "fixture", where, "string", None)
            if fixture is None:
                raise ScenarioError(f"{where}.fixture: expected a file path")
            path = Path(fixture)
            unit_id = _value(data, "unit_id", where, "integer", None)
            if unit_id is None:
                unit_id = load_fixture(base_dir / path).unit_id
            return FixtureUnitSpec(unit_id=unit_id, fixture=base_dir / path)
        _check_keys(data, _UNIT_KEYS, where)
        if "unit_id" not in data:
            raise ScenarioError(f"{where}.unit_id: required")
        items = data.get("items", [])
        if not isinstance(items, list):
            raise ScenarioError(f"{where}.items: expected a list")
        floats = {
            k: _value(data, k, where, "number", None)
            for k in _UNIT_FLOATS
            if data.get(k) is not None
        }
        return UnitSpec(
            unit_id=_value(data, "unit_id", where, "integer", None),
            model=_value(data, "model", where, "string", "mc10"),
            cells=_value(data, "cells", where, "integer", None),
            seed=_value(data, "seed", where, "integer", None),
            serial_number=_value(data, "serial_number", where, "integer", None),
            firmware=_value(data, "firmware", where, "integer", 0x0103),
            gain_errors=_floats(data, "gain_errors", where),
            offsets_g=_floats(data, "offsets_g", where),
            items=tuple(_item(it, f"{where}.items[{i}]") for i, it in enumerate(items)),
            **floats,
        )
    except ScenarioError as exc:
        message = str(exc)
        if message.startswith(where):
            raise
        raise ScenarioError(f"{where}.{message}") from None
    except ValueError as exc:  # a bad fixture file
        raise ScenarioError(f"{where}.fixture: {exc}") from None


def _server(raw: Any, where: str, base_dir: Path) -> ServerSpec:
    data = _mapping(raw, where)
    kind = data.get("kind")
    if kind not in _SERVER_KEYS:
        raise ScenarioError(f"{where}.kind: must be 'tcp' or 'rtu', got {kind!r}")
    _check_keys(data, _SERVER_KEYS[kind], where)
    units_raw = data.get("units")
    if not isinstance(units_raw, list):
        raise ScenarioError(f"{where}.units: expected a list of units")
    units = tuple(_unit(u, f"{where}.units[{i}]", base_dir) for i, u in enumerate(units_raw))
    try:
        if kind == "tcp":
            return TcpServerSpec(
                units=units,
                host=_value(data, "host", where, "string", "127.0.0.1"),
                port=_value(data, "port", where, "integer", 0),
            )
        parity = _value(data, "parity", where, "string", "N").upper()
        return RtuServerSpec(
            units=units,
            baudrate=_value(data, "baudrate", where, "integer", 19200),
            parity=parity,
            stopbits=_value(data, "stopbits", where, "integer", 1),
            link=_value(data, "link", where, "string", None),
            device=_value(data, "device", where, "string", None),
        )
    except ScenarioError as exc:
        message = str(exc)
        if message.startswith(where):
            raise
        raise ScenarioError(f"{where}.{message}") from None


def parse_scenario(data: Any, base_dir: str | Path = ".") -> Scenario:
    """Validate a decoded scenario document; relative fixture paths use ``base_dir``."""
    top = _mapping(data, "scenario")
    _check_keys(top, {"name", "servers"}, "scenario")
    servers = top.get("servers")
    if not isinstance(servers, list):
        raise ScenarioError("servers: expected a list of servers")
    base = Path(base_dir)
    return Scenario(
        servers=tuple(_server(s, f"servers[{i}]", base) for i, s in enumerate(servers)),
        name=_value(top, "name", "scenario", "string", ""),
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read a YAML scenario file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        return parse_scenario(data, path.parent)
    except ScenarioError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
