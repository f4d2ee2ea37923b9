"""A small asyncio SNMP client on pysnmp 7: get, table walks and set.

One client talks to one agent through its own pysnmp engine (one UDP
socket): USM state (engine id, boots, time) is per agent anyway, and two
units that share a v3 user name with different keys cannot clash.

Errors are mapped onto the driver exception tree:

- no answer at all: ``DeviceTimeoutError``, naming the likely causes (an
  SNMPv1/v2c agent drops a request with an unknown community silently, so a
  wrong community looks exactly like a dead agent);
- answers that arrived but could not be used (undecodable BER, a request-id
  that matches nothing): ``DeviceProtocolError`` saying which;
- USM reports (wrong digest, unknown user, decryption failed):
  ``DeviceAuthError``;
- a PDU error-status: ``SnmpErrorStatus`` (a ``DeviceProtocolError``) with
  the status name and the OID it points at.

An OID the agent does not have (noSuchObject, noSuchInstance, endOfMibView,
or an SNMPv1 noSuchName on GET) is *absent*: ``None``, never an exception.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Self

from pyasn1.codec.ber import decoder
from pyasn1.error import PyAsn1Error
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity.rfc3413 import cmdgen
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES,
    USM_PRIV_CFB256_AES,
    CommunityData,
    ContextData,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
)
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind, rfc1902
from pysnmp.proto.api import v1 as v1_api
from pysnmp.proto.api import v2c as v2c_api
from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message

from devices.errors import (
    DeviceAuthError,
    DeviceConnectionError,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeoutError,
)
from devices.snmp.credentials import (
    AuthProtocol,
    Community,
    Credentials,
    PrivProtocol,
    SnmpTarget,
    UsmUser,
)
from devices.snmp.values import (
    SnmpValue,
    from_asn1,
    is_end_of_mib,
    normalize_oid,
    oid_str,
    oid_tuple,
    to_asn1,
)

_LOGGER = logging.getLogger(__name__)

_AUTH = {
    AuthProtocol.MD5: USM_AUTH_HMAC96_MD5,
    AuthProtocol.SHA: USM_AUTH_HMAC96_SHA,
    AuthProtocol.SHA224: USM_AUTH_HMAC128_SHA224,
    AuthProtocol.SHA256: USM_AUTH_HMAC192_SHA256,
    AuthProtocol.SHA384: USM_AUTH_HMAC256_SHA384,
    AuthProtocol.SHA512: USM_AUTH_HMAC384_SHA512,
}
_PRIV = {
    PrivProtocol.DES: USM_PRIV_CBC56_DES,
    PrivProtocol.AES: USM_PRIV_CFB128_AES,
    PrivProtocol.AES192: USM_PRIV_CFB192_AES,
    PrivProtocol.AES256: USM_PRIV_CFB256_AES,
}

_GUARD_MARGIN_S = 1.0
"""Slack on top of pysnmp's own timeout: its retry timer ticks every 0.1 s."""

_NO_SUCH_NAME = 2  # SNMPv1 error-status: the OID does not exist (v1's "absent")

_KEEP_DATAGRAMS = 4
"""Recent raw answers kept to explain a timeout (undecodable vs. unmatched)."""

_index = itertools.count(1)

_LCD = CommandGeneratorLcdConfigurator()
_NULL = rfc1902.Null("")
_GENERATORS: dict[str, Callable[[], Any]] = {
    "GET": cmdgen.GetCommandGenerator,
    "GETNEXT": cmdgen.NextCommandGeneratorSingleRun,
    "SET": cmdgen.SetCommandGenerator,
}


def privacy_available() -> bool:
    """Whether pysnmp can encrypt: its AES/DES need the ``cryptography`` package."""
    try:
        return importlib.util.find_spec("cryptography.hazmat.decrepit.ciphers.modes") is not None
    except ImportError:  # the parent package itself is missing
        return False


class SnmpErrorStatus(DeviceProtocolError):
    """The agent answered with a non-zero error-status (noSuchName, notWritable ...)."""

    def __init__(
        self, status: str, index: int, oid: str, request: str, *, device: str, address: str
    ) -> None:
        self.status = status
        self.index = index
        self.oid = oid
        where = f" on {oid}" if oid else ""
        super().__init__(f"{request} failed: {status}{where}", device=device, address=address)


