"""The agent's MIB: UPS-MIB (RFC 1628), the system and snmp groups, and a small private subtree.

A request is answered from one :class:`MibView`, a sorted snapshot of every
instance built from one :class:`~sim_devices.ups.model.UpsReadings`, so the
varbinds of one GetBulk all describe the same instant. The view also knows
every object type (scalars and table columns, with or without instances) so
a GET can tell noSuchObject from noSuchInstance as RFC 3416 asks.

SET is table-driven (:func:`writable_objects`): each writable object checks a
value without side effects, then applies it; the agent checks every varbind
of a request before applying any (all or nothing).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from sim_devices.ups.model import (
    AudibleStatus,
    LineReading,
    SelfTestKind,
    ShutdownType,
    UpsModel,
    UpsReadings,
)
from sim_devices.ups.snmp import (
    Counter32,
    Counter64,
    ErrorStatus,
    Gauge32,
    Integer,
    NoSuchInstance,
    NoSuchObject,
    ObjectId,
    OctetString,
    Oid,
    TimeTicks,
    Value,
    oid,
)

# --- object identifiers -------------------------------------------------------------------------

SYSTEM = oid("1.3.6.1.2.1.1")
SYS_DESCR = (*SYSTEM, 1)
SYS_OBJECT_ID = (*SYSTEM, 2)
SYS_UPTIME = (*SYSTEM, 3)
SYS_CONTACT = (*SYSTEM, 4)
SYS_NAME = (*SYSTEM, 5)
SYS_LOCATION = (*SYSTEM, 6)
SYS_SERVICES = (*SYSTEM, 7)
SYS_OR_LAST_CHANGE = (*SYSTEM, 8)

SNMP_GROUP = oid("1.3.6.1.2.1.11")
SNMP_TRAP_OID = oid("1.3.6.1.6.3.1.1.4.1")
"""snmpTrapOID; its instance ``.0`` is the second varbind of every SNMPv2-Trap."""
SYS_UPTIME_0 = (*SYS_UPTIME, 0)
SNMP_TRAP_OID_0 = (*SNMP_TRAP_OID, 0)
COLD_START = oid("1.3.6.1.6.3.1.1.5.1")

UPS_MIB = oid("1.3.6.1.2.1.33")
UPS_OBJECTS = (*UPS_MIB, 1)
UPS_TRAPS = (*UPS_MIB, 2)


def ups(*arcs: int) -> Oid:
    """An OID under upsObjects (1.3.6.1.2.1.33.1)."""
    return (*UPS_OBJECTS, *arcs)


UPS_IDENT_NAME = ups(1, 5)
UPS_IDENT_ATTACHED = ups(1, 6)
UPS_BATTERY_STATUS = ups(2, 1)
UPS_SECONDS_ON_BATTERY = ups(2, 2)
UPS_MINUTES_REMAINING = ups(2, 3)
UPS_CHARGE_REMAINING = ups(2, 4)
UPS_INPUT_LINE_BADS = ups(3, 1)
UPS_OUTPUT_SOURCE = ups(4, 1)
UPS_ALARMS_PRESENT = ups(6, 1)
UPS_ALARM_ENTRY = ups(6, 2, 1)
UPS_ALARM_ID = (*UPS_ALARM_ENTRY, 1)
UPS_ALARM_DESCR = (*UPS_ALARM_ENTRY, 2)
UPS_ALARM_TIME = (*UPS_ALARM_ENTRY, 3)
UPS_WELL_KNOWN_ALARMS = ups(6, 3)
UPS_TEST_ID = ups(7, 1)
UPS_TEST_SPIN_LOCK = ups(7, 2)
UPS_TEST_RESULTS_SUMMARY = ups(7, 3)
UPS_TEST_RESULTS_DETAIL = ups(7, 4)
UPS_TEST_START_TIME = ups(7, 5)
UPS_TEST_ELAPSED_TIME = ups(7, 6)
UPS_WELL_KNOWN_TESTS = ups(7, 7)
UPS_SHUTDOWN_TYPE = ups(8, 1)
UPS_SHUTDOWN_AFTER_DELAY = ups(8, 2)
UPS_STARTUP_AFTER_DELAY = ups(8, 3)
UPS_REBOOT_WITH_DURATION = ups(8, 4)
UPS_AUTO_RESTART = ups(8, 5)
UPS_CONFIG_INPUT_VOLTAGE = ups(9, 1)
UPS_CONFIG_INPUT_FREQ = ups(9, 2)
UPS_CONFIG_OUTPUT_VOLTAGE = ups(9, 3)
UPS_CONFIG_OUTPUT_FREQ = ups(9, 4)
UPS_CONFIG_LOW_BATT_TIME = ups(9, 7)
UPS_CONFIG_AUDIBLE_STATUS = ups(9, 8)
UPS_CONFIG_LOW_TRANSFER = ups(9, 9)
UPS_CONFIG_HIGH_TRANSFER = ups(9, 10)

TRAP_ON_BATTERY = (*UPS_TRAPS, 1)
TRAP_TEST_COMPLETED = (*UPS_TRAPS, 2)
TRAP_ALARM_ENTRY_ADDED = (*UPS_TRAPS, 3)
TRAP_ALARM_ENTRY_REMOVED = (*UPS_TRAPS, 4)

PRIVATE = oid("1.3.6.1.4.1.32473.1")
"""Enterprise 32473 is reserved for documentation (RFC 5612): simulator-only counters."""

_INPUT_ENTRY = ups(3, 3, 1)
_OUTPUT_ENTRY = ups(4, 4, 1)
_BYPASS_ENTRY = ups(5, 3, 1)

OBJECT_TYPES: frozenset[Oid] = frozenset(
    [
        *((*SYSTEM, n) for n in range(1, 9)),
        *((*SNMP_GROUP, n) for n in (1, 2, 3, 4, 5, 6, 29, 30, 31, 32)),
        *(ups(1, n) for n in range(1, 7)),
        *(ups(2, n) for n in range(1, 8)),
        ups(3, 1),
        ups(3, 2),
        *((*_INPUT_ENTRY, n) for n in range(1, 6)),
        ups(4, 1),
        ups(4, 2),
        ups(4, 3),
        *((*_OUTPUT_ENTRY, n) for n in range(1, 6)),
        ups(5, 1),
        ups(5, 2),
        *((*_BYPASS_ENTRY, n) for n in range(1, 5)),
        ups(6, 1),
        *((*UPS_ALARM_ENTRY, n) for n in range(1, 4)),
        *(ups(7, n) for n in range(1, 7)),
        *(ups(8, n) for n in range(1, 6)),
        *(ups(9, n) for n in range(1, 11)),
        *((*PRIVATE, n) for n in range(1, 4)),
    ]
)
"""Every object type the agent implements (instances are these plus an index)."""


def alarm_oid(alarm: int) -> Oid:
    """A well-known alarm's AutonomousType value (upsAlarmDescr)."""
    return (*UPS_WELL_KNOWN_ALARMS, alarm)


