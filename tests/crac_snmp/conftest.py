"""snmpsim serving the real Liebert PEX recording of snmpsim-data, and edited copies of it.

One snmpsim-command-responder per test package run, on a free loopback UDP
port. The community of a data file is its name without ``.snmprec[.bz2]``:

- ``vertiv-power``: the recording as shipped (snmpsim-data, data/UPS/): a
  Liebert PEX behind an IntelliSlot Web Card. Its temperature rows are out of
  registration order and miss columns (see test_recording.py);
- the copies in ``VARIANTS`` are hand-made edits of it, each written with a
  header saying so and why.

snmpsim's writecache keeps one cached value per OID for the whole responder,
not per data file: two copies with a writecache entry at the same OID see
each other's SETs. Tests that read such an OID compare with what the agent
answers now (``snmpget``), never with the value in the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers.snmprec import (
    UPS_RECORDINGS,
    Record,
    community_of,
    copy_recording,
    read_community,
    read_snmprec,
    with_changes,
    write_snmprec,
)
from peers.snmpsim import Snmpsim

from devices.snmp import SnmpTarget

from .expected import (
    COND,
    CONDITIONS_PRESENT,
    EVENT_RESET,
    HUM,
    HUM_ID,
    LGP,
    SETTING,
    SHUTDOWN,
    STARTUP,
    STATE,
    TEMP,
    TEMP_ID,
)

RECORDING = UPS_RECORDINGS / "vertiv-power.snmprec.bz2"
REAL = community_of(RECORDING)


def _writable(records: dict[str, Record]) -> dict[str, Record]:
    setting = records[SETTING].value
    return with_changes(
        records,
        {
            # The unit's own setpoint range is 16..27 °C: outside it answers wrongValue.
            SETTING: f"2:writecache|value={setting},vlist=lt:16:wrongvalue:gt:27:wrongvalue",
            SHUTDOWN: "2:writecache|value=-1",
            STARTUP: "2:writecache|value=-1",
            EVENT_RESET: "2:writecache|value=1",
        },
    )


def _read_only(records: dict[str, Record]) -> dict[str, Record]:
    refuse = "status=notwritable,op=set"
    return with_changes(
        records,
        {
            SETTING: f"2:writecache|value={records[SETTING].value},{refuse}",
            SHUTDOWN: f"2:writecache|value=-1,{refuse}",
            STARTUP: f"2:writecache|value=-1,{refuse}",
        },
    )


def _reordered(records: dict[str, Record]) -> dict[str, Record]:
    """New sensor rows at other indices, with the tenths columns a newer card adds."""
    out = {o: r for o, r in records.items() if not o.startswith((TEMP, HUM, COND))}
    rows = {
        # index: (identity, {column: value})
        9: (TEMP_ID + "1", {3: 24, 50: 243}),  # control
        4: (TEMP_ID + "2", {3: 24, 50: 236, 6: 23, 53: 225}),  # return air
        7: (TEMP_ID + "3", {3: 14, 50: 142}),  # supply air: no setpoint columns
        1: (TEMP_ID + "11.1", {3: 30}),  # digital scroll compressor 1
    }
    for index, (identity, columns) in rows.items():
        out[f"{TEMP}1.{index}"] = Record("66", str(index))
        out[f"{TEMP}2.{index}"] = Record("6", identity)
        out |= {f"{TEMP}{c}.{index}": Record("2", str(v)) for c, v in columns.items()}
    for index, identity, whole, tenths in ((5, HUM_ID + "2", 42, 418), (3, HUM_ID + "1", 40, None)):
        out[f"{HUM}1.{index}"] = Record("66", str(index))
        out[f"{HUM}2.{index}"] = Record("6", identity)
        out[f"{HUM}3.{index}"] = Record("2", str(whole))
        if tenths is not None:
            out[f"{HUM}50.{index}"] = Record("2", str(tenths))
    conditions = {  # id: (condition OID, lgpConditionCurrentState)
        12: (LGP + "3.2.1.1", 1),  # lgpConditionHighTemperature, active
        4: (LGP + "3.2.1.5423", 1),  # lgpConditionTooManySensors: not named by the profile
        30: (LGP + "3.2.1.4", 2),  # lgpConditionLowHumidity, inactive (kept by the card)
    }
    for cid, (descr, state) in conditions.items():
        out[f"{COND}1.{cid}"] = Record("66", str(cid))
        out[f"{COND}2.{cid}"] = Record("6", descr)
        out[f"{COND}3.{cid}"] = Record("67", str(1000 * cid))
        out[f"{COND}12.{cid}"] = Record("2", str(state))
    return with_changes(
        out,
        {
            CONDITIONS_PRESENT: f"66|{len(conditions)}",
            STATE + "1.0": "2|3",  # system standby
            STATE + "2.0": "2|1",  # cooling on
            STATE + "4.0": "2|0",  # humidifying: a value the MIB does not define
            STATE + "16.0": "66|32768",  # fan capacity: the card's "not available"
            STATE + "21.0": "2|1",  # electric heater on
            STATE + "22.0": None,  # no hot-water reheat
        },
    )


def _renumbered(records: dict[str, Record]) -> dict[str, Record]:
    """The temperature identity column writable, so a test can renumber rows at run time."""
    prefix = TEMP + "2."
    return with_changes(
        records,
        {o: f"6:writecache|value={r.value}" for o, r in records.items() if o.startswith(prefix)},
    )


def _not_environmental(records: dict[str, Record]) -> dict[str, Record]:
    return {o: r for o, r in records.items() if not o.startswith(LGP + "3.4.")}


@dataclass(frozen=True)
class Variant:
    make: Callable[[dict[str, Record]], dict[str, Record]]
    why: str


VARIANTS = {
    "liebert-writable": Variant(
        _writable,
        "setpoint, start/stop delays and event reset writable (snmpsim writecache); "
        "setpoints outside 16..27 °C answer wrongValue",
    ),
    "liebert-readonly": Variant(
        _read_only, "setpoint and start/stop delays answer SET with notWritable"
    ),
    "liebert-reordered": Variant(
        _reordered,
        "sensor rows moved to other indices with tenths columns; system standby, cooling "
        "and electric heater on, humidifying 0, fan capacity 32768; three conditions, "
        "one of them inactive",
    ),
    "liebert-renumbered": Variant(
        _renumbered, "lgpEnvTemperatureDescrDegC writable (writecache) to move rows"
    ),
    "liebert-not-environmental": Variant(
        _not_environmental, "everything under lgpEnvironmental (476.1.42.3.4) removed"
    ),
}


@dataclass(frozen=True)
class Agent:
    host: str
    port: int
    data_dir: Path

    def target(self, timeout_s: float = 1.0, retries: int = 1) -> SnmpTarget:
        return SnmpTarget(self.host, self.port, timeout_s=timeout_s, retries=retries)

    def records(self, community: str) -> dict[str, Record]:
        return read_community(self.data_dir, community)

    async def net_snmp(self, tool: str, community: str, *args: str, version: str = "2c") -> str:
        """Run net-snmp's ``snmpget``/``snmpset`` against the agent: an independent peer."""
        proc = await asyncio.create_subprocess_exec(
            tool,
            f"-v{version}",
            "-c",
            community,
            "-On",
            "-Oqv",
            "-t",
            "1",
            "-r",
            "1",
            f"{self.host}:{self.port}",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode(errors="replace")
        return out.decode().strip()


@pytest.fixture(scope="package")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    data = tmp_path_factory.mktemp("snmpsim-crac") / "data"
    data.mkdir()
    copy_recording(RECORDING, data)
    original = read_snmprec(RECORDING)
    for name, variant in VARIANTS.items():
        write_snmprec(
            data / f"{name}.snmprec",
            variant.make(original),
            header=f"Hand-made copy of {RECORDING.name} for walkout's tests: {variant.why}",
        )
    with Snmpsim(data, REAL) as snmpsim:
        yield Agent(snmpsim.host, snmpsim.port, data)
