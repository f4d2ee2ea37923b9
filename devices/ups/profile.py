"""UPS SNMP profiles: which OID feeds which ``UpsReading`` field, as validated data.

A profile (``devices/profiles/ups/*.yaml``) maps every reading field to a
scalar OID or to a table column, with the raw value's syntax, scale and the
raw values that mean "unknown". Table columns are walked and rows are keyed
by the indices the agent returns, never assumed to be 1..n.

Real units deviate from their MIB. Those deviations are data too: a
profile's ``quirks`` match a unit by sysObjectID, sysDescr or its
identification strings and override the scale or the "unknown" values of
single fields. Quirks are applied once, at connect, producing a
``ResolvedProfile`` that the driver polls with.

Every value read follows the same rules (``NumericSpec.convert``): a raw
value with the wrong SMI syntax (TimeTicks where the MIB says INTEGER), one
listed in ``unknown``, or one outside ``min``/``max`` (the MIB's range:
RFC 1628's ``NonNegativeInteger`` makes -1 unknown) becomes ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.errors import ProfileError
from devices.snmp.values import NUMERIC, SnmpValue, Syntax, normalize_oid
from devices.ups.state import BatteryStatus, UpsStatus

PROFILE_PACKAGE = "devices.profiles"
PROFILE_FOLDER = "ups"


def _oid(value: str) -> str:
    try:
        return normalize_oid(str(value))
    except ValueError as exc:
        raise ValueError(str(exc)) from None


Oid = Annotated[str, AfterValidator(_oid)]

ValueName = Literal[
    "seconds_on_battery",
    "runtime_s",
    "charge_pct",
    "battery_voltage_v",
    "battery_temperature_c",
    "input_line_bads",
    "output_power_w",
    "load_pct",
]
InputColumn = Literal["voltage_v", "frequency_hz", "current_a"]
OutputColumn = Literal["voltage_v", "current_a", "power_w", "load_pct"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericSpec(_Strict):
    """One numeric value: a scalar OID, or a table column OID (rows are walked).

    ``syntax`` is what the MIB declares: ``number`` accepts INTEGER, Gauge32,
    Counter32/64 (agents mix them up harmlessly); ``timeticks`` accepts only
    TimeTicks (hundredths of a second: give ``scale: 0.01`` for seconds).
    """

    oid: Oid
    syntax: Literal["number", "timeticks"] = "number"
    scale: float = 1.0
    unknown: tuple[int, ...] = ()
    min: int | None = None
    max: int | None = None
    unsupported: bool = False
    fallback: NumericSpec | None = None
    description: str = ""

    def accepts(self, value: SnmpValue) -> bool:
        """Whether the value's syntax is the one the MIB declares for this object."""
        if self.syntax == "timeticks":
            return value.syntax is Syntax.TIMETICKS
        return value.syntax in NUMERIC and value.syntax is not Syntax.TIMETICKS

    def convert(self, value: SnmpValue | None) -> float | None:
        """Engineering value of a raw one, or None when it is absent or means unknown."""
        if value is None or self.unsupported or not self.accepts(value):
            return None
        raw = value.number
        if raw is None or raw in self.unknown:
            return None
        if (self.min is not None and raw < self.min) or (self.max is not None and raw > self.max):
            return None
        return round(raw * self.scale, 9)

    def with_override(self, override: Override) -> NumericSpec:
        """A copy of the spec with a quirk's changes applied."""
        update: dict[str, object] = {}
        if override.scale is not None:
            update["scale"] = override.scale
        if override.unknown:
            update["unknown"] = tuple(dict.fromkeys((*self.unknown, *override.unknown)))
        if override.min is not None:
            update["min"] = override.min
        if override.max is not None:
            update["max"] = override.max
        if override.unsupported:
            update["unsupported"] = True
        return self.model_copy(update=update)


