"""Wire and device faults, and datagrams that are not SNMP."""

from __future__ import annotations

import asyncio
import socket

import pytest

from sim_devices.ups import UpsSimulator, UpsSimulatorError

from .netsnmp import Result, needs_net_snmp, snmp

pytestmark = [pytest.mark.peer, needs_net_snmp]

UPS = "1.3.6.1.2.1.33.1"
MINUTES = f"{UPS}.2.3.0"


async def quick_get(sim: UpsSimulator, *oids: str, timeout_s: float = 0.3) -> Result:
    return await snmp("snmpget", sim.port, *oids, timeout_s=timeout_s, retries=0)


async def test_silent_agent_times_out_then_recovers(sim: UpsSimulator) -> None:
    sim.set_fault("silent")
    result = await quick_get(sim, MINUTES)
    assert result.code != 0
    assert "Timeout" in result.err
    assert sim.stats()["dropped_by_fault"] == 1
    sim.set_fault("none")
    assert (await quick_get(sim, MINUTES)).values() == {MINUTES: "54"}


async def test_slow_replies(sim: UpsSimulator) -> None:
    sim.set_fault("slow", delay_s=0.8)
    late = await quick_get(sim, MINUTES)
    assert "Timeout" in late.err
    patient = await quick_get(sim, MINUTES, timeout_s=3.0)
    assert patient.code == 0, patient.err
    assert patient.values() == {MINUTES: "54"}


async def test_garbage_replies_are_rejected_by_net_snmp(sim: UpsSimulator) -> None:
    sim.set_fault("garbage")
    result = await quick_get(sim, MINUTES)
    assert result.code != 0
    assert "Timeout" in result.err  # net-snmp drops what it cannot parse and keeps waiting
    assert sim.stats()["garbage_sent"] == 1


async def test_wrong_request_id_is_discarded_by_net_snmp(sim: UpsSimulator) -> None:
    sim.set_fault("wrong_request_id")
    result = await quick_get(sim, MINUTES)
    assert result.code != 0
    assert "Timeout" in result.err
    assert sim.stats()["wrong_id_sent"] == 1


async def test_device_faults_show_in_the_mib(sim: UpsSimulator) -> None:
    sim.set_fault("battery_failed")
    result = await snmp("snmpwalk", sim.port, f"{UPS}.6.2.1.2")
    descrs = set(result.values().values())
    assert f".{UPS}.6.3.1" in descrs  # upsAlarmBatteryBad
    assert f".{UPS}.6.3.4" in descrs  # upsAlarmDepletedBattery
    status = await snmp("snmpget", sim.port, f"{UPS}.2.1.0", MINUTES)
    assert status.values() == {f"{UPS}.2.1.0": "4", MINUTES: "0"}
    sim.set_fault("overload")
    result = await snmp("snmpwalk", sim.port, f"{UPS}.6.2.1.2")
    assert f".{UPS}.6.3.8" in set(result.values().values())
    sim.set_fault("battery_failed", on=False)
    sim.set_fault("none")  # clears the overload too
    present = await snmp("snmpget", sim.port, f"{UPS}.6.1.0")
    assert present.values() == {f"{UPS}.6.1.0": "0"}
    with pytest.raises(UpsSimulatorError, match="unknown fault mode"):
        sim.set_fault("melted")


# GetRequest v1 for sysDescr.0 (see test_ber.py for the derivation)
GET_V1 = bytes.fromhex(
    "3026020100 04067075626c6963 a019020101020100020100 300e300c06082b060102010101000500"
)
PARSE_ERRORS = [
    b"",
    b"\x00",
    b"hello, agent",
    GET_V1[:-1],
    GET_V1 + b"\x00",
    b"\x30\x80" + GET_V1[2:] + b"\x00\x00",
    # v1 message carrying a GetBulk PDU (tag a5): not a v1 PDU (RFC 3584)
    GET_V1.replace(b"\xa0\x19", b"\xa5\x19"),
    bytes(range(256)),
]
BAD_VERSION = b"\x30\x03\x02\x01\x03"  # SNMPv3 header, counted as a bad version


async def test_malformed_datagrams_are_dropped_counted_and_survived(sim: UpsSimulator) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for datagram in [*PARSE_ERRORS, BAD_VERSION]:
            sock.sendto(datagram, ("127.0.0.1", sim.port))
        sock.sendto(GET_V1, ("127.0.0.1", sim.port))  # one good request last
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(5):
            reply = await loop.sock_recv(sock, 2048)
    assert b"walkout simulated UPS" in reply  # the only answer is to the good request
    result = await snmp("snmpget", sim.port, "1.3.6.1.2.1.11.6.0", "1.3.6.1.2.1.11.3.0")
    assert result.values() == {
        "1.3.6.1.2.1.11.6.0": str(len(PARSE_ERRORS)),  # snmpInASNParseErrs
        "1.3.6.1.2.1.11.3.0": "1",  # snmpInBadVersions
    }
    stats = sim.stats()
    assert stats["in_pkts"] == len(PARSE_ERRORS) + 1 + 1 + 1
    assert stats["out_pkts"] == 2