def test_oid(kind: int) -> Oid:
    """A well-known test's OID (upsTestId)."""
    return (*UPS_WELL_KNOWN_TESTS, kind)


# --- agent identity and counters ------------------------------------------------------------


@dataclass
class SystemGroup:
    """The system group's values; sysContact, sysName and sysLocation are writable."""

    descr: str
    object_id: Oid
    contact: str
    name: str
    location: str


@dataclass
class AgentCounters:
    """The snmp group (RFC 3418) plus the simulator's own tallies (``stats``)."""

    in_pkts: int = 0
    out_pkts: int = 0
    in_bad_versions: int = 0
    in_bad_community_names: int = 0
    in_bad_community_uses: int = 0
    in_asn_parse_errs: int = 0
    silent_drops: int = 0
    out_traps: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    sets_applied: int = 0
    dropped_by_fault: int = 0
    garbage_sent: int = 0
    wrong_id_sent: int = 0
    unsupported_pdus: int = 0
    too_big: int = 0
    trap_errors: int = 0

    def as_dict(self) -> dict[str, object]:
        """JSON form for the control API."""
        return {
            "in_pkts": self.in_pkts,
            "out_pkts": self.out_pkts,
            "in_bad_versions": self.in_bad_versions,
            "in_bad_community_names": self.in_bad_community_names,
            "in_bad_community_uses": self.in_bad_community_uses,
            "in_asn_parse_errs": self.in_asn_parse_errs,
            "silent_drops": self.silent_drops,
            "out_traps": self.out_traps,
            "requests": dict(self.requests),
            "sets_applied": self.sets_applied,
            "dropped_by_fault": self.dropped_by_fault,
            "garbage_sent": self.garbage_sent,
            "wrong_id_sent": self.wrong_id_sent,
            "unsupported_pdus": self.unsupported_pdus,
            "too_big": self.too_big,
            "trap_errors": self.trap_errors,
        }


