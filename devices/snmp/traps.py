"""An asyncio SNMP trap receiver for v1 and v2c (traps and informs).

Hand-rolled on an asyncio datagram endpoint with pysnmp's protocol modules
for BER decoding, rather than pysnmp's notification receiver, because the
receiver has to account for what it refuses: a datagram with an unknown
community, an undecodable or oversize one, a PDU that is not a notification.
Each is counted in ``TrapStats`` and logged once per sender at WARNING (a
babbling device must not flood the log, and one bad datagram must never stop
the receiver).

Every notification comes out in SNMPv2 form (RFC 3584 section 3.1): a v1
trap's ``enterprise``/``generic-trap``/``specific-trap`` become one
snmpTrapOID (``enterprise.0.specific`` for enterprise-specific traps,
``snmpTraps.(generic+1)`` for the generic ones), and the agent address and
enterprise are appended as snmpTrapAddress.0 and snmpTrapEnterprise.0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pysnmp.proto import api
from pysnmp.proto.api import v1 as v1_api
from pysnmp.proto.api import v2c as v2c_api
from pysnmp.proto.error import ProtocolError

from devices.errors import DeviceConnectionError
from devices.snmp.values import SnmpValue, Syntax, from_asn1, oid_str

_LOGGER = logging.getLogger(__name__)

SYS_UPTIME_0 = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_OID_0 = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ENTERPRISE_0 = "1.3.6.1.6.3.1.1.4.3.0"
SNMP_TRAP_ADDRESS_0 = "1.3.6.1.6.3.18.1.3.0"
SNMP_TRAPS = (1, 3, 6, 1, 6, 3, 1, 1, 5)  # coldStart is snmpTraps.1 = generic-trap 0 + 1
ENTERPRISE_SPECIFIC = 6
_SNMP_VERSION_3 = 3

DEFAULT_MAX_DATAGRAM_BYTES = 8192
"""Larger datagrams are refused unread; a UPS trap with its varbinds is a few hundred bytes."""

_MAX_WARNED_SENDERS = 1024  # bound on the once-per-sender memory


@dataclass(frozen=True, slots=True)
class Trap:
    """One notification in SNMPv2 form.

    ``varbinds`` are the notification's own variables (without sysUpTime.0
    and snmpTrapOID.0, which have their own fields); for a v1 trap the
    RFC 3584 additions come last.
    """

    sender: tuple[str, int]
    version: Literal["1", "2c"]
    trap_oid: str
    uptime_ticks: int | None
    varbinds: tuple[tuple[str, SnmpValue | None], ...] = ()
    inform: bool = False
    received_mono: float = 0.0
    community: str = field(default="", repr=False)

    @property
    def sender_text(self) -> str:
        """host:port of the sender."""
        return f"{self.sender[0]}:{self.sender[1]}"

    def value(self, oid: str) -> SnmpValue | None:
        """The value bound to ``oid`` in this notification, if any."""
        for name, value in self.varbinds:
            if name == oid:
                return value
        return None


@dataclass
class TrapStats:
    """What the receiver did with every datagram, for telemetry and tests."""

    datagrams: int = 0
    delivered: int = 0
    informs_acknowledged: int = 0
    bad_community: int = 0
    malformed: int = 0
    oversize: int = 0
    unsupported: int = 0  # SNMPv3, or a PDU that is not a notification
    dropped: int = 0  # queue full: nobody is reading


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: TrapReceiver) -> None:
        self._receiver = receiver

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._receiver._datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        _LOGGER.debug("trap receiver socket error: %s", exc)


class TrapReceiver:
    """Receives v1/v2c notifications on ``host``:``port`` (port 0: any free port).

    Consume with ``async for trap in receiver`` (bounded queue; when it is
    full new traps are dropped and counted) and/or give ``on_trap``, a plain
    function called for every accepted trap (it must not block).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 162,
        communities: Collection[str] = ("public",),
        *,
        on_trap: Callable[[Trap], None] | None = None,
        queue_size: int = 1000,
        max_datagram_bytes: int = DEFAULT_MAX_DATAGRAM_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not communities:
            raise ValueError("a trap receiver needs at least one accepted community")
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.host = host
        self.requested_port = port
        self.stats = TrapStats()
        self.on_trap = on_trap
        self.max_datagram_bytes = max_datagram_bytes
        self._communities = frozenset(c.encode() for c in communities)
        self._clock = clock
        self._queue: asyncio.Queue[Trap] = asyncio.Queue(maxsize=queue_size)
        self._transport: asyncio.DatagramTransport | None = None
        self._warned: set[tuple[str, str]] = set()
        self._port = 0

    def __repr__(self) -> str:
        return f"TrapReceiver({self.host}:{self._port or self.requested_port})"

    @property
    def port(self) -> int:
        """The UDP port actually bound (0 before ``start``)."""
        return self._port

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Bind the socket; raises ``DeviceConnectionError`` when the port cannot be had."""
        if self._transport is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Protocol(self), local_addr=(self.host, self.requested_port)
            )
        except OSError as exc:
            raise DeviceConnectionError(
                f"cannot listen for traps: {exc}",
                device="trap-receiver",
                address=f"{self.host}:{self.requested_port}",
            ) from None
        self._transport = transport
        self._port = int(transport.get_extra_info("sockname")[1])
        _LOGGER.info("listening for SNMP traps on %s:%d", self.host, self._port)

    async def close(self) -> None:
        """Stop listening; safe to call twice."""
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
            await asyncio.sleep(0)  # let the loop run connection_lost: the socket closes now

    async def get(self) -> Trap:
        """The next accepted trap, waiting for one."""
        return await self._queue.get()

    def get_nowait(self) -> Trap | None:
        """The next accepted trap if one is queued."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __aiter__(self) -> AsyncIterator[Trap]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Trap]:
        while True:
            yield await self._queue.get()

    # --- one datagram ------------------------------------------------------------------------

    def _datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        self.stats.datagrams += 1
        if len(data) > self.max_datagram_bytes:
            self.stats.oversize += 1
            self._warn_once(
                sender,
                "oversize",
                "dropped a %d-byte datagram (limit %d)",
                len(data),
                self.max_datagram_bytes,
            )
            return
        try:
            trap = self._decode(data, sender)
        except _Refused as refused:
            self._refuse(sender, refused)
        except Exception as exc:  # one datagram must never stop the receiver
            self.stats.malformed += 1
            self._warn_once(sender, "malformed", "dropped an undecodable datagram: %s", exc)
        else:
            self._deliver(trap)

    def _decode(self, data: bytes, sender: tuple[str, int]) -> Trap:
        try:
            version = int(api.decodeMessageVersion(data))
        except ProtocolError as exc:
            raise _Refused("malformed", f"not SNMP: {exc}") from None
        if version == _SNMP_VERSION_3:
            raise _Refused("unsupported", "SNMPv3 notifications are not accepted (v1/v2c only)")
        if version not in (api.SNMP_VERSION_1, api.SNMP_VERSION_2C):
            raise _Refused("malformed", f"no SNMP message version {version}")
        module: Any = api.PROTOCOL_MODULES[version]
        try:
            message, rest = decoder.decode(data, asn1Spec=module.Message())
        except PyAsn1Error as exc:
            raise _Refused("malformed", f"bad BER: {exc}") from None
        if rest:
            raise _Refused("malformed", f"{len(rest)} trailing bytes after the message")
        community = bytes(module.apiMessage.get_community(message))
        if community not in self._communities:
            raise _Refused("bad_community", "unknown community")
        pdu = module.apiMessage.get_pdu(message)
        now = self._clock()
        text = community.decode(errors="replace")
        if version == api.SNMP_VERSION_1:
            if not pdu.isSameTypeWith(v1_api.TrapPDU()):
                raise _Refused("unsupported", f"v1 {type(pdu).__name__} is not a trap")
            return _from_v1(pdu, sender, now, text)
        is_inform = pdu.isSameTypeWith(v2c_api.InformRequestPDU())
        if not (is_inform or pdu.isSameTypeWith(v2c_api.SNMPv2TrapPDU())):
            raise _Refused("unsupported", f"v2c {type(pdu).__name__} is not a notification")
        trap = _from_v2c(pdu, sender, now, text, is_inform)
        if is_inform:
            self._acknowledge(message, pdu, sender)
        return trap

    def _acknowledge(self, message: Any, pdu: Any, sender: tuple[str, int]) -> None:
        """Answer an inform with a Response carrying its request-id and bindings (RFC 3416)."""
        response = v2c_api.apiMessage.get_response(message)
        response_pdu = v2c_api.apiMessage.get_pdu(response)
        v2c_api.apiPDU.set_varbinds(response_pdu, v2c_api.apiPDU.get_varbinds(pdu))
        if self._transport is not None:
            self._transport.sendto(encoder.encode(response), sender)
            self.stats.informs_acknowledged += 1

    def _refuse(self, sender: tuple[str, int], refused: _Refused) -> None:
        setattr(self.stats, refused.kind, getattr(self.stats, refused.kind) + 1)
        self._warn_once(sender, refused.kind, "ignored a datagram: %s", refused.reason)

    def _deliver(self, trap: Trap) -> None:
        if self.on_trap is not None:
            try:
                self.on_trap(trap)
            except Exception:  # a consumer's bug must not stop the receiver
                _LOGGER.exception("trap callback failed for %s from %s", trap.trap_oid, trap.sender)
        try:
            self._queue.put_nowait(trap)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            self._warn_once(
                trap.sender, "dropped", "trap queue full (%d): dropped", self._queue.maxsize
            )
            return
        self.stats.delivered += 1

    def _warn_once(self, sender: tuple[str, int], kind: str, message: str, *args: object) -> None:
        key = (sender[0], kind)
        if key in self._warned or len(self._warned) >= _MAX_WARNED_SENDERS:
            return
        self._warned.add(key)
        _LOGGER.warning(
            "trap receiver %s:%d, from %s: " + message + " (further ones from it are only counted)",
            self.host,
            self._port,
            sender[0],
            *args,
        )


