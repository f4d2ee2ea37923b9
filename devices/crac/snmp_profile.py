"""SNMP CRAC profiles: which OID feeds which ``CracReading`` field, as validated data.

A profile (``devices/profiles/crac/*.yaml`` with ``protocol: snmp``) maps each
reading field to a list of *sources*, tried in order until one gives a known
value: a scalar OID, or one column of a table row. Environmental MIBs such as
Liebert's GP MIB keep their sensors in tables whose rows are told apart by an
*identity column* (a column whose value is an OID naming the sensor: supply
air, return air ...). The row index is whatever the agent chose and differs
from unit to unit; a profile therefore names rows by their identity value,
and the driver finds the index by walking the identity column.

Booleans (unit on, humidifier, heater, compressors) come from enumerated
scalars: ``on_values``/``off_values`` say which raw values mean what (the GP
MIB's states are on(1)/off(2)); any other value reads as unknown (None).

Commands are SETs of one integer: the setpoint (scaled like a source), on and
off (each its own OID and value: the GP MIB switches a unit through two
delay objects, not one on/off object) and an alarm reset. What a profile
leaves out is not supported by the units it describes.

Errors are reported by ``devices.crac.profile`` with the file and the key
path, e.g. ``readings.supply_air_c.0.row: table 'temperature' has no row 'suply_air'``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from devices.crac.profile_model import ProfileModel
from devices.snmp.values import NUMERIC, SnmpValue, Syntax, normalize_oid

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

VALUE_FIELDS = (
    "supply_air_c",
    "return_air_c",
    "humidity_pct",
    "supply_setpoint_c",
    "return_setpoint_c",
    "fan_pct",
)
"""Numeric ``CracReading`` fields a profile can map."""


def _oid(value: str) -> str:
    try:
        return normalize_oid(str(value))
    except ValueError as exc:
        raise ValueError(str(exc)) from None


Oid = Annotated[str, AfterValidator(_oid)]


class TableSpec(ProfileModel):
    """A table whose rows are identified by the OID in ``identity_column``.

    Column ``n`` of the row with index ``i`` is ``entry.n.i``. ``rows`` names
    the rows the profile reads, by the identity value the unit gives them.
    """

    entry: Oid
    identity_column: int = Field(ge=1)
    rows: dict[str, Oid] = Field(min_length=1)
    description: str = ""

    @field_validator("rows")
    @classmethod
    def _row_names(cls, rows: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in rows if not _NAME.match(name))
        if bad:
            raise ValueError(f"row names are lower_case_with_underscores: {', '.join(bad)}")
        seen: dict[str, str] = {}
        for name, identity in rows.items():
            if identity in seen:
                raise ValueError(f"rows {seen[identity]!r} and {name!r} have the same identity")
            seen[identity] = name
        return rows

    def column(self, number: int) -> str:
        """The OID of column ``number`` (without a row index)."""
        return f"{self.entry}.{number}"

    @property
    def identity(self) -> str:
        """The OID of the identity column."""
        return self.column(self.identity_column)


class ValueSource(ProfileModel):
    """Where a number comes from: ``value = raw * scale``.

    Either ``oid`` (a scalar, with its ``.0``) or ``table`` + ``row`` +
    ``column``. ``unknown`` lists raw values that mean "no value". A value
    whose syntax is not a number (TimeTicks, a string) reads as unknown.
    """

    oid: Oid | None = None
    table: str | None = None
    row: str | None = None
    column: int | None = Field(default=None, ge=1)
    scale: float = 1.0
    unknown: tuple[int, ...] = ()
    description: str = ""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        cell = (self.table, self.row, self.column)
        if self.oid is not None and any(part is not None for part in cell):
            raise ValueError("give either 'oid' or 'table', 'row' and 'column', not both")
        if self.oid is None and any(part is None for part in cell):
            names = ("table", "row", "column")
            missing = [k for k, v in zip(names, cell, strict=True) if v is None]
            raise ValueError(
                f"a table cell needs 'table', 'row' and 'column' (missing: "
                f"{', '.join(missing)}); a scalar needs 'oid'"
            )
        if self.scale == 0:
            raise ValueError("scale must not be 0")
        return self

    def convert(self, value: SnmpValue | None) -> float | None:
        """Engineering value of a raw one, or None when it is absent or means unknown."""
        raw = number(value)
        if raw is None or raw in self.unknown:
            return None
        # 231 x 0.1 gives 23.100000000000001: keep the digits the unit sent.
        return round(raw * self.scale, 9)


class StateSpec(ProfileModel):
    """An enumerated scalar read as a boolean; other values read as unknown."""

    oid: Oid
    on_values: tuple[int, ...] = Field(default=(1,), min_length=1)
    off_values: tuple[int, ...] = Field(default=(2,), min_length=1)
    description: str = ""

    @model_validator(mode="after")
    def _disjoint(self) -> Self:
        both = sorted(set(self.on_values) & set(self.off_values))
        if both:
            raise ValueError(f"value(s) {both} are in both on_values and off_values")
        return self

    def convert(self, value: SnmpValue | None) -> bool | None:
        """True, False, or None for an absent, non-numeric or unlisted value."""
        raw = number(value)
        if raw in self.on_values:
            return True
        if raw in self.off_values:
            return False
        return None


def _as_list(value: object) -> object:
    """A single source (mapping) where a list is expected becomes a list of one."""
    return [value] if isinstance(value, dict) else value


Sources = tuple[ValueSource, ...]


class ReadingMap(ProfileModel):
    """Which sources make up a reading; a field left out reads as None.

    A numeric field is a list of sources, the first known value wins (the GP
    MIB's tenths column, then its whole-degree column). ``heater``: any stage
    on means on; ``compressors``: one entry per compressor the unit reports.
    In both, a state the agent does not have (no such object) is a stage the
    unit does not have and is left out.
    """

    supply_air_c: Sources = ()
    return_air_c: Sources = ()
    humidity_pct: Sources = ()
    supply_setpoint_c: Sources = ()
    return_setpoint_c: Sources = ()
    fan_pct: Sources = ()
    unit_on: StateSpec | None = None
    local_mode: StateSpec | None = None
    humidifier_on: StateSpec | None = None
    heater: tuple[StateSpec, ...] = ()
    compressors: tuple[StateSpec, ...] = ()

    @field_validator(*VALUE_FIELDS, mode="before")
    @classmethod
    def _single_source(cls, value: object) -> object:
        return _as_list(value)

    def values(self) -> dict[str, tuple[ValueSource, ...]]:
        """The numeric fields the profile maps, field -> sources."""
        return {name: sources for name in VALUE_FIELDS if (sources := getattr(self, name))}

    def states(self) -> dict[str, StateSpec]:
        """Every state the profile reads, by key path."""
        found: dict[str, StateSpec] = {}
        for name in ("unit_on", "local_mode", "humidifier_on"):
            spec = getattr(self, name)
            if spec is not None:
                found[name] = spec
        found |= {f"heater.{i}": spec for i, spec in enumerate(self.heater)}
        found |= {f"compressors.{i}": spec for i, spec in enumerate(self.compressors)}
        return found


class AlarmTableSpec(ProfileModel):
    """A conditions table: one row per active condition, named by an OID in ``name_column``.

    ``state_column`` (optional): rows whose state is not in ``active_values``
    are left out (some agents keep cleared conditions in the table).
    ``count``: a scalar with the number of conditions present; when it reads
    0 the table is not walked. ``names`` turns condition OIDs into alarm
    names; a condition the profile does not name is reported by its OID.
    """

    entry: Oid
    name_column: int = Field(ge=1)
    state_column: int | None = Field(default=None, ge=1)
    active_values: tuple[int, ...] = Field(default=(1,), min_length=1)
    count: Oid | None = None
    names: dict[Oid, str] = Field(default_factory=dict)

    @field_validator("names")
    @classmethod
    def _alarm_names(cls, names: dict[str, str]) -> dict[str, str]:
        bad = sorted({name for name in names.values() if not _NAME.match(name)})
        if bad:
            raise ValueError(f"alarm names are lower_case_with_underscores: {', '.join(bad)}")
        return names

    def column(self, number: int) -> str:
        """The OID of column ``number``."""
        return f"{self.entry}.{number}"


class IdentifySpec(ProfileModel):
    """OIDs that identify a unit; every one of ``detect`` must answer for the profile to apply."""

    detect: tuple[Oid, ...] = Field(min_length=1)
    manufacturer: Oid | None = None
    model: Oid | None = None
    firmware: Oid | None = None


class SetpointCommand(ValueSource):
    """The setpoint SET: its OID (or table cell) and scale, and the range walkout allows.

    ``tolerance_c``: how far the read-back may differ from what was asked
    (default: half a count, so a whole-degree object holds the nearest degree).
    """

    min_c: float
    max_c: float
    tolerance_c: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if not self.min_c < self.max_c:
            raise ValueError(f"min_c {self.min_c:g} is not below max_c {self.max_c:g}")
        return self

    @property
    def tolerance(self) -> float:
        """Largest read-back difference that still counts as applied, in °C."""
        if self.tolerance_c is not None:
            return self.tolerance_c
        return abs(self.scale) / 2 + 1e-9


class SetCommand(ProfileModel):
    """One SET of an INTEGER object."""

    oid: Oid
    value: int
    description: str = ""


class SwitchCommand(ProfileModel):
    """Unit on and off: a SET each (not ``on:``/``off:``: YAML 1.1 reads those as booleans)."""

    switch_on: SetCommand
    switch_off: SetCommand


class Commands(ProfileModel):
    """Commands the units take; ``verify_timeout_s`` is how long a read-back may take."""

    setpoint: SetpointCommand | None = None
    unit_on: SwitchCommand | None = None
    clear_alarms: SetCommand | None = None
    verify_timeout_s: float = Field(default=5.0, gt=0, le=60)


class SnmpCracProfile(ProfileModel):
    """The OID map of one precision air conditioner MIB (or MIB family)."""

    name: str = Field(pattern=_NAME.pattern)
    kind: Literal["crac"]
    protocol: Literal["snmp"]
    manufacturer: str = ""
    model: str = ""
    mib: str = ""
    description: str = ""
    identify: IdentifySpec
    tables: dict[str, TableSpec] = Field(default_factory=dict)
    readings: ReadingMap
    alarms: AlarmTableSpec | None = None
    commands: Commands = Commands()

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        problems: list[str] = []
        for name in self.tables:
            if not _NAME.match(name):
                problems.append(f"tables.{name}: table names are lower_case_with_underscores")
        for field, sources in self.readings.values().items():
            for n, source in enumerate(sources):
                problems += self._source_problems(f"readings.{field}.{n}", source)
        setpoint = self.commands.setpoint
        if setpoint is not None:
            problems += self._source_problems("commands.setpoint", setpoint)
        if self.commands.unit_on is not None and self.readings.unit_on is None:
            problems.append(
                "commands.unit_on: needs readings.unit_on (the switch is verified by reading it)"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def used_rows(self) -> frozenset[tuple[str, str]]:
        """(table, row) of every row a reading or the setpoint command reads."""
        sources = [s for group in self.readings.values().values() for s in group]
        if self.commands.setpoint is not None:
            sources.append(self.commands.setpoint)
        return frozenset(
            (s.table, s.row) for s in sources if s.table is not None and s.row is not None
        )

    def _source_problems(self, path: str, source: ValueSource) -> list[str]:
        if source.table is None:
            return []
        table = self.tables.get(source.table)
        if table is None:
            known = ", ".join(sorted(self.tables)) or "none"
            return [f"{path}.table: no table named {source.table!r} (known: {known})"]
        if source.row not in table.rows:
            known = ", ".join(sorted(table.rows))
            return [
                f"{path}.row: table {source.table!r} has no row {source.row!r} (known: {known})"
            ]
        if source.column == table.identity_column:
            return [f"{path}.column: column {source.column} is the identity column, not a value"]
        return []


def number(value: SnmpValue | None) -> int | None:
    """The integer content of an INTEGER/Gauge32/Counter value; None for anything else.

    TimeTicks is refused on purpose: a unit that sends TimeTicks where the
    MIB says INTEGER is not sending what the profile thinks it is.
    """
    if value is None or value.syntax not in NUMERIC or value.syntax is Syntax.TIMETICKS:
        return None
    return value.number