# --- the view ------------------------------------------------------------------------------------


class MibView:
    """A sorted snapshot of instances: exact GET and lexicographic GETNEXT."""

    def __init__(self, entries: dict[Oid, Value]) -> None:
        self._values = entries
        self._oids = sorted(entries)

    def __len__(self) -> int:
        return len(self._oids)

    def get(self, name: Oid) -> Value:
        """The instance's value, or noSuchInstance / noSuchObject."""
        value = self._values.get(name)
        if value is not None:
            return value
        for length in range(len(name), 0, -1):
            if name[:length] in OBJECT_TYPES:
                return NoSuchInstance()
        return NoSuchObject()

    def next(self, name: Oid) -> tuple[Oid, Value] | None:
        """The first instance after ``name`` in OID order; None at the end of the view."""
        index = bisect.bisect_right(self._oids, name)
        if index >= len(self._oids):
            return None
        found = self._oids[index]
        return found, self._values[found]

    def items(self) -> list[tuple[Oid, Value]]:
        """Every instance in OID order."""
        return [(name, self._values[name]) for name in self._oids]


def _lines(entry: Oid, lines: tuple[LineReading, ...], columns: str) -> dict[Oid, Value]:
    out: dict[Oid, Value] = {}
    for index, line in enumerate(lines, start=1):
        out[(*entry, 1, index)] = Integer(index)
        column = 2
        for name in columns.split():
            out[(*entry, column, index)] = Integer(getattr(line, name))
            column += 1
    return out


