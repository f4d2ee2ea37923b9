"""Find Modbus units on a link and tell which profile each one matches.

A unit that answers anything, even a Modbus exception, is present; it
matches a profile when that profile's identify register holds the expected
value. A silent unit id costs one timeout, so scans use a short one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from devices.errors import DeviceConnectionError, DeviceProtocolError, DeviceTimeoutError
from devices.modbus.link import ModbusExceptionError, ModbusLink
from devices.modbus.registers import decode
from devices.profiles import ScaleProfile


@dataclass(frozen=True, slots=True)
class ScanHit:
    """A unit that answered, the profiles it matched, and why others did not (if none did)."""

    address: str
    unit_id: int
    profiles: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


async def identify(
    link: ModbusLink, unit_id: int, profiles: Iterable[ScaleProfile]
) -> ScanHit | None:
    """Ask one unit id every profile's identify register; None when it is silent.

    A unit id that times out on the first profile is taken as absent: asking
    it again for every other profile would cost one timeout (plus the RTU
    late-reply guard) per profile per id, minutes on a 247-id serial scan.
    """
    answered = False
    matched: list[str] = []
    notes: list[str] = []
    for profile in profiles:
        ident = profile.identify
        try:
            regs, _ = await link.read(unit_id, ident.table, ident.address, ident.type.width)
        except DeviceTimeoutError:
            if not answered:
                return None
            continue
        except ModbusExceptionError as exc:
            if exc.gateway_found_no_unit:
                continue
            answered = True  # an exception reply: someone is there, just not this model
            notes.append(f"{profile.name}: {exc}")
            continue
        except DeviceProtocolError as exc:
            answered = True  # an exception reply: someone is there, just not this model
            notes.append(f"{profile.name}: {exc}")
            continue
        answered = True
        value = int(decode(regs, ident.type, ident.word_order))
        if value == ident.equals:
            matched.append(profile.name)
        else:
            notes.append(
                f"{profile.name}: identify register holds {value:#06x}, not {ident.equals:#06x}"
            )
    if not answered:
        return None
    return ScanHit(link.address, unit_id, tuple(matched), () if matched else tuple(notes))


async def scan_link(
    link: ModbusLink,
    unit_ids: Sequence[int],
    profiles: Sequence[ScaleProfile],
    progress: Callable[[int], None] | None = None,
) -> list[ScanHit]:
    """Identify every unit id on ``link``; ``progress`` is told after each id."""
    hits: list[ScanHit] = []
    try:
        await link.connect()
    except DeviceConnectionError:
        if progress is not None:
            progress(len(unit_ids))
        raise
    for unit_id in unit_ids:
        hit = await identify(link, unit_id, profiles)
        if hit is not None:
            hits.append(hit)
        if progress is not None:
            progress(1)
    return hits


def parse_unit_range(text: str) -> list[int]:
    """``"1-10,20"`` -> [1..10, 20]; unit ids must be 1..247."""
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            start, end = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"bad unit id range {part!r}: expected N or N-M") from None
        if start > end:
            raise ValueError(f"bad unit id range {part!r}: {start} is after {end}")
        if not 1 <= start <= end <= 247:
            raise ValueError(f"bad unit id range {part!r}: unit ids are 1..247")
        ids.extend(range(start, end + 1))
    if not ids:
        raise ValueError("no unit ids to scan")
    return ids
