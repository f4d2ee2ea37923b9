"""The trap receiver against real senders: net-snmp's snmptrap (v1, v2c) and pysnmp.

The four RFC 1628 notifications (upsTraps 1.3.6.1.2.1.33.2.1-4), v1 traps
normalised to their RFC 3584 v2 form, informs acknowledged, a wrong community
ignored and counted, garbage and oversize datagrams counted (and logged once
per sender) while the receiver keeps working.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    Integer32,
    NotificationType,
    ObjectIdentifier,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    send_notification,
)
from pysnmp.proto.api import v2c

from devices.snmp import Syntax
from devices.snmp.traps import (
    SNMP_TRAP_ADDRESS_0,
    SNMP_TRAP_ENTERPRISE_0,
    Trap,
    TrapReceiver,
)
from devices.ups.profile import builtin_ups_profiles

UPS_TRAPS = "1.3.6.1.2.1.33.2"
UPS_MIB = "1.3.6.1.2.1.33.1."
WAIT_S = 5.0

needs_snmptrap = pytest.mark.skipif(
    shutil.which("snmptrap") is None, reason="net-snmp's snmptrap is not installed (apt: snmp)"
)


def trap_name(trap: Trap) -> str | None:
    return builtin_ups_profiles()["ietf"].trap_name(trap.trap_oid)


async def snmptrap(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "snmptrap", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), WAIT_S)
    assert proc.returncode == 0, (out + err).decode()


@pytest.fixture
async def receiver():
    async with TrapReceiver("127.0.0.1", 0, ["public", "ups-traps"]) as r:
        yield r


async def next_trap(receiver: TrapReceiver) -> Trap:
    return await asyncio.wait_for(receiver.get(), WAIT_S)


async def test_port_zero_binds_a_real_port(receiver: TrapReceiver):
    assert receiver.port > 0
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        pytest.raises(OSError, match="in use"),
    ):
        sock.bind(("127.0.0.1", receiver.port))


@needs_snmptrap
async def test_v1_on_battery_is_normalised(receiver: TrapReceiver):
    # SNMPv1: enterprise upsTraps, enterpriseSpecific(6), specific 1 = upsTrapOnBattery.
    await snmptrap(
        "-v1",
        "-c",
        "public",
        f"127.0.0.1:{receiver.port}",
        UPS_TRAPS,
        "127.0.0.7",
        "6",
        "1",
        "4242",
        f"{UPS_MIB}2.3.0",
        "i",
        "17",
        f"{UPS_MIB}2.2.0",
        "i",
        "30",
    )
    trap = await next_trap(receiver)
    assert trap.version == "1"
    assert trap.trap_oid == f"{UPS_TRAPS}.0.1"  # RFC 3584: enterprise.0.specific
    assert trap_name(trap) == "upsTrapOnBattery"
    assert trap.uptime_ticks == 4242
    assert trap.value(f"{UPS_MIB}2.3.0").number == 17
    assert trap.value(f"{UPS_MIB}2.2.0").number == 30
    address = trap.value(SNMP_TRAP_ADDRESS_0)
    assert address.syntax is Syntax.IP_ADDRESS
    assert address.text() == "127.0.0.7"
    assert trap.value(SNMP_TRAP_ENTERPRISE_0).text() == UPS_TRAPS
    assert trap.sender[0] == "127.0.0.1"


@needs_snmptrap
async def test_v1_generic_trap(receiver: TrapReceiver):
    await snmptrap(
        "-v1", "-c", "public", f"127.0.0.1:{receiver.port}", "1.3.6.1.4.1.318", "", "0", "0", ""
    )
    trap = await next_trap(receiver)
    assert trap.trap_oid == "1.3.6.1.6.3.1.1.5.1"  # coldStart = snmpTraps.1


@needs_snmptrap
async def test_v2c_test_completed(receiver: TrapReceiver):
    await snmptrap(
        "-v2c",
        "-c",
        "ups-traps",
        f"127.0.0.1:{receiver.port}",
        "99",
        f"{UPS_TRAPS}.2",
        f"{UPS_MIB}7.1.0",
        "o",
        f"{UPS_MIB}7.7.4",
        f"{UPS_MIB}7.3.0",
        "i",
        "1",
        f"{UPS_MIB}7.4.0",
        "s",
        "passed",
    )
    trap = await next_trap(receiver)
    assert trap.version == "2c"
    assert trap_name(trap) == "upsTrapTestCompleted"
    assert trap.uptime_ticks == 99
    assert trap.value(f"{UPS_MIB}7.1.0").text() == f"{UPS_MIB}7.7.4"
    assert trap.value(f"{UPS_MIB}7.4.0").text() == "passed"
    assert [oid for oid, _ in trap.varbinds] == [
        f"{UPS_MIB}7.1.0",
        f"{UPS_MIB}7.3.0",
        f"{UPS_MIB}7.4.0",
    ]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pysnmp's MIB compiler, via pysmi
async def test_pysnmp_alarm_added_trap_and_removed_inform(receiver: TrapReceiver):
    engine = SnmpEngine()
    try:
        target = await UdpTransportTarget.create(("127.0.0.1", receiver.port), timeout=1, retries=0)
        auth = CommunityData("public", mpModel=1)
        added = NotificationType(ObjectIdentity(f"{UPS_TRAPS}.3")).add_varbinds(
            ObjectType(ObjectIdentity(f"{UPS_MIB}6.2.1.1.4"), Integer32(4)),
            ObjectType(ObjectIdentity(f"{UPS_MIB}6.2.1.2.4"), ObjectIdentifier(f"{UPS_MIB}6.3.2")),
        )
        result = await send_notification(engine, auth, target, ContextData(), "trap", added)
        assert result[0] is None
        trap = await next_trap(receiver)
        assert trap_name(trap) == "upsTrapAlarmEntryAdded"
        assert trap.value(f"{UPS_MIB}6.2.1.2.4").text() == f"{UPS_MIB}6.3.2"
        assert not trap.inform

        removed = NotificationType(ObjectIdentity(f"{UPS_TRAPS}.4")).add_varbinds(
            ObjectType(ObjectIdentity(f"{UPS_MIB}6.2.1.1.4"), Integer32(4)),
        )
        # An inform waits for our Response: no error indication means it was acknowledged.
        indication, status, _, _ = await send_notification(
            engine, auth, target, ContextData(), "inform", removed
        )
        assert indication is None
        assert int(status) == 0
        trap = await next_trap(receiver)
        assert trap_name(trap) == "upsTrapAlarmEntryRemoved"
        assert trap.inform
        assert receiver.stats.informs_acknowledged == 1
    finally:
        engine.close_dispatcher()
        await asyncio.sleep(0)


@needs_snmptrap
async def test_wrong_community_is_ignored_and_counted(receiver: TrapReceiver, caplog):
    caplog.set_level(logging.WARNING, logger="devices.snmp.traps")
    for _ in range(3):
        await snmptrap("-v2c", "-c", "guess", f"127.0.0.1:{receiver.port}", "", f"{UPS_TRAPS}.1")
    await snmptrap("-v2c", "-c", "public", f"127.0.0.1:{receiver.port}", "", f"{UPS_TRAPS}.1")
    trap = await next_trap(receiver)  # only the right community comes through
    assert trap.community == "public"
    assert receiver.stats.bad_community == 3
    assert receiver.get_nowait() is None
    warnings = [r for r in caplog.records if "unknown community" in r.getMessage()]
    assert len(warnings) == 1  # logged once per sender
    assert "guess" not in caplog.text  # the community is a secret


def _v2c_trap_bytes(community: str = "public") -> bytes:
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    pdu = v2c.TrapPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(
        pdu,
        [
            ("1.3.6.1.2.1.1.3.0", v2c.TimeTicks(5)),
            ("1.3.6.1.6.3.1.1.4.1.0", v2c.ObjectIdentifier(f"{UPS_TRAPS}.1")),
        ],
    )
    v2c.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def _get_request_bytes() -> bytes:
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.1.0", v2c.null)])
    v2c.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


async def test_garbage_and_oversize_are_counted_and_the_receiver_survives(
    receiver: TrapReceiver, caplog
):
    caplog.set_level(logging.WARNING, logger="devices.snmp.traps")
    good = _v2c_trap_bytes()
    bad = [
        b"",
        b"\x00\xff garbage",
        good[: len(good) // 2],  # truncated BER
        good + b"\x00\x00",  # trailing bytes
        b"\x30\x82\xff\xff" + b"\x02" * 20,  # length beyond the datagram
        b"\x30" * 200,
        _v2c_trap_bytes("public")[:-1] + b"\xff",  # broken last byte
    ]
    oversize = b"\x30\x82" + b"\x00" * (receiver.max_datagram_bytes + 10)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in [*bad, oversize, oversize, _get_request_bytes(), good]:
            sock.sendto(datagram, ("127.0.0.1", receiver.port))
        trap = await next_trap(receiver)  # the good one, sent last, still arrives
    assert trap.trap_oid == f"{UPS_TRAPS}.1"
    stats = receiver.stats
    assert stats.oversize == 2
    assert stats.unsupported == 1  # the GET request
    assert stats.malformed == len(bad)
    assert stats.delivered == 1
    assert stats.datagrams == len(bad) + 4
    kinds = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(kinds) == 3  # malformed, oversize, unsupported: once each for this sender


async def test_queue_full_drops_and_counts():
    async with TrapReceiver("127.0.0.1", 0, ["public"], queue_size=1) as small:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(3):
                sock.sendto(_v2c_trap_bytes(), ("127.0.0.1", small.port))
            first = await next_trap(small)
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while small.stats.datagrams < 3:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
    assert first.trap_oid == f"{UPS_TRAPS}.1"
    assert small.stats.dropped + small.stats.delivered == 3
    assert small.stats.dropped >= 1


async def test_callback_sees_every_trap_and_its_errors_do_not_stop_the_receiver():
    seen: list[Trap] = []

    def on_trap(trap: Trap) -> None:
        seen.append(trap)
        raise RuntimeError("consumer bug")

    async with TrapReceiver("127.0.0.1", 0, ["public"], on_trap=on_trap) as r:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(_v2c_trap_bytes(), ("127.0.0.1", r.port))
            sock.sendto(_v2c_trap_bytes(), ("127.0.0.1", r.port))
            await next_trap(r)
            await next_trap(r)
    assert len(seen) == 2


async def test_port_in_use_is_a_clear_error(receiver: TrapReceiver):
    from devices.errors import DeviceConnectionError

    with pytest.raises(DeviceConnectionError, match="cannot listen for traps"):
        async with TrapReceiver("127.0.0.1", receiver.port, ["public"]):
            pass


@needs_snmptrap
async def test_v3_notification_is_unsupported_not_malformed(receiver: TrapReceiver):
    await snmptrap(
        "-v3",
        "-e",
        "0x80001f8880aabbccdd",
        "-u",
        "someone",
        "-l",
        "noAuthNoPriv",
        f"127.0.0.1:{receiver.port}",
        "",
        f"{UPS_TRAPS}.1",
    )
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while receiver.stats.datagrams < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    assert receiver.stats.unsupported == 1
    assert receiver.stats.malformed == 0
