"""Notifications of RFC 1628 as SNMPv1 Trap-PDUs or SNMPv2-Trap PDUs.

UPS-MIB defines its notifications in SMIv2 as ``upsTraps.N``
(1.3.6.1.2.1.33.2.N). A v2c target gets exactly that OID as snmpTrapOID.0.
A v1 target gets enterprise ``upsTraps`` with specific-trap N (RFC 3584
section 3.2, the next-to-last arc is not 0); a receiver that translates v1
back to v2 (RFC 3584 section 3.1, as snmptrapd and pysnmp do) then shows
``upsTraps.0.N``, e.g. 1.3.6.1.2.1.33.2.0.1 for upsTrapOnBattery. Managers
must accept both spellings.

Which events notify follows RFC 1628: upsTrapAlarmEntryAdded for every new
alarm except upsAlarmOnBattery and upsAlarmTestInProgress (those have their
own notifications), upsTrapAlarmEntryRemoved for every cleared alarm except
upsAlarmTestInProgress, upsTrapOnBattery on transfer and once a minute while
on battery.
"""

from __future__ import annotations

import ipaddress

from sim_devices.ups.config import TrapTarget
from sim_devices.ups.mib import (
    COLD_START,
    SNMP_TRAP_OID_0,
    SYS_UPTIME_0,
    TRAP_ALARM_ENTRY_ADDED,
    TRAP_ALARM_ENTRY_REMOVED,
    TRAP_ON_BATTERY,
    TRAP_TEST_COMPLETED,
    UPS_ALARM_DESCR,
    UPS_ALARM_ID,
    UPS_CONFIG_LOW_BATT_TIME,
    UPS_MINUTES_REMAINING,
    UPS_SECONDS_ON_BATTERY,
    UPS_TEST_ELAPSED_TIME,
    UPS_TEST_ID,
    UPS_TEST_RESULTS_DETAIL,
    UPS_TEST_RESULTS_SUMMARY,
    UPS_TEST_SPIN_LOCK,
    UPS_TEST_START_TIME,
    UPS_TRAPS,
    MibView,
    alarm_oid,
)
from sim_devices.ups.model import Alarm, EventKind, UpsEvent
from sim_devices.ups.snmp import (
    Integer,
    Message,
    ObjectId,
    Oid,
    Pdu,
    PduType,
    TimeTicks,
    TrapV1Pdu,
    VarBind,
    Version,
)

GENERIC_COLD_START = 0
GENERIC_ENTERPRISE_SPECIFIC = 6

_NO_ADDED_TRAP = {Alarm.ON_BATTERY, Alarm.TEST_IN_PROGRESS}
_NO_REMOVED_TRAP = {Alarm.TEST_IN_PROGRESS}


def notification_for(event: UpsEvent, view: MibView) -> tuple[Oid, list[VarBind]] | None:
    """The notification OID and its objects for a model event, or None if it has none."""

    def scalar(name: Oid) -> VarBind:
        instance = (*name, 0)
        return instance, view.get(instance)

    if event.kind in (EventKind.ON_BATTERY, EventKind.ON_BATTERY_REMINDER):
        objects = [UPS_MINUTES_REMAINING, UPS_SECONDS_ON_BATTERY, UPS_CONFIG_LOW_BATT_TIME]
        return TRAP_ON_BATTERY, [scalar(name) for name in objects]
    if event.kind == EventKind.TEST_COMPLETED:
        objects = [
            UPS_TEST_ID,
            UPS_TEST_SPIN_LOCK,
            UPS_TEST_RESULTS_SUMMARY,
            UPS_TEST_RESULTS_DETAIL,
            UPS_TEST_START_TIME,
            UPS_TEST_ELAPSED_TIME,
        ]
        return TRAP_TEST_COMPLETED, [scalar(name) for name in objects]
    if event.kind in (EventKind.ALARM_ADDED, EventKind.ALARM_REMOVED):
        assert event.alarm is not None
        assert event.alarm_id is not None
        added = event.kind == EventKind.ALARM_ADDED
        if event.alarm in (_NO_ADDED_TRAP if added else _NO_REMOVED_TRAP):
            return None
        row = event.alarm_id
        varbinds: list[VarBind] = [
            ((*UPS_ALARM_ID, row), Integer(row)),
            ((*UPS_ALARM_DESCR, row), ObjectId(alarm_oid(event.alarm))),
        ]
        return (TRAP_ALARM_ENTRY_ADDED if added else TRAP_ALARM_ENTRY_REMOVED), varbinds
    return None


def encode_notification(
    target: TrapTarget,
    trap_oid: Oid,
    varbinds: list[VarBind],
    uptime_ticks: int,
    request_id: int,
    *,
    agent_addr: str = "127.0.0.1",
    enterprise: Oid = UPS_TRAPS,
) -> bytes:
    """The datagram for one target, in its SNMP version.

    ``enterprise`` only matters for generic v1 traps (coldStart), which carry
    the agent's sysObjectID there.
    """
    community = target.community.encode()
    if target.version == "v2c":
        pdu = Pdu(
            PduType.TRAP_V2,
            request_id,
            0,
            0,
            (
                (SYS_UPTIME_0, TimeTicks(uptime_ticks)),
                (SNMP_TRAP_OID_0, ObjectId(trap_oid)),
                *varbinds,
            ),
        )
        return Message(Version.V2C, community, pdu).encode()
    if trap_oid == COLD_START:
        generic, specific = GENERIC_COLD_START, 0
    else:
        # RFC 3584 3.2: enterprise is the notification OID without its last arc
        # (without the last two when the next-to-last is 0).
        generic, specific = GENERIC_ENTERPRISE_SPECIFIC, trap_oid[-1]
        enterprise = trap_oid[:-2] if trap_oid[-2] == 0 else trap_oid[:-1]
    trap = TrapV1Pdu(
        enterprise,
        ipaddress.IPv4Address(agent_addr).packed,
        generic,
        specific,
        uptime_ticks,
        tuple(varbinds),
    )
    return Message(Version.V1, community, trap).encode()
