"""A real upsd with dummy-ups drivers, shared by the module that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .nutserver import DevFile, NutServer, NutUser, UpsSection, nut_missing

# What the .dev files hold; tests compare against these literals.
UPS1 = {
    "ups.status": "OL",
    "battery.charge": "87.5",
    "battery.runtime": "1520",
    "battery.voltage": "27.1",
    "input.voltage": "229.4",
    "input.frequency": "49.98",
    "output.voltage": "230.0",
    "output.current": "1.7",
    "ups.load": "23",
    "ups.realpower": "380",
    "ups.id": 'rack "A" \\ left',
    "ups.serial": "AS1234 5678",
}
THREE_PHASE = {
    "ups.status": "OL BYPASS",
    "input.phases": "3",
    "input.frequency": "50.02",
    "input.L1-N.voltage": "231.0",
    "input.L2-N.voltage": "198.5",
    "input.L3-N.voltage": "229.0",
    "input.L1.current": "10.5",
    "output.L1.power.percent": "41",
    "output.L2.power.percent": "67",
    "output.L3.power.percent": "12",
    "ups.load": "40",
}
TRANSFER_OL = {
    "ups.status": "OL",
    "battery.charge": "100",
    "battery.runtime": "2400",
    "input.voltage": "231.0",
    "ups.alarm": "",
}
USER = NutUser("walkout", 'pa ss"wo\\rd')
NO_LOGIN_USER = NutUser("viewer", "viewerpass", upsmon=None)
MAXAGE_S = 4


@pytest.fixture(scope="module")
def nut_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = nut_missing()
    if reason:
        pytest.skip(reason)
    return tmp_path_factory.mktemp("nut")


@pytest.fixture(scope="module")
def devs(nut_workdir: Path) -> dict[str, DevFile]:
    """The .dev file of each dummy UPS; a test that rewrites one restores it."""
    files = {
        "ups1": UPS1,
        "three": THREE_PHASE,
        "transfer": TRANSFER_OL,
        "frozen": {"ups.status": "OL"},
        "gone": {"ups.status": "OL"},
    }
    return {name: DevFile(nut_workdir / f"{name}.dev", values) for name, values in files.items()}


@pytest.fixture(scope="module")
def nut(nut_workdir: Path, devs: dict[str, DevFile]) -> Iterator[NutServer]:
    sections = [
        UpsSection(
            name,
            "dummy-ups",
            {"port": str(dev.path), "desc": f"{name} test unit", "pollinterval": "1"},
        )
        for name, dev in devs.items()
    ]
    with NutServer(nut_workdir, sections, users=[USER, NO_LOGIN_USER], maxage_s=MAXAGE_S) as server:
        yield server
