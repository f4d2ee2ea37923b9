"""A unit that serves a static register image dumped from a real device.

``walkout dump`` writes such fixtures (format ``walkout-modbus-fixture/1``):
register values as uint16 ints keyed by decimal address strings, per table.
Serving them lets the driver be tested against what a real unit answered,
quirks included, without the simulator having to model that unit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim_devices.modbus_pdu import ExceptionCode, ModbusError, Table

FIXTURE_FORMAT = "walkout-modbus-fixture/1"


class FixtureError(ValueError):
    """A fixture file that cannot be served; the message names file and key."""


@dataclass(frozen=True)
class Fixture:
    """Parsed content of a fixture file."""

    profile: str
    unit_id: int
    holding: dict[int, int]
    input: dict[int, int]
    redacted: tuple[str, ...] = ()
    source: str = ""


def _table(raw: Any, where: str) -> dict[int, int]:
    if not isinstance(raw, Mapping):
        raise FixtureError(f"{where}: expected an object of address -> value")
    table: dict[int, int] = {}
    for key, value in raw.items():
        try:
            address = int(key, 10)
        except (TypeError, ValueError):
            raise FixtureError(f"{where}: address {key!r} is not a decimal string") from None
        if not 0 <= address <= 0xFFFF:
            raise FixtureError(f"{where}: address {address} outside 0..65535")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
            raise FixtureError(f"{where}[{key}]: {value!r} is not a uint16")
        table[address] = value
    return table


def parse_fixture(data: Any, source: str = "<fixture>") -> Fixture:
    """Validate a decoded fixture document."""
    if not isinstance(data, Mapping):
        raise FixtureError(f"{source}: expected a JSON object")
    if data.get("format") != FIXTURE_FORMAT:
        raise FixtureError(
            f"{source}: format must be {FIXTURE_FORMAT!r}, got {data.get('format')!r}"
        )
    tables = data.get("tables")
    if not isinstance(tables, Mapping):
        raise FixtureError(f"{source}: 'tables' must be an object")
    unknown = set(tables) - {"holding", "input"}
    if unknown:
        raise FixtureError(f"{source}: tables: unknown table(s) {sorted(unknown)}")
    unit_id = data.get("unit_id", 1)
    if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 0 <= unit_id <= 247:
        raise FixtureError(f"{source}: unit_id {unit_id!r} is not 0..247")
    redacted = data.get("redacted", [])
    if not isinstance(redacted, list) or not all(isinstance(r, str) for r in redacted):
        raise FixtureError(f"{source}: 'redacted' must be a list of strings")
    return Fixture(
        profile=str(data.get("profile", "")),
        unit_id=unit_id,
        holding=_table(tables.get("holding", {}), f"{source}: tables.holding"),
        input=_table(tables.get("input", {}), f"{source}: tables.input"),
        redacted=tuple(redacted),
        source=source,
    )


def load_fixture(path: str | Path) -> Fixture:
    """Read and validate a fixture file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FixtureError(f"{path}: {exc}") from None
    return parse_fixture(data, str(path))


@dataclass
class FixtureUnit:
    """Serves a fixture's image; writes to defined holding registers are stored.

    Addresses the dump did not contain answer exception 2: the dump is all
    we know, and inventing zeros would hide a driver reading the wrong place.
    """

    fixture: Fixture
    holding: dict[int, int] = field(init=False)
    input: dict[int, int] = field(init=False)
    model: str = field(init=False, default="fixture")

    def __post_init__(self) -> None:
        self.holding = dict(self.fixture.holding)
        self.input = dict(self.fixture.input)

    def read_registers(self, table: Table, address: int, count: int) -> list[int]:
        """Stored values, or exception 2 if any address was not in the dump."""
        image = self.holding if table is Table.HOLDING else self.input
        try:
            return [image[a] for a in range(address, address + count)]
        except KeyError:
            raise ModbusError(
                ExceptionCode.ILLEGAL_DATA_ADDRESS, f"{table} {address}+{count} not in fixture"
            ) from None

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        """Store values at addresses the dump defined; others exception 2."""
        addresses = range(address, address + len(values))
        if any(a not in self.holding for a in addresses):
            raise ModbusError(
                ExceptionCode.ILLEGAL_DATA_ADDRESS,
                f"holding {address}+{len(values)} not in fixture",
            )
        self.holding.update(zip(addresses, values, strict=True))
