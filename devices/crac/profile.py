"""CRAC device profiles: a unit's register map and what each register means, as YAML data.

A new precision air conditioner model is a new YAML file under
``devices/profiles/crac/`` (or a site folder), not new code. A profile names
its registers (``points``), says which of them make up a reading
(``readings``: supply/return air, humidity, setpoints, fan, compressors,
heater, humidifier, on/off, local mode), which bits of which registers are
alarms and what each alarm is called (``alarms``), and how the commands are
written (``commands``: setpoint, on/off, alarm reset). A field the unit does
not have is left out and reads as None; a raw value the unit uses for "no
value" (a broken sensor's 0x8000) is declared per point as ``unknown``.

Errors name the file and the path of the bad key, e.g.
``crac/pcw1.yaml: readings.supply_air_c: no point named 'supply_temp'``.

A unit read over SNMP has a profile of another shape (``protocol: snmp``,
:mod:`devices.crac.snmp_profile`); the loaders here accept both kinds and
pick the model by ``protocol`` (``modbus`` when the key is left out).
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from devices.crac.profile_model import ProfileModel
from devices.crac.snmp_profile import SnmpCracProfile
from devices.errors import ProfileError
from devices.modbus.registers import DataType, RegisterSpan, Table, WordOrder
from devices.profiles import Identify

KIND = "crac"
PROFILE_PACKAGE = "devices.profiles"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_INT_RANGE = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
}


class CracPoint(ProfileModel):
    """One register (or register pair) of the map: ``value = raw * scale``.

    ``unknown``: the raw value the unit sends when it has no value (a broken
    sensor); it reads as None. Non-finite floats always read as None.
    """

    table: Table
    address: int = Field(ge=0, le=65535)
    type: DataType
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0
    unit: str = ""
    unknown: int | None = None
    description: str = ""

    @model_validator(mode="after")
    def _check(self) -> CracPoint:
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        if self.unknown is not None:
            if self.type is DataType.FLOAT32:
                raise ValueError("unknown: a float32 point reads NaN as unknown already")
            low, high = _INT_RANGE[self.type]
            if not low <= self.unknown <= high:
                raise ValueError(f"unknown: {self.unknown} does not fit {self.type}")
        return self

    def span(self) -> RegisterSpan:
        """Registers holding this point."""
        return RegisterSpan(self.table, self.address, self.type.width)

    @property
    def integer(self) -> bool:
        """Whether the raw value is an integer type (bit words must be)."""
        return self.type is not DataType.FLOAT32


class BitRef(ProfileModel):
    """One bit of an integer point; ``active_low``: the bit is 0 when the thing is true."""

    point: str
    bit: int = Field(ge=0, le=31)
    active_low: bool = False


class AlarmWord(ProfileModel):
    """An integer point whose bits are alarms, bit number -> alarm name."""

    point: str
    bits: dict[int, str] = Field(min_length=1)


class ReadingMap(ProfileModel):
    """Which points make up a reading; a field left out reads as None."""

    supply_air_c: str | None = None
    return_air_c: str | None = None
    humidity_pct: str | None = None
    supply_setpoint_c: str | None = None
    return_setpoint_c: str | None = None
    fan_pct: str | None = None
    unit_on: BitRef | None = None
    local_mode: BitRef | None = None
    humidifier_on: BitRef | None = None
    heater: list[BitRef] = Field(default_factory=list, description="reheat stages; any on = on")
    compressors: list[BitRef] = Field(default_factory=list)

    def values(self) -> dict[str, str]:
        """Numeric fields that the profile maps, field -> point name."""
        names = (
            "supply_air_c",
            "return_air_c",
            "humidity_pct",
            "supply_setpoint_c",
            "return_setpoint_c",
            "fan_pct",
        )
        return {n: p for n in names if (p := getattr(self, n)) is not None}

    def bits(self) -> dict[str, BitRef]:
        """Boolean fields that the profile maps, by key path."""
        found: dict[str, BitRef] = {}
        for name in ("unit_on", "local_mode", "humidifier_on"):
            ref = getattr(self, name)
            if ref is not None:
                found[name] = ref
        found |= {f"heater.{i}": ref for i, ref in enumerate(self.heater)}
        found |= {f"compressors.{i}": ref for i, ref in enumerate(self.compressors)}
        return found


class SetpointCommand(ProfileModel):
    """The temperature setpoint the unit regulates to, and the range this model accepts.

    ``tolerance_c``: how far the read-back may differ from what was asked
    (default: half a count of an integer point, 0.01 °C for a float).
    """

    point: str
    min_c: float
    max_c: float
    tolerance_c: float | None = Field(default=None, gt=0)


class SwitchCommand(ProfileModel):
    """Unit on/off: the values written to ``point`` for on and off.

    (Not ``on:``/``off:``: YAML 1.1 reads those keys as booleans.)
    """

    point: str
    on_value: int = 1
    off_value: int = 0


class PulseCommand(ProfileModel):
    """A command register written once (alarm reset)."""

    point: str
    value: int = 1


class Commands(ProfileModel):
    """Commands this model takes; ``verify_timeout_s`` is how long a read-back may take."""

    setpoint: SetpointCommand | None = None
    unit_on: SwitchCommand | None = None
    clear_alarms: PulseCommand | None = None
    verify_timeout_s: float = Field(default=2.0, gt=0, le=60)


class CracProfile(ProfileModel):
    """Register map of one precision air conditioner model over Modbus."""

    name: str = Field(pattern=_NAME.pattern)
    kind: Literal["crac"]
    protocol: Literal["modbus"] = "modbus"
    manufacturer: str = ""
    model: str = ""
    description: str = ""
    max_read_gap: int = Field(
        default=0, ge=0, description="reserved registers the unit answers inside a read"
    )
    identify: Identify | None = None
    points: dict[str, CracPoint] = Field(min_length=1)
    readings: ReadingMap
    alarms: list[AlarmWord] = Field(default_factory=list)
    commands: Commands = Commands()

    @model_validator(mode="after")
    def _check_references(self) -> CracProfile:
        problems: list[str] = []
        for name in self.points:
            if not _NAME.match(name):
                problems.append(f"points.{name}: point names are lower_case")
        for field, point in self.readings.values().items():
            if point not in self.points:
                problems.append(f"readings.{field}: no point named {point!r}")
        for path, ref in self.readings.bits().items():
            problems += self._bit_problems(f"readings.{path}", ref.point, ref.bit)
        seen: dict[str, str] = {}
        for index, word in enumerate(self.alarms):
            for bit, alarm in word.bits.items():
                path = f"alarms.{index}.bits.{bit}"
                problems += self._bit_problems(f"alarms.{index}", word.point, bit, path)
                if not _NAME.match(alarm):
                    problems.append(
                        f"{path}: alarm name {alarm!r} is not lower_case_with_underscores"
                    )
                elif alarm in seen:
                    problems.append(f"{path}: alarm {alarm!r} is already {seen[alarm]}")
                else:
                    seen[alarm] = path
        problems += self._command_problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _bit_problems(
        self, path: str, point: str, bit: int, bit_path: str | None = None
    ) -> list[str]:
        target = self.points.get(point)
        if target is None:
            return [f"{path}.point: no point named {point!r}"]
        if not target.integer:
            return [f"{path}.point: {point!r} is {target.type}; bits need an integer point"]
        width = 16 * target.type.width
        if bit >= width:
            where = bit_path or f"{path}.bit"
            return [f"{where}: bit {bit} beyond the {width} bits of {point!r}"]
        return []

    def _command_problems(self) -> list[str]:
        problems: list[str] = []
        commands = {
            "setpoint": self.commands.setpoint,
            "unit_on": self.commands.unit_on,
            "clear_alarms": self.commands.clear_alarms,
        }
        for name, command in commands.items():
            if command is None:
                continue
            point = self.points.get(command.point)
            if point is None:
                problems.append(f"commands.{name}.point: no point named {command.point!r}")
            elif point.table is not Table.HOLDING:
                problems.append(
                    f"commands.{name}.point: {command.point!r} is an input register; "
                    "only holding registers can be written"
                )
            elif name != "setpoint" and not point.integer:
                problems.append(f"commands.{name}.point: {command.point!r} must be an integer")
        setpoint = self.commands.setpoint
        if setpoint is not None and not setpoint.min_c < setpoint.max_c:
            problems.append(
                f"commands.setpoint: min_c {setpoint.min_c} is not below max_c {setpoint.max_c}"
            )
        return problems

    def reading_spans(self) -> list[RegisterSpan]:
        """Registers a reading needs: every mapped value, bit word and alarm word."""
        names = set(self.readings.values().values())
        names |= {ref.point for ref in self.readings.bits().values()}
        names |= {word.point for word in self.alarms}
        return [self.points[n].span() for n in sorted(names)]

    def setpoint_tolerance_c(self) -> float:
        """Largest read-back difference that still counts as applied."""
        setpoint = self.commands.setpoint
        if setpoint is None:
            raise ValueError(f"profile {self.name} has no setpoint command")
        if setpoint.tolerance_c is not None:
            return setpoint.tolerance_c
        point = self.points[setpoint.point]
        return abs(point.scale) / 2 + 1e-9 if point.integer else 0.01


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid CRAC profile"]
    for err in exc.errors():
        path = ".".join(str(part) for part in err["loc"])
        message = err["msg"]
        if err["type"] == "value_error":
            message = message.removeprefix("Value error, ")
            if not path:
                # Cross-reference problems carry their own key paths, one per line.
                lines.extend(f"  {line}" for line in message.splitlines())
                continue
        lines.append(f"  {path or '(top level)'}: {message}")
    return "\n".join(lines)


AnyCracProfile = CracProfile | SnmpCracProfile
"""A CRAC profile of either protocol; the driver to build follows from its type."""

PROTOCOLS: dict[str, type[CracProfile] | type[SnmpCracProfile]] = {
    "modbus": CracProfile,
    "snmp": SnmpCracProfile,
}


def parse_crac_profile(data: object, source: str) -> AnyCracProfile:
    """Validate loaded YAML data; errors name ``source`` and every bad key's path.

    The model is chosen by ``protocol`` here rather than by a pydantic
    discriminated union: a union would prefix every error path with the tag
    (``modbus.points...``) and refuse files that leave ``protocol`` out.
    """
    protocol = data.get("protocol", "modbus") if isinstance(data, dict) else "modbus"
    model = PROTOCOLS.get(protocol) if isinstance(protocol, str) else None
    if model is None:
        known = ", ".join(repr(p) for p in PROTOCOLS)
        raise ProfileError(
            f"{source}: invalid CRAC profile\n  protocol: {protocol!r} is not one of {known}"
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_errors(exc, source)) from None


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{source}: not valid YAML: {exc}") from None


def load_crac_profile_file(path: Path) -> AnyCracProfile:
    """Load and validate one profile file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    return parse_crac_profile(_load_yaml(text, str(path)), str(path))


