"""Reading and writing snmpsim ``.snmprec`` recordings, independently of the driver.

A recording is one ``OID|TAG|VALUE`` line per object (``#`` lines are
comments); ``TAG`` is the BER type number with an optional ``x`` (value in
hex) and an optional ``:variation``. The tests compute what the driver must
report from these lines and the MIB's documented units, so nothing here
imports the code under test.

Files are read and written as ISO-8859-1, as snmpsim itself reads them: every
byte of a recording survives a read and a write unchanged.
"""

from __future__ import annotations

import bz2
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import snmpsim_data

UPS_RECORDINGS = Path(snmpsim_data.__file__).parent / "data" / "UPS"
"""snmpsim-data's recordings of real UPS, PDU and cooling network cards."""
ENCODING = "iso-8859-1"

INTEGER, OCTET_STRING, OID, IP_ADDRESS = "2", "4", "6", "64"
COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = "65", "66", "67", "70"
NUMBER_TAGS = frozenset({INTEGER, COUNTER32, GAUGE32, COUNTER64})
"""What an INTEGER-like MIB object may come as; TimeTicks is not one of them."""


class Record(NamedTuple):
    """One object: compares equal to the plain ``(tag, value)`` tuple."""

    tag: str  # "2", "4x", "6", "2:writecache" ...
    value: str

    @property
    def base_tag(self) -> str:
        return self.tag.split(":", 1)[0].rstrip("x")

    @property
    def number(self) -> int | None:
        """The integer if the type is numeric (TimeTicks included), else None."""
        if self.base_tag in NUMBER_TAGS | {TIMETICKS} and ":" not in self.tag:
            return int(self.value)
        return None

    @property
    def octets(self) -> bytes:
        """The bytes snmpsim sends for the value: hex decoded, or the text as read."""
        if self.tag.split(":", 1)[0].endswith("x"):
            return bytes.fromhex(self.value)
        return self.value.encode(ENCODING)

    @property
    def text(self) -> str:
        """The value as UTF-8 text, undecodable bytes replaced."""
        return self.octets.decode("utf-8", errors="replace")


def oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


def community_of(path: Path) -> str:
    """snmpsim's community (and v3 context) for a data file: its name without .snmprec[.bz2]."""
    name = path.name
    for suffix in (".bz2", ".snmprec"):
        name = name.removesuffix(suffix)
    return name


def copy_recording(source: Path, data_dir: Path) -> str:
    """Copy a recording into snmpsim's data directory; its community."""
    shutil.copy(source, data_dir / source.name)
    return community_of(source)


def _lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if path.name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    return raw.decode(ENCODING).splitlines()


def read_snmprec(path: Path) -> dict[str, Record]:
    """Records by OID, from a ``.snmprec`` or ``.snmprec.bz2`` file."""
    records: dict[str, Record] = {}
    for line in _lines(path):
        if not line.strip() or line.startswith("#"):
            continue
        oid, tag, value = line.split("|", 2)
        records[oid] = Record(tag, value)
    return records


def snmprec_comments(path: Path) -> list[str]:
    """The ``#`` lines of a recording, ``#`` included."""
    return [line for line in _lines(path) if line.startswith("#")]


def read_community(data_dir: Path, community: str) -> dict[str, Record]:
    """The records of the data file that serves ``community``."""
    for suffix in (".snmprec", ".snmprec.bz2"):
        path = data_dir / f"{community}{suffix}"
        if path.exists():
            return read_snmprec(path)
    raise KeyError(community)


def write_snmprec(path: Path, records: dict[str, Record], header: str = "") -> None:
    """Write records sorted by OID, as snmpsim needs them for GETNEXT."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [
        f"{oid}|{r.tag}|{r.value}"
        for oid, r in sorted(records.items(), key=lambda i: oid_key(i[0]))
    ]
    path.write_text("\n".join(lines) + "\n", encoding=ENCODING)


def with_changes(records: dict[str, Record], changes: dict[str, str | None]) -> dict[str, Record]:
    """A copy with ``oid: "tag|value"`` set (None removes the object)."""
    out = dict(records)
    for oid, line in changes.items():
        if line is None:
            out.pop(oid, None)
        else:
            tag, value = line.split("|", 1)
            out[oid] = Record(tag, value)
    return out


def _oids(path: Path) -> Iterator[tuple[int, ...]]:
    """The OIDs of a recording in file order, streamed (a recording may be megabytes)."""
    opener = bz2.open if path.name.endswith(".bz2") else open
    with opener(path, "rt", encoding=ENCODING) as lines:
        for line in lines:
            if line[:1].isdigit():
                yield oid_key(line.split("|", 1)[0])


def carries_subtree(path: Path, subtree: str) -> bool:
    """Whether the recording has objects under ``subtree`` (an OID such as UPS-MIB's).

    Stops once a file that is in OID order so far has passed the subtree: the
    6.5 MB juniper-ac recording is not read to its end.
    """
    prefix = oid_key(subtree)
    previous: tuple[int, ...] = ()
    in_order = True
    for oid in _oids(path):
        if oid[: len(prefix)] == prefix:
            return True
        in_order = in_order and oid >= previous
        previous = oid
        if in_order and oid > prefix:
            return False
    return False
