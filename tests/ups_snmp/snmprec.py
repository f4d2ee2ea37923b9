"""Reading and writing snmpsim ``.snmprec`` recordings, independently of the driver.

A recording is one ``OID|TAG|VALUE`` line per object (``#`` lines are
comments); ``TAG`` is the BER type number with an optional ``x`` (value in
hex) and an optional ``:variation``. The tests compute what the driver must
report from these lines and the MIB's documented units, so nothing here
imports the code under test.
"""

from __future__ import annotations

import bz2
from dataclasses import dataclass
from pathlib import Path

INTEGER, OCTET_STRING, OID, IP_ADDRESS = "2", "4", "6", "64"
COUNTER32, GAUGE32, TIMETICKS, COUNTER64 = "65", "66", "67", "70"
NUMBER_TAGS = frozenset({INTEGER, COUNTER32, GAUGE32, COUNTER64})
"""What an INTEGER-like MIB object may come as; TimeTicks is not one of them."""


@dataclass(frozen=True)
class Record:
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
    def text(self) -> str:
        if self.tag.split(":", 1)[0].endswith("x"):
            return bytes.fromhex(self.value).decode("utf-8", errors="replace")
        return self.value


def oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


def read_snmprec(path: Path) -> dict[str, Record]:
    """Records by OID, from a ``.snmprec`` or ``.snmprec.bz2`` file."""
    raw = path.read_bytes()
    if path.name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    records: dict[str, Record] = {}
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        oid, tag, value = line.split("|", 2)
        records[oid] = Record(tag, value)
    return records


def write_snmprec(path: Path, records: dict[str, Record], header: str = "") -> None:
    """Write records sorted by OID, as snmpsim needs them for GETNEXT."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [
        f"{oid}|{r.tag}|{r.value}"
        for oid, r in sorted(records.items(), key=lambda i: oid_key(i[0]))
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


UPS_MIB = (1, 3, 6, 1, 2, 1, 33)


def carries_ups_mib(path: Path) -> bool:
    """Whether the recording has objects under UPS-MIB (1.3.6.1.2.1.33).

    Streams the file and stops once a file that is in OID order so far has
    passed the subtree: the 6.5 MB juniper-ac recording is not read to its end.
    """
    opener = bz2.open if path.name.endswith(".bz2") else open
    previous: tuple[int, ...] = ()
    in_order = True
    with opener(path, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if not line[:1].isdigit():
                continue
            oid = oid_key(line.split("|", 1)[0])
            if oid[: len(UPS_MIB)] == UPS_MIB:
                return True
            in_order = in_order and oid >= previous
            previous = oid
            if in_order and oid > UPS_MIB:
                return False
    return False


def community_of(path: Path) -> str:
    """snmpsim's community for a data file: its name without .snmprec[.bz2]."""
    name = path.name
    for suffix in (".bz2", ".snmprec"):
        name = name.removesuffix(suffix)
    return name
