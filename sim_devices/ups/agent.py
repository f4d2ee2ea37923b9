"""The SNMP v1/v2c agent: one UDP socket, the UPS model behind it, traps out of it.

Behaviour a manager can rely on, as with real agents:

- an unknown community gets no answer (counted in snmpInBadCommunityNames);
  a read community that tries SET gets noAccess (v2c) or noSuchName (v1);
- anything that does not parse is dropped and counted (snmpInASNParseErrs),
  as is a GetBulk inside a v1 message; nothing a peer sends can stop the agent;
- v1 managers never see Counter64 values or v2 exceptions (RFC 3584): GET
  answers noSuchName, GETNEXT skips past them;
- responses larger than ``max_message_size`` are tooBig, except GetBulk,
  which is cut short to fit (RFC 3416 section 4.2.3);
- SET is all or nothing: every varbind is checked before any is applied.

Notifications go out of the same socket, to every configured trap target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from sim_devices.ups.ber import BerError
from sim_devices.ups.config import AgentConfig, TrapTarget
from sim_devices.ups.faults import GARBAGE_REPLY, WireFault, WireFaultState
from sim_devices.ups.mib import (
    COLD_START,
    OBJECT_TYPES,
    AgentCounters,
    MibView,
    SetRefused,
    SystemGroup,
    Writable,
    build_view,
    writable_objects,
)
from sim_devices.ups.model import ModelError, UpsEvent, UpsModel
from sim_devices.ups.snmp import (
    EXCEPTIONS,
    Counter64,
    EndOfMibView,
    ErrorStatus,
    Message,
    Oid,
    Pdu,
    PduType,
    TrapV1Pdu,
    UnsupportedVersion,
    Value,
    VarBind,
    Version,
    decode_message,
    encode_varbind,
    oid,
)
from sim_devices.ups.traps import encode_notification, notification_for

log = logging.getLogger(__name__)

MAX_BULK_VARBINDS = 2048
"""Upper bound on the varbinds of one GetBulk answer, whatever max-repetitions asks."""

_V1_SET_ERRORS = {
    ErrorStatus.NO_ACCESS: ErrorStatus.NO_SUCH_NAME,
    ErrorStatus.NOT_WRITABLE: ErrorStatus.NO_SUCH_NAME,
    ErrorStatus.NO_CREATION: ErrorStatus.NO_SUCH_NAME,
    ErrorStatus.INCONSISTENT_NAME: ErrorStatus.NO_SUCH_NAME,
    ErrorStatus.AUTHORIZATION_ERROR: ErrorStatus.NO_SUCH_NAME,
    ErrorStatus.WRONG_TYPE: ErrorStatus.BAD_VALUE,
    ErrorStatus.WRONG_LENGTH: ErrorStatus.BAD_VALUE,
    ErrorStatus.WRONG_ENCODING: ErrorStatus.BAD_VALUE,
    ErrorStatus.WRONG_VALUE: ErrorStatus.BAD_VALUE,
    ErrorStatus.INCONSISTENT_VALUE: ErrorStatus.BAD_VALUE,
}
"""RFC 3584 section 4.3: v2 SET errors as a v1 manager must see them."""

_REQUESTS = {
    PduType.GET: "get",
    PduType.GET_NEXT: "getnext",
    PduType.GET_BULK: "getbulk",
    PduType.SET: "set",
}


class _Refused(Exception):
    """A request answered with an error-status (v2 names; mapped for v1 on the way out)."""

    def __init__(self, status: ErrorStatus, index: int) -> None:
        super().__init__(status.name)
        self.status = status
        self.index = index


class SnmpAgent(asyncio.DatagramProtocol):
    """SNMP v1/v2c agent for one :class:`UpsModel`.

    ``start()`` binds ``config.host:config.port`` (0 picks a port, see
    :attr:`port`). :meth:`pump` brings the model up to its clock and turns
    what happened into notifications; the agent pumps after every request,
    and :class:`~sim_devices.ups.simulator.UpsSimulator` pumps on a timer.
    """

    def __init__(
        self,
        model: UpsModel,
        config: AgentConfig | None = None,
        *,
        on_event: Callable[[UpsEvent], None] | None = None,
    ) -> None:
        self.model = model
        self.config = config if config is not None else AgentConfig()
        self.counters = AgentCounters()
        self.fault = WireFaultState()
        self.system = SystemGroup(
            descr=self.config.sys_descr,
            object_id=oid(self.config.sys_object_id),
            contact=self.config.sys_contact,
            name=self.config.sys_name,
            location=self.config.sys_location,
        )
        self.trap_targets: list[TrapTarget] = self.config.trap_targets()
        self._writables: dict[Oid, Writable] = writable_objects(model, self.system)
        self._transport: asyncio.DatagramTransport | None = None
        self._delayed: set[asyncio.TimerHandle] = set()
        self._trap_request_id = 0
        self._on_event = on_event

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The bound address."""
        return self.config.host

    @property
    def port(self) -> int:
        """The bound UDP port."""
        if self._transport is None:
            raise RuntimeError("SNMP agent not started")
        port: int = self._transport.get_extra_info("sockname")[1]
        return port

    async def start(self) -> None:
        """Bind the socket; sends coldStart to the trap targets if configured."""
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.config.host, self.config.port)
        )
        log.info("SNMP agent on %s:%s", self.config.host, self.port)
        if self.config.cold_start_trap:
            self._send_notification(COLD_START, [])

    async def stop(self) -> None:
        """Cancel delayed replies and close the socket; idempotent."""
        for handle in self._delayed:
            handle.cancel()
        self._delayed.clear()
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a trap target that is not listening: count, go on.
        self.counters.trap_errors += 1
        log.debug("UDP error: %s", exc)

    # --- notifications --------------------------------------------------------------------

    def pump(self) -> None:
        """Update the model to now and notify the trap targets of what happened."""
        self.model.update()
        events = self.model.drain_events()
        if not events:
            return
        view = self._view()
        for event in events:
            log.debug("UPS event %s", event)
            if self._on_event is not None:
                self._on_event(event)
            found = notification_for(event, view)
            if found is not None:
                self._send_notification(*found)

    def _send_notification(self, trap_oid: Oid, varbinds: list[VarBind]) -> None:
        if self._transport is None or not self.trap_targets:
            return
        uptime = self.model.ticks()
        for target in self.trap_targets:
            self._trap_request_id = (self._trap_request_id + 1) % 2**31
            try:
                data = encode_notification(
                    target,
                    trap_oid,
                    varbinds,
                    uptime,
                    self._trap_request_id,
                    enterprise=self.system.object_id,
                )
                self._transport.sendto(data, (target.host, target.port))
            except (OSError, ValueError) as exc:
                self.counters.trap_errors += 1
                log.warning("trap to %s failed: %s", target, exc)
                continue
            self.counters.out_traps += 1

    def add_trap_target(self, target: TrapTarget) -> None:
        """Send future notifications to ``target`` too (a duplicate is ignored)."""
        if target not in self.trap_targets:
            self.trap_targets.append(target)

    def remove_trap_target(self, target: TrapTarget) -> bool:
        """Stop notifying ``target``; False if it was not a target."""
        if target in self.trap_targets:
            self.trap_targets.remove(target)
            return True
        return False

    # --- requests -------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.counters.in_pkts += 1
        if self.fault.mode == WireFault.SILENT:
            self.counters.dropped_by_fault += 1
            return
        try:
            reply = self._answer(data)
        except Exception:  # a bug must cost one request, never the agent
            log.exception("request from %s failed", addr)
            self.counters.silent_drops += 1
            reply = None
        if reply is not None:
            self._reply(reply, addr)
        try:
            self.pump()
        except Exception:
            log.exception("model update failed")

    def _answer(self, data: bytes) -> Message | None:
        try:
            message = decode_message(data)
        except UnsupportedVersion as exc:
            self.counters.in_bad_versions += 1
            log.debug("dropped: %s", exc)
            return None
        except BerError as exc:
            self.counters.in_asn_parse_errs += 1
            log.debug("dropped malformed datagram: %s", exc)
            return None
        pdu = message.pdu
        if isinstance(pdu, TrapV1Pdu) or pdu.type not in _REQUESTS:
            self.counters.unsupported_pdus += 1
            return None
        if message.version == Version.V1 and pdu.type == PduType.GET_BULK:
            self.counters.in_asn_parse_errs += 1  # RFC 3584 4.1: not a v1 PDU
            return None
        communities = self.config.communities
        can_write = (
            communities.write is not None and message.community == communities.write.encode()
        )
        if not can_write and message.community != communities.read.encode():
            self.counters.in_bad_community_names += 1
            return None
        kind = _REQUESTS[pdu.type]
        self.counters.requests[kind] = self.counters.requests.get(kind, 0) + 1
        v1 = message.version == Version.V1
        try:
            if pdu.type == PduType.SET:
                if not can_write:
                    self.counters.in_bad_community_uses += 1
                    raise _Refused(ErrorStatus.NO_ACCESS, 1 if pdu.varbinds else 0)
                varbinds = self._set(pdu.varbinds)
            elif pdu.type == PduType.GET_BULK:
                return self._bulk(message, pdu)
            else:
                view = self._view()
                if pdu.type == PduType.GET:
                    varbinds = self._get(view, pdu.varbinds, v1)
                else:
                    varbinds = self._get_next(view, pdu.varbinds, v1)
        except _Refused as refused:
            status = refused.status
            if v1:
                status = _V1_SET_ERRORS.get(status, status)
                if status > ErrorStatus.GEN_ERR:
                    status = ErrorStatus.GEN_ERR
            return self._response(message, pdu, pdu.varbinds, status, refused.index)
        return self._response(message, pdu, varbinds)

    def _view(self) -> MibView:
        return build_view(self.model.readings(), self.model, self.system, self.counters)

    def _response(
        self,
        message: Message,
        request: Pdu,
        varbinds: tuple[VarBind, ...] | list[VarBind],
        status: ErrorStatus = ErrorStatus.NO_ERROR,
        index: int = 0,
    ) -> Message:
        pdu = Pdu(PduType.RESPONSE, request.request_id, int(status), index, tuple(varbinds))
        return Message(message.version, message.community, pdu)

    @staticmethod
    def _hidden_from_v1(value: Value) -> bool:
        return isinstance(value, (*EXCEPTIONS, Counter64))

    def _get(self, view: MibView, request: tuple[VarBind, ...], v1: bool) -> list[VarBind]:
        out: list[VarBind] = []
        for index, (name, _) in enumerate(request, start=1):
            value = view.get(name)
            if v1 and self._hidden_from_v1(value):
                raise _Refused(ErrorStatus.NO_SUCH_NAME, index)
            out.append((name, value))
        return out

    def _next_of(self, view: MibView, name: Oid, v1: bool) -> VarBind | None:
        current = name
        while True:
            found = view.next(current)
            if found is None:
                return None
            if not (v1 and self._hidden_from_v1(found[1])):
                return found
            current = found[0]

    def _get_next(self, view: MibView, request: tuple[VarBind, ...], v1: bool) -> list[VarBind]:
        out: list[VarBind] = []
        for index, (name, _) in enumerate(request, start=1):
            found = self._next_of(view, name, v1)
            if found is None:
                if v1:
                    raise _Refused(ErrorStatus.NO_SUCH_NAME, index)
                out.append((name, EndOfMibView()))
            else:
                out.append(found)
        return out

    def _bulk(self, message: Message, pdu: Pdu) -> Message:
        """GetBulk (RFC 3416 4.2.3): non-repeaters once, then max-repetitions rounds, cut to fit."""
        view = self._view()
        requested = pdu.varbinds
        non_repeaters = min(max(pdu.non_repeaters, 0), len(requested))
        repetitions = max(pdu.max_repetitions, 0)
        out = self._get_next(view, requested[:non_repeaters], False)
        columns = [name for name, _ in requested[non_repeaters:]]
        limit = self.config.max_message_size
        size = len(self._response(message, pdu, out).encode())
        if size > limit:
            self.counters.too_big += 1
            return self._response(message, pdu, [], ErrorStatus.TOO_BIG, 0)
        for _ in range(repetitions):
            if not columns or len(out) >= MAX_BULK_VARBINDS:
                break
            row: list[VarBind] = []
            for name in columns:
                found = self._next_of(view, name, False)
                row.append(found if found is not None else (name, EndOfMibView()))
            for varbind in row:
                grown = size + len(encode_varbind(varbind))
                if grown > limit or len(out) >= MAX_BULK_VARBINDS:
                    return self._response(message, pdu, out)
                out.append(varbind)
                size = grown
            columns = [name for name, _ in row]
            if all(isinstance(value, EndOfMibView) for _, value in row):
                break
        # the per-varbind estimate ignores the list's own length octets growing
        while out and len(self._response(message, pdu, out).encode()) > limit:
            out.pop()
        return self._response(message, pdu, out)

    def _set(self, request: tuple[VarBind, ...]) -> list[VarBind]:
        plan: list[tuple[Writable, Value]] = []
        for index, (name, value) in enumerate(request, start=1):
            writable = self._writables.get(name)
            if writable is None:
                creatable = any((*name[:n], 0) in self._writables for n in range(len(name)))
                known = any(name[:n] in OBJECT_TYPES for n in range(1, len(name) + 1))
                status = (
                    ErrorStatus.NO_CREATION if creatable and known else ErrorStatus.NOT_WRITABLE
                )
                raise _Refused(status, index)
            try:
                writable.check(value)
            except SetRefused as refused:
                log.info("SET %s refused: %s", name, refused)
                raise _Refused(refused.status, index) from None
            plan.append((writable, value))
        for index, (writable, value) in enumerate(plan, start=1):
            try:
                writable.apply(value)
            except ModelError as exc:
                log.warning("SET failed after its check: %s", exc)
                raise _Refused(ErrorStatus.COMMIT_FAILED, index) from None
        self.counters.sets_applied += 1
        return list(request)

    # --- replies --------------------------------------------------------------------------

    def _reply(self, message: Message, addr: tuple[str | Any, int]) -> None:
        fault = self.fault
        assert isinstance(message.pdu, Pdu)
        data = message.encode()
        if len(data) > self.config.max_message_size:
            self.counters.too_big += 1
            pdu = message.pdu
            data = Message(
                message.version,
                message.community,
                Pdu(PduType.RESPONSE, pdu.request_id, int(ErrorStatus.TOO_BIG), 0, ()),
            ).encode()
        if fault.mode == WireFault.GARBAGE:
            self.counters.garbage_sent += 1
            data = GARBAGE_REPLY
        elif fault.mode == WireFault.WRONG_REQUEST_ID:
            self.counters.wrong_id_sent += 1
            pdu = message.pdu
            wrong = Pdu(
                pdu.type,
                (pdu.request_id + 1) % 2**31,
                pdu.error_status,
                pdu.error_index,
                pdu.varbinds,
            )
            data = Message(message.version, message.community, wrong).encode()
        if fault.mode == WireFault.SLOW:
            loop = asyncio.get_running_loop()
            handle: asyncio.TimerHandle | None = None

            def send_late() -> None:
                if handle is not None:
                    self._delayed.discard(handle)
                self._send(data, addr)

            handle = loop.call_later(fault.delay_s, send_late)
            self._delayed.add(handle)
            return
        self._send(data, addr)

    def _send(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if self._transport is None:
            return
        self._transport.sendto(data, addr)
        self.counters.out_pkts += 1
