"""Bad agents: a tiny UDP responder that answers garbage, truncated BER, wrong ids ...

Every case must end in a clear ``DeviceError`` naming what was wrong, within
the transaction timeout, and leave the client usable for the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

from devices.errors import DeviceProtocolError, DeviceTimeoutError
from devices.snmp import Community, SnmpClient, SnmpErrorStatus, SnmpTarget
from devices.ups.snmp import SnmpUps

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
COLUMN = "1.3.6.1.2.1.33.1.3.3.1.3"

Handler = Callable[[Any, Any], bytes | None]  # (request message, request pdu) -> reply


class Responder(asyncio.DatagramProtocol):
    """Answers every SNMPv2c request with whatever ``handler`` makes of it."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests = 0
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.requests += 1
        message, _ = decoder.decode(data, asn1Spec=v2c.Message())
        reply = self.handler(message, v2c.apiMessage.get_pdu(message))
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def response(message: Any, varbinds: list[tuple[str, Any]], **pdu_fields: int) -> Any:
    reply = v2c.apiMessage.get_response(message)
    pdu = v2c.apiMessage.get_pdu(reply)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    if "request_id" in pdu_fields:
        v2c.apiPDU.set_request_id(pdu, pdu_fields["request_id"])
    if "error_status" in pdu_fields:
        v2c.apiPDU.set_error_status(pdu, pdu_fields["error_status"])
        v2c.apiPDU.set_error_index(pdu, pdu_fields["error_index"])
    return reply


def asked(pdu: Any) -> list[str]:
    return [str(oid) for oid, _ in v2c.apiPDU.get_varbinds(pdu)]


def echo(message: Any, pdu: Any) -> bytes:
    return encoder.encode(response(message, [(oid, v2c.Integer(1)) for oid in asked(pdu)]))


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Responder, SnmpTarget]]:
    loop = asyncio.get_running_loop()
    responder = Responder(echo)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: responder, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        yield responder, SnmpTarget("127.0.0.1", port, timeout_s=0.3, retries=1)
    finally:
        transport.close()
        await asyncio.sleep(0)


@pytest.fixture
async def client(agent) -> AsyncIterator[SnmpClient]:
    _, target = agent
    async with SnmpClient(target, Community("public"), device="bad-agent") as c:
        yield c


async def still_works(responder: Responder, client: SnmpClient) -> None:
    responder.handler = echo
    values = await client.get([SYS_DESCR])
    assert values[SYS_DESCR] is not None
    assert values[SYS_DESCR].number == 1


async def test_silence_is_a_timeout_naming_the_causes(agent, client):
    responder, _ = agent
    responder.handler = lambda message, pdu: None
    with pytest.raises(DeviceTimeoutError, match="wrong community") as info:
        await client.get([SYS_DESCR])
    assert "bad-agent" in str(info.value)
    assert responder.requests == 2  # the first try and one retry
    await still_works(responder, client)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("garbage", lambda m, p: b"\x17\x42 this is not BER \xff\x00"),
        ("truncated", lambda m, p: echo(m, p)[:-5]),
        ("trailing", lambda m, p: echo(m, p) + b"\x00\x01"),
        ("oversize", lambda m, p: b"\x30\x84\x00\x00\xff\xff" + b"\xab" * 60000),
    ],
)
async def test_undecodable_answers_are_protocol_errors(agent, client, name, make):
    responder, _ = agent
    responder.handler = make
    with pytest.raises(DeviceProtocolError, match="not decodable as SNMP") as info:
        await client.get([SYS_DESCR])
    assert not isinstance(info.value, DeviceTimeoutError)
    await still_works(responder, client)


async def test_wrong_request_id_is_a_protocol_error(agent, client):
    responder, _ = agent

    def wrong_id(message: Any, pdu: Any) -> bytes:
        request_id = int(v2c.apiPDU.get_request_id(pdu))
        varbinds = [(oid, v2c.Integer(1)) for oid in asked(pdu)]
        return encoder.encode(response(message, varbinds, request_id=request_id + 1))

    responder.handler = wrong_id
    with pytest.raises(DeviceProtocolError, match="match no request"):
        await client.get([SYS_DESCR])
    await still_works(responder, client)


