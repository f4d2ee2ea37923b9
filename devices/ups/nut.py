"""NUT network protocol client (upsd, TCP 3493) and a UPS driver on top of it.

upsd speaks a line protocol: one request line, then either one reply line
(``VAR ups name "value"``, ``OK``, ``ERR CODE``) or a list framed by
``BEGIN LIST ...`` / ``END LIST ...``. Replies carry no request id, so a
reply that arrives after its request timed out would be taken for the answer
to the next request: after a timeout, a malformed reply or a cancelled
request the connection is dropped and the next request opens a new one.

Two things upsd does that a client has to know about:

- It writes each list line with its own ``send()``. With Nagle on upsd's side
  and delayed ACKs on ours, everything after the ``BEGIN`` line waits for our
  ACK: a ``LIST VAR`` round trip on loopback takes ~44 ms (the delayed-ACK
  timer) instead of ~0.1-0.5 ms. The client asks Linux for an immediate ACK
  (``TCP_QUICKACK``) after each list line it reads.
- ``USERNAME``/``PASSWORD`` are answered ``OK`` whatever they are; upsd checks
  them only at ``LOGIN`` or a privileged command. A connection given
  credentials therefore logs in to one UPS right away, so a wrong password is
  a clear error at connect instead of a surprise at the first command.
  Logging in makes walkout one of that UPS's clients (``NUMLOGINS``), like a
  secondary upsmon; closing the connection logs it out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Self, TypeVar

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.errors import (
    DeviceAuthError,
    DeviceConnectionError,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeoutError,
)
from devices.ups.state import BatteryStatus, InputLine, OutputLine, UpsReading, UpsStatus

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_PORT = 3493
# upsd's own lines are far shorter (values are at most 256 bytes); anything
# longer is not upsd, and an unbounded line must not grow memory forever.
MAX_LINE_BYTES = 4096
# A real UPS has a few hundred variables at most; a list that does not end is
# a broken or hostile server.
MAX_LIST_ITEMS = 10_000

_NAME = re.compile(r"[^\s\"\\]+")
_UPS_LINE = 'UPS <name> "<description>"'

# What upsd's error codes mean, in words an operator can act on.
_ERR_TEXT = {
    "ACCESS-DENIED": "upsd refused the user name or password (or the user lacks the right)",
    "USERNAME-REQUIRED": "upsd needs a user name for this request",
    "PASSWORD-REQUIRED": "upsd needs a password for this request",
    "INVALID-USERNAME": "upsd refused the user name as malformed",
    "INVALID-PASSWORD": "upsd refused the password as malformed",
    "UNKNOWN-UPS": "upsd has no UPS by that name",
    "VAR-NOT-SUPPORTED": "the UPS does not report this variable",
    "DATA-STALE": "the UPS's data in upsd is stale: its driver stopped updating it",
    "DRIVER-NOT-CONNECTED": "upsd has no driver connected for the UPS",
    "INVALID-ARGUMENT": "upsd refused the request's arguments",
    "UNKNOWN-COMMAND": "upsd does not know the request",
    "ALREADY-LOGGED-IN": "this connection is already logged in",
    "ALREADY-SET-USERNAME": "the user name is already set on this connection",
    "ALREADY-SET-PASSWORD": "the password is already set on this connection",
    "FEATURE-NOT-SUPPORTED": "upsd does not support the feature",
    "FEATURE-NOT-CONFIGURED": "the feature is not configured in upsd",
}
_AUTH_CODES = frozenset(
    {
        "ACCESS-DENIED",
        "USERNAME-REQUIRED",
        "PASSWORD-REQUIRED",
        "INVALID-USERNAME",
        "INVALID-PASSWORD",
    }
)
_STALE_CODES = frozenset({"DATA-STALE", "DRIVER-NOT-CONNECTED"})


class NutServerError(DeviceError):
    """upsd answered ``ERR <code>``.

    ``in_step`` is False for an ``ERR`` inside a list: the stream may not be
    where the protocol says, so the connection was dropped.
    """

    def __init__(
        self,
        code: str,
        request: str,
        *,
        extra: str = "",
        device: str = "",
        address: str = "",
        in_step: bool = True,
    ) -> None:
        self.code = code
        self.request = request
        self.extra = extra
        self.in_step = in_step
        meaning = _ERR_TEXT.get(code, "upsd refused the request")
        detail = f" ({extra})" if extra else ""
        super().__init__(
            f"{request}: ERR {code}{detail}: {meaning}", device=device, address=address
        )


class NutAuthError(NutServerError, DeviceAuthError):
    """upsd refused the credentials (``ACCESS-DENIED``, ``USERNAME-REQUIRED`` ...)."""


class NutStaleError(NutServerError):
    """upsd has no fresh data for the UPS: ``DATA-STALE`` or ``DRIVER-NOT-CONNECTED``.

    upsd itself is fine; the driver between it and the UPS is not (stopped,
    hung, or lost its link to the UPS). The UPS is offline for walkout.
    """

    @property
    def driver_connected(self) -> bool:
        """False when upsd has no driver at all for the UPS (not merely stale data)."""
        return self.code != "DRIVER-NOT-CONNECTED"


class NutUnknownUpsError(NutServerError):
    """upsd has no UPS of that name; ``known`` lists the ones it has (None: listing failed)."""

    def __init__(
        self,
        ups: str,
        request: str,
        known: tuple[str, ...] | None,
        *,
        device: str = "",
        address: str = "",
    ) -> None:
        self.ups = ups
        self.known = known
        if known is None:
            extra = f"no UPS named {ups!r}; listing the UPSes upsd has failed too"
        elif known:
            extra = f"no UPS named {ups!r}; upsd has {', '.join(known)}"
        else:
            extra = f"no UPS named {ups!r}; upsd has no UPS configured"
        super().__init__("UNKNOWN-UPS", request, extra=extra, device=device, address=address)


class NutVariableError(NutServerError):
    """The UPS does not report the variable asked for (``VAR-NOT-SUPPORTED``)."""


def server_error(
    code: str,
    request: str,
    *,
    extra: str = "",
    device: str = "",
    address: str = "",
    in_step: bool = True,
) -> NutServerError:
    """The ``NutServerError`` subclass for an upsd error code."""
    cls: type[NutServerError] = NutServerError
    if code in _AUTH_CODES:
        cls = NutAuthError
    elif code in _STALE_CODES:
        cls = NutStaleError
    elif code == "VAR-NOT-SUPPORTED":
        cls = NutVariableError
    return cls(code, request, extra=extra, device=device, address=address, in_step=in_step)


def split_words(line: str) -> list[str]:
    r"""Words of a protocol line: blanks separate, ``"..."`` groups, ``\`` escapes.

    This is upsd's own tokenising (parseconf): an escape is taken literally
    inside and outside quotes, and ``""`` is an empty word. Raises
    ``ValueError`` on an unterminated quote or a trailing backslash.

    Nearly every line upsd sends is plain words and one final quoted value
    without escapes; those take a fast path (character-by-character parsing
    was most of the cost of a ``LIST VAR``).
    """
    if "\\" not in line and line.isascii() and line.isprintable():
        quote_at = line.find('"')
        if quote_at < 0:
            return line.split()
        if (
            line.endswith('"')
            and line.count('"') == 2
            and quote_at < len(line) - 1
            and (quote_at == 0 or line[quote_at - 1] == " ")
        ):
            return [*line[:quote_at].split(), line[quote_at + 1 : -1]]
    return split_words_slowly(line)


def split_words_slowly(line: str) -> list[str]:
    """``split_words`` character by character: the reference for every case."""
    words: list[str] = []
    current: list[str] = []
    in_word = in_quotes = escaped = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif char == '"':
            in_quotes = not in_quotes
            in_word = True
        elif not in_quotes and char in " \t":
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(char)
            in_word = True
    if escaped:
        raise ValueError("line ends in a backslash")
    if in_quotes:
        raise ValueError("unterminated quote")
    if in_word:
        words.append("".join(current))
    return words


def quote(value: str) -> str:
    """``value`` as one quoted protocol word (for passwords and values with blanks)."""
    if "\n" in value or "\r" in value:
        raise ValueError("a protocol word cannot contain a line break")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def check_name(kind: str, name: str) -> str:
    """A UPS or variable name that can go into a request line unquoted."""
    if not _NAME.fullmatch(name) or not name.isprintable():
        raise ValueError(f"invalid NUT {kind} name {name!r}: no blanks, quotes or backslashes")
    return name


@dataclass(frozen=True, slots=True)
class NutUpsInfo:
    """One UPS that upsd serves (``LIST UPS``)."""

    name: str
    description: str


@dataclass(frozen=True, slots=True)
class NutTiming:
    """When a request left and its (last) reply line arrived (monotonic seconds)."""

    sent_s: float
    received_s: float

    @property
    def midpoint_s(self) -> float:
        """Best estimate of when upsd answered."""
        return (self.sent_s + self.received_s) / 2


@dataclass(frozen=True, slots=True)
class _Request:
    """One request line, how errors about it are worded, what its reply lines look like."""

    line: str
    shown: str  # the line as messages show it (``PASSWORD ***``)
    device: str = ""
    # Each reply line (each body line of a list) is ``len(pattern)`` words, and
    # its words equal ``pattern``'s where ``pattern`` has one (None: any word).
    pattern: tuple[str | None, ...] = ()
    expected: str = ""  # the reply's shape, for messages


class NutConnection:
    """One TCP connection to upsd; every request on it takes its turn.

    ``timeout_s`` bounds each request (connect, send, the whole reply);
    upsd answers from memory, so anything slower than that is a hung server.
    A failed connect leaves nothing open and is not retried before the
    backoff delay has passed. The password is kept for reconnects and never
    shown: not in messages, logs or ``repr``.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        timeout_s: float = 2.0,
        username: str | None = None,
        password: str | None = None,
        login: str | None = None,
        backoff: Backoff | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_list_items: int = MAX_LIST_ITEMS,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if login is not None and username is None:
            raise ValueError("login needs a username and password")
        if username is not None:
            quote(username)  # refuses line breaks now rather than at connect
            quote(password or "")
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.username = username
        self._password = password
        self.login_ups = check_name("UPS", login) if login is not None else None
        self.max_line_bytes = max_line_bytes
        self.max_list_items = max_list_items
        self._backoff = backoff or Backoff(initial_s=0.5, cap_s=30.0)
        self._lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._next_connect_s = 0.0
        self.last_connect_error = ""
        self.requests = 0
        self.failures = 0
        self.connects = 0

    def __repr__(self) -> str:
        user = f" user={self.username!r}" if self.username else ""
        return f"<NutConnection {self.address}{user}>"

    @property
    def address(self) -> str:
        """host:port, for messages."""
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """Whether the connection is open now."""
        return self._writer is not None and not self._writer.is_closing()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the connection (and log in when configured); on failure nothing stays open."""
        async with self._connect_lock:
            if not self.connected:
                await self._open()

    async def ensure_connected(self) -> None:
        """Connect unless the last failure's backoff delay has not passed yet."""
        if self.connected:
            return
        wait_s = self._next_connect_s - time.monotonic()
        if wait_s > 0:
            raise DeviceConnectionError(
                f"upsd unreachable ({self.last_connect_error}), next try in {wait_s:.1f} s",
                address=self.address,
            )
        await self.connect()

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        async with self._lock:
            await self._drop()

    async def _open(self) -> None:
        self.connects += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, limit=self.max_line_bytes
                )
        except TimeoutError as exc:
            raise self._connect_failed(f"no connection within {self.timeout_s:g} s") from exc
        except OSError as exc:
            raise self._connect_failed(exc.strerror or str(exc)) from exc
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The streams become visible only under the lock, so no request can
        # slip in between a fresh connection and its login.
        async with self._lock:
            self._reader, self._writer = reader, writer
            if self.username is not None:
                try:
                    await self._authenticate()
                except BaseException as exc:
                    await self._drop()
                    self.last_connect_error = f"login failed: {exc}"
                    self._schedule_reconnect()
                    raise
        self._backoff.reset()
        self.last_connect_error = ""
        _LOGGER.debug("connected to upsd at %s", self.address)

    async def _authenticate(self) -> None:
        assert self.username is not None
        assert self._password is not None
        await self._single(_Request(f"USERNAME {quote(self.username)}", "USERNAME"), "OK")
        await self._single(_Request(f"PASSWORD {quote(self._password)}", "PASSWORD ***"), "OK")
        if self.login_ups is not None:
            line = f"LOGIN {self.login_ups}"
            await self._naming_ups(self.login_ups, self._single(_Request(line, line), "OK"))

    def _connect_failed(self, reason: str) -> DeviceConnectionError:
        self.last_connect_error = f"cannot connect: {reason}"
        self._schedule_reconnect()
        return DeviceConnectionError(self.last_connect_error, address=self.address)

    def _schedule_reconnect(self) -> None:
        self._next_connect_s = time.monotonic() + self._backoff.next_delay_s()

    async def _drop(self) -> None:
        writer = self._writer
        self._reader = self._writer = None
        if writer is None:
            return
        writer.transport.abort()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

    # --- one transaction (the caller holds the lock) -----------------------------------

    async def _single(self, req: _Request, expect: str = "") -> str:
        """One request, one reply line."""
        reply, _ = await self._transact(req, self._read_reply)
        if expect and reply != expect:
            raise await self._violation(req, f"reply {reply[:80]!r}", expected=expect)
        return reply

    async def _list(self, req: _Request) -> tuple[list[list[str]], NutTiming]:
        """One ``LIST`` request: the words of each line between ``BEGIN`` and ``END``."""
        return await self._transact(req, self._read_list)

    async def _transact(
        self,
        req: _Request,
        read: Callable[[_Request, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[R]],
    ) -> tuple[R, NutTiming]:
        """Send ``req`` and ``read`` its reply within the request timeout.

        Any failure other than an in-step ``ERR`` leaves the stream in an
        unknown place, so the connection is dropped.
        """
        if "\n" in req.line or "\r" in req.line:
            raise ValueError("a request is one line")
        reader, writer = self._reader, self._writer
        if reader is None or writer is None or writer.is_closing():
            raise DeviceConnectionError(
                f"{req.shown}: connection closed", device=req.device, address=self.address
            )
        self.requests += 1
        sent = time.monotonic()
        done = False
        try:
            async with asyncio.timeout(self.timeout_s):
                writer.write(req.line.encode() + b"\n")
                await writer.drain()
                reply = await read(req, reader, writer)
            done = True
        except TimeoutError as exc:
            self.failures += 1
            await self._drop()
            raise DeviceTimeoutError(
                f"{req.shown}: no complete reply within {self.timeout_s:g} s",
                device=req.device,
                address=self.address,
            ) from exc
        except NutServerError as exc:
            done = True
            if not exc.in_step:
                self.failures += 1
                await self._drop()
            raise
        except DeviceError:
            self.failures += 1
            await self._drop()
            raise
        except OSError as exc:
            self.failures += 1
            await self._drop()
            raise DeviceConnectionError(
                f"{req.shown}: connection lost: {exc.strerror or exc}",
                device=req.device,
                address=self.address,
            ) from exc
        finally:
            if not done and self._writer is writer:
                # Cancelled mid-request: a late reply would answer the next request.
                self._reader = self._writer = None
                writer.transport.abort()
        return reply, NutTiming(sent, time.monotonic())

    async def _read_line(self, req: _Request, reader: asyncio.StreamReader) -> str:
        try:
            raw = await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            raise DeviceProtocolError(
                f"{req.shown}: reply line longer than {self.max_line_bytes} bytes",
                device=req.device,
                address=self.address,
                expected="an upsd protocol line",
            ) from exc
        except asyncio.IncompleteReadError as exc:
            where = (
                f"in the middle of a line ({exc.partial[:40]!r})"
                if exc.partial
                else "(end of file)"
            )
            raise DeviceConnectionError(
                f"{req.shown}: upsd closed the connection {where}",
                device=req.device,
                address=self.address,
            ) from exc
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not text.isprintable():
            raise DeviceProtocolError(
                f"{req.shown}: reply has control characters ({text[:40]!r})",
                device=req.device,
                address=self.address,
                expected="printable text",
            )
        return text

    def _shaped(self, req: _Request, text: str) -> list[str]:
        """The words of ``text``; a line that does not have the request's pattern raises."""
        words = _words_or_none(text)
        if words is None or (
            req.pattern
            and (
                len(words) != len(req.pattern)
                or any(p is not None and p != w for p, w in zip(req.pattern, words, strict=True))
            )
        ):
            raise DeviceProtocolError(
                f"{req.shown}: line {text[:80]!r}",
                device=req.device,
                address=self.address,
                expected=req.expected or "quoted words",
            )
        return words

    async def _read_reply(
        self, req: _Request, reader: asyncio.StreamReader, _writer: asyncio.StreamWriter
    ) -> str:
        text = await self._read_line(req, reader)
        self._check_err(req, text, in_step=True)
        if req.pattern:
            self._shaped(req, text)
        return text

    async def _read_list(
        self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> list[list[str]]:
        args = req.line.partition(" ")[2]
        begin, end = f"BEGIN LIST {args}", f"END LIST {args}"
        first = await self._read_line(req, reader)
        self._check_err(req, first, in_step=True)
        if first != begin:
            raise DeviceProtocolError(
                f"{req.shown}: reply {first[:80]!r}",
                device=req.device,
                address=self.address,
                expected=begin,
            )
        body: list[list[str]] = []
        sock = writer.get_extra_info("socket")
        while True:
            _quick_ack(sock)
            text = await self._read_line(req, reader)
            if text == end:
                return body
            self._check_err(req, text, in_step=False)
            if text.startswith(("BEGIN ", "END ")):
                problem = f"{text[:80]!r} inside the list"
            elif len(body) >= self.max_list_items:
                problem = f"list longer than {self.max_list_items} lines"
            else:
                body.append(self._shaped(req, text))
                continue
            raise DeviceProtocolError(
                f"{req.shown}: {problem}", device=req.device, address=self.address, expected=end
            )

    def _check_err(self, req: _Request, text: str, *, in_step: bool) -> None:
        """Raise the mapped error for an ``ERR`` line."""
        if text != "ERR" and not text.startswith("ERR "):
            return
        _, code, extra = [*text.split(" ", 2), "?", ""][:3]
        if not in_step:
            extra = f"{extra}; inside a list" if extra else "inside a list"
        raise server_error(
            code or "?",
            req.shown,
            extra=extra,
            device=req.device,
            address=self.address,
            in_step=in_step,
        )

    async def _violation(
        self, req: _Request, message: str, *, expected: str
    ) -> DeviceProtocolError:
        """A reply that breaks the protocol: drop the connection, return the error to raise."""
        self.failures += 1
        await self._drop()
        return DeviceProtocolError(
            f"{req.shown}: {message}", device=req.device, address=self.address, expected=expected
        )

    async def _naming_ups(self, ups: str, transaction: Awaitable[T], device: str = "") -> T:
        """Run a transaction that names ``ups``; UNKNOWN-UPS says what upsd has instead."""
        try:
            return await transaction
        except NutServerError as exc:
            if exc.code != "UNKNOWN-UPS" or not exc.in_step or not self.connected:
                raise
            known: tuple[str, ...] | None
            try:
                known = tuple(u.name for u in await self._ups_list())
            except DeviceError:
                known = None
            raise NutUnknownUpsError(
                ups, exc.request, known, device=device, address=self.address
            ) from exc

    async def _ups_list(self) -> list[NutUpsInfo]:
        req = _Request("LIST UPS", "LIST UPS", pattern=("UPS", None, None), expected=_UPS_LINE)
        lines, _ = await self._list(req)
        return [NutUpsInfo(words[1], words[2]) for words in lines]

    # --- the requests walkout uses -------------------------------------------------------

    async def request(self, line: str, *, shown: str | None = None) -> str:
        """Send one request and return its one reply line (``ERR`` raises)."""
        await self.ensure_connected()
        async with self._lock:
            return await self._single(_Request(line, shown or line))

    async def version(self) -> str:
        """The version banner upsd sends for ``VER``."""
        return await self.request("VER")

    async def list_ups(self) -> list[NutUpsInfo]:
        """Every UPS upsd serves, in upsd's order."""
        await self.ensure_connected()
        async with self._lock:
            return await self._ups_list()

    async def list_vars(self, ups: str, *, device: str = "") -> tuple[dict[str, str], NutTiming]:
        """Every variable of ``ups`` as upsd has it now, with the request's timing.

        ``device`` names the walkout device in errors.
        """
        check_name("UPS", ups)
        line = f"LIST VAR {ups}"
        req = _Request(line, line, device, ("VAR", ups, None, None), f'VAR {ups} <name> "<value>"')
        await self.ensure_connected()
        async with self._lock:
            lines, timing = await self._naming_ups(ups, self._list(req), device)
        return {words[2]: words[3] for words in lines}, timing

    async def get_var(self, ups: str, name: str, *, device: str = "") -> str:
        """One variable of ``ups``; ``NutVariableError`` when the UPS does not report it."""
        check_name("UPS", ups)
        check_name("variable", name)
        line = f"GET VAR {ups} {name}"
        req = _Request(line, line, device, ("VAR", ups, name, None), f'VAR {ups} {name} "<value>"')
        await self.ensure_connected()
        async with self._lock:
            reply = await self._naming_ups(ups, self._single(req), device)
        return split_words(reply)[3]


def _words_or_none(text: str) -> list[str] | None:
    try:
        return split_words(text)
    except ValueError:
        return None


def _quick_ack(sock: socket.socket | None) -> None:
    """Ask Linux to ACK now rather than after the delayed-ACK timer (see the module doc)."""
    if sock is None or not hasattr(socket, "TCP_QUICKACK"):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)


async def list_ups(
    host: str, port: int = DEFAULT_PORT, *, timeout_s: float = 2.0
) -> list[NutUpsInfo]:
    """The UPSes a upsd serves (for ``walkout scan``): connect, ``LIST UPS``, close."""
    async with NutConnection(host, port, timeout_s=timeout_s) as conn:
        return await conn.list_ups()


# --- from NUT variables to a UpsReading ------------------------------------------------

# ups.status flags that become alarms, with UPS-MIB well-known alarm names
# where one fits and NUT's meaning spelled out where none does.
_FLAG_ALARMS = {
    "OB": "onBattery",
    "LB": "lowBattery",
    "RB": "batteryBad",
    "OVER": "outputOverload",
    "BYPASS": "onBypass",
    "OFF": "upsOutputOff",
    "TEST": "testInProgress",
    "CAL": "calibrating",
    "FSD": "forcedShutdown",
    "NOCOMM": "communicationsLost",
}
_PHASES = (1, 2, 3)


def fold_status(flags: frozenset[str]) -> UpsStatus:
    """One ``UpsStatus`` from NUT's ``ups.status`` flags, by ``UpsStatus`` precedence.

    ``OFF`` (output off) is a fault whatever else is set. ``LB`` is a low
    battery while on battery, or when the unit does not say it is on line;
    ``OL LB`` (recharging after an outage) stays on line. ``OVER`` is an
    alarm, not a fault: the load is still fed until the unit trips, and then
    it reports ``OFF``. A status without ``OL``/``OB`` (``WAIT`` while a
    driver starts, empty) is unknown.
    """
    if "OFF" in flags:
        return UpsStatus.FAULT
    on_battery = "OB" in flags
    if "LB" in flags and (on_battery or "OL" not in flags):
        return UpsStatus.LOW_BATTERY
    if on_battery:
        return UpsStatus.ON_BATTERY
    if "BYPASS" in flags:
        return UpsStatus.BYPASS
    if "OL" in flags:
        return UpsStatus.ON_LINE
    return UpsStatus.UNKNOWN


def _number(values: Mapping[str, str], name: str) -> float | None:
    raw = values.get(name)
    if raw is None:
        return None
    try:
        number = float(raw.strip())
    except ValueError:
        _LOGGER.debug("NUT variable %s=%r is not a number; reported as unknown", name, raw)
        return None
    return number if math.isfinite(number) else None


def _first(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def _input_lines(values: Mapping[str, str]) -> tuple[InputLine, ...]:
    frequency = _number(values, "input.frequency")
    phased = [
        InputLine(
            index=n,
            voltage_v=_number(values, f"input.L{n}-N.voltage"),
            frequency_hz=_first(_number(values, f"input.L{n}.frequency"), frequency),
            current_a=_number(values, f"input.L{n}.current"),
        )
        for n in _PHASES
        if any(f"input.L{n}{suffix}" in values for suffix in ("-N.voltage", ".current"))
    ]
    if phased:
        return tuple(phased)
    single = InputLine(
        index=1,
        voltage_v=_number(values, "input.voltage"),
        frequency_hz=frequency,
        current_a=_number(values, "input.current"),
    )
    if single.voltage_v is None and single.frequency_hz is None and single.current_a is None:
        return ()
    return (single,)


def _output_lines(values: Mapping[str, str]) -> tuple[OutputLine, ...]:
    phased = [
        OutputLine(
            index=n,
            voltage_v=_number(values, f"output.L{n}-N.voltage"),
            current_a=_number(values, f"output.L{n}.current"),
            power_w=_number(values, f"output.L{n}.realpower"),
            load_pct=_number(values, f"output.L{n}.power.percent"),
        )
        for n in _PHASES
        if any(
            f"output.L{n}{suffix}" in values
            for suffix in ("-N.voltage", ".current", ".realpower", ".power.percent")
        )
    ]
    if phased:
        return tuple(phased)
    power = _number(values, "output.realpower")
    single = OutputLine(
        index=1,
        voltage_v=_number(values, "output.voltage"),
        current_a=_number(values, "output.current"),
        power_w=power if power is not None else _number(values, "ups.realpower"),
        load_pct=_number(values, "ups.load"),
    )
    if all(
        v is None for v in (single.voltage_v, single.current_a, single.power_w, single.load_pct)
    ):
        return ()
    return (single,)


def reading_from_nut(source: str, t_mono: float, values: Mapping[str, str]) -> UpsReading:
    """A ``UpsReading`` from one ``LIST VAR`` (or ``upsc``) set of NUT variables.

    Absent or non-numeric variables are unknown (None), never a default.
    Per-phase variables (``input.L1-N.voltage`` ...) give one line per phase;
    without them the single-phase variables give one line. NUT has no
    time-on-battery or input-line-bad counter, so those stay None.
    """
    flags = frozenset(values.get("ups.status", "").split())
    status = fold_status(flags)
    if "LB" in flags:
        battery = BatteryStatus.LOW
    elif flags & {"OL", "OB"}:
        battery = BatteryStatus.NORMAL
    else:
        battery = BatteryStatus.UNKNOWN
    alarms = [name for flag, name in _FLAG_ALARMS.items() if flag in flags]
    text = values.get("ups.alarm", "").strip()
    if text:
        alarms.append(text)
    inputs = _input_lines(values)
    outputs = _output_lines(values)
    loads = [line.load_pct for line in outputs if line.load_pct is not None]
    load = max(loads) if loads else _number(values, "ups.load")
    power = _number(values, "ups.realpower")
    if power is None:
        power = _number(values, "output.realpower")
    if power is None and len(outputs) > 1 and all(o.power_w is not None for o in outputs):
        power = math.fsum(o.power_w for o in outputs if o.power_w is not None)
    first = inputs[0] if inputs else None
    return UpsReading(
        source=source,
        t_mono=t_mono,
        status=status,
        battery_status=battery,
        runtime_s=_number(values, "battery.runtime"),
        charge_pct=_number(values, "battery.charge"),
        battery_voltage_v=_number(values, "battery.voltage"),
        battery_temperature_c=_number(values, "battery.temperature"),
        input_v=first.voltage_v if first else None,
        input_hz=first.frequency_hz if first else None,
        input_lines=inputs,
        output_lines=outputs,
        load_pct=load,
        output_power_w=power,
        alarms=tuple(alarms),
        via="nut",
    )


class NutUps(PolledDevice[UpsReading]):
    """A UPS read through upsd: one ``LIST VAR`` per reading.

    The connection may serve several UPSes of the same upsd: the UPS never
    closes it; whoever built the connection does.
    """

    def __init__(self, device_id: str, connection: NutConnection, ups: str) -> None:
        super().__init__(device_id)
        self.connection = connection
        self.ups = check_name("UPS", ups)

    @property
    def address(self) -> str:
        """``ups@host:port``, NUT's own way of naming a UPS."""
        return f"{self.ups}@{self.connection.address}"

    async def connect(self) -> None:
        """Open the shared connection if it is not open yet."""
        await self.connection.ensure_connected()

    async def close(self) -> None:
        """Nothing of the UPS's own to release: the connection belongs to its owner."""

    async def read(self) -> UpsReading:
        """One ``LIST VAR``, mapped."""
        values, timing = await self.connection.list_vars(self.ups, device=self.device_id)
        return reading_from_nut(self.device_id, timing.midpoint_s, values)
