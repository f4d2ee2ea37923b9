"""Credential checks for the gate machine: a local allow list and the store backend over HTTP.

Both refuse on any doubt: a file that cannot be read keeps the last good
list, a backend that is slow, down, or answers something unexpected refuses
with a reason. Nothing here admits by default. (A request/response check
over MQTT would fit the same ``CredentialCheck`` protocol; it is not built.)
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from devices.gate.io import CredentialPresented
from devices.gate.machine import Decision

_LOGGER = logging.getLogger(__name__)

BACKEND_UNREACHABLE = "backend unreachable"


class AllowListError(ValueError):
    """The allow-list file is invalid; the message names the file and the line or key."""


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    credential: str = Field(min_length=1)
    group_size: int = Field(default=1, ge=1, le=100)


class _AllowListFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    credentials: list[_Entry]

    @field_validator("credentials", mode="before")
    @classmethod
    def _plain_strings(cls, value: Any) -> Any:
        """A bare string is a credential for a group of one."""
        if isinstance(value, list):
            return [{"credential": v} if isinstance(v, str) else v for v in value]
        return value


def parse_allow_list(text: str, source: str, *, yaml_format: bool) -> dict[str, int]:
    """Credential -> group size, from a text list (one per line, ``#`` comments) or YAML.

    YAML form::

        credentials:
          - "04A1B2C3"                          # a group of 1
          - {credential: "QR-7Y2K", group_size: 3}
    """
    entries: list[tuple[str, int, str]] = []
    if yaml_format:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise AllowListError(f"{source}: not YAML: {exc}") from None
        try:
            parsed = _AllowListFile.model_validate(data)
        except ValidationError as exc:
            lines = [f"{source}: invalid allow list"]
            for err in exc.errors():
                path = ".".join(str(p) for p in err["loc"]) or "(top level)"
                lines.append(f"  {path}: {err['msg']}")
            raise AllowListError("\n".join(lines)) from None
        for index, entry in enumerate(parsed.credentials):
            entries.append((entry.credential.strip(), entry.group_size, f"credentials.{index}"))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            credential = line.split("#", 1)[0].strip()
            if credential:
                entries.append((credential, 1, f"line {number}"))
    found: dict[str, int] = {}
    where: dict[str, str] = {}
    for credential, size, place in entries:
        if not credential:
            raise AllowListError(f"{source}: {place}: empty credential")
        if credential in found:
            raise AllowListError(
                f"{source}: {place}: credential listed twice (first at {where[credential]})"
            )
        found[credential] = size
        where[credential] = place
    return found


class AllowListCheck:
    """Admits credentials listed in a file; re-reads the file when it changes.

    The file is small and local, so it is read in the event loop. A file that
    becomes invalid or disappears keeps the last good list in force (logged),
    rather than admitting everyone or nobody by accident.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._bad_stamp: tuple[int, int, int] | None = None
        self.credentials: dict[str, int] = {}
        self._load(initial=True)

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _load(self, *, initial: bool = False) -> None:
        stamp = self._stat()
        if stamp is not None and stamp in (self._stamp, self._bad_stamp):
            return
        try:
            if stamp is None:
                raise AllowListError(f"{self.path}: cannot read the allow list (missing)")
            text = self.path.read_text(encoding="utf-8")
            yaml_format = self.path.suffix.lower() in (".yaml", ".yml")
            credentials = parse_allow_list(text, str(self.path), yaml_format=yaml_format)
        except (OSError, UnicodeDecodeError, AllowListError) as exc:
            if initial:
                raise AllowListError(str(exc)) from None
            if stamp != self._bad_stamp:
                _LOGGER.error("allow list not reloaded, keeping the last good one: %s", exc)
            self._bad_stamp = stamp
            return
        self.credentials = credentials
        self._stamp = stamp
        self._bad_stamp = None
        if not initial:
            _LOGGER.info("allow list reloaded: %d credentials", len(credentials))

    async def check(self, credential: CredentialPresented) -> Decision:
        """Admit a listed credential with its group size, under a new session id."""
        self._load()
        size = self.credentials.get(credential.credential)
        if size is None:
            return Decision.refuse("not on the allow list")
        return Decision(admit=True, session_id=uuid.uuid4().hex, group_size=size)


class _BackendAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    admit: StrictBool
    session_id: str | None = Field(default=None, min_length=1)
    group_size: int = Field(default=1, ge=1, le=100)
    reason: str = ""


class HttpCheck:
    """Asks the store app's backend: ``POST url`` with the credential as JSON.

    Request: ``{"gate": ..., "kind": "card"|"qr"|"keypad", "credential": ...,
    "bits": ...}``. Answer (HTTP 2xx): ``{"admit": true|false, "session_id":
    ..., "group_size": n, "reason": ...}``; only a literal ``true`` with a
    session id admits. A timeout, a connection error or a 5xx refuses with
    ``"backend unreachable"``; a 4xx or an unreadable answer refuses with what
    went wrong. ``token`` (from the environment, never logged) is sent as a
    bearer token. Use as ``async with`` (it owns its HTTP session).
    """

    def __init__(self, url: str, *, timeout_s: float = 2.0, token: str | None = None) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.url = url
        self.timeout_s = timeout_s
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpCheck:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout_s), headers=self._headers
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session; idempotent."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def check(self, credential: CredentialPresented) -> Decision:
        """One POST; any doubt refuses."""
        if self._session is None:
            raise RuntimeError("HttpCheck used outside 'async with'")
        body = {
            "gate": credential.source,
            "kind": str(credential.kind),
            "credential": credential.credential,
            "bits": credential.bits,
        }
        try:
            async with self._session.post(self.url, json=body) as response:
                status = response.status
                raw: Any = await response.json(content_type=None) if status < 300 else None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            _LOGGER.warning("credential backend %s: %s", self.url, type(exc).__name__)
            return Decision.refuse(BACKEND_UNREACHABLE)
        except ValueError:  # body is not JSON
            return Decision.refuse("backend answer invalid: not JSON")
        if status >= 500:
            _LOGGER.warning("credential backend %s: HTTP %d", self.url, status)
            return Decision.refuse(BACKEND_UNREACHABLE)
        if status >= 300:
            return Decision.refuse(f"backend rejected the request (HTTP {status})")
        try:
            answer = _BackendAnswer.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            return Decision.refuse(f"backend answer invalid: {where}: {first['msg']}")
        if not answer.admit:
            return Decision.refuse(answer.reason or "refused by the backend")
        if answer.session_id is None:
            return Decision.refuse("backend answer invalid: admit without a session_id")
        return Decision(
            admit=True,
            session_id=answer.session_id,
            group_size=answer.group_size,
            reason=answer.reason,
        )