@cache
def _builtin_profiles() -> dict[str, AnyCracProfile]:
    """Every CRAC profile shipped with walkout (both protocols), by name."""
    found: dict[str, AnyCracProfile] = {}
    folder = resources.files(PROFILE_PACKAGE).joinpath(KIND)
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = f"{KIND}/{entry.name}"
        profile = parse_crac_profile(_load_yaml(entry.read_text(encoding="utf-8"), source), source)
        if profile.name in found:
            raise ProfileError(f"{source}: profile name {profile.name!r} is used twice")
        found[profile.name] = profile
    return found


@cache
def builtin_crac_profiles() -> dict[str, CracProfile]:
    """Modbus CRAC profiles shipped with walkout, by name (SNMP ones: ``builtin_snmp_...``)."""
    return {n: p for n, p in _builtin_profiles().items() if isinstance(p, CracProfile)}


@cache
def builtin_snmp_crac_profiles() -> dict[str, SnmpCracProfile]:
    """SNMP CRAC profiles shipped with walkout, by name."""
    return {n: p for n, p in _builtin_profiles().items() if isinstance(p, SnmpCracProfile)}


def get_crac_profile(name: str, extra_dirs: tuple[Path, ...] = ()) -> AnyCracProfile:
    """A CRAC profile (Modbus or SNMP) by name, from the site's folders first, then the built-ins.

    Site folders may hold other kinds of profile too (scales, UPSes): files
    whose ``kind`` is not ``crac`` are skipped; every CRAC file met on the way
    is validated, so a broken one is reported even when another is wanted.
    """
    for folder in extra_dirs:
        for path in sorted(folder.glob("*.yaml")):
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ProfileError(f"{path}: cannot read profile: {exc}") from None
            data = _load_yaml(text, str(path))
            if not isinstance(data, dict) or data.get("kind") != KIND:
                continue
            profile = parse_crac_profile(data, str(path))
            if profile.name == name:
                return profile
    try:
        return _builtin_profiles()[name]
    except KeyError:
        known = ", ".join(sorted(builtin_crac_profiles()))
        snmp = ", ".join(sorted(builtin_snmp_crac_profiles()))
        raise ProfileError(
            f"unknown CRAC profile {name!r} (known: {known}) (known over SNMP: {snmp})"
        ) from None
