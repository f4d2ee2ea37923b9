"""A UPS over SNMP (UPS-MIB or APC PowerNet), read through a profile into ``UpsReading``.

``connect`` identifies the unit once (sysObjectID, sysDescr, the MIB's own
identification), picks the profile whose detection OIDs it answers, applies
the quirks that match it, and plans the poll: one GET for every scalar and
one column walk (GETBULK) for every table. A read is then usually two
transactions, each under the client's per-transaction timeout.

UDP has no connection to lose: a timeout is a failed read, nothing more. The
coordinator decides when to try again (backoff while offline); the next read
simply asks again. A trap from the unit calls ``request_poll`` so the poll
loop (``devices.ups.trap_poll``) reads it at once instead of at its next slot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from devices.base import PolledDevice
from devices.errors import DeviceCommandError, DeviceConnectionError, DeviceProtocolError
from devices.snmp.client import SnmpClient, SnmpErrorStatus
from devices.snmp.credentials import Credentials, SnmpTarget
from devices.snmp.values import SnmpValue
from devices.ups.profile import (
    Lines,
    NumericSpec,
    ResolvedProfile,
    UpsIdentity,
    UpsProfile,
    builtin_ups_profiles,
)
from devices.ups.state import BatteryStatus, InputLine, OutputLine, UpsReading, UpsStatus

_LOGGER = logging.getLogger(__name__)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"

_E = TypeVar("_E", UpsStatus, BatteryStatus)

_SEVERITY = tuple(UpsStatus)  # the enum lists statuses most severe first

Rows = dict[str, list[tuple[tuple[int, ...], SnmpValue | None]]]


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one read asks the agent for."""

    scalars: tuple[str, ...]
    columns: tuple[str, ...]