class _Refused(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def _varbinds(module: Any, pdu: Any) -> list[tuple[str, SnmpValue | None]]:
    out: list[tuple[str, SnmpValue | None]] = []
    for name, value in module.apiPDU.get_varbinds(pdu):
        oid = str(name)
        out.append((oid, from_asn1(value, oid=oid)))
    return out


def _from_v1(pdu: Any, sender: tuple[str, int], now: float, community: str) -> Trap:
    api_trap = v1_api.apiTrapPDU
    enterprise = tuple(api_trap.get_enterprise(pdu))
    generic = int(api_trap.get_generic_trap(pdu))
    specific = int(api_trap.get_specific_trap(pdu))
    address = from_asn1(api_trap.get_agent_address(pdu), oid="agent-addr")
    if generic == ENTERPRISE_SPECIFIC:
        trap_oid = (*enterprise, 0, specific)
    elif 0 <= generic < ENTERPRISE_SPECIFIC:
        trap_oid = (*SNMP_TRAPS, generic + 1)
    else:
        raise _Refused("malformed", f"v1 trap with generic-trap {generic} (expected 0..6)")
    varbinds = [(str(n), from_asn1(v, oid=str(n))) for n, v in api_trap.get_varbinds(pdu)]
    varbinds.append((SNMP_TRAP_ADDRESS_0, address))
    varbinds.append((SNMP_TRAP_ENTERPRISE_0, SnmpValue(Syntax.OID, oid_str(enterprise))))
    return Trap(
        sender=sender,
        version="1",
        trap_oid=oid_str(trap_oid),
        uptime_ticks=int(api_trap.get_timestamp(pdu)),
        varbinds=tuple(varbinds),
        received_mono=now,
        community=community,
    )


def _from_v2c(pdu: Any, sender: tuple[str, int], now: float, community: str, inform: bool) -> Trap:
    varbinds = _varbinds(v2c_api, pdu)
    # RFC 3416 section 4.2.6: sysUpTime.0 first, snmpTrapOID.0 second, always.
    if len(varbinds) < 2 or varbinds[0][0] != SYS_UPTIME_0 or varbinds[1][0] != SNMP_TRAP_OID_0:
        raise _Refused("malformed", "notification without sysUpTime.0 and snmpTrapOID.0 first")
    uptime, trap_oid = varbinds[0][1], varbinds[1][1]
    if trap_oid is None or trap_oid.syntax is not Syntax.OID:
        raise _Refused("malformed", "snmpTrapOID.0 is not an OBJECT IDENTIFIER")
    return Trap(
        sender=sender,
        version="2c",
        trap_oid=str(trap_oid.value),
        uptime_ticks=uptime.number if uptime is not None else None,
        varbinds=tuple(varbinds[2:]),
        inform=inform,
        received_mono=now,
        community=community,
    )