class Lines(_Strict):
    """Per-phase lines: walked ``columns`` of a table, or ``scalars`` for a one-line unit.

    ``count`` is the scalar saying how many lines the unit has
    (upsInputNumLines): a unit that pads its table with rows beyond it
    (all zeros) has those rows dropped.
    """

    count: Oid | None = None
    columns: dict[str, NumericSpec] = Field(default_factory=dict)
    scalars: dict[str, NumericSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if bool(self.columns) == bool(self.scalars):
            raise ValueError("give either 'columns' (a table) or 'scalars' (one line), not both")
        return self

    @property
    def specs(self) -> dict[str, NumericSpec]:
        """The specs by field name, whichever kind."""
        return self.columns or self.scalars


class SourceSpec(_Strict):
    """The OID that says where the output power comes from, and its enum values."""

    oid: Oid
    map: dict[int, UpsStatus]


class BatteryStatusSpec(_Strict):
    """The battery status OID and its enum values."""

    oid: Oid
    map: dict[int, BatteryStatus]


class StatusSpec(_Strict):
    """How the one ``UpsStatus`` is folded from the source, battery status and alarms."""

    source: SourceSpec
    low_battery: tuple[BatteryStatus, ...] = (BatteryStatus.LOW, BatteryStatus.DEPLETED)
    fault_alarms: tuple[str, ...] = ()


class ValueAlarm(_Strict):
    """An alarm that is on while a scalar has one of some values (units without an alarm table)."""

    oid: Oid
    equals: tuple[int, ...] = Field(min_length=1)
    name: str


class AlarmSpec(_Strict):
    """The alarm table's description column (values are alarm OIDs) and their names."""

    table: Oid | None = None
    names: dict[Oid, str] = Field(default_factory=dict)
    from_values: tuple[ValueAlarm, ...] = ()


class IdentifySpec(_Strict):
    """OIDs that identify a unit; ``detect`` must all be present for the profile to apply."""

    detect: tuple[Oid, ...] = Field(min_length=1)
    manufacturer: Oid | None = None
    model: Oid | None = None
    firmware: Oid | None = None


class SelfTestSpec(_Strict):
    """A battery self-test started by one SET, optionally under a TestAndIncr spin lock."""

    oid: Oid
    value_oid: Oid | None = None
    value_int: int | None = None
    spin_lock: Oid | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_value(self) -> Self:
        if (self.value_oid is None) == (self.value_int is None):
            raise ValueError("give exactly one of 'value_oid' and 'value_int'")
        return self

    @property
    def value(self) -> SnmpValue:
        """What to SET."""
        if self.value_oid is not None:
            return SnmpValue.oid(self.value_oid)
        assert self.value_int is not None
        return SnmpValue.integer(self.value_int)


class Override(_Strict):
    """A quirk's change to one field: a different scale, more unknown values, a range."""

    scale: float | None = None
    unknown: tuple[int, ...] = ()
    min: int | None = None
    max: int | None = None
    unsupported: bool = False


class QuirkMatch(_Strict):
    """Which units a quirk is for; every given key must match.

    ``sys_object_id`` matches that OID or anything under it; the others are
    regular expressions searched in sysDescr and the UPS's identification.
    """

    sys_object_id: Oid | None = None
    sys_descr: str | None = None
    manufacturer: str | None = None
    model: str | None = None

    @field_validator("sys_descr", "manufacturer", "model")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not any((self.sys_object_id, self.sys_descr, self.manufacturer, self.model)):
            raise ValueError("a quirk must match on at least one key")
        return self

    def matches(self, identity: UpsIdentity) -> bool:
        """Whether this unit is the one the quirk describes."""
        if self.sys_object_id is not None:
            oid = identity.sys_object_id
            if not (oid == self.sys_object_id or oid.startswith(self.sys_object_id + ".")):
                return False
        for pattern, text in (
            (self.sys_descr, identity.sys_descr),
            (self.manufacturer, identity.manufacturer),
            (self.model, identity.model),
        ):
            if pattern is not None and not re.search(pattern, text):
                return False
        return True


class Quirk(_Strict):
    """One unit's deviations from the MIB, found in a recording or in the field."""

    name: str
    match: QuirkMatch
    description: str = ""
    values: dict[ValueName, Override] = Field(default_factory=dict)
    input: dict[InputColumn, Override] = Field(default_factory=dict)
    output: dict[OutputColumn, Override] = Field(default_factory=dict)


class UpsIdentity(_Strict):
    """What a unit says about itself (strings stripped of the padding some units add)."""

    sys_object_id: str = ""
    sys_descr: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""


class UpsProfile(_Strict):
    """The OID map of one UPS MIB."""

    name: str
    kind: Literal["ups"]
    mib: str
    via: str
    priority: int = 0
    description: str = ""
    identify: IdentifySpec
    battery_status: BatteryStatusSpec | None = None
    status: StatusSpec
    values: dict[ValueName, NumericSpec] = Field(default_factory=dict)
    input: Lines | None = None
    output: Lines | None = None
    alarms: AlarmSpec = AlarmSpec()
    traps: dict[Oid, str] = Field(default_factory=dict)
    self_test: SelfTestSpec | None = None
    quirks: tuple[Quirk, ...] = ()

    @model_validator(mode="after")
    def _check_fields(self) -> Self:
        allowed: dict[str, tuple[str, ...]] = {
            "input": InputColumn.__args__,  # type: ignore[attr-defined]
            "output": OutputColumn.__args__,  # type: ignore[attr-defined]
        }
        for table in ("input", "output"):
            lines: Lines | None = getattr(self, table)
            if lines is None:
                continue
            kind = "columns" if lines.columns else "scalars"
            for name in lines.specs:
                if name not in allowed[table]:
                    raise ValueError(
                        f"{table}.{kind}.{name}: not a {table} line field "
                        f"(one of {', '.join(allowed[table])})"
                    )
        for n, quirk in enumerate(self.quirks):
            for name in quirk.values:
                if name not in self.values:
                    raise ValueError(f"quirks.{n}.values.{name}: the profile maps no {name}")
            for table in ("input", "output"):
                lines = getattr(self, table)
                for name in getattr(quirk, table):
                    if lines is None or name not in lines.specs:
                        raise ValueError(
                            f"quirks.{n}.{table}.{name}: the profile maps no {table} {name}"
                        )
        for alarm in self.status.fault_alarms:
            known = set(self.alarms.names.values()) | {a.name for a in self.alarms.from_values}
            if alarm not in known:
                raise ValueError(f"status.fault_alarms: {alarm!r} is not an alarm name")
        return self

    def quirks_for(self, identity: UpsIdentity) -> tuple[Quirk, ...]:
        """The quirks that apply to this unit, in file order."""
        return tuple(q for q in self.quirks if q.match.matches(identity))

    def resolve(self, identity: UpsIdentity) -> ResolvedProfile:
        """The profile with the quirks matching ``identity`` applied (later quirks win)."""
        quirks = self.quirks_for(identity)
        values = dict(self.values)
        tables = {"input": self.input, "output": self.output}
        for quirk in quirks:
            for name, override in quirk.values.items():
                values[name] = values[name].with_override(override)
            for table in ("input", "output"):
                lines = tables[table]
                changes: Mapping[str, Override] = getattr(quirk, table)
                if lines is None or not changes:
                    continue
                specs = {
                    k: (v.with_override(changes[k]) if k in changes else v)
                    for k, v in lines.specs.items()
                }
                kind = "columns" if lines.columns else "scalars"
                tables[table] = lines.model_copy(update={kind: specs})
        return ResolvedProfile(
            profile=self,
            identity=identity,
            quirks=tuple(q.name for q in quirks),
            values=values,
            input=tables["input"],
            output=tables["output"],
        )

    def trap_name(self, trap_oid: str) -> str | None:
        """Name of a notification of this MIB, in its v2 form or its v1-converted form.

        An SMIv2 notification ``prefix.N`` sent as an SNMPv1 trap comes back
        from the RFC 3584 conversion as ``prefix.0.N``; both name the same trap.
        """
        name = self.traps.get(trap_oid)
        if name is not None:
            return name
        parts = trap_oid.split(".")
        if len(parts) > 2 and parts[-2] == "0":
            return self.traps.get(".".join(parts[:-2] + parts[-1:]))
        return None


class ResolvedProfile(_Strict):
    """A profile with one unit's quirks applied: what the driver polls with."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    profile: UpsProfile
    identity: UpsIdentity
    quirks: tuple[str, ...]
    values: dict[ValueName, NumericSpec]
    input: Lines | None
    output: Lines | None


def parse_ups_profile(data: object, source: str) -> UpsProfile:
    """Validate loaded YAML data; errors name ``source`` and the key path."""
    try:
        return UpsProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError.from_validation(exc, source, "UPS profile") from None


def load_ups_profile_file(path: Path) -> UpsProfile:
    """Load and validate one profile file (a site's own profile)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read UPS profile: {exc}") from None
    return parse_ups_profile(data, str(path))


@cache
def builtin_ups_profiles() -> dict[str, UpsProfile]:
    """The UPS profiles shipped with walkout, by name."""
    folder = resources.files(PROFILE_PACKAGE).joinpath(PROFILE_FOLDER)
    found: dict[str, UpsProfile] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        source = f"{PROFILE_FOLDER}/{entry.name}"
        try:
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ProfileError(f"{source}: cannot read UPS profile: {exc}") from None
        profile = parse_ups_profile(data, source)
        if profile.name in found:
            raise ProfileError(f"{source}: a UPS profile named {profile.name!r} exists already")
        found[profile.name] = profile
    return found


def get_ups_profile(name: str, extra_dirs: tuple[Path, ...] = ()) -> UpsProfile:
    """A UPS profile by name, from the site's own folders first, then the built-ins."""
    for folder in extra_dirs:
        for path in sorted(folder.glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ProfileError(f"{path}: cannot read profile: {exc}") from None
            if not isinstance(data, dict) or data.get("kind") != "ups":
                continue  # a site folder also holds other kinds of profiles
            profile = parse_ups_profile(data, str(path))
            if profile.name == name:
                return profile
    try:
        return builtin_ups_profiles()[name]
    except KeyError:
        known = ", ".join(sorted(builtin_ups_profiles()))
        raise ProfileError(f"unknown UPS profile {name!r} (known: {known})") from None
