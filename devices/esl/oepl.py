"""OpenEPaperLink access point over its HTTP API and WebSocket (aiohttp).

Endpoints and field names follow the AP firmware, not its documentation
(github.com/OpenEPaperLink/OpenEPaperLink at commit cdd1cfa9:
ESP32_AP-Flasher/src/web.cpp for the routes and their answers, tag_db.cpp
``fillNode``/``tagDBtoJson`` for the tag records, newproto.cpp for when
``hash``, ``pending`` and ``updatecount`` change)::

    POST /imgupload   multipart: mac, dither, file (JPEG; mac must come before the file,
                      the AP looks it up when the file starts)
    POST /jsonupload  form: mac, json (a JSON template, drawn by the AP)
    POST /tag_cmd     form: mac, cmd (refresh, clear, reboot, scan, reset, deepsleep,
                      ledflash, ledflash_long, ledflash_stop, del)
    GET  /get_db      {"tags": [record, ...], "continu": next_pos}; ?mac= for one tag
    GET  /ws          {"tags": [record]} whenever a tag changes, plus log/sys messages

What an ack is here: an upload only queues the image at the AP. The tag
fetches it at its next check-in (about once a minute), after which the AP
raises the tag's ``updatecount``, sets ``hash`` to the new content's MD5
prefix and lowers ``pending``. A push is acked when the tag's record shows
an ``updatecount`` above the one read before the upload with nothing pending
(the AP's hash cannot be predicted from the JPEG: it is taken over the AP's
own converted buffer). Changes arrive over the WebSocket; while it is down
the driver polls ``get_db?mac=``. No ack within ``ack_timeout_s`` means a
re-upload, up to ``retries`` times, then ``timeout``. A record whose
``pending`` drops back without an update means the AP dropped the transfer
(its "xfer timeout"), which ends the attempt early. Pushes to one tag are
serialised, so a count rise cannot belong to a different push of ours. The
AP keeps every upload queued (it never drops an older one), so after a
retry the tag fetches the earlier copy first; requiring ``pending == 0``
makes the ack wait for the last one.

AP quirks handled: a paused AP answers 409 "Come back later" (asked again
every ``busy_retry_s`` for up to ``busy_wait_s``, without using up an
attempt); an image identical to the one shown is never queued, so
the driver reports content it already had acked as acked without uploading;
``get_db?pos=`` is a uint8 on the AP, so a database listing stops at 255
tags (the driver warns instead of looping); 6-byte MACs are padded with two
zero bytes in front, as the AP's ``hex2mac`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import aiohttp

from devices.backoff import Backoff
from devices.base import PolledDevice
from devices.bus import Bus
from devices.errors import (
    DeviceCommandError,
    DeviceConnectionError,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeoutError,
    ProfileError,
)
from devices.esl.backend import TagBackend
from devices.esl.displays import Display, display_for
from devices.esl.model import (
    EslSnapshot,
    PushOutcome,
    TagContent,
    TagMode,
    TagPushResult,
    TagStatus,
    content_hash,
)
from devices.esl.render import draw_ops, json_template, render_tag

_LOGGER = logging.getLogger(__name__)

TAG_COMMANDS = frozenset(
    {
        "refresh",
        "clear",
        "reboot",
        "scan",
        "reset",
        "deepsleep",
        "ledflash",
        "ledflash_long",
        "ledflash_stop",
        "del",
    }
)
"""``cmd`` values web.cpp's /tag_cmd handler acts on."""

NO_HASH = "0" * 32
MAX_DB_POS = 255
"""The AP parses ``get_db?pos=`` into a uint8_t."""

_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def normalize_mac(text: str) -> str:
    """16 upper-case hex digits, as the AP prints MACs; 12 digits get ``0000`` in front."""
    if len(text) not in (12, 16) or not _HEX.match(text):
        raise ValueError(f"MAC {text!r} must be 12 or 16 hex digits")
    return ("0000" + text if len(text) == 12 else text).upper()


class ApBusyError(DeviceCommandError):
    """The AP answered 409 "Come back later": it is not in its run state."""


@dataclass(frozen=True, slots=True)
class _Record:
    """The fields of a tag record the driver decides on."""

    mac: str
    hash: str
    pending: int
    update_count: int
    hw_type: int | None
    raw: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _Attempt:
    acked: bool
    reason: str = ""
    ap_hash: str | None = None


