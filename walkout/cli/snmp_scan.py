"""Finding SNMP agents: address ranges, a prober on one pysnmp engine, UPS profile matching.

A scan runs in two steps. First one pysnmp engine (one UDP socket) asks every
address for sysDescr and sysObjectID with each credential in turn: an
SNMPv1/v2c agent drops a request with a community it does not know without a
word, so silence means "try the next community", and a few hundred silent
addresses cost one socket and their timeouts. Then each agent that answered
is asked, through walkout's own ``SnmpClient``, for the identification OIDs of
every UPS profile and matched the way the UPS driver matches a unit at
connect, so the profile a scan names is the one the driver will use.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    get_cmd,
)
from pysnmp.proto import errind

from devices.errors import DeviceError
from devices.snmp import (
    AuthProtocol,
    Community,
    Credentials,
    PrivProtocol,
    SnmpClient,
    SnmpTarget,
    SnmpValue,
)
from devices.ups.profile import ResolvedProfile, UpsIdentity, UpsProfile

_LOGGER = logging.getLogger(__name__)

MAX_HOSTS = 1024
"""The most addresses one scan takes (a /22): a store LAN is a /24 or two, and a typo
such as /8 would otherwise mean 16 million requests and hours of timeouts."""

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

GUARD_S = 1.0
"""Slack on top of pysnmp's own timeout (its retry timer ticks every 0.1 s)."""

AUTH_PROTOCOLS = {p.name.lower(): p for p in AuthProtocol}
"""md5, sha, sha224 ... as store.yaml spells them."""
PRIV_PROTOCOLS = {p.name.lower(): p for p in PrivProtocol}
"""des, aes, aes192, aes256 as store.yaml spells them."""

_HLAPI_AUTH = {
    AuthProtocol.MD5: USM_AUTH_HMAC96_MD5,
    AuthProtocol.SHA: USM_AUTH_HMAC96_SHA,
    AuthProtocol.SHA224: USM_AUTH_HMAC128_SHA224,
    AuthProtocol.SHA256: USM_AUTH_HMAC192_SHA256,
    AuthProtocol.SHA384: USM_AUTH_HMAC256_SHA384,
    AuthProtocol.SHA512: USM_AUTH_HMAC384_SHA512,
}
_HLAPI_PRIV = {
    PrivProtocol.DES: USM_PRIV_CBC56_DES,
    PrivProtocol.AES: USM_PRIV_CFB128_AES,
    PrivProtocol.AES192: USM_PRIV_CFB192_AES,
    PrivProtocol.AES256: USM_PRIV_CFB256_AES,
}


# --- addresses ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Address:
    """One agent address to ask."""

    host: str
    port: int

    @property
    def label(self) -> str:
        """host:port for tables and messages."""
        return f"{self.host}:{self.port}"


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_DOTTED = re.compile(r"^[0-9.]+$")
_DASH = re.compile(r"^(?P<first>[0-9.]+)-(?P<last>[0-9.]+)$")


def parse_targets(items: Sequence[str], default_port: int) -> list[Address]:
    """Addresses from scan arguments, in order, without duplicates.

    An item is an IPv4 address or host name, a CIDR range (``10.0.0.0/28``:
    its host addresses), or a dash range (``10.0.0.10-20`` or
    ``10.0.0.10-10.0.0.20``), each optionally followed by ``:PORT``. Raises
    ValueError naming the bad item, or when more than ``MAX_HOSTS`` addresses
    would be asked (checked before anything is expanded).
    """
    out: dict[Address, None] = {}
    for item in items:
        text, port = _split_port(item.strip(), default_port)
        for host in _expand(text, item, MAX_HOSTS - len(out)):
            out[Address(host, port)] = None
    if not out:
        raise ValueError("give at least one host, CIDR range or dash range")
    return list(out)


def _split_port(item: str, default_port: int) -> tuple[str, int]:
    if item.count(":") > 1:
        raise ValueError(f"{item!r}: IPv6 is not supported; give IPv4 addresses or host names")
    if ":" not in item:
        return item, default_port
    text, port_text = item.rsplit(":", 1)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{item!r}: the port after ':' must be 1..65535")
    return text, int(port_text)


def _too_many(item: str, count: int, budget: int) -> ValueError:
    return ValueError(
        f"{item!r} expands to {count} addresses; a scan takes at most {MAX_HOSTS} "
        f"({max(budget, 0)} left after the items before it): scan a smaller range"
    )


