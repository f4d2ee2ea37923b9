"""An OpenEPaperLink access point with simulated tags, over HTTP and WebSocket (aiohttp).

Endpoints, parameters, answers and JSON field names follow the AP firmware
(github.com/OpenEPaperLink/OpenEPaperLink, ESP32_AP-Flasher/src/web.cpp,
tag_db.cpp ``fillNode``/``tagDBtoJson``, newproto.cpp
``prepareDataAvail``/``processDataReq``/``processXferComplete``, at commit
cdd1cfa9)::

    POST /imgupload   multipart: mac (before the file part), dither, file (JPEG)
                      -> 200 "Ok, saved" | 400 "parameters incomplete" | 400 "mac not found"
                         | 409 "Come back later"
    POST /jsonupload  form: mac, json, [ttl] -> 200 "Ok, saved" | 400 "Missing parameters"
                         | 400 "mac not found in tagDB" | 409 "come back later"
    POST /tag_cmd     form: mac, cmd (del clear refresh reboot scan reset deepsleep
                      ledflash ledflash_long ledflash_stop) -> 200 "Ok, done"
                         | 400 "Error: mac not found" | 500 "param error"
    GET  /get_db      [mac=...] | [pos=N] -> {"tags": [...], "continu": N}
    GET  /ws          text frames: {"tags": [record]} on every tag change,
                      {"logMsg": ...}, {"errMsg": ...}, {"sys": {...}}

As on the AP, an upload is answered first and converted afterwards (the
content manager runs in its own loop): the tag's ``pending`` count rises a
moment after the 200. A tag fetches pending data only when it checks in; then
``hash`` becomes the first 8 bytes of the image's MD5 plus zeros,
``updatecount`` rises, ``updatelast`` is set and ``pending`` drops. An image
identical to the one shown is not queued ("new image is the same as current
image"); older queued images are not dropped (a precedence slip in
``queueDataAvail``), so a tag fetches every upload in turn.
``get_db?pos=`` is read into a uint8 on the AP, so positions wrap at 256 —
kept here, because a driver must cope with it.

Simulator faults: a tag ``out_of_range`` never checks in; a tag with
``xfer_timeout`` checks in but its transfer fails (the AP drops the queue,
nothing changes on the tag); ``set_run_status(1)`` makes uploads answer 409.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from sim_devices.esl.battery import Battery
from sim_devices.esl.raster import (
    PANELS,
    Panel,
    RasterError,
    TagImage,
    from_jpeg,
    from_template,
)

log = logging.getLogger(__name__)

RUNSTATUS_PAUSE = 1
RUNSTATUS_RUN = 2
NEVER = 3216153600
"""The AP's "no next update / in deep sleep" timestamp."""
DB_PAGE_BYTES = 5000
"""tagDBtoJson stops adding tags once the JSON document measures over this."""
TAG_COMMANDS = (
    "reboot",
    "scan",
    "reset",
    "deepsleep",
    "ledflash",
    "ledflash_long",
    "ledflash_stop",
)
WS_QUEUE = 10_000
"""Messages queued per WebSocket client before new ones are dropped."""
_HEX = re.compile(r"^[0-9A-Fa-f]+$")


def hex2mac(text: str) -> str | None:
    """The AP's ``hex2mac``: 12 or 16 hex digits; a 6-byte MAC gets two zero bytes in front."""
    if len(text) not in (12, 16) or not _HEX.match(text):
        return None
    return ("0000" + text if len(text) == 12 else text).upper()


class ApTagFault(enum.StrEnum):
    """How a simulated tag misbehaves on the radio side."""

    NONE = "none"
    OUT_OF_RANGE = "out_of_range"
    XFER_TIMEOUT = "xfer_timeout"


@dataclass
class _Queued:
    kind: str  # "image" | "command"
    image: TagImage | None
    data_ver: str  # 16 hex digits (first 8 bytes of the MD5; zeros for commands)
    command: str = ""