def _int(raw: Mapping[str, Any], key: str) -> int | None:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def parse_record(raw: object) -> _Record:
    """One ``fillNode`` record; DeviceProtocolError names what is missing."""
    if not isinstance(raw, dict):
        raise DeviceProtocolError("tag record is not an object", expected="a JSON object")
    mac = raw.get("mac")
    if not isinstance(mac, str):
        raise DeviceProtocolError("tag record without 'mac'", expected="'mac': 16 hex digits")
    try:
        mac = normalize_mac(mac)
    except ValueError as exc:
        raise DeviceProtocolError(str(exc), expected="16 hex digits") from None
    digest = raw.get("hash")
    pending, count = _int(raw, "pending"), _int(raw, "updatecount")
    if not isinstance(digest, str) or pending is None or count is None:
        raise DeviceProtocolError(
            f"tag record {mac} lacks hash/pending/updatecount",
            expected="'hash' (string), 'pending' and 'updatecount' (integers)",
        )
    return _Record(mac, digest.lower(), pending, count, _int(raw, "hwType"), raw)


class OeplAccessPoint(PolledDevice[EslSnapshot], TagBackend):
    """Tags behind one OpenEPaperLink AP (see the module docstring for the protocol).

    ``read()`` lists every tag (``get_db``); pushes render the content for the
    tag's panel (``hwType`` -> ``displays.yaml``) and upload it as JPEG, or,
    with ``content_format="json"``, as a JSON template the AP draws itself.
    ``ack_timeout_s`` must exceed the tags' check-in interval (about a minute
    on real tags). ``bus`` (optional) receives every tag record as a
    :class:`TagStatus`.
    """

    def __init__(
        self,
        device_id: str,
        base_url: str,
        *,
        http_timeout_s: float = 5.0,
        ack_timeout_s: float = 90.0,
        retries: int = 2,
        busy_retry_s: float = 2.0,
        busy_wait_s: float = 120.0,
        poll_s: float = 5.0,
        websocket: bool = True,
        dither: int = 0,
        content_format: Literal["image", "json"] = "image",
        displays: Mapping[int, Display] | None = None,
        backoff: Backoff | None = None,
        bus: Bus | None = None,
    ) -> None:
        super().__init__(device_id)
        if ack_timeout_s <= 0 or retries < 0 or http_timeout_s <= 0 or poll_s <= 0:
            raise ValueError("need ack_timeout_s, http_timeout_s, poll_s > 0 and retries >= 0")
        self.base_url = base_url.rstrip("/")
        self.name = f"oepl {self.base_url}"
        self.http_timeout_s = http_timeout_s
        self.ack_timeout_s = ack_timeout_s
        self.retries = retries
        self.busy_retry_s = busy_retry_s
        self.busy_wait_s = busy_wait_s
        self.poll_s = poll_s
        self.use_websocket = websocket
        self.dither = dither
        self.content_format = content_format
        self.displays = displays
        self.backoff = backoff or Backoff(initial_s=0.5, cap_s=15.0)
        self.bus = bus
        self.statuses: dict[str, TagStatus] = {}
        self.ws_messages = 0
        self._records: dict[str, _Record] = {}
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._shown: dict[str, tuple[TagContent | None, TagMode]] = {}
        self._acked: dict[str, tuple[str, str]] = {}  # mac -> (our hash, AP hash) at the ack
        self._reverts: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws_task: asyncio.Task[None] | None = None
        self._ws_up = asyncio.Event()
        self._warned_pos = False

    @property
    def address(self) -> str:
        """The AP's base URL."""
        return self.base_url

    @property
    def websocket_connected(self) -> bool:
        """The status stream is up (pushes then wait on it instead of polling)."""
        return self._ws_up.is_set()

    async def wait_websocket(self, timeout_s: float) -> None:
        """Wait until the WebSocket is connected; TimeoutError after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._ws_up.wait()

    # --- lifecycle --------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the HTTP session, read the tag database, start the WebSocket.

        An AP that does not answer ``get_db`` raises and leaves nothing open.
        """
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession()
        try:
            await self.read()
        except BaseException:
            await self.close()
            raise
        if self.use_websocket:
            self._ws_task = asyncio.create_task(self._ws_loop(), name=f"oepl-ws:{self.device_id}")

    async def close(self) -> None:
        """Stop the WebSocket and pending message reverts, close the session; safe twice."""
        tasks = [t for t in (self._ws_task, *self._reverts.values()) if t is not None]
        self._ws_task = None
        self._reverts.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ws_up.clear()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- HTTP -------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, data: Any = None, params: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        if self._session is None:
            raise DeviceConnectionError(
                "not connected: use 'async with' or connect()",
                device=self.device_id,
                address=self.base_url,
            )
        try:
            async with asyncio.timeout(self.http_timeout_s):
                async with self._session.request(
                    method, self.base_url + path, data=data, params=params
                ) as response:
                    return response.status, await response.text()
        except TimeoutError:
            raise DeviceTimeoutError(
                f"{method} {path} not answered within {self.http_timeout_s:g} s",
                device=self.device_id,
                address=self.base_url,
            ) from None
        except aiohttp.ClientError as exc:
            raise DeviceConnectionError(
                f"{method} {path}: {exc or type(exc).__name__}",
                device=self.device_id,
                address=self.base_url,
            ) from None

    async def _get_json(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        status, text = await self._request("GET", path, params=params)
        if status != 200:
            raise DeviceProtocolError(
                f"GET {path} answered {status}: {text[:200]!r}",
                device=self.device_id,
                address=self.base_url,
                expected="200",
            )
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DeviceProtocolError(
                f"GET {path} is not JSON: {exc}",
                device=self.device_id,
                address=self.base_url,
                expected="a JSON document",
            ) from None

    def _check_answer(self, what: str, mac: str, status: int, text: str) -> None:
        if status == 200:
            return
        if status == 409:
            raise ApBusyError(
                f"{what} {mac}: AP busy ({text.strip() or '409'})",
                device=self.device_id,
                address=self.base_url,
            )
        if 400 <= status < 500:
            raise DeviceCommandError(
                f"{what} {mac}: AP refused with {status} {text.strip()!r}",
                device=self.device_id,
                address=self.base_url,
            )
        raise DeviceProtocolError(
            f"{what} {mac}: AP answered {status} {text.strip()!r}",
            device=self.device_id,
            address=self.base_url,
            expected="200",
        )

    async def upload_image(self, mac: str, image: bytes, *, dither: int | None = None) -> None:
        """``POST /imgupload``: queue a JPEG for the tag (no ack wait; see :meth:`push_image`)."""
        mac = normalize_mac(mac)
        form = aiohttp.FormData()
        form.add_field("mac", mac)  # before the file: the AP reads it when the file starts
        form.add_field("dither", str(self.dither if dither is None else dither))
        form.add_field("file", image, filename="image.jpg", content_type="image/jpeg")
        status, text = await self._request("POST", "/imgupload", data=form)
        self._check_answer("imgupload", mac, status, text)

    async def upload_json(self, mac: str, template: Sequence[Mapping[str, Any]]) -> None:
        """``POST /jsonupload``: a JSON template for the AP to draw (no ack wait)."""
        mac = normalize_mac(mac)
        form = {"mac": mac, "json": json.dumps(list(template), separators=(",", ":"))}
        status, text = await self._request("POST", "/jsonupload", data=form)
        self._check_answer("jsonupload", mac, status, text)

    async def tag_cmd(self, mac: str, cmd: str) -> None:
        """``POST /tag_cmd``; radio commands (reboot, scan, led...) run at the next check-in."""
        mac = normalize_mac(mac)
        if cmd not in TAG_COMMANDS:
            raise ValueError(f"unknown tag command {cmd!r} (known: {sorted(TAG_COMMANDS)})")
        status, text = await self._request("POST", "/tag_cmd", data={"mac": mac, "cmd": cmd})
        self._check_answer(f"tag_cmd {cmd}", mac, status, text)

    async def fetch_record(self, mac: str) -> Mapping[str, Any] | None:
        """``GET /get_db?mac=``: the tag's raw record, None if the AP does not know it."""
        record = await self._fetch(normalize_mac(mac))
        return None if record is None else record.raw

    async def _fetch(self, mac: str) -> _Record | None:
        doc = await self._get_json("/get_db", {"mac": mac})
        if not isinstance(doc, dict) or "error" in doc:
            raise DeviceProtocolError(
                f"get_db?mac={mac}: {doc!r:.200}",
                device=self.device_id,
                address=self.base_url,
                expected='{"tags": [...]}',
            )
        tags = doc.get("tags")
        if not isinstance(tags, list) or not tags:
            return None
        record = self._update(tags[0])
        return record if record is not None and record.mac == mac else None

    async def read(self) -> EslSnapshot:
        """Every tag in the AP's database (paged ``get_db``)."""
        loop = asyncio.get_running_loop()
        pos = 0
        seen: dict[str, TagStatus] = {}
        while True:
            doc = await self._get_json("/get_db", {"pos": str(pos)} if pos else None)
            tags = doc.get("tags") if isinstance(doc, dict) else None
            if not isinstance(tags, list):
                raise DeviceProtocolError(
                    "get_db has no 'tags' list",
                    device=self.device_id,
                    address=self.base_url,
                    expected='{"tags": [...]}',
                )
            for raw in tags:
                record = self._update(raw)
                if record is not None:
                    seen[record.mac] = self.statuses[record.mac]
            cont = doc.get("continu")
            if not isinstance(cont, int) or isinstance(cont, bool) or cont <= pos:
                break
            if cont > MAX_DB_POS:
                if not self._warned_pos:
                    _LOGGER.warning(
                        "%s: the AP lists at most %d tags through get_db (its 'pos' is a "
                        "uint8); tags beyond are known only from the WebSocket",
                        self.base_url,
                        MAX_DB_POS,
                    )
                    self._warned_pos = True
                break
            pos = cont
        for mac, status in self.statuses.items():
            seen.setdefault(mac, status)
        return EslSnapshot(source=self.device_id, t_mono=loop.time(), tags=tuple(seen.values()))

    def known_tags(self) -> Sequence[str]:
        """MACs the AP has reported."""
        return sorted(self._records)

    # --- records and the WebSocket ----------------------------------------------------

    def _update(self, raw: object) -> _Record | None:
        try:
            record = parse_record(raw)
        except DeviceProtocolError as exc:
            _LOGGER.warning("%s: ignored a tag record: %s", self.base_url, exc)
            return None
        self._records[record.mac] = record
        status = self._status(record)
        self.statuses[record.mac] = status
        if self.bus is not None:
            self.bus.publish_nowait(status)
        for event in self._watchers.get(record.mac, ()):
            event.set()
        return record

    def _status(self, record: _Record) -> TagStatus:
        raw = record.raw
        lastseen = _int(raw, "lastseen")
        battery = _int(raw, "batteryMv")
        rssi = _int(raw, "RSSI")
        shown = self._shown.get(record.mac)
        return TagStatus(
            source=self.device_id,
            t_mono=asyncio.get_running_loop().time(),
            tag_id=record.mac,
            last_seen=float(lastseen) if lastseen else None,
            battery_mv=battery or None,  # 0: the tag never reported
            battery_pct=None,  # OpenEPaperLink tags report millivolts only
            rssi_dbm=rssi or None,
            content_hash=None if record.hash == NO_HASH else record.hash,
            pending=record.pending,
            mode=shown[1] if shown else None,
            hw_type=record.hw_type,
            update_count=record.update_count,
            extra={
                k: raw[k]
                for k in (
                    "alias",
                    "nextcheckin",
                    "contentMode",
                    "LQI",
                    "temperature",
                    "updatelast",
                    "wakeupReason",
                )
                if k in raw
            },
        )

    async def _ws_loop(self) -> None:
        assert self._session is not None
        url = self.base_url.replace("http", "ws", 1) + "/ws"
        was_up = False
        while True:
            try:
                async with asyncio.timeout(self.http_timeout_s):
                    ws = await self._session.ws_connect(url, heartbeat=30.0)
                async with ws:
                    self._ws_up.set()
                    self.backoff.reset()
                    if was_up:
                        _LOGGER.info("%s: WebSocket is back", url)
                    was_up = True
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self._on_ws_text(message.data)
                        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                _LOGGER.debug("%s: WebSocket: %s", url, exc)
            if self._ws_up.is_set():
                _LOGGER.warning("%s: WebSocket lost; polling get_db until it is back", url)
            self._ws_up.clear()
            for watchers in self._watchers.values():  # waiters switch to polling
                for event in watchers:
                    event.set()
            await asyncio.sleep(self.backoff.next_delay_s())

    def _on_ws_text(self, text: str) -> None:
        self.ws_messages += 1
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            _LOGGER.warning("%s: WebSocket message is not JSON: %.80r", self.base_url, text)
            return
        if not isinstance(message, dict):
            return
        tags = message.get("tags")
        if isinstance(tags, list):
            for raw in tags:
                self._update(raw)
        elif "errMsg" in message:
            _LOGGER.info("%s: AP error: %s", self.base_url, message["errMsg"])

    # --- pushes -----------------------------------------------------------------------

    def _lock(self, mac: str) -> asyncio.Lock:
        return self._locks.setdefault(mac, asyncio.Lock())

    def _result(
        self,
        mac: str,
        outcome: PushOutcome,
        start: float,
        *,
        reason: str = "",
        digest: str | None = None,
        attempts: int = 0,
    ) -> TagPushResult:
        now = asyncio.get_running_loop().time()
        return TagPushResult(
            source=self.device_id,
            t_mono=now,
            tag_id=mac,
            outcome=outcome,
            reason=reason,
            content_hash=digest,
            attempts=attempts,
            latency_s=now - start,
        )

    async def push_image(
        self, mac: str, image: bytes, *, dither: int | None = None
    ) -> TagPushResult:
        """Upload a ready JPEG and wait until the tag has fetched it (or give up)."""
        mac = normalize_mac(mac)
        async with self._lock(mac):
            return await self._push(mac, partial(self.upload_image, mac, image, dither=dither))

    async def push_template(self, mac: str, template: Sequence[Mapping[str, Any]]) -> TagPushResult:
        """Upload a JSON template and wait until the tag has fetched the AP's drawing."""
        mac = normalize_mac(mac)
        async with self._lock(mac):
            return await self._push(mac, partial(self.upload_json, mac, template))

    async def _push(self, mac: str, upload: Callable[[], Awaitable[None]]) -> TagPushResult:
        """Upload, wait for the ack; re-upload on timeout; the caller holds the tag's lock."""
        start = asyncio.get_running_loop().time()
        attempts = 0
        reason = "not attempted"
        loop = asyncio.get_running_loop()
        errors = 0
        while attempts <= self.retries and errors <= self.retries:
            try:
                base = await self._fetch(mac)
                if base is None:
                    return self._result(
                        mac,
                        PushOutcome.FAILED,
                        start,
                        reason="the AP does not know this tag",
                        attempts=attempts,
                    )
                event = asyncio.Event()
                self._watchers.setdefault(mac, set()).add(event)
                try:
                    await upload()
                    attempts += 1
                    outcome = await self._await_ack(mac, base, event)
                finally:
                    self._watchers[mac].discard(event)
            except ApBusyError as exc:
                # A paused AP (starting, rebooting) costs no attempt, only time.
                reason = str(exc)
                if loop.time() - start > self.busy_wait_s:
                    break
                await asyncio.sleep(self.busy_retry_s)
                continue
            except DeviceCommandError as exc:
                return self._result(
                    mac, PushOutcome.FAILED, start, reason=str(exc), attempts=attempts
                )
            except DeviceError as exc:
                errors += 1
                reason = str(exc)
                await asyncio.sleep(self.busy_retry_s)
                continue
            if outcome.acked:
                return self._result(
                    mac, PushOutcome.ACKED, start, digest=outcome.ap_hash, attempts=attempts
                )
            reason = outcome.reason
        return self._result(
            mac,
            PushOutcome.TIMEOUT if attempts else PushOutcome.FAILED,
            start,
            reason=f"{reason} (after {attempts} upload(s))",
            attempts=attempts,
        )

    async def _await_ack(self, mac: str, base: _Record, event: asyncio.Event) -> _Attempt:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout_s
        saw_pending = False
        polled_last = False
        while True:
            record = self._records.get(mac)
            if record is not None:
                if record.update_count > base.update_count and record.pending == 0:
                    return _Attempt(True, ap_hash=record.hash)
                if record.pending > 0:
                    saw_pending = True
                elif saw_pending and record.update_count == base.update_count:
                    return _Attempt(False, "the AP dropped the transfer (tag xfer timeout)")
            remaining = deadline - loop.time()
            if remaining <= 0:
                if polled_last:
                    return _Attempt(
                        False, f"tag did not fetch the update within {self.ack_timeout_s:g} s"
                    )
                polled_last = True  # one last look over HTTP in case a WS message was lost
                with contextlib.suppress(DeviceError):
                    await self._fetch(mac)
                continue
            wait = remaining if self._ws_up.is_set() else min(remaining, self.poll_s)
            event.clear()
            try:
                async with asyncio.timeout(wait):
                    await event.wait()
            except TimeoutError:
                if not self._ws_up.is_set():
                    with contextlib.suppress(DeviceError):
                        await self._fetch(mac)

    async def _display(self, mac: str) -> Display:
        record = self._records.get(mac)
        if record is None:
            record = await self._fetch(mac)
        if record is None:
            raise DeviceCommandError(
                f"{mac}: the AP does not know this tag",
                device=self.device_id,
                address=self.base_url,
            )
        if record.hw_type is None:
            raise ProfileError(f"{mac}: the AP reports no hwType")
        return display_for(record.hw_type, self.displays)

    async def push_content(
        self,
        tag_id: str,
        content: TagContent | None,
        mode: TagMode = TagMode.NORMAL,
        *,
        message: str | None = None,
    ) -> TagPushResult:
        """Render ``content`` for the tag's panel and push it (``None`` only with blank)."""
        mac = normalize_mac(tag_id)
        start = asyncio.get_running_loop().time()
        async with self._lock(mac):
            try:
                display = await self._display(mac)
            except (DeviceError, ProfileError) as exc:
                return self._result(mac, PushOutcome.FAILED, start, reason=str(exc))
            if content is None or mode is TagMode.BLANK:
                if mode is not TagMode.BLANK:
                    return self._result(
                        mac,
                        PushOutcome.FAILED,
                        start,
                        reason="no content known for this tag: push content first",
                    )
                rendered = draw_ops(display, [])
            else:
                rendered = render_tag(content, display, mode, message)
            if self.content_format == "json" and content is not None:
                template = json_template(content, display, mode, message)
                ours = content_hash(template)
                upload: Callable[[], Awaitable[None]] = partial(self.upload_json, mac, template)
            else:
                ours = rendered.pixel_hash
                jpeg = rendered.encode("jpeg")
                upload = partial(self.upload_image, mac, jpeg)
            record = self._records.get(mac)
            if record is not None and self._acked.get(mac) == (ours, record.hash):
                # The AP never queues an image identical to the one shown.
                result = self._result(
                    mac, PushOutcome.ACKED, start, reason="already shown", digest=record.hash
                )
            else:
                result = await self._push(mac, upload)
            if result.acked and result.content_hash is not None:
                self._acked[mac] = (ours, result.content_hash)
            if result.acked and message is None:
                self._shown[mac] = (content, mode)
                self._cancel_revert(mac)
                if mac in self._records:  # the status now carries the confirmed mode
                    self.statuses[mac] = self._status(self._records[mac])
            return result

    async def set_mode(self, tag_id: str, mode: TagMode) -> TagPushResult:
        """Re-render the tag's last acked content in ``mode`` and push it."""
        mac = normalize_mac(tag_id)
        content = self._shown.get(mac, (None, TagMode.NORMAL))[0]
        return await self.push_content(mac, content, mode)

    async def show_message(self, tag_id: str, text: str, duration_s: float) -> TagPushResult:
        """Show ``text`` in the tag's banner, and push its content back after ``duration_s``."""
        if not text or not 0 < duration_s <= 3600:
            raise ValueError("a message needs text and 0 < duration_s <= 3600")
        mac = normalize_mac(tag_id)
        start = asyncio.get_running_loop().time()
        content, mode = self._shown.get(mac, (None, TagMode.NORMAL))
        if content is None or mode is TagMode.BLANK:
            return self._result(
                mac,
                PushOutcome.FAILED,
                start,
                reason="no content shown on this tag to put a message on",
            )
        result = await self.push_content(mac, content, mode, message=text)
        if result.acked:
            self._cancel_revert(mac)
            self._reverts[mac] = asyncio.create_task(
                self._revert_after(mac, duration_s), name=f"oepl-revert:{mac}"
            )
        return result

    def _cancel_revert(self, mac: str) -> None:
        task = self._reverts.pop(mac, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _revert_after(self, mac: str, duration_s: float) -> None:
        await asyncio.sleep(duration_s)  # the message's display time
        content, mode = self._shown.get(mac, (None, TagMode.NORMAL))
        result = await self.push_content(mac, content, mode)
        if not result.acked:
            _LOGGER.warning("%s: %s still shows a message: %s", self.base_url, mac, result.reason)
