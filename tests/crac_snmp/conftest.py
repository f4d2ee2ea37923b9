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
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import snmpsim_data
from ups_snmp.conftest import _answers, free_udp_port
from ups_snmp.snmprec import Record, community_of, read_snmprec, write_snmprec

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

RECORDING = Path(snmpsim_data.__file__).parent / "data" / "UPS" / "vertiv-power.snmprec.bz2"
REAL = community_of(RECORDING)
RESPONDER = Path(sys.executable).parent / "snmpsim-command-responder"
START_DEADLINE_S = 60.0


def _with(records: dict[str, Record], changes: dict[str, str | None]) -> dict[str, Record]:
    """A copy with ``oid: "tag|value"`` set (None removes the object)."""
    out = dict(records)
    for oid, line in changes.items():
        if line is None:
            out.pop(oid, None)
        else:
            tag, value = line.split("|", 1)
            out[oid] = Record(tag, value)
    return out


def _writable(records: dict[str, Record]) -> dict[str, Record]:
    setting = records[SETTING].value
    return _with(
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
    return _with(
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
    return _with(
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
    return _with(
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
        for suffix in (".snmprec", ".snmprec.bz2"):
            path = self.data_dir / f"{community}{suffix}"
            if path.exists():
                return read_snmprec(path)
        raise KeyError(community)

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


@contextmanager
def serve_recordings(data: Path, cache: Path, probe_community: str) -> Iterator[int]:
    """Run snmpsim-command-responder on ``data`` at a free loopback port until the block ends.

    The UPS tests start theirs inline (tests/ups_snmp/conftest.py); this is the
    same launch as a reusable function.
    """
    port = free_udp_port()
    log_path = cache / "snmpsim.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                str(RESPONDER),
                f"--data-dir={data}",
                f"--cache-dir={cache}",
                f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
        )
        try:
            deadline = time.monotonic() + START_DEADLINE_S
            while not _answers(port, probe_community):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"snmpsim did not answer on 127.0.0.1:{port}:\n"
                        + log_path.read_text(errors="replace")[-3000:]
                    )
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="package")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    root = tmp_path_factory.mktemp("snmpsim-crac")
    data, cache = root / "data", root / "cache"
    data.mkdir()
    cache.mkdir()
    shutil.copy(RECORDING, data / RECORDING.name)
    original = read_snmprec(RECORDING)
    for name, variant in VARIANTS.items():
        write_snmprec(
            data / f"{name}.snmprec",
            variant.make(original),
            header=f"Hand-made copy of {RECORDING.name} for walkout's tests: {variant.why}",
        )
    with serve_recordings(data, cache, REAL) as port:
        yield Agent("127.0.0.1", port, data)