class _CountingUdpTransport(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """pysnmp's UDP transport, keeping the last few raw datagrams it received.

    pysnmp drops an undecodable answer, or one whose request-id matches no
    request, without telling the caller: the request then just times out.
    Keeping the raw bytes lets the client tell "nobody answered" apart from
    "something answered, but not SNMP we can use".
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = 0
        self.recent: deque[bytes] = deque(maxlen=_KEEP_DATAGRAMS)

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self.received += 1
        self.recent.append(bytes(datagram))
        self.loop.call_soon(self._deliver, transportAddress, datagram)

    def _deliver(self, address: Any, datagram: bytes) -> None:
        # pysnmp's own datagram_received hands the datagram on one loop pass later;
        # if the client was closed in between, pysnmp would raise "Unregistered
        # transport" in the event loop. A late answer to a closed client is dropped.
        callback = self._callback_function
        if callback is not None:
            callback(self, address, datagram)


class _Target(UdpTransportTarget):  # type: ignore[misc]
    PROTO_TRANSPORT = _CountingUdpTransport


class SnmpClient:
    """Requests to one SNMP agent; use as ``async with SnmpClient(...) as client``."""

    def __init__(self, target: SnmpTarget, credentials: Credentials, *, device: str = "") -> None:
        self.target = target
        self.credentials = credentials
        self.device = device
        self.requests = 0
        self._engine: Any = None
        self._auth: Any = None
        self._context: Any = None
        self._targets: dict[tuple[float, int], Any] = {}

    def __repr__(self) -> str:
        return f"SnmpClient({self.target.address}, {self.credentials!r})"

    @property
    def version(self) -> str:
        """The SNMP version: '1', '2c' or '3'."""
        return self.credentials.version if isinstance(self.credentials, Community) else "3"

    @property
    def peer_host(self) -> str:
        """The agent's IP address as resolved at ``open`` (the host as given before)."""
        for target in self._targets.values():
            return str(target.transport_address[0])
        return self.target.host

    @property
    def is_open(self) -> bool:
        """Whether ``open`` succeeded and ``close`` was not called since."""
        return self._engine is not None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Build the engine and resolve the agent's address; a failure leaves nothing open."""
        if self._engine is not None:
            return
        creds = self.credentials
        if isinstance(creds, UsmUser) and creds.priv_protocol and not privacy_available():
            raise DeviceConnectionError(
                f"{creds.label}: SNMPv3 privacy ({creds.priv_protocol.value}) needs the Python "
                "package 'cryptography' (>= 43), which is not installed",
                device=self.device,
                address=self.target.address,
            )
        # Building an engine loads and compiles pysnmp's own MIB modules (~0.1 s of
        # CPU): off the event loop, so starting twenty UPS drivers does not stall
        # the other devices' polling.
        engine = await asyncio.to_thread(SnmpEngine)
        try:
            self._auth = self._build_auth()
            self._context = self._build_context()
            self._engine = engine
            await self._transport_target(self.target.timeout_s, self.target.retries)
        except BaseException:
            self._engine = None
            _close_engine(engine)
            raise

    async def close(self) -> None:
        """Close the engine's socket and timer; safe to call twice."""
        engine, self._engine = self._engine, None
        self._targets.clear()
        if engine is not None:
            timer = _close_engine(engine)
            if timer is not None:
                await asyncio.wait([timer], timeout=1.0)
            await asyncio.sleep(0)  # asyncio closes the UDP socket on the next loop pass

    def _build_auth(self) -> Any:
        creds = self.credentials
        if isinstance(creds, Community):
            # A per-client index: two clients never share a pysnmp community entry.
            return CommunityData(
                f"walkout{next(_index)}",
                creds.community,
                mpModel=0 if creds.version == "1" else 1,
            )
        return UsmUserData(
            creds.user,
            authKey=creds.auth_key,
            privKey=creds.priv_key,
            authProtocol=_AUTH[creds.auth_protocol] if creds.auth_protocol else None,
            privProtocol=_PRIV[creds.priv_protocol] if creds.priv_protocol else None,
        )

    def _build_context(self) -> Any:
        creds = self.credentials
        if isinstance(creds, UsmUser):
            return ContextData(
                contextEngineId=creds.context_engine_id,
                contextName=creds.context_name.encode(),
            )
        return ContextData()

    async def _transport_target(self, timeout_s: float, retries: int) -> Any:
        key = (timeout_s, retries)
        target = self._targets.get(key)
        if target is None:
            try:
                target = await _Target.create(
                    (self.target.host, self.target.port), timeout=timeout_s, retries=retries
                )
            except PySnmpError as exc:
                raise DeviceConnectionError(
                    f"cannot resolve the agent address: {exc}",
                    device=self.device,
                    address=self.target.address,
                ) from None
            self._targets[key] = target
        return target

    # --- requests ---------------------------------------------------------------------------

    async def get(
        self, oids: Sequence[str], *, timeout_s: float | None = None, retries: int | None = None
    ) -> dict[str, SnmpValue | None]:
        """Values of ``oids`` (absent ones are None), in as few GETs as ``max_varbinds`` allows."""
        wanted = [normalize_oid(oid) for oid in oids]
        out: dict[str, SnmpValue | None] = {}
        step = self.target.max_varbinds
        for start in range(0, len(wanted), step):
            out.update(await self._get_chunk(wanted[start : start + step], timeout_s, retries))
        return out

    async def _get_chunk(
        self, oids: list[str], timeout_s: float | None, retries: int | None
    ) -> dict[str, SnmpValue | None]:
        pending = list(dict.fromkeys(oids))
        out: dict[str, SnmpValue | None] = {}
        while pending:
            try:
                varbinds = await self._request(
                    "GET", pending, [(oid, _NULL) for oid in pending], timeout_s, retries
                )
            except SnmpErrorStatus as exc:
                # SNMPv1 has no noSuchObject: the agent names the first missing OID in
                # error-index instead. Drop it (absent) and ask again for the rest.
                if exc.status == "noSuchName" and 1 <= exc.index <= len(pending):
                    out[pending.pop(exc.index - 1)] = None
                    continue
                raise
            self._check_echo("GET", pending, varbinds)
            for oid, (_, value) in zip(pending, varbinds, strict=True):
                out[oid] = from_asn1(value, oid=oid)
            break
        return out

    async def walk(self, root: str, *, max_rows: int = 1024) -> list[tuple[str, SnmpValue | None]]:
        """Every OID under ``root`` and its value, in agent order."""
        base = oid_tuple(root)
        rows = (await self.walk_columns([root], max_rows=max_rows))[normalize_oid(root)]
        return [(oid_str(base + suffix), value) for suffix, value in rows]

    async def walk_columns(
        self, columns: Sequence[str], *, max_rows: int = 256, repetitions: int | None = None
    ) -> dict[str, list[tuple[tuple[int, ...], SnmpValue | None]]]:
        """Walk several subtrees (table columns) side by side; rows keyed by index suffix.

        GETBULK for v2c/v3 (all unfinished columns in one request), GETNEXT for
        v1. A column ends where the agent's answer leaves its subtree. Indices
        are what the agent returns, not assumed to be 1..n. An agent that
        answers an OID not after the one asked for would loop forever: that is
        a ``DeviceProtocolError``.

        ``repetitions`` overrides the target's GETBULK max-repetitions: a caller
        that knows a table has 3 rows asks for 4 (the 4th shows the end) instead
        of making the agent send, and us decode, rows nobody needs.
        """
        roots = {normalize_oid(c): oid_tuple(c) for c in columns}
        out: dict[str, list[tuple[tuple[int, ...], SnmpValue | None]]] = {c: [] for c in roots}
        position = dict(roots)
        active = list(roots)
        while active:
            answers = await self._next_rows(active, [position[c] for c in active], repetitions)
            still: list[str] = []
            for column, row in zip(active, answers, strict=True):
                root = roots[column]
                finished = False
                for oid, value in row:
                    if value is None or oid[: len(root)] != root:
                        finished = True
                        break
                    if oid <= position[column]:
                        raise DeviceProtocolError(
                            f"walk of {column}: agent answered {oid_str(oid)} after "
                            f"{oid_str(position[column])}",
                            device=self.device,
                            address=self.target.address,
                            expected="lexicographically increasing OIDs",
                        )
                    position[column] = oid
                    out[column].append((oid[len(root) :], from_asn1(value, oid=oid_str(oid))))
                    if len(out[column]) > max_rows:
                        raise DeviceProtocolError(
                            f"walk of {column} has more than {max_rows} rows",
                            device=self.device,
                            address=self.target.address,
                            expected=f"at most {max_rows} rows",
                        )
                if not finished:
                    still.append(column)
            active = still
        return out

    async def _next_rows(
        self, columns: list[str], starts: list[tuple[int, ...]], repetitions: int | None
    ) -> list[list[tuple[tuple[int, ...], Any]]]:
        """Successors of ``starts``, one list per column; ``None`` value marks the end of MIB."""
        if self.version == "1":
            return await self._next_rows_v1(starts)
        asked = [oid_str(start) for start in starts]
        reps = self.target.max_repetitions if repetitions is None else max(1, repetitions)
        varbinds = await self._request(
            "GETBULK", asked, [(oid, _NULL) for oid in asked], None, None, reps
        )
        if not varbinds:
            raise DeviceProtocolError(
                "GETBULK answered no variable bindings",
                device=self.device,
                address=self.target.address,
                expected="at least one variable binding",
            )
        width = len(starts)
        rows: list[list[tuple[tuple[int, ...], Any]]] = [[] for _ in starts]
        for position, (oid, value) in enumerate(varbinds):
            rows[position % width].append((tuple(oid), None if is_end_of_mib(value) else value))
        # A column left out of a truncated answer has an empty row: the caller asks again
        # from the same place. The first column always gets at least one binding, so every
        # request makes progress.
        return rows

    async def _next_rows_v1(
        self, starts: list[tuple[int, ...]]
    ) -> list[list[tuple[tuple[int, ...], Any]]]:
        pending = list(range(len(starts)))
        rows: list[list[tuple[tuple[int, ...], Any]]] = [[] for _ in starts]
        while pending:
            asked = [oid_str(starts[i]) for i in pending]
            try:
                varbinds = await self._request(
                    "GETNEXT", asked, [(oid, _NULL) for oid in asked], None, None
                )
            except SnmpErrorStatus as exc:
                # v1 end of MIB: noSuchName pointing at the column that has no successor.
                if exc.status == "noSuchName" and 1 <= exc.index <= len(pending):
                    rows[pending.pop(exc.index - 1)].append(((), None))
                    continue
                raise
            if len(varbinds) != len(pending):
                raise self._shape_error("GETNEXT", len(pending), len(varbinds))
            for i, (oid, value) in zip(pending, varbinds, strict=True):
                rows[i].append((tuple(oid), value))
            break
        return rows

    async def set(
        self,
        values: Sequence[tuple[str, SnmpValue]],
        *,
        timeout_s: float | None = None,
        retries: int | None = None,
    ) -> dict[str, SnmpValue | None]:
        """SET all ``values`` in one PDU (atomic at the agent); what the agent answered."""
        oids = [normalize_oid(oid) for oid, _ in values]
        request = [(oid, to_asn1(value)) for oid, (_, value) in zip(oids, values, strict=True)]
        varbinds = await self._request("SET", oids, request, timeout_s, retries)
        self._check_echo("SET", oids, varbinds)
        return {
            oid: from_asn1(value, oid=oid) for oid, (_, value) in zip(oids, varbinds, strict=True)
        }

    # --- one transaction --------------------------------------------------------------------

    async def _request(
        self,
        kind: str,
        oids: Sequence[str],
        varbinds: list[tuple[str, Any]],
        timeout_s: float | None,
        retries: int | None,
        repetitions: int = 0,
    ) -> list[tuple[Any, Any]]:
        """One PDU out, its answer back; every failure mapped to a ``DeviceError``."""
        engine = self._engine
        if engine is None:
            raise DeviceConnectionError(
                "SNMP client is not open", device=self.device, address=self.target.address
            )
        timeout = self.target.timeout_s if timeout_s is None else timeout_s
        tries = self.target.retries if retries is None else retries
        target = await self._transport_target(timeout, tries)
        transport = self._udp_transport()
        seen = transport.received if transport is not None else 0
        self.requests += 1
        try:
            async with asyncio.timeout(timeout * (tries + 1) + _GUARD_MARGIN_S):
                indication, status, index, answer = await self._send(
                    engine, kind, target, varbinds, repetitions
                )
        except TimeoutError:
            raise self._silence_error(kind, oids, timeout, tries, seen) from None
        except PySnmpError as exc:
            raise DeviceProtocolError(
                f"{kind} {_first(oids)}: {exc}", device=self.device, address=self.target.address
            ) from None
        if indication:
            raise self._indication_error(kind, oids, indication, timeout, tries, seen)
        if int(status):
            raise self._status_error(kind, oids, status, index, answer)
        return [(vb[0], vb[1]) for vb in answer]

    async def _send(
        self,
        engine: Any,
        kind: str,
        target: Any,
        varbinds: list[tuple[str, Any]],
        repetitions: int,
    ) -> tuple[Any, Any, Any, Any]:
        """Hand one PDU to pysnmp's command generator and await its callback.

        This is what pysnmp's ``get_cmd``/``bulk_cmd`` do, without resolving every
        OID through the MIB tree first: the profiles give numeric OIDs, and
        resolution would cost CPU on every poll.
        """
        addr_name, _ = _LCD.configure(engine, self._auth, target, self._context.contextName)
        future: asyncio.Future[tuple[Any, Any, Any, Any]] = (
            asyncio.get_running_loop().create_future()
        )

        def done(
            _engine: Any,
            _handle: Any,
            indication: Any,
            status: Any,
            index: Any,
            answer: Any,
            _ctx: Any,
        ) -> None:
            if not future.done():
                future.set_result((indication, status, index, answer))

        context = (self._context.contextEngineId, self._context.contextName)
        if kind == "GETBULK":
            cmdgen.BulkCommandGeneratorSingleRun().send_varbinds(
                engine, addr_name, *context, 0, repetitions, varbinds, done
            )
        else:
            _GENERATORS[kind]().send_varbinds(engine, addr_name, *context, varbinds, done)
        return await future

    def _udp_transport(self) -> _CountingUdpTransport | None:
        dispatcher = getattr(self._engine, "transport_dispatcher", None)
        if dispatcher is None:
            return None
        try:
            transport = dispatcher.get_transport(udp.DOMAIN_NAME)
        except PySnmpError:
            return None
        return transport if isinstance(transport, _CountingUdpTransport) else None

    def _indication_error(
        self,
        kind: str,
        oids: Sequence[str],
        indication: Any,
        timeout: float,
        tries: int,
        seen: int,
    ) -> DeviceError:
        where = {"device": self.device, "address": self.target.address}
        label = self.credentials.label
        if isinstance(indication, errind.RequestTimedOut):
            return self._silence_error(kind, oids, timeout, tries, seen)
        if isinstance(indication, errind.WrongDigest):
            return DeviceAuthError(
                f"{label}: the agent refused our digest: wrong authentication key or protocol",
                **where,
            )
        if isinstance(indication, errind.UnknownUserName):
            return DeviceAuthError(f"{label}: the agent does not know this user", **where)
        if isinstance(indication, errind.DecryptionError):
            return DeviceAuthError(
                f"{label}: decryption failed: wrong privacy key or protocol", **where
            )
        if isinstance(indication, errind.UnsupportedSecurityLevel):
            return DeviceAuthError(
                f"{label}: the agent does not allow this security level for the user", **where
            )
        if isinstance(
            indication,
            errind.AuthenticationFailure
            | errind.AuthenticationError
            | errind.UnknownSecurityName
            | errind.UnknownCommunityName
            | errind.NotInTimeWindow
            | errind.NoAuthentication,
        ):
            return DeviceAuthError(f"{label}: {indication}", **where)
        if isinstance(
            indication,
            errind.EncryptionError | errind.UnsupportedPrivProtocol | errind.NoEncryption,
        ):
            return DeviceConnectionError(f"{label}: cannot encrypt: {indication}", **where)
        return DeviceProtocolError(f"{kind} {_first(oids)}: {indication}", **where)

    def _silence_error(
        self, kind: str, oids: Sequence[str], timeout: float, tries: int, seen: int
    ) -> DeviceError:
        """Explain a timeout from what (if anything) reached our socket meanwhile."""
        where = {"device": self.device, "address": self.target.address}
        transport = self._udp_transport()
        got = (transport.received - seen) if transport is not None else 0
        waited = f"{kind} {_first(oids)}: no usable answer in {timeout:g} s x {tries + 1} tries"
        if got <= 0:
            if isinstance(self.credentials, Community):
                cause = "agent down or unreachable, wrong port, or wrong community"
            else:
                cause = "agent down or unreachable, wrong port, or SNMPv3 not enabled"
            return DeviceTimeoutError(f"{waited} ({cause})", **where)
        recent = list(transport.recent)[-min(got, _KEEP_DATAGRAMS) :] if transport else []
        malformed = sum(1 for datagram in recent if not _decodes(datagram))
        if malformed:
            return DeviceProtocolError(
                f"{waited}: {got} datagram(s) came back, {malformed} of the last {len(recent)} "
                "not decodable as SNMP (malformed or truncated BER)",
                expected="a well-formed SNMP response",
                **where,
            )
        return DeviceProtocolError(
            f"{waited}: {got} SNMP answer(s) came back that match no request "
            "(wrong request-id, version or community in the answer)",
            expected="a response carrying our request-id",
            **where,
        )

    def _status_error(
        self, kind: str, oids: Sequence[str], status: Any, index: Any, varbinds: Sequence[Any]
    ) -> SnmpErrorStatus:
        position = int(index)
        oid = ""
        if 1 <= position <= len(varbinds):
            oid = str(varbinds[position - 1][0])
        elif 1 <= position <= len(oids):
            oid = oids[position - 1]
        name = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
        return SnmpErrorStatus(
            name, position, oid, kind, device=self.device, address=self.target.address
        )

    def _check_echo(self, kind: str, oids: Sequence[str], varbinds: Sequence[Any]) -> None:
        if len(varbinds) != len(oids):
            raise self._shape_error(kind, len(oids), len(varbinds))
        for asked, (got, _) in zip(oids, varbinds, strict=True):
            if str(got) != asked:
                raise DeviceProtocolError(
                    f"{kind}: asked for {asked}, the agent answered {got}",
                    device=self.device,
                    address=self.target.address,
                    expected=f"the value of {asked}",
                )

    def _shape_error(self, kind: str, asked: int, got: int) -> DeviceProtocolError:
        return DeviceProtocolError(
            f"{kind}: asked for {asked} variable bindings, the agent answered {got}",
            device=self.device,
            address=self.target.address,
            expected=f"{asked} variable bindings",
        )


def _first(oids: Sequence[str]) -> str:
    if not oids:
        return ""
    return oids[0] if len(oids) == 1 else f"{oids[0]} (+{len(oids) - 1})"


def _decodes(datagram: bytes) -> bool:
    """Whether ``datagram`` is well-formed BER for an SNMP message (v1, v2c or v3)."""
    for spec in (v2c_api.Message(), v1_api.Message(), SNMPv3Message()):
        try:
            _, rest = decoder.decode(datagram, asn1Spec=spec)
        except PyAsn1Error:
            continue
        if not rest:
            return True
    return False


def _close_engine(engine: Any) -> asyncio.Future[Any] | None:
    """Close pysnmp's socket and cancel its timer task; the task, to wait for, if any."""
    dispatcher = getattr(engine, "transport_dispatcher", None)
    if dispatcher is None:
        return None
    timer = getattr(dispatcher, "loopingcall", None)
    try:
        engine.close_dispatcher()
    except PySnmpError as exc:  # pragma: no cover - pysnmp's own bookkeeping
        _LOGGER.debug("closing the SNMP engine: %s", exc)
    return timer if isinstance(timer, asyncio.Future) else None
