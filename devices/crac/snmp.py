"""A precision air conditioner over SNMP, read through an ``SnmpCracProfile`` into ``CracReading``.

``connect`` opens the client, checks that the agent answers the profile's
detection OIDs, and *resolves* the sensor tables: it walks each table's
identity column once and remembers at which index the unit keeps each row
the profile names (the supply-air row may be index 2 on one unit and 7 on
the next). A read is then one GET (more only past ``max_varbinds``) of every
scalar and table cell the profile maps, plus each resolved row's identity
cell: when a unit renumbers its rows (firmware update, a sensor added), the
identity cells no longer match, the tables are resolved again and the GET
repeated, so a value is never taken from another sensor's row. The
conditions table is walked only when its count says conditions are present.

SNMPv1 has no per-varbind "no such instance": an absent OID fails the whole
GET with noSuchName and costs a round trip to find. Over v1 an OID found
absent is left out of the next polls for ``absent_retry_s``; over v2c/v3 an
absent OID costs nothing and every poll asks for everything.

Commands are SETs verified by reading back, never trusted from the SET's
answer: a unit may refuse (an SNMP error status: notWritable, wrongValue; in
v1 noSuchName or badValue) or accept and not apply. Either way the caller
gets a :class:`CracCommandError` with what was asked and what the unit holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from devices.base import PolledDevice
from devices.crac.messages import CracReading
from devices.crac.readback import CommandReadBack, show
from devices.crac.snmp_profile import SnmpCracProfile, StateSpec, ValueSource, number
from devices.errors import DeviceConnectionError, DeviceError, DeviceProtocolError
from devices.snmp.client import SnmpClient, SnmpErrorStatus
from devices.snmp.credentials import Credentials, SnmpTarget
from devices.snmp.values import SnmpValue, Syntax, oid_str

_LOGGER = logging.getLogger(__name__)

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"

Values = Mapping[str, SnmpValue | None]


@dataclass(frozen=True, slots=True)
class SnmpCracIdentity:
    """What a unit says about itself (strings stripped of the padding some cards add)."""

    sys_object_id: str = ""
    sys_descr: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""


class SnmpCrac(CommandReadBack, PolledDevice[CracReading]):
    """One CRAC network card, polled over SNMP.

    ``verify_timeout_s`` overrides the profile's: how long a command's
    read-back may take. ``resolve_interval_s``: how often rows the unit did
    not have are looked for again (a card that boots before its unit shows
    empty tables at first).
    """

    def __init__(
        self,
        device_id: str,
        target: SnmpTarget,
        credentials: Credentials,
        profile: SnmpCracProfile,
        *,
        verify_timeout_s: float | None = None,
        verify_interval_s: float = 0.2,
        resolve_interval_s: float = 10.0,
        absent_retry_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(device_id)
        self.target = target
        self.credentials = credentials
        self.profile = profile
        self.verify_timeout_s = (
            verify_timeout_s if verify_timeout_s is not None else profile.commands.verify_timeout_s
        )
        self.verify_interval_s = verify_interval_s
        self.resolve_interval_s = resolve_interval_s
        self.absent_retry_s = absent_retry_s
        self._clock = clock
        self._client: SnmpClient | None = None
        self._identity: SnmpCracIdentity | None = None
        self._rows: dict[tuple[str, str], str] = {}
        self._used = profile.used_rows()
        self._resolved_at = 0.0
        self._absent: dict[str, float] = {}
        self._warned: set[str] = set()
        self._connecting = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SnmpCrac({self.device_id!r}, {self.target.address}, {self.credentials!r})"

    @property
    def address(self) -> str:
        """host:port of the agent."""
        return self.target.address

    @property
    def identity(self) -> SnmpCracIdentity | None:
        """What the unit said about itself at ``connect``; None before."""
        return self._identity

    @property
    def rows(self) -> dict[tuple[str, str], str]:
        """(table, row) -> the index the unit keeps that row at, as last resolved."""
        return dict(self._rows)

    # --- lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the client, identify the unit, resolve its tables; a failure leaves nothing open."""
        async with self._connecting:  # a read and a command may both find it closed
            if self._client is None:
                await self._connect()

    async def _connect(self) -> None:
        client = SnmpClient(self.target, self.credentials, device=self.device_id)
        await client.open()
        try:
            identity = await self._identify(client)
            await self._resolve(client)
        except BaseException:
            await client.close()
            self._rows = {}
            raise
        self._client = client
        self._identity = identity
        self._absent.clear()
        _LOGGER.info(
            "%s at %s: %s %s (firmware %s, sysObjectID %s), profile %s",
            self.device_id,
            self.address,
            identity.manufacturer or "?",
            identity.model or "?",
            identity.firmware or "?",
            identity.sys_object_id or "?",
            self.profile.name,
        )

    async def close(self) -> None:
        """Close the client; safe to call twice. The identification is forgotten too."""
        client, self._client = self._client, None
        self._identity = None
        self._rows = {}
        if client is not None:
            await client.close()

    async def _connected(self) -> SnmpClient:
        if self._client is None:
            await self.connect()
        if self._client is None:  # closed meanwhile
            raise DeviceConnectionError(
                "closed while connecting", device=self.device_id, address=self.address
            )
        return self._client

    async def _identify(self, client: SnmpClient) -> SnmpCracIdentity:
        ident = self.profile.identify
        named = [o for o in (ident.manufacturer, ident.model, ident.firmware) if o]
        values = await client.get([SYS_DESCR, SYS_OBJECT_ID, *ident.detect, *named])
        missing = [oid for oid in ident.detect if values.get(oid) is None]
        if missing:
            raise DeviceProtocolError(
                f"the agent does not answer {', '.join(missing)}: not a unit that profile "
                f"{self.profile.name} describes",
                device=self.device_id,
                address=self.address,
                expected=self.profile.mib or "the profile's MIB",
            )
        return SnmpCracIdentity(
            sys_object_id=_text(values.get(SYS_OBJECT_ID)),
            sys_descr=_text(values.get(SYS_DESCR)),
            manufacturer=_text(values.get(ident.manufacturer or "")),
            model=_text(values.get(ident.model or "")),
            firmware=_text(values.get(ident.firmware or "")),
        )

    async def _resolve(self, client: SnmpClient) -> None:
        """Find the index of every row the profile names by walking the identity columns.

        Rows the profile names but reads nothing from are resolved too (they show in
        ``rows`` for commissioning) but neither checked on each poll nor looked for again.
        """
        tables = self.profile.tables
        self._resolved_at = self._clock()
        if not tables:
            self._rows = {}
            return
        walked = await client.walk_columns([t.identity for t in tables.values()])
        rows: dict[tuple[str, str], str] = {}
        for table_name, table in tables.items():
            wanted = {identity: row for row, identity in table.rows.items()}
            for suffix, value in walked.get(table.identity, ()):
                if value is None or value.syntax is not Syntax.OID or not suffix:
                    continue
                row = wanted.get(str(value.value))
                if row is None:
                    continue  # a sensor the profile does not read
                key = (table_name, row)
                if key in rows:
                    self._warn_once(
                        f"duplicate:{key}",
                        "%s: %s rows %s and %s both say %s: the first is used",
                        self.device_id,
                        table_name,
                        rows[key],
                        oid_str(suffix),
                        row,
                    )
                    continue
                rows[key] = oid_str(suffix)
        for table_name, row in sorted(self._used - rows.keys()):
            self._warn_once(
                f"missing:{table_name}:{row}",
                "%s: the unit has no %s row in %s (%s): its values read as unknown",
                self.device_id,
                row,
                table_name,
                tables[table_name].rows[row],
                level=logging.INFO,
            )
        self._rows = rows

    # --- reading ------------------------------------------------------------------------------

    async def read(self) -> CracReading:
        """One complete reading; connects (identifies, resolves) first if needed."""
        client = await self._connected()
        started = self._clock()
        if self._missing_rows() and started - self._resolved_at >= self.resolve_interval_s:
            await self._resolve(client)
        values, moved = await self._get_planned(client)
        if moved:
            _LOGGER.info(
                "%s: table rows moved (%s): resolving them again",
                self.device_id,
                ", ".join(moved),
            )
            await self._resolve(client)
            values, moved = await self._get_planned(client)
            if moved:
                raise DeviceProtocolError(
                    f"table rows keep moving between two walks ({', '.join(moved)})",
                    device=self.device_id,
                    address=self.address,
                    expected="stable row indices",
                )
        alarms = await self._alarms(client, values)
        finished = self._clock()
        return self._build(values, alarms, (started + finished) / 2)

    def _missing_rows(self) -> bool:
        return not self._used <= self._rows.keys()

    def _cell(self, source: ValueSource) -> str | None:
        """The OID to read for a source; None for a row the unit does not have."""
        if source.oid is not None:
            return source.oid
        assert source.table is not None
        assert source.row is not None
        assert source.column is not None
        index = self._rows.get((source.table, source.row))
        if index is None:
            return None
        return f"{self.profile.tables[source.table].column(source.column)}.{index}"

    def _checks(self) -> dict[str, str]:
        """Identity cell OID -> the identity it must still hold, for every resolved row."""
        return {
            f"{self.profile.tables[table].identity}.{index}": self.profile.tables[table].rows[row]
            for (table, row), index in self._rows.items()
            if (table, row) in self._used
        }

    def _wanted(self) -> list[str]:
        readings = self.profile.readings
        oids = [
            oid
            for sources in readings.values().values()
            for source in sources
            if (oid := self._cell(source)) is not None
        ]
        oids += [spec.oid for spec in readings.states().values()]
        if self.profile.alarms is not None and self.profile.alarms.count is not None:
            oids.append(self.profile.alarms.count)
        return list(dict.fromkeys(oids))

    async def _get_planned(
        self, client: SnmpClient
    ) -> tuple[dict[str, SnmpValue | None], list[str]]:
        """One GET of the plan; the identity cells that no longer hold their row's identity."""
        checks = self._checks()
        wanted = self._wanted()
        skip_absent = client.version == "1"
        if skip_absent:
            now = self._clock()
            self._absent = {oid: until for oid, until in self._absent.items() if until > now}
            wanted = [oid for oid in wanted if oid not in self._absent]
        values = await client.get([*wanted, *checks])
        if skip_absent:
            until = self._clock() + self.absent_retry_s
            self._absent |= {oid: until for oid in wanted if values.get(oid) is None}
        moved = [
            oid
            for oid, identity in checks.items()
            if (value := values.get(oid)) is None
            or value.syntax is not Syntax.OID
            or value.value != identity
        ]
        return values, moved

    async def _alarms(self, client: SnmpClient, values: Values) -> tuple[str, ...] | None:
        spec = self.profile.alarms
        if spec is None:
            return None
        count = number(values.get(spec.count)) if spec.count is not None else None
        if count == 0:
            return ()
        columns = [spec.column(spec.name_column)]
        if spec.state_column is not None:
            columns.append(spec.column(spec.state_column))
        repetitions = None
        if count is not None and count > 0:
            repetitions = min(count + 1, self.target.max_repetitions)
        walked = await client.walk_columns(columns, repetitions=repetitions)
        states = dict(walked.get(columns[-1], ())) if spec.state_column is not None else {}
        names: set[str] = set()
        for suffix, value in walked.get(columns[0], ()):
            if value is None or value.syntax is not Syntax.OID:
                continue
            state = number(states.get(suffix))
            if state is not None and state not in spec.active_values:
                continue  # a cleared condition the agent still lists
            oid = str(value.value)
            names.add(spec.names.get(oid, oid))
        return tuple(sorted(names))

    def _build(self, values: Values, alarms: tuple[str, ...] | None, t_mono: float) -> CracReading:
        readings = self.profile.readings
        numbers = {
            field: self._number(field, sources, values)
            for field, sources in readings.values().items()
        }
        heater = self._present(readings.heater, values)
        compressors = self._present(readings.compressors, values)
        heater_on: bool | None = None
        if heater:
            heater_on = True if any(heater) else (None if None in heater else False)
        return CracReading(
            source=self.device_id,
            t_mono=t_mono,
            supply_air_c=numbers.get("supply_air_c"),
            return_air_c=numbers.get("return_air_c"),
            humidity_pct=numbers.get("humidity_pct"),
            supply_setpoint_c=numbers.get("supply_setpoint_c"),
            return_setpoint_c=numbers.get("return_setpoint_c"),
            fan_pct=numbers.get("fan_pct"),
            compressors_on=(
                tuple(c for c in compressors if c is not None)
                if compressors and None not in compressors
                else None
            ),
            heater_on=heater_on,
            humidifier_on=self._state(readings.humidifier_on, values),
            unit_on=self._state(readings.unit_on, values),
            local_mode=self._state(readings.local_mode, values),
            alarms=alarms,
        )

    def _number(self, field: str, sources: tuple[ValueSource, ...], values: Values) -> float | None:
        """The first of ``sources`` that gives a known value."""
        for source in sources:
            oid = self._cell(source)
            if oid is None:
                continue
            value = values.get(oid)
            if value is not None and number(value) is None:
                self._warn_once(
                    f"syntax:{oid}",
                    "%s: %s (%s) comes as %s, not a number: treated as unknown",
                    self.device_id,
                    field,
                    oid,
                    value.syntax.value,
                    level=logging.INFO,
                )
            converted = source.convert(value)
            if converted is not None:
                return converted
        return None

    def _state(self, spec: StateSpec | None, values: Values) -> bool | None:
        if spec is None:
            return None
        value = values.get(spec.oid)
        state = spec.convert(value)
        if value is not None and state is None:
            self._warn_once(
                f"state:{spec.oid}:{value.text()}",
                "%s: %s has value %s that the profile does not know: unknown",
                self.device_id,
                spec.oid,
                value.text(),
            )
        return state

    def _present(self, specs: tuple[StateSpec, ...], values: Values) -> list[bool | None]:
        """States of the stages the agent has (an absent object is a stage the unit lacks)."""
        return [self._state(spec, values) for spec in specs if values.get(spec.oid) is not None]

    def _warn_once(
        self, key: str, message: str, *args: object, level: int = logging.WARNING
    ) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        _LOGGER.log(level, message, *args)

    # --- commands -----------------------------------------------------------------------------

    async def set_setpoint(self, celsius: float) -> float:
        """Set the temperature setpoint the unit regulates to; returns what it reads back.

        Values outside the profile's range are refused here without sending anything.
        """
        command = self.profile.commands.setpoint
        if command is None:
            raise self._error(
                f"setting the setpoint is not supported by profile {self.profile.name} "
                "(it maps no writable setpoint)",
                requested=celsius,
            )
        if not command.min_c <= celsius <= command.max_c:  # NaN fails both
            raise self._error(
                f"setpoint {celsius:g} °C outside {command.min_c:g}..{command.max_c:g} °C "
                f"that profile {self.profile.name} allows; nothing was sent",
                requested=celsius,
            )
        client = await self._connected()
        oid = self._cell(command)
        if oid is None:
            raise self._error(
                f"the unit has no {command.row} row in table {command.table}: "
                "nowhere to write the setpoint",
                requested=celsius,
            )
        what = f"setpoint {celsius:g} °C"

        async def held() -> float | None:
            return command.convert((await client.get([oid]))[oid])

        await self._set(client, oid, round(celsius / command.scale), what, celsius, held, "°C")

        async def check() -> tuple[bool, object]:
            now = await held()
            return now is not None and abs(now - celsius) <= command.tolerance, now

        applied, now = await self._verify(check)
        if not applied:
            raise self._error(
                f"{what} not applied: {oid} reads back {show(now, '°C')} after "
                f"{self.verify_timeout_s:g} s{await self._why()}",
                requested=celsius,
                read_back=now,
            )
        assert isinstance(now, float)
        return now

    async def set_unit_on(self, on: bool) -> None:
        """Switch the unit on or off; verified on the profile's ``unit_on`` state."""
        command = self.profile.commands.unit_on
        state = "on" if on else "off"
        if command is None:
            raise self._error(
                f"switching the unit {state} is not supported by profile {self.profile.name} "
                "(it maps no on/off control)",
                requested=on,
            )
        status = self.profile.readings.unit_on
        assert status is not None  # the profile validates that a switch can be verified
        client = await self._connected()
        request = command.switch_on if on else command.switch_off

        async def running() -> bool | None:
            return status.convert((await client.get([status.oid]))[status.oid])

        await self._set(client, request.oid, request.value, f"switch {state}", on, running, "")

        async def check() -> tuple[bool, object]:
            now = await running()
            return now is on, now

        applied, now = await self._verify(check)
        if not applied:
            seen = "running" if now is True else "stopped" if now is False else "unknown"
            raise self._error(
                f"switch {state} not applied: the unit's state ({status.oid}) says {seen} "
                f"after {self.verify_timeout_s:g} s{await self._why()}",
                requested=on,
                read_back=now,
            )

    async def clear_alarms(self) -> tuple[str, ...]:
        """Reset latched alarms; returns the alarms still active (their cause is not gone)."""
        command = self.profile.commands.clear_alarms
        if command is None:
            raise self._error(
                f"resetting alarms is not supported by profile {self.profile.name}",
                requested=True,
            )
        client = await self._connected()
        await self._set(client, command.oid, command.value, "alarm reset", True, None, "")
        return (await self.read()).alarms or ()

    async def _set(
        self,
        client: SnmpClient,
        oid: str,
        value: int,
        what: str,
        requested: object,
        current: Callable[[], Awaitable[object]] | None,
        unit: str,
    ) -> None:
        """SET one INTEGER; an error status becomes a CracCommandError with what the unit holds."""
        reason = ""
        try:
            answer = await client.set([(oid, SnmpValue.integer(value))])
        except SnmpErrorStatus as exc:
            reason = f"{exc.status} on {oid}"
        else:
            if answer.get(oid) is None:
                # An agent without a write handler for the object may answer the SET with
                # noSuchInstance in the varbind and no error status (snmpsim does).
                reason = f"it answered noSuchInstance for {oid} (not writable)"
        if not reason:
            return
        held: object = None
        if current is not None:
            with contextlib.suppress(DeviceError):
                held = await current()
        still = f"; it still reads {show(held, unit)}" if current is not None else ""
        raise self._error(
            f"unit refused {what}: {reason}{still}{await self._why()}",
            requested=requested,
            read_back=held,
        )


def _text(value: SnmpValue | None) -> str:
    """Identification text without the space/NUL padding some cards add."""
    return value.text().strip().strip("\x00").strip() if value is not None else ""