def build_view(
    readings: UpsReadings,
    model: UpsModel,
    system: SystemGroup,
    counters: AgentCounters,
) -> MibView:
    """Every instance the agent serves, at one instant."""
    r = readings
    p = model.params
    text = OctetString.text
    entries: dict[Oid, Value] = {
        (*SYS_DESCR, 0): text(system.descr),
        (*SYS_OBJECT_ID, 0): ObjectId(system.object_id),
        SYS_UPTIME_0: TimeTicks(r.uptime_ticks),
        (*SYS_CONTACT, 0): text(system.contact),
        (*SYS_NAME, 0): text(system.name),
        (*SYS_LOCATION, 0): text(system.location),
        (*SYS_SERVICES, 0): Integer(72),
        (*SYS_OR_LAST_CHANGE, 0): TimeTicks(0),
    }
    c = counters
    for arc, count in (
        (1, c.in_pkts),
        (2, c.out_pkts),
        (3, c.in_bad_versions),
        (4, c.in_bad_community_names),
        (5, c.in_bad_community_uses),
        (6, c.in_asn_parse_errs),
        (29, c.out_traps),
        (31, c.silent_drops),
        (32, 0),
    ):
        entries[(*SNMP_GROUP, arc, 0)] = Counter32(count % 2**32)
    entries[(*SNMP_GROUP, 30, 0)] = Integer(2)  # snmpEnableAuthenTraps: disabled
    # upsIdent
    for arc, value in enumerate(
        (
            p.manufacturer,
            p.model,
            p.ups_software_version,
            p.agent_software_version,
            model.ident_name,
            model.attached_devices,
        ),
        start=1,
    ):
        entries[ups(1, arc, 0)] = text(value)
    # upsBattery
    entries[ups(2, 1, 0)] = Integer(r.battery_status)
    entries[ups(2, 2, 0)] = Integer(r.seconds_on_battery)
    entries[ups(2, 3, 0)] = Integer(r.minutes_remaining)
    entries[ups(2, 4, 0)] = Integer(r.charge_pct)
    entries[ups(2, 5, 0)] = Integer(r.battery_voltage_dv)
    entries[ups(2, 6, 0)] = Integer(r.battery_current_da)
    entries[ups(2, 7, 0)] = Integer(r.battery_temp_c)
    # upsInput
    entries[ups(3, 1, 0)] = Counter32(r.line_bads)
    entries[ups(3, 2, 0)] = Integer(len(r.input_lines))
    entries.update(
        _lines(_INPUT_ENTRY, r.input_lines, "frequency_dhz voltage_v current_da power_w")
    )
    # upsOutput
    entries[ups(4, 1, 0)] = Integer(r.output_source)
    entries[ups(4, 2, 0)] = Integer(r.output_frequency_dhz)
    entries[ups(4, 3, 0)] = Integer(len(r.output_lines))
    entries.update(
        _lines(_OUTPUT_ENTRY, r.output_lines, "voltage_v current_da power_w percent_load")
    )
    # upsBypass
    entries[ups(5, 1, 0)] = Integer(r.bypass_frequency_dhz)
    entries[ups(5, 2, 0)] = Integer(len(r.bypass_lines))
    entries.update(_lines(_BYPASS_ENTRY, r.bypass_lines, "voltage_v current_da power_w"))
    # upsAlarm
    entries[ups(6, 1, 0)] = Gauge32(len(r.alarms))
    for alarm in r.alarms:
        entries[(*UPS_ALARM_ID, alarm.alarm_id)] = Integer(alarm.alarm_id)
        entries[(*UPS_ALARM_DESCR, alarm.alarm_id)] = ObjectId(alarm_oid(alarm.alarm))
        entries[(*UPS_ALARM_TIME, alarm.alarm_id)] = TimeTicks(alarm.time_ticks)
    # upsTest
    entries[ups(7, 1, 0)] = ObjectId(test_oid(r.test_id))
    entries[ups(7, 2, 0)] = Integer(r.test_spin_lock)
    entries[ups(7, 3, 0)] = Integer(r.test_result)
    entries[ups(7, 4, 0)] = text(r.test_detail)
    entries[ups(7, 5, 0)] = TimeTicks(r.test_start_ticks)
    entries[ups(7, 6, 0)] = Integer(r.test_elapsed_ticks)
    # upsControl
    entries[ups(8, 1, 0)] = Integer(r.shutdown_type)
    entries[ups(8, 2, 0)] = Integer(r.shutdown_after_s)
    entries[ups(8, 3, 0)] = Integer(r.startup_after_s)
    entries[ups(8, 4, 0)] = Integer(r.reboot_after_s)
    entries[ups(8, 5, 0)] = Integer(1 if r.auto_restart else 2)
    # upsConfig
    for arc, number in enumerate(
        (
            r.config_input_voltage_v,
            r.config_input_freq_dhz,
            r.config_output_voltage_v,
            r.config_output_freq_dhz,
            r.config_output_va,
            r.config_output_power_w,
            r.low_batt_time_min,
            int(r.audible),
            r.low_transfer_v,
            r.high_transfer_v,
        ),
        start=1,
    ):
        entries[ups(9, arc, 0)] = Integer(number)
    # private: simulator counters (Counter64 shows v2c managers only, RFC 3584)
    entries[(*PRIVATE, 1, 0)] = Counter64(round(model.discharged_wh))
    entries[(*PRIVATE, 2, 0)] = Counter64(c.in_pkts)
    entries[(*PRIVATE, 3, 0)] = Gauge32(round(model.energy_wh * 10_000 / p.battery_capacity_wh))
    return MibView(entries)


# --- SET ------------------------------------------------------------------------------------------