@dataclass
class ApTag:
    """One tag in the AP's database, and the simulated tag behind it."""

    mac: str
    panel: Panel
    battery: Battery = field(default_factory=Battery)
    alias: str = ""
    rssi: int = -60
    lqi: int = 100
    temperature: int = 21
    lastseen: int = 0
    nextupdate: int = 0
    nextcheckin: int = 0
    md5: str = "0" * 32
    content_mode: int = 0
    modecfgjson: str = ""
    update_count: int = 0
    update_last: int = 0
    wakeup_reason: int = 0
    fault: ApTagFault = ApTagFault.NONE
    queue: list[_Queued] = field(default_factory=list)
    shown: TagImage | None = None
    template: object = None
    uploads: int = 0
    checkins: int = 0
    xfers: int = 0
    commands_done: list[str] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """The AP's pendingCount: items queued for this tag."""
        return len(self.queue)

    def record(self) -> dict[str, Any]:
        """The tag as ``fillNode`` writes it (same keys, same order)."""
        return {
            "mac": self.mac,
            "hash": self.md5,
            "lastseen": self.lastseen,
            "nextupdate": self.nextupdate,
            "nextcheckin": self.nextcheckin,
            "pending": self.pending,
            "alias": self.alias,
            "contentMode": self.content_mode,
            "LQI": self.lqi,
            "RSSI": self.rssi,
            "temperature": self.temperature,
            "batteryMv": self.battery.millivolts,
            "hwType": self.panel.hw_type,
            "wakeupReason": self.wakeup_reason,
            "capabilities": 0,
            "modecfgjson": self.modecfgjson,
            "isexternal": False,
            "apip": "0.0.0.0",
            "rotate": 0,
            "lut": 0,
            "invert": 0,
            "updatecount": self.update_count,
            "updatelast": self.update_last,
            "ch": 11,
            "ver": 0x0026,
        }

    def as_dict(self) -> dict[str, Any]:
        """Simulator-side view for the control API (what the tag really shows)."""
        return {
            "mac": self.mac,
            "hw_type": self.panel.hw_type,
            "battery_mv": self.battery.millivolts,
            "fault": self.fault.value,
            "pending": self.pending,
            "hash": self.md5,
            "update_count": self.update_count,
            "uploads": self.uploads,
            "checkins": self.checkins,
            "xfers": self.xfers,
            "shown": self.shown.counts() if self.shown else None,
            "commands_done": list(self.commands_done),
        }


def make_tags(count: int, hw_types: Sequence[int] = (0x01, 0x00, 0x02)) -> list[ApTag]:
    """``count`` tags with 8-byte MACs, panels cycling through ``hw_types``."""
    for hw in hw_types:
        if hw not in PANELS:
            raise ValueError(f"no simulated panel for hwType 0x{hw:02X} (have {sorted(PANELS)})")
    return [
        ApTag(
            mac=f"0000021EDE{n:06X}",
            panel=PANELS[hw_types[n % len(hw_types)]],
            rssi=-55 - (n * 5) % 30,
        )
        for n in range(count)
    ]


