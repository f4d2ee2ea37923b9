"""Register dumps of real units, redacted, that the simulator can serve back.

A bad frame or odd value seen in the field becomes a fixture, and a fixture
becomes a regression test: the simulator loads it and the driver reads it
through the same code as in the store.
"""

from __future__ import annotations

from typing import Any

from devices.modbus.registers import RegisterImage, Table
from devices.profiles import ScaleProfile

FIXTURE_FORMAT = "walkout-modbus-fixture/1"


def make_fixture(profile: ScaleProfile, unit_id: int, image: RegisterImage) -> dict[str, Any]:
    """The fixture document for a dumped unit; redacted points are zeroed."""
    tables = image.as_tables()
    redacted: list[str] = []
    for name, point in profile.points.items():
        if not point.redact:
            continue
        redacted.append(name)
        span = point.span()
        for address in range(span.address, span.end):
            if address in tables.get(span.table.value, {}):
                tables[span.table.value][address] = 0
    return {
        "format": FIXTURE_FORMAT,
        "profile": profile.name,
        "unit_id": unit_id,
        "redacted": sorted(redacted),
        "tables": {
            table.value: {str(a): v for a, v in sorted(tables.get(table.value, {}).items())}
            for table in Table
            if table.value in tables
        },
    }