class SetRefused(Exception):
    """A varbind a SET cannot take; ``status`` is the SNMPv2 error."""

    def __init__(self, status: ErrorStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Writable:
    """One writable scalar: ``check`` raises :class:`SetRefused`, ``apply`` commits."""

    check: Callable[[Value], None]
    apply: Callable[[Value], None]


def _integer(value: Value, low: int, high: int) -> int:
    if not isinstance(value, Integer):
        raise SetRefused(ErrorStatus.WRONG_TYPE, f"expected INTEGER, got {type(value).__name__}")
    if not low <= value.value <= high:
        raise SetRefused(ErrorStatus.WRONG_VALUE, f"{value.value} is outside {low}..{high}")
    return value.value


def _string(value: Value, max_len: int) -> str:
    if not isinstance(value, OctetString):
        raise SetRefused(
            ErrorStatus.WRONG_TYPE, f"expected OCTET STRING, got {type(value).__name__}"
        )
    if len(value.value) > max_len:
        raise SetRefused(ErrorStatus.WRONG_LENGTH, f"{len(value.value)} octets (max {max_len})")
    try:
        return value.value.decode("ascii")
    except UnicodeDecodeError:
        raise SetRefused(ErrorStatus.WRONG_VALUE, "DisplayString must be ASCII") from None


def _int_of(value: Value) -> int:
    assert isinstance(value, Integer)
    return value.value


def _str_of(value: Value) -> str:
    assert isinstance(value, OctetString)
    return value.value.decode("ascii")


def _test_kind(value: Value) -> SelfTestKind:
    if not isinstance(value, ObjectId):
        raise SetRefused(ErrorStatus.WRONG_TYPE, "upsTestId takes an OBJECT IDENTIFIER")
    arcs = value.value
    if arcs[:-1] != UPS_WELL_KNOWN_TESTS or not 1 <= arcs[-1] <= max(SelfTestKind):
        raise SetRefused(ErrorStatus.WRONG_VALUE, "not one of upsWellKnownTests")
    return SelfTestKind(arcs[-1])


def writable_objects(model: UpsModel, system: SystemGroup) -> dict[Oid, Writable]:
    """Writable scalar instances (``object.0``) and how to check and apply each."""

    def text(max_len: int, setter: Callable[[str], None]) -> Writable:
        def check(value: Value) -> None:
            _string(value, max_len)

        return Writable(check, lambda v: setter(_str_of(v)))

    def number(low: int, high: int, setter: Callable[[int], None]) -> Writable:
        def check(value: Value) -> None:
            _integer(value, low, high)

        return Writable(check, lambda v: setter(_int_of(v)))

    def check_test(value: Value) -> None:
        problem = model.check_test(_test_kind(value))
        if problem is not None:
            raise SetRefused(ErrorStatus.INCONSISTENT_VALUE, problem)

    def check_spin_lock(value: Value) -> None:
        if not model.spin_lock_matches(_integer(value, 0, 2**31 - 1)):
            raise SetRefused(ErrorStatus.INCONSISTENT_VALUE, "upsTestSpinLock does not match")

    def transfer(low: bool) -> Writable:
        def check(value: Value) -> None:
            volts = _integer(value, 0, 1000)
            problem = model.check_transfer_points(volts if low else None, None if low else volts)
            if problem is not None:
                raise SetRefused(ErrorStatus.INCONSISTENT_VALUE, problem)

        def apply(value: Value) -> None:
            volts = _int_of(value)
            model.set_transfer_points(volts if low else None, None if low else volts)

        return Writable(check, apply)

    def setattr_of(obj: object, name: str) -> Callable[[object], None]:
        return lambda v: setattr(obj, name, v)

    max_int = 2**31 - 1
    table: dict[Oid, Writable] = {
        SYS_CONTACT: text(255, setattr_of(system, "contact")),
        SYS_NAME: text(255, setattr_of(system, "name")),
        SYS_LOCATION: text(255, setattr_of(system, "location")),
        UPS_IDENT_NAME: text(63, setattr_of(model, "ident_name")),
        UPS_IDENT_ATTACHED: text(63, setattr_of(model, "attached_devices")),
        UPS_TEST_ID: Writable(check_test, lambda v: model.start_test(_test_kind(v))),
        UPS_TEST_SPIN_LOCK: Writable(check_spin_lock, lambda v: model.advance_spin_lock()),
        UPS_SHUTDOWN_TYPE: number(1, 2, lambda n: model.set_shutdown_type(ShutdownType(n))),
        UPS_SHUTDOWN_AFTER_DELAY: number(-1, max_int, model.shutdown_after),
        UPS_STARTUP_AFTER_DELAY: number(-1, max_int, model.startup_after),
        UPS_REBOOT_WITH_DURATION: number(-1, max_int, model.reboot_with_duration),
        UPS_AUTO_RESTART: number(1, 2, lambda n: model.set_auto_restart(n == 1)),
        UPS_CONFIG_INPUT_VOLTAGE: number(0, max_int, setattr_of(model, "config_input_voltage_v")),
        UPS_CONFIG_INPUT_FREQ: number(0, max_int, setattr_of(model, "config_input_freq_dhz")),
        UPS_CONFIG_OUTPUT_VOLTAGE: number(0, max_int, setattr_of(model, "config_output_voltage_v")),
        UPS_CONFIG_OUTPUT_FREQ: number(0, max_int, setattr_of(model, "config_output_freq_dhz")),
        UPS_CONFIG_LOW_BATT_TIME: number(0, max_int, model.set_low_batt_time),
        UPS_CONFIG_AUDIBLE_STATUS: number(1, 3, lambda n: model.set_audible(AudibleStatus(n))),
        UPS_CONFIG_LOW_TRANSFER: transfer(low=True),
        UPS_CONFIG_HIGH_TRANSFER: transfer(low=False),
    }
    return {(*name, 0): writable for name, writable in table.items()}