class SnmpUps(PolledDevice[UpsReading]):
    """One UPS network card, polled over SNMP.

    ``profile`` forces a profile (by name or object); otherwise the built-in
    profiles are tried by priority and the first whose detection OIDs the
    unit answers is used. ``trap_hosts`` are the addresses its traps come
    from (default: the polled host and, once connected, its resolved address).
    """

    def __init__(
        self,
        device_id: str,
        target: SnmpTarget,
        credentials: Credentials,
        *,
        profile: str | UpsProfile | None = None,
        profiles: Mapping[str, UpsProfile] | None = None,
        trap_hosts: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(device_id)
        self.target = target
        self.credentials = credentials
        known = dict(profiles) if profiles is not None else builtin_ups_profiles()
        if isinstance(profile, str):
            if profile not in known:
                raise ValueError(
                    f"{device_id}: unknown UPS profile {profile!r} (known: {', '.join(known)})"
                )
            profile = known[profile]
        self._candidates = (
            (profile,)
            if profile is not None
            else tuple(sorted(known.values(), key=lambda p: -p.priority))
        )
        self._trap_hosts_given = bool(trap_hosts)
        self.trap_hosts = frozenset(trap_hosts) or frozenset({target.host})
        self.poll_requested = asyncio.Event()
        self._clock = clock
        self._client: SnmpClient | None = None
        self._resolved: ResolvedProfile | None = None
        self._plan = _Plan((), ())
        self._repetitions: int | None = None  # GETBULK size: the target's until tables are seen
        self._warned: set[str] = set()
        self._connecting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SnmpUps({self.device_id!r}, {self.target.address}, {self.credentials!r})"

    @property
    def address(self) -> str:
        """host:port of the agent."""
        return self.target.address

    @property
    def resolved(self) -> ResolvedProfile | None:
        """The profile (with this unit's quirks) in use since ``connect``; None before."""
        return self._resolved

    @property
    def identity(self) -> UpsIdentity | None:
        """What the unit said about itself at ``connect``."""
        return self._resolved.identity if self._resolved else None

    def request_poll(self) -> None:
        """Ask the poll loop to read this UPS now (a trap from it arrived)."""
        self.poll_requested.set()

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the client and identify the unit; a failure leaves nothing open."""
        async with self._connecting:  # a read and a command may both find it closed
            if self._client is None:
                await self._connect()

    async def _connect(self) -> None:
        client = SnmpClient(self.target, self.credentials, device=self.device_id)
        await client.open()
        try:
            resolved = await self._identify(client)
        except BaseException:
            await client.close()
            raise
        self._client = client
        self._resolved = resolved
        self._plan = _plan(resolved)
        if not self._trap_hosts_given:  # traps come from the address, not the host name
            self.trap_hosts = frozenset({self.target.host, client.peer_host})
        identity = resolved.identity
        _LOGGER.info(
            "%s at %s: %s %s (sysObjectID %s), profile %s%s",
            self.device_id,
            self.address,
            identity.manufacturer or "?",
            identity.model or "?",
            identity.sys_object_id or "?",
            resolved.profile.name,
            f", quirks {', '.join(resolved.quirks)}" if resolved.quirks else "",
        )

    async def close(self) -> None:
        """Close the client; safe to call twice. The identification is forgotten too."""
        client, self._client = self._client, None
        self._resolved = None
        if client is not None:
            await client.close()

    async def _connected(self) -> tuple[SnmpClient, ResolvedProfile]:
        """The open client and the unit's profile, connecting first if needed."""
        if self._client is None or self._resolved is None:
            await self.connect()
        if self._client is None or self._resolved is None:  # closed meanwhile
            raise DeviceConnectionError(
                "closed while connecting", device=self.device_id, address=self.address
            )
        return self._client, self._resolved

    async def _identify(self, client: SnmpClient) -> ResolvedProfile:
        oids: list[str] = [SYS_DESCR, SYS_OBJECT_ID]
        for candidate in self._candidates:
            ident = candidate.identify
            oids += [
                *ident.detect,
                *(o for o in (ident.manufacturer, ident.model, ident.firmware) if o),
            ]
        values = await client.get(oids)
        for candidate in self._candidates:
            if all(values.get(oid) is not None for oid in candidate.identify.detect):
                ident = candidate.identify
                identity = UpsIdentity(
                    sys_object_id=_text(values.get(SYS_OBJECT_ID)),
                    sys_descr=_text(values.get(SYS_DESCR)),
                    manufacturer=_text(values.get(ident.manufacturer))
                    if ident.manufacturer
                    else "",
                    model=_text(values.get(ident.model)) if ident.model else "",
                    firmware=_text(values.get(ident.firmware)) if ident.firmware else "",
                )
                return candidate.resolve(identity)
        tried = ", ".join(f"{p.name} ({p.mib})" for p in self._candidates)
        raise DeviceProtocolError(
            f"the agent answers none of the UPS profiles' identification OIDs (tried {tried})",
            device=self.device_id,
            address=self.address,
            expected="a UPS-MIB or PowerNet-MIB agent",
        )

    # --- reading ------------------------------------------------------------------------------

    async def read(self) -> UpsReading:
        """One complete reading; connects (and identifies the unit) first if needed."""
        client, resolved = await self._connected()
        started = self._clock()
        scalars = await client.get(self._plan.scalars) if self._plan.scalars else {}
        rows: Rows = {}
        if self._plan.columns:
            rows = await client.walk_columns(self._plan.columns, repetitions=self._repetitions)
            # Next time ask for as many rows as the tables had, plus one to see their end.
            longest = max((len(r) for r in rows.values()), default=0)
            self._repetitions = min(max(longest + 1, 2), self.target.max_repetitions)
        finished = self._clock()
        return self._build(resolved, scalars, rows, (started + finished) / 2)

    def _build(
        self,
        resolved: ResolvedProfile,
        scalars: Mapping[str, SnmpValue | None],
        rows: Rows,
        t_mono: float,
    ) -> UpsReading:
        profile = resolved.profile
        values = {
            name: self._numeric(f"values.{name}", spec, scalars)
            for name, spec in resolved.values.items()
        }
        inputs = [
            InputLine(index, **fields)
            for index, fields in self._lines("input", resolved.input, scalars, rows)
        ]
        outputs = [
            OutputLine(index, **fields)
            for index, fields in self._lines("output", resolved.output, scalars, rows)
        ]
        battery = self._battery_status(resolved, scalars)
        alarms = self._alarms(resolved, scalars, rows)
        loads = [line.load_pct for line in outputs if line.load_pct is not None]
        powers = [line.power_w for line in outputs]
        load_pct = values.get("load_pct")
        if "load_pct" not in resolved.values:
            load_pct = max(loads) if loads else None
        output_power_w = values.get("output_power_w")
        if "output_power_w" not in resolved.values and powers and None not in powers:
            output_power_w = round(sum(p for p in powers if p is not None), 9)
        line_bads = values.get("input_line_bads")
        return UpsReading(
            source=self.device_id,
            t_mono=t_mono,
            status=self._status(resolved, scalars, battery, alarms),
            battery_status=battery,
            seconds_on_battery=values.get("seconds_on_battery"),
            runtime_s=values.get("runtime_s"),
            charge_pct=values.get("charge_pct"),
            battery_voltage_v=values.get("battery_voltage_v"),
            battery_temperature_c=values.get("battery_temperature_c"),
            input_v=inputs[0].voltage_v if inputs else None,
            input_hz=inputs[0].frequency_hz if inputs else None,
            input_lines=tuple(inputs),
            input_line_bads=int(line_bads) if line_bads is not None else None,
            output_lines=tuple(outputs),
            load_pct=load_pct,
            output_power_w=output_power_w,
            alarms=alarms,
            via=profile.via,
        )

    def _numeric(
        self, name: str, spec: NumericSpec, scalars: Mapping[str, SnmpValue | None]
    ) -> float | None:
        """The first of ``spec`` and its fallbacks that gives a known value."""
        current: NumericSpec | None = spec
        while current is not None:
            value = self._convert(name, current, scalars.get(current.oid))
            if value is not None:
                return value
            current = current.fallback
        return None

    def _convert(self, name: str, spec: NumericSpec, value: SnmpValue | None) -> float | None:
        if value is not None and not spec.accepts(value):
            self._warn_once(
                f"syntax:{spec.oid}",
                "%s: %s (%s) comes as %s, the MIB says %s: treated as unknown",
                self.device_id,
                name,
                spec.oid,
                value.syntax.value,
                spec.syntax,
                level=logging.INFO,
            )
        return spec.convert(value)

    def _lines(
        self,
        table: str,
        lines: Lines | None,
        scalars: Mapping[str, SnmpValue | None],
        rows: Rows,
    ) -> list[tuple[int, dict[str, float | None]]]:
        """(index, fields) per line, in the agent's index order."""
        if lines is None:
            return []
        if lines.scalars:
            fields = {
                name: self._numeric(f"{table}.{name}", spec, scalars)
                for name, spec in lines.scalars.items()
            }
            return [(1, fields)] if any(v is not None for v in fields.values()) else []
        by_suffix: dict[tuple[int, ...], dict[str, SnmpValue | None]] = {}
        for name, spec in lines.columns.items():
            for suffix, value in rows.get(spec.oid, ()):
                by_suffix.setdefault(suffix, {})[name] = value
        suffixes = sorted(by_suffix)
        count = self._count(lines, scalars)
        if count is not None and len(suffixes) > count:
            # Units pad their tables with all-zero rows past upsXxxNumLines.
            self._warn_once(
                f"padding:{table}",
                "%s: %s table has %d rows but the unit says %d lines: extra rows ignored",
                self.device_id,
                table,
                len(suffixes),
                count,
                level=logging.INFO,
            )
            suffixes = suffixes[:count]
        out: list[tuple[int, dict[str, float | None]]] = []
        for suffix in suffixes:
            if not suffix:
                continue
            if len(suffix) > 1:
                # An index with more sub-identifiers than the MIB defines (N.0): the line
                # number is the first one; the rest are kept only to match columns up.
                self._warn_once(
                    f"index:{table}",
                    "%s: %s table index %s has extra sub-identifiers; line %d used",
                    self.device_id,
                    table,
                    ".".join(map(str, suffix)),
                    suffix[0],
                    level=logging.INFO,
                )
            row = by_suffix[suffix]
            fields = {
                name: self._convert(f"{table}.{name}", spec, row.get(name))
                for name, spec in lines.columns.items()
            }
            out.append((suffix[0], fields))
        return out

    def _count(self, lines: Lines, scalars: Mapping[str, SnmpValue | None]) -> int | None:
        if lines.count is None:
            return None
        value = scalars.get(lines.count)
        number = value.number if value is not None else None
        return number if number is not None and number >= 0 else None

    def _battery_status(
        self, resolved: ResolvedProfile, scalars: Mapping[str, SnmpValue | None]
    ) -> BatteryStatus:
        spec = resolved.profile.battery_status
        if spec is None:
            return BatteryStatus.UNKNOWN
        return self._enum(spec.oid, spec.map, scalars, BatteryStatus.UNKNOWN)

    def _status(
        self,
        resolved: ResolvedProfile,
        scalars: Mapping[str, SnmpValue | None],
        battery: BatteryStatus,
        alarms: Sequence[str],
    ) -> UpsStatus:
        spec = resolved.profile.status
        candidates = [self._enum(spec.source.oid, spec.source.map, scalars, UpsStatus.UNKNOWN)]
        if candidates[0] is UpsStatus.ON_BATTERY and battery in spec.low_battery:
            candidates.append(UpsStatus.LOW_BATTERY)
        if any(alarm in spec.fault_alarms for alarm in alarms):
            candidates.append(UpsStatus.FAULT)
        known = [c for c in candidates if c is not UpsStatus.UNKNOWN]
        return min(known, key=_SEVERITY.index) if known else UpsStatus.UNKNOWN

    def _enum(
        self,
        oid: str,
        mapping: Mapping[int, _E],
        scalars: Mapping[str, SnmpValue | None],
        unknown: _E,
    ) -> _E:
        value = scalars.get(oid)
        number = value.number if value is not None else None
        if number is None:
            return unknown
        if number not in mapping:
            self._warn_once(
                f"enum:{oid}:{number}",
                "%s: %s has value %d that the profile does not know: unknown",
                self.device_id,
                oid,
                number,
            )
            return unknown
        return mapping[number]

    def _alarms(
        self, resolved: ResolvedProfile, scalars: Mapping[str, SnmpValue | None], rows: Rows
    ) -> tuple[str, ...]:
        spec = resolved.profile.alarms
        names: list[str] = []
        if spec.table is not None:
            for _, value in rows.get(spec.table, ()):
                if value is None:
                    continue
                oid = value.text()
                names.append(spec.names.get(oid, oid))
        for alarm in spec.from_values:
            value = scalars.get(alarm.oid)
            if value is not None and value.number in alarm.equals:
                names.append(alarm.name)
        return tuple(dict.fromkeys(names))

    def _warn_once(
        self, key: str, message: str, *args: object, level: int = logging.WARNING
    ) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        _LOGGER.log(level, message, *args)

    # --- commands -----------------------------------------------------------------------------

    async def self_test(self) -> None:
        """Start the unit's battery self-test; ``DeviceCommandError`` when it is refused."""
        client, resolved = await self._connected()
        spec = resolved.profile.self_test
        if spec is None:
            raise DeviceCommandError(
                f"profile {resolved.profile.name} has no self-test command",
                device=self.device_id,
                address=self.address,
            )
        request: list[tuple[str, SnmpValue]] = []
        if spec.spin_lock is not None:
            # RFC 1628 upsTestSpinLock (TestAndIncr): SET it to the value just read, in the
            # same PDU, so two managers cannot start tests at once.
            lock = (await client.get([spec.spin_lock]))[spec.spin_lock]
            if lock is not None and lock.number is not None:
                request.append((spec.spin_lock, SnmpValue.integer(lock.number)))
        request.append((spec.oid, spec.value))
        try:
            answer = await client.set(request)
        except SnmpErrorStatus as exc:
            raise DeviceCommandError(
                f"the UPS refused the self-test: {exc.status}"
                + (f" on {exc.oid}" if exc.oid else ""),
                device=self.device_id,
                address=self.address,
            ) from None
        echoed = answer.get(spec.oid)
        if echoed != spec.value:
            shown = echoed.text() if echoed is not None else "noSuchInstance"
            raise DeviceCommandError(
                f"the UPS refused the self-test: it answered {shown} for {spec.oid} "
                f"instead of {spec.value.text()} (not writable with these credentials?)",
                device=self.device_id,
                address=self.address,
            )
        _LOGGER.info("%s: self-test started (%s)", self.device_id, spec.description or spec.oid)


def _plan(resolved: ResolvedProfile) -> _Plan:
    """Every scalar OID (values, fallbacks, counts, status, alarms) and every column to walk."""
    profile = resolved.profile
    scalars: list[str] = []
    columns: list[str] = []

    def add_numeric(spec: NumericSpec) -> None:
        current: NumericSpec | None = spec
        while current is not None:
            scalars.append(current.oid)
            current = current.fallback

    for spec in resolved.values.values():
        add_numeric(spec)
    for lines in (resolved.input, resolved.output):
        if lines is None:
            continue
        if lines.count is not None:
            scalars.append(lines.count)
        for spec in lines.scalars.values():
            add_numeric(spec)
        columns += [spec.oid for spec in lines.columns.values()]
    if profile.battery_status is not None:
        scalars.append(profile.battery_status.oid)
    scalars.append(profile.status.source.oid)
    scalars += [alarm.oid for alarm in profile.alarms.from_values]
    if profile.alarms.table is not None:
        columns.append(profile.alarms.table)
    return _Plan(tuple(dict.fromkeys(scalars)), tuple(dict.fromkeys(columns)))


def _text(value: SnmpValue | None) -> str:
    """Identification text without the space/NUL padding some cards add."""
    return value.text().strip().strip("\x00").strip() if value is not None else ""
