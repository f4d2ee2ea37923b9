"""SNMP credentials and targets as plain data.

Communities and USM keys are secrets: they are kept out of ``repr`` (and so
out of log lines, tracebacks and pydantic error messages that show a value)
and only handed to pysnmp when a request is built. Validation happens here,
at configuration time, so a key that is too short is refused with a clear
message instead of a timeout on the first poll.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

MIN_USM_KEY_LENGTH = 8
"""RFC 3414 section 11.2: pass phrases shorter than 8 octets are refused."""


class AuthProtocol(enum.StrEnum):
    """USM authentication protocols (RFC 3414, RFC 7860)."""

    MD5 = "MD5"
    SHA = "SHA"  # HMAC-SHA-96, i.e. SHA-1
    SHA224 = "SHA-224"
    SHA256 = "SHA-256"
    SHA384 = "SHA-384"
    SHA512 = "SHA-512"


class PrivProtocol(enum.StrEnum):
    """USM privacy protocols (RFC 3414 DES, RFC 3826 AES-128; AES-192/256 per Reeder)."""

    DES = "DES"
    AES = "AES"  # AES-128 CFB
    AES192 = "AES-192"
    AES256 = "AES-256"


@dataclass(frozen=True, slots=True)
class Community:
    """SNMPv1 or SNMPv2c: a community string."""

    community: str = field(repr=False)
    version: Literal["1", "2c"] = "2c"

    def __post_init__(self) -> None:
        if not self.community:
            raise ValueError("the SNMP community must not be empty")
        if self.version not in ("1", "2c"):
            raise ValueError(f"SNMP community version must be '1' or '2c', not {self.version!r}")

    def __repr__(self) -> str:
        return f"Community(version={self.version!r}, community=<redacted>)"

    @property
    def label(self) -> str:
        """Version for messages (no secret in it)."""
        return f"SNMPv{self.version}"


@dataclass(frozen=True, slots=True)
class UsmUser:
    """SNMPv3 with the user-based security model.

    ``context_name`` selects the agent's context (snmpsim serves one recording
    per context name); ``context_engine_id`` is left to discovery when None.
    """

    user: str
    auth_protocol: AuthProtocol | None = None
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: PrivProtocol | None = None
    priv_key: str | None = field(default=None, repr=False)
    context_name: str = ""
    context_engine_id: bytes | None = None

    def __post_init__(self) -> None:
        if not self.user:
            raise ValueError("the SNMPv3 user name must not be empty")
        if (self.auth_protocol is None) != (self.auth_key is None):
            raise ValueError("SNMPv3 authentication needs both a protocol and a key")
        if (self.priv_protocol is None) != (self.priv_key is None):
            raise ValueError("SNMPv3 privacy needs both a protocol and a key")
        if self.priv_protocol is not None and self.auth_protocol is None:
            raise ValueError("SNMPv3 privacy needs authentication too (authPriv)")
        for name, key in (("authentication", self.auth_key), ("privacy", self.priv_key)):
            if key is not None and len(key) < MIN_USM_KEY_LENGTH:
                raise ValueError(
                    f"the SNMPv3 {name} key must be at least {MIN_USM_KEY_LENGTH} characters"
                )

    def __repr__(self) -> str:
        auth = self.auth_protocol.value if self.auth_protocol else None
        priv = self.priv_protocol.value if self.priv_protocol else None
        return (
            f"UsmUser(user={self.user!r}, level={self.security_level!r}, auth={auth!r}, "
            f"priv={priv!r}, context_name={self.context_name!r}, keys=<redacted>)"
        )

    @property
    def security_level(self) -> str:
        """noAuthNoPriv, authNoPriv or authPriv."""
        if self.priv_protocol is not None:
            return "authPriv"
        if self.auth_protocol is not None:
            return "authNoPriv"
        return "noAuthNoPriv"

    @property
    def label(self) -> str:
        """Version, user and level for messages (no secret in it)."""
        return f"SNMPv3 user {self.user!r} ({self.security_level})"


Credentials = Community | UsmUser


@dataclass(frozen=True, slots=True)
class SnmpTarget:
    """Where an agent listens and how long to wait for it.

    ``timeout_s`` is per try and ``retries`` the extra tries after the first,
    so one transaction can take ``timeout_s * (retries + 1)``. On a store LAN
    an agent answers in milliseconds; 1 s with one retry rides out a lost
    datagram without holding a 1 Hz poll back by more than a period.
    ``max_repetitions`` is the GETBULK repetition count for table walks.
    """

    host: str
    port: int = 161
    timeout_s: float = 1.0
    retries: int = 1
    max_repetitions: int = 10
    max_varbinds: int = 32  # per GET request; long lists are split

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("the SNMP host must not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"SNMP port {self.port} outside 1..65535")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if not 0 <= self.retries <= 10:
            raise ValueError("retries must be in 0..10")
        if not 1 <= self.max_repetitions <= 100:
            raise ValueError("max_repetitions must be in 1..100")
        if not 1 <= self.max_varbinds <= 128:
            raise ValueError("max_varbinds must be in 1..128")

    @property
    def address(self) -> str:
        """host:port for messages."""
        return f"{self.host}:{self.port}"

    @property
    def transaction_s(self) -> float:
        """Worst-case duration of one transaction, every retry included."""
        return self.timeout_s * (self.retries + 1)