class SimAccessPoint:
    """The AP's HTTP/WebSocket server and its tags' check-in schedule.

    ``checkin_s`` is the tags' check-in interval (real tags: about a minute;
    tests use a fraction of a second); tags are spread evenly over it.
    ``content_delay_s`` is how long the content manager takes to convert an
    upload after answering it.
    """

    def __init__(
        self,
        tags: Sequence[ApTag],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        checkin_s: float = 0.2,
        content_delay_s: float = 0.01,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if checkin_s <= 0:
            raise ValueError("checkin_s must be > 0")
        self.tags: dict[str, ApTag] = {t.mac: t for t in tags}
        self.host = host
        self._requested_port = port
        self.checkin_s = checkin_s
        self.content_delay_s = content_delay_s
        self.wall = wall
        self.run_status = RUNSTATUS_RUN
        self.requests: dict[str, int] = {}
        self._sockets: dict[web.WebSocketResponse, asyncio.Queue[str]] = {}
        self.ws_dropped = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._due: list[tuple[float, int, str]] = []
        self._seq = 0
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL of the running AP."""
        return f"http://{self.host}:{self.port}"

    # --- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and start the tags' check-ins."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/imgupload", self._imgupload)
        app.router.add_post("/jsonupload", self._jsonupload)
        app.router.add_post("/tag_cmd", self._tag_cmd)
        app.router.add_get("/get_db", self._get_db)
        app.router.add_get("/ws", self._ws)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self._requested_port)
        await self._site.start()
        self.port = int(self._runner.addresses[0][1])
        loop = asyncio.get_running_loop()
        now = loop.time()
        count = max(1, len(self.tags))
        for n, tag in enumerate(self.tags.values()):
            tag.lastseen = int(self.wall())
            tag.nextcheckin = tag.lastseen + max(1, round(self.checkin_s))
            self._schedule(tag.mac, now + self.checkin_s * (n + 1) / count)
        self._scheduler = asyncio.create_task(self._checkins(), name="sim-oepl-checkins")
        log.info("simulated OpenEPaperLink AP on %s with %d tags", self.url, len(self.tags))

    async def stop(self) -> None:
        """Close every WebSocket, the server and the schedule; safe twice."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
            self._scheduler = None
        for ws in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimAccessPoint:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- control ----------------------------------------------------------------------

    def tag(self, mac: str) -> ApTag:
        """A tag by MAC (12 or 16 hex digits); KeyError if unknown."""
        norm = hex2mac(mac)
        if norm is None or norm not in self.tags:
            raise KeyError(f"no AP tag {mac!r}")
        return self.tags[norm]

    def set_fault(self, mac: str, mode: str) -> ApTag:
        """Set a tag's radio fault (none, out_of_range, xfer_timeout)."""
        tag = self.tag(mac)
        was_quiet = tag.fault is ApTagFault.OUT_OF_RANGE
        tag.fault = ApTagFault(mode)
        if was_quiet and tag.fault is not ApTagFault.OUT_OF_RANGE:
            self._schedule(tag.mac, asyncio.get_running_loop().time() + self.checkin_s)
        return tag

    def set_run_status(self, status: int) -> None:
        """2 = run; anything else makes uploads answer 409 like a paused AP."""
        self.run_status = status

    def stats(self) -> dict[str, Any]:
        """Request counts and totals."""
        return {
            "requests": dict(self.requests),
            "websockets": len(self._sockets),
            "tags": len(self.tags),
            "uploads": sum(t.uploads for t in self.tags.values()),
            "xfers": sum(t.xfers for t in self.tags.values()),
            "checkins": sum(t.checkins for t in self.tags.values()),
        }

    # --- WebSocket --------------------------------------------------------------------

    def _broadcast(self, payload: dict[str, Any]) -> None:
        """ws.textAll: queue the text for every client, in order; a full queue drops it."""
        if not self._sockets:
            return
        text = json.dumps(payload, separators=(",", ":"))
        for queue in self._sockets.values():
            try:
                queue.put_nowait(text)
            except asyncio.QueueFull:
                self.ws_dropped += 1  # the AP's AsyncWebSocket drops for a slow client too

    @staticmethod
    async def _ws_sender(ws: web.WebSocketResponse, queue: asyncio.Queue[str]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                await ws.send_str(await queue.get())

    def _tag_changed(self, tag: ApTag) -> None:
        """wsSendTaginfo: the tag's record, as get_db?mac= would give it."""
        self._broadcast({"tags": [tag.record()]})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        self._count("ws")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=WS_QUEUE)
        self._sockets[ws] = queue
        sender = asyncio.create_task(self._ws_sender(ws, queue), name="sim-oepl-ws-send")
        try:
            queue.put_nowait(
                json.dumps(
                    {
                        "sys": {
                            "currtime": int(self.wall()),
                            "recordcount": len(self.tags),
                            "apstate": 1,
                            "runstate": self.run_status,
                        }
                    }
                )
            )
            async for msg in ws:  # the AP ignores what clients send
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            del self._sockets[ws]
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    # --- HTTP -------------------------------------------------------------------------

    def _count(self, name: str) -> None:
        self.requests[name] = self.requests.get(name, 0) + 1

    async def _imgupload(self, request: web.Request) -> web.Response:
        self._count("imgupload")
        if self.run_status != RUNSTATUS_RUN:
            return web.Response(status=409, text="Come back later")
        fields: dict[str, str] = {}
        data: bytes | None = None
        try:
            reader = await request.multipart()
        except (AssertionError, ValueError, KeyError):
            return web.Response(status=400, text="parameters incomplete")
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename:
                if "mac" not in fields:  # the AP looks for mac when the file starts
                    return web.Response(status=400, text="parameters incomplete")
                data = await part.read()
            else:
                fields[part.name] = (await part.read()).decode(errors="replace")
        if data is None or "mac" not in fields:
            return web.Response(status=400, text="parameters incomplete")
        mac = hex2mac(fields["mac"])
        if mac is None:
            return web.Response(status=500, text="")  # the AP sends nothing for a bad MAC
        tag = self.tags.get(mac)
        if tag is None:
            return web.Response(status=400, text="mac not found")
        dither = _int(fields.get("dither"), 1)
        tag.uploads += 1
        tag.content_mode = _int(fields.get("contentmode"), 24)
        tag.modecfgjson = json.dumps(
            {
                "filename": f"/temp/{mac}.jpg",
                "timetolive": "0",
                "dither": str(dither),
                "delete": "1",
            }
        )
        tag.nextupdate = 0
        if "alias" in fields:
            tag.alias = fields["alias"]
        self._tag_changed(tag)
        asyncio.get_running_loop().call_later(
            self.content_delay_s, self._convert_image, tag, data, dither
        )
        return web.Response(text="Ok, saved")

    def _convert_image(self, tag: ApTag, data: bytes, dither: int) -> None:
        try:
            image = from_jpeg(tag.panel, data, dither)
        except RasterError as exc:
            tag.nextupdate = NEVER
            self._broadcast({"errMsg": str(exc)})
            return
        self._prepare_data_avail(tag, image)

    def _prepare_data_avail(self, tag: ApTag, image: TagImage) -> None:
        """prepareDataAvail: queue the image unless the tag already shows it."""
        if image.md5[:8].hex() == tag.md5[:16]:
            self._broadcast({"logMsg": "new image is the same as current image. not updating tag."})
            self._tag_changed(tag)
            return
        # queueDataAvail means to drop older queued images, but its test
        # ``dataTypeArgument & 0xF8 == 0x00`` parses as ``arg & (0xF8 == 0)``:
        # never true, so every upload stays queued and the tag fetches them in turn.
        tag.queue.append(_Queued("image", image, image.md5[:8].hex()))
        tag.nextupdate = int(self.wall()) + 60
        self._tag_changed(tag)

    async def _jsonupload(self, request: web.Request) -> web.Response:
        self._count("jsonupload")
        if self.run_status != RUNSTATUS_RUN:
            return web.Response(status=409, text="come back later")
        form = await request.post()
        mac_text, template_text = form.get("mac"), form.get("json")
        if not isinstance(mac_text, str) or not isinstance(template_text, str):
            return web.Response(status=400, text="Missing parameters")
        mac = hex2mac(mac_text)
        if mac is None:
            return web.Response(status=500, text="")
        tag = self.tags.get(mac)
        if tag is None:
            return web.Response(status=400, text="mac not found in tagDB")
        tag.uploads += 1
        tag.content_mode = 19
        tag.modecfgjson = json.dumps(
            {"filename": f"/current/{mac}.json", "interval": str(form.get("ttl", "0"))}
        )
        tag.nextupdate = 0
        try:
            tag.template = json.loads(template_text)
        except json.JSONDecodeError as exc:
            tag.template = exc
        self._tag_changed(tag)
        asyncio.get_running_loop().call_later(self.content_delay_s, self._draw_template, tag)
        return web.Response(text="Ok, saved")

    def _draw_template(self, tag: ApTag) -> None:
        if isinstance(tag.template, Exception):
            self._broadcast({"errMsg": f"json error {tag.template}"})
            return
        try:
            image = from_template(tag.panel, tag.template)
        except RasterError as exc:
            self._broadcast({"errMsg": str(exc)})
            return
        self._prepare_data_avail(tag, image)

    async def _tag_cmd(self, request: web.Request) -> web.Response:
        self._count("tag_cmd")
        form = await request.post()
        mac_text, cmd = form.get("mac"), form.get("cmd")
        if not isinstance(mac_text, str) or not isinstance(cmd, str):
            return web.Response(status=500, text="param error")
        mac = hex2mac(mac_text)
        if mac is None:
            return web.Response(status=500, text="")
        tag = self.tags.get(mac)
        if tag is None:
            return web.Response(status=400, text="Error: mac not found")
        if cmd == "del":
            del self.tags[mac]
        elif cmd == "clear":
            tag.queue.clear()
            self._tag_changed(tag)
        elif cmd == "refresh":
            tag.md5 = "0" * 32
            tag.nextupdate = 0
            self._tag_changed(tag)
            if tag.content_mode == 19 and tag.template is not None:
                asyncio.get_running_loop().call_later(
                    self.content_delay_s, self._draw_template, tag
                )
            elif tag.content_mode == 24:  # the uploaded file was deleted after sending
                tag.nextupdate = NEVER
                self._broadcast({"errMsg": f"Not found: /temp/{mac}.jpg"})
        elif cmd in TAG_COMMANDS:
            tag.queue.append(_Queued("command", None, "0" * 16, command=cmd))
            self._tag_changed(tag)
        return web.Response(text="Ok, done")

    async def _get_db(self, request: web.Request) -> web.Response:
        self._count("get_db")
        if "mac" in request.query:
            mac = hex2mac(request.query["mac"])
            if mac is None:
                return web.json_response(text='{"error": "malformatted parameter"}')
            tag = self.tags.get(mac)
            return web.json_response({"tags": [tag.record()] if tag else []})
        start = _int(request.query.get("pos"), 0) % 256  # uint8_t startPos on the AP
        records: list[dict[str, Any]] = []
        doc: dict[str, Any] = {"tags": records}
        size = len('{"tags":[]}')
        tags = list(self.tags.values())
        for index in range(start, len(tags)):
            record = tags[index].record()
            records.append(record)
            size += len(json.dumps(record, separators=(",", ":"))) + 1
            if size > DB_PAGE_BYTES:
                doc["continu"] = index + 1
                break
        return web.json_response(doc)

    # --- tags' radio side -------------------------------------------------------------

    def _schedule(self, mac: str, at: float) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, mac))
        self._wake.set()

    async def _checkins(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            while self._due and self._due[0][0] <= now:
                _, _, mac = heapq.heappop(self._due)
                tag = self.tags.get(mac)
                if tag is None or tag.fault is ApTagFault.OUT_OF_RANGE:
                    continue  # deleted, or gone quiet: no more check-ins until the fault clears
                self._checkin(tag)
                self._schedule(mac, now + self.checkin_s)
            self._wake.clear()
            delay = self._due[0][0] - loop.time() if self._due else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, delay) if delay is not None else None):
                    await self._wake.wait()

    def _checkin(self, tag: ApTag) -> None:
        """processDataReq, then the transfer of the first queued item if there is one."""
        now = int(self.wall())
        tag.checkins += 1
        tag.lastseen = now
        tag.nextcheckin = now + max(1, round(self.checkin_s))
        tag.battery.checkin()
        if not tag.queue:
            self._tag_changed(tag)
            return
        item = tag.queue[0]
        if tag.fault is ApTagFault.XFER_TIMEOUT:
            tag.queue.clear()  # processXferTimeout: dequeue everything for the tag
            self._broadcast({"errMsg": f"< {tag.mac} xfer timeout"})
            self._tag_changed(tag)
            return
        tag.queue.pop(0)
        tag.xfers += 1
        tag.md5 = item.data_ver + "0" * 16
        tag.update_count += 1
        tag.update_last = now
        tag.wakeup_reason = 0
        if item.kind == "image":
            tag.shown = item.image
            tag.battery.update()
        else:
            tag.commands_done.append(item.command)
        self._broadcast({"logMsg": f"{tag.mac} reports xfer complete"})
        self._tag_changed(tag)


def _int(value: object, default: int) -> int:
    try:
        return int(str(value)) if value is not None else default
    except ValueError:
        return default
