"""store.yaml: the one configuration file of a store, validated at the edge.

Everything inside walkout works on the plain, validated data these models
give. A bad file is refused with the path of every bad key and what was
expected there, e.g. ``modbus.units[2] (id=sc-03).bus: no bus named 'rs485-x'``.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from devices.errors import ProfileError
from devices.profiles import ScaleProfile, get_profile
from devices.scale import CellCalibration

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class ConfigError(ValueError):
    """The configuration is invalid; ``problems`` lists ``(key path, message)``."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s)"]
        lines += [f"  {path}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreInfo(_Strict):
    """Who this store is."""

    id: Identifier
    name: str = ""
    timezone: str = "UTC"


class TcpBus(_Strict):
    """A Modbus TCP device or gateway."""

    id: Identifier
    type: Literal["tcp"]
    host: str
    port: int = Field(default=502, ge=1, le=65535)
    timeout_s: float = Field(default=0.5, gt=0, le=30)


class RtuBus(_Strict):
    """One RS-485 line with a Modbus RTU master port."""

    id: Identifier
    type: Literal["rtu"]
    port: str = Field(description="serial device path, e.g. /dev/ttyUSB0")
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 19200
    parity: Literal["N", "E", "O"] = "E"
    stopbits: Literal[1, 2] = 1
    timeout_s: float = Field(default=0.2, gt=0, le=30)


Bus = Annotated[TcpBus | RtuBus, Field(discriminator="type")]


class ModbusUnit(_Strict):
    """A device on a bus: its unit id and the profile that maps its registers."""

    id: Identifier
    bus: str
    unit_id: int = Field(ge=1, le=247)
    profile: str


class ModbusSection(_Strict):
    """Buses and the units on them."""

    buses: list[Bus] = Field(default_factory=list)
    units: list[ModbusUnit] = Field(default_factory=list)


class Location(_Strict):
    """Where a shelf is on the floor plan (metres from the plan's origin)."""

    x_m: float
    y_m: float
    level: int = Field(default=1, ge=0, le=20, description="shelf level, 1 = lowest")
    aisle: str = ""


class Shelf(_Strict):
    """A shelf board and the load cells under it."""

    id: Identifier
    unit: str
    cells: list[int] = Field(min_length=1)
    length_m: float = Field(default=1.0, gt=0, le=10)
    rate_hz: float = Field(default=10.0, gt=0, le=100)
    location: Location | None = None


class StoreConfig(_Strict):
    """The whole store.yaml."""

    store: StoreInfo
    profile_dirs: list[Path] = Field(default_factory=list)
    calibration_file: Path = Path("calibration.yaml")
    modbus: ModbusSection = ModbusSection()
    shelves: list[Shelf] = Field(default_factory=list)

    def bus(self, bus_id: str) -> TcpBus | RtuBus:
        """The bus with this id."""
        return next(b for b in self.modbus.buses if b.id == bus_id)

    def unit(self, unit_id: str) -> ModbusUnit:
        """The unit with this id."""
        return next(u for u in self.modbus.units if u.id == unit_id)

    def shelf(self, shelf_id: str) -> Shelf:
        """The shelf with this id; KeyError naming the known ones."""
        for shelf in self.shelves:
            if shelf.id == shelf_id:
                return shelf
        known = ", ".join(s.id for s in self.shelves) or "none"
        raise KeyError(f"no shelf {shelf_id!r} (known: {known})")

    def profile(self, unit_id: str) -> ScaleProfile:
        """The profile of a unit (already checked to exist at load)."""
        return get_profile(self.unit(unit_id).profile, tuple(self.profile_dirs))


def _path(loc: tuple[int | str, ...], data: object) -> str:
    """Render a pydantic location as ``a.b[2] (id=x).c``, naming list items by id."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and "id" in item:
                out += f" (id={item['id']})"
            node = item
        else:
            if part in ("tcp", "rtu") and isinstance(node, dict) and node.get("type") == part:
                continue  # the discriminated union's tag, not a key in the file
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _cross_check(cfg: StoreConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []

    def unique(kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for n, ident in enumerate(ids):
            if ident in seen:
                problems.append((f"{kind}[{n}] (id={ident}).id", "duplicate id"))
            seen.add(ident)

    unique("modbus.buses", [b.id for b in cfg.modbus.buses])
    unique("modbus.units", [u.id for u in cfg.modbus.units])
    unique("shelves", [s.id for s in cfg.shelves])
    bus_ids = {b.id for b in cfg.modbus.buses}
    profiles: dict[str, ScaleProfile] = {}
    addresses: set[tuple[str, int]] = set()
    for n, unit in enumerate(cfg.modbus.units):
        where = f"modbus.units[{n}] (id={unit.id})"
        if unit.bus not in bus_ids:
            known = ", ".join(sorted(bus_ids)) or "none"
            problems.append((f"{where}.bus", f"no bus named {unit.bus!r} (known: {known})"))
        if (unit.bus, unit.unit_id) in addresses:
            problems.append(
                (f"{where}.unit_id", f"unit id {unit.unit_id} is used twice on {unit.bus}")
            )
        addresses.add((unit.bus, unit.unit_id))
        try:
            profiles[unit.id] = get_profile(unit.profile, tuple(cfg.profile_dirs))
        except ProfileError as exc:
            problems.append((f"{where}.profile", str(exc)))
    used: dict[tuple[str, int], str] = {}
    for n, shelf in enumerate(cfg.shelves):
        where = f"shelves[{n}] (id={shelf.id})"
        if shelf.unit not in {u.id for u in cfg.modbus.units}:
            problems.append((f"{where}.unit", f"no unit named {shelf.unit!r}"))
            continue
        profile = profiles.get(shelf.unit)
        for k, cell in enumerate(shelf.cells):
            if profile is not None and not 0 <= cell < profile.max_cells:
                problems.append(
                    (
                        f"{where}.cells[{k}]",
                        f"cell {cell} outside 0..{profile.max_cells - 1} of profile {profile.name}",
                    )
                )
            owner = used.get((shelf.unit, cell))
            if owner is not None:
                problems.append(
                    (
                        f"{where}.cells[{k}]",
                        f"cell {cell} of {shelf.unit} already belongs to shelf {owner}",
                    )
                )
            used[(shelf.unit, cell)] = shelf.id
    return problems


def parse_config(
    data: object, source: str = "store.yaml", base_dir: Path | None = None
) -> StoreConfig:
    """Validate already-loaded YAML data; relative paths resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError(
            source, [("(top level)", "expected a mapping of keys, got " + type(data).__name__)]
        )
    try:
        cfg = StoreConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            expected = err["msg"]
            if err["type"] not in ("missing", "extra_forbidden"):
                expected += f" (got {err['input']!r})"
            problems.append((_path(err["loc"], data), expected))
        raise ConfigError(source, problems) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(source, problems)
    if base_dir is not None:
        cfg = cfg.model_copy(
            update={
                "calibration_file": base_dir / cfg.calibration_file,
                "profile_dirs": [base_dir / p for p in cfg.profile_dirs],
            }
        )
    return cfg


def load_config(path: Path) -> StoreConfig:
    """Read and validate a store.yaml."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise ConfigError(
            str(path), [(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
        ) from None
    return parse_config(data, str(path), path.parent)


class CalibrationEntry(_Strict):
    """One cell's calibration as stored in the calibration file."""

    zero_raw_g: float
    gain: float = Field(gt=0)
    known_g: float = Field(gt=0)
    calibrated_at: dt.datetime


class CalibrationFile(_Strict):
    """Per-unit, per-cell calibrations written by ``walkout scale calibrate``."""

    units: dict[str, dict[int, CalibrationEntry]] = Field(default_factory=dict)

    def for_unit(self, unit_id: str) -> dict[int, CellCalibration]:
        """Calibrations of one unit's cells, as the driver applies them."""
        return {
            cell: CellCalibration(entry.zero_raw_g, entry.gain)
            for cell, entry in self.units.get(unit_id, {}).items()
        }


def load_calibration(path: Path) -> CalibrationFile:
    """The calibration file; a missing file means no cell is calibrated yet."""
    if not path.exists():
        return CalibrationFile()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return CalibrationFile.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc}")]) from None
    except ValidationError as exc:
        problems = [(_path(e["loc"], data), e["msg"]) for e in exc.errors()]
        raise ConfigError(str(path), problems) from None


def save_calibration(path: Path, calibration: CalibrationFile) -> None:
    """Write the calibration file atomically: a crash leaves the old or the new file."""
    tmp = path.with_name(path.name + ".tmp")
    data = calibration.model_dump(mode="json")
    text = "# Written by 'walkout scale calibrate'. grams = (raw - zero_raw_g) * gain\n"
    with tmp.open("w", encoding="utf-8") as handle:
        handle.write(text + yaml.safe_dump(data, sort_keys=True))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