def _ipv4(text: str, item: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        what = "" if text == item else f" {text!r}"
        raise ValueError(f"{item!r}:{what} not an IPv4 address") from None


def _expand(text: str, item: str, budget: int) -> list[str]:
    if "/" in text:
        try:
            network = ipaddress.IPv4Network(text, strict=False)
        except ValueError as exc:
            raise ValueError(f"{item!r}: not a CIDR range ({exc})") from None
        # /31 and /32 have no network and broadcast address to leave out.
        count = network.num_addresses - (2 if network.prefixlen < 31 else 0)
        if count > budget:
            raise _too_many(item, count, budget)
        return [str(a) for a in (network.hosts() if network.prefixlen < 32 else network)]
    dash = _DASH.match(text)
    if dash is not None:
        first = _ipv4(dash["first"], item)
        last_text = dash["last"]
        if "." in last_text:
            last = _ipv4(last_text, item)
        elif int(last_text) <= 255:  # 10.0.0.10-20: the last octet
            last = ipaddress.IPv4Address((int(first) & ~0xFF) | int(last_text))
        else:
            raise ValueError(f"{item!r}: a range ends in 0..255 (last octet) or an address")
        if last < first:
            raise ValueError(f"{item!r}: the range ends before it starts")
        count = int(last) - int(first) + 1
        if count > budget:
            raise _too_many(item, count, budget)
        return [str(ipaddress.IPv4Address(n)) for n in range(int(first), int(last) + 1)]
    if _DOTTED.match(text):
        address = [str(_ipv4(text, item))]
    elif _HOSTNAME.match(text):
        address = [text]
    else:
        raise ValueError(
            f"{item!r}: not an IPv4 address, host name, CIDR range (10.0.0.0/28) "
            "or dash range (10.0.0.10-20)"
        )
    if budget < 1:
        raise _too_many(item, 1, budget)
    return address


# --- step 1: who answers, with which credentials -------------------------------------------------


class Outcome(enum.Enum):
    """How an address took our requests."""

    ANSWERED = "answered"
    SILENT = "silent"
    REFUSED = "refused"
    UNRESOLVED = "unresolved"


@dataclass(frozen=True, slots=True)
class Probe:
    """The first credentials an address answered, or why none did."""

    address: Address
    credentials: Credentials | None
    outcome: Outcome
    reason: str = ""


class Prober:
    """Asks many agents for sysDescr and sysObjectID through one pysnmp engine.

    pysnmp's engine serves any number of targets and USM users over one
    socket. Building one costs ~70 ms of CPU (it loads its MIB modules), so a
    /24 scanned with an engine per address and community would spend its
    first 20 s or more in pysnmp's constructor.
    """

    def __init__(self, candidates: Sequence[Credentials], timeout_s: float, retries: int) -> None:
        self.candidates = tuple(candidates)
        self.timeout_s = timeout_s
        self.retries = retries
        self._engine: Any = None
        self._auth = [_hlapi_auth(creds, n) for n, creds in enumerate(self.candidates)]

    async def __aenter__(self) -> Prober:
        self._engine = await asyncio.to_thread(SnmpEngine)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        timer = getattr(getattr(engine, "transport_dispatcher", None), "loopingcall", None)
        engine.close_dispatcher()
        if isinstance(timer, asyncio.Future):
            await asyncio.wait([timer], timeout=1.0)
        await asyncio.sleep(0)  # asyncio closes the UDP socket on the next loop pass

    async def probe(self, address: Address) -> Probe:
        """Try each credential in order; the first one the agent answers wins."""
        refused: Probe | None = None
        for creds, (auth, context) in zip(self.candidates, self._auth, strict=True):
            outcome, reason = await self._ask(address, auth, context)
            if outcome is Outcome.ANSWERED:
                return Probe(address, creds, outcome)
            if outcome is Outcome.UNRESOLVED:
                return Probe(address, None, outcome, reason)
            if outcome is Outcome.REFUSED and refused is None:
                refused = Probe(address, None, outcome, f"{creds.label}: {reason}")
        return refused or Probe(address, None, Outcome.SILENT)

    async def _ask(self, address: Address, auth: Any, context: Any) -> tuple[Outcome, str]:
        if self._engine is None:
            raise RuntimeError("Prober used outside 'async with'")
        try:
            target = await UdpTransportTarget.create(
                (address.host, address.port), timeout=self.timeout_s, retries=self.retries
            )
        except PySnmpError as exc:
            _LOGGER.debug("%s: %s", address.host, exc)
            return Outcome.UNRESOLVED, f"{address.host}: cannot resolve the name"
        objects = [ObjectType(ObjectIdentity(oid)) for oid in (SYS_DESCR, SYS_OBJECT_ID)]
        try:
            async with asyncio.timeout(self.timeout_s * (self.retries + 1) + GUARD_S):
                indication, _, _, _ = await get_cmd(
                    self._engine, auth, target, context, *objects, lookupMib=False
                )
        except TimeoutError:
            return Outcome.SILENT, ""
        except PySnmpError as exc:
            return Outcome.REFUSED, str(exc)
        if not indication:
            return Outcome.ANSWERED, ""  # an error-status is an answer too
        if isinstance(indication, errind.RequestTimedOut):
            return Outcome.SILENT, ""
        return Outcome.REFUSED, _refusal(indication)


def _refusal(indication: Any) -> str:
    """The USM report an agent answered with, in an installer's words."""
    if isinstance(indication, errind.WrongDigest):
        return "the agent refused our digest: wrong authentication key or protocol"
    if isinstance(indication, errind.UnknownUserName):
        return "the agent does not know this user"
    if isinstance(indication, errind.DecryptionError):
        return "decryption failed: wrong privacy key or protocol"
    if isinstance(indication, errind.UnsupportedSecurityLevel):
        return "the agent does not allow this security level for the user"
    return str(indication)


def _hlapi_auth(creds: Credentials, index: int) -> tuple[Any, Any]:
    if isinstance(creds, Community):
        # An index of our own per community: pysnmp keys its LCD entries by it.
        auth = CommunityData(
            f"walkout-scan-{index}", creds.community, mpModel=0 if creds.version == "1" else 1
        )
        return auth, ContextData()
    auth = UsmUserData(
        creds.user,
        authKey=creds.auth_key,
        privKey=creds.priv_key,
        authProtocol=_HLAPI_AUTH[creds.auth_protocol] if creds.auth_protocol else None,
        privProtocol=_HLAPI_PRIV[creds.priv_protocol] if creds.priv_protocol else None,
    )
    return auth, ContextData(contextName=creds.context_name.encode())


# --- step 2: what answered ---------------------------------------------------------------------


@dataclass(slots=True)
class Found:
    """One address that answered (or refused our credentials), and what it is."""

    address: Address
    credentials: Credentials | None
    sys_descr: str = ""
    sys_object_id: str = ""
    sys_name: str = ""
    resolved: ResolvedProfile | None = None
    problem: str = ""


def identification_oids(candidates: Sequence[UpsProfile]) -> list[str]:
    """The system group's OIDs and every profile's detection and identification OIDs."""
    oids = [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME]
    for profile in candidates:
        ident = profile.identify
        oids += [
            *ident.detect,
            *(o for o in (ident.manufacturer, ident.model, ident.firmware) if o),
        ]
    return list(dict.fromkeys(oids))


def match_profile(
    values: Mapping[str, SnmpValue | None], candidates: Sequence[UpsProfile]
) -> ResolvedProfile | None:
    """The profile the UPS driver would pick, with this unit's quirks; None for no UPS.

    As ``devices.ups.snmp.SnmpUps`` does at connect: by priority, the first
    profile whose detection OIDs are all present.
    """
    for profile in sorted(candidates, key=lambda p: -p.priority):
        ident = profile.identify
        if all(values.get(oid) is not None for oid in ident.detect):
            identity = UpsIdentity(
                sys_object_id=text_of(values.get(SYS_OBJECT_ID)),
                sys_descr=text_of(values.get(SYS_DESCR)),
                manufacturer=text_of(values.get(ident.manufacturer)) if ident.manufacturer else "",
                model=text_of(values.get(ident.model)) if ident.model else "",
                firmware=text_of(values.get(ident.firmware)) if ident.firmware else "",
            )
            return profile.resolve(identity)
    return None


async def identify(
    probe: Probe, candidates: Sequence[UpsProfile], timeout_s: float, retries: int
) -> Found:
    """Read the system group and the UPS identification of an agent that answered."""
    found = Found(probe.address, probe.credentials)
    if probe.credentials is None:
        found.problem = probe.reason
        return found
    target = SnmpTarget(
        probe.address.host, probe.address.port, timeout_s=timeout_s, retries=retries
    )
    try:
        async with SnmpClient(target, probe.credentials, device="scan") as client:
            values = await client.get(identification_oids(candidates))
    except DeviceError as exc:
        found.problem = f"identification failed: {exc}"
        return found
    found.sys_descr = text_of(values.get(SYS_DESCR))
    found.sys_object_id = text_of(values.get(SYS_OBJECT_ID))
    found.sys_name = text_of(values.get(SYS_NAME))
    found.resolved = match_profile(values, candidates)
    return found


def text_of(value: SnmpValue | None) -> str:
    """Identification text without the space/NUL padding some cards add."""
    return value.text().strip().strip("\x00").strip() if value is not None else ""