async def test_error_status_names_the_oid(agent, client):
    responder, _ = agent

    def gen_err(message: Any, pdu: Any) -> bytes:
        varbinds = [(oid, v2c.Integer(1)) for oid in asked(pdu)]
        return encoder.encode(response(message, varbinds, error_status=5, error_index=2))

    responder.handler = gen_err
    with pytest.raises(SnmpErrorStatus) as info:
        await client.get([SYS_DESCR, "1.3.6.1.2.1.1.5.0"])
    assert info.value.status == "genErr"
    assert info.value.oid == "1.3.6.1.2.1.1.5.0"
    assert "genErr on 1.3.6.1.2.1.1.5.0" in str(info.value)
    assert isinstance(info.value, DeviceProtocolError)


async def test_answer_for_another_oid(agent, client):
    responder, _ = agent
    responder.handler = lambda m, p: encoder.encode(
        response(m, [("1.3.6.1.2.1.1.99.0", v2c.Integer(1))])
    )
    with pytest.raises(DeviceProtocolError, match=f"asked for {SYS_DESCR}"):
        await client.get([SYS_DESCR])


async def test_missing_varbinds(agent, client):
    responder, _ = agent
    responder.handler = lambda m, p: encoder.encode(response(m, [(SYS_DESCR, v2c.Integer(1))]))
    with pytest.raises(DeviceProtocolError, match="asked for 2 variable bindings"):
        await client.get([SYS_DESCR, "1.3.6.1.2.1.1.5.0"])


async def test_absent_values_are_none_not_errors(agent, client):
    responder, _ = agent
    responder.handler = lambda m, p: encoder.encode(
        response(m, [(oid, v2c.NoSuchInstance("")) for oid in asked(p)])
    )
    assert await client.get([SYS_DESCR]) == {SYS_DESCR: None}


async def test_walk_that_does_not_advance(agent, client):
    responder, _ = agent

    def stuck(message: Any, pdu: Any) -> bytes:
        # The first row, then the OID it was asked for again: a walk would never end.
        oid = asked(pdu)[0]
        return encoder.encode(
            response(message, [(f"{COLUMN}.1" if oid == COLUMN else oid, v2c.Integer(1))])
        )

    responder.handler = stuck
    with pytest.raises(DeviceProtocolError, match="increasing"):
        await client.walk_columns([COLUMN])


async def test_endless_table_is_cut_at_max_rows(agent, client):
    responder, _ = agent

    def next_row(message: Any, pdu: Any) -> bytes:
        last = asked(pdu)[0]
        index = int(last.rsplit(".", 1)[1]) + 1 if last != COLUMN else 1
        return encoder.encode(response(message, [(f"{COLUMN}.{index}", v2c.Integer(index))]))

    responder.handler = next_row
    with pytest.raises(DeviceProtocolError, match="more than 5 rows"):
        await client.walk_columns([COLUMN], max_rows=5)


async def test_the_driver_turns_garbage_into_a_failed_read(agent):
    responder, target = agent
    responder.handler = lambda m, p: b"\x30\x03\x02\x01"  # truncated SEQUENCE
    ups = SnmpUps("ups-bad", target, Community("public"))
    with pytest.raises(DeviceProtocolError, match="not decodable"):
        await ups.read()
    assert ups.resolved is None  # nothing half-identified is kept
    await ups.close()


async def test_an_agent_that_is_no_ups(agent):
    responder, target = agent
    responder.handler = lambda m, p: encoder.encode(
        response(m, [(oid, v2c.NoSuchObject("")) for oid in asked(p)])
    )
    ups = SnmpUps("not-a-ups", target, Community("public"))
    with pytest.raises(DeviceProtocolError, match="none of the UPS profiles"):
        await ups.connect()
    await ups.close()
