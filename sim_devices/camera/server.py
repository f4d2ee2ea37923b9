"""The camera's HTTP side: MJPEG (``multipart/x-mixed-replace``) with network faults.

Paths: ``/stream.mjpg`` (the stream; also ``/video``), ``/snapshot.jpg``
(the latest frame). Each part carries ``Content-Type``, ``Content-Length``
and ``X-Timestamp`` (the camera's wall clock, seconds with microseconds, as
mjpg-streamer sends it). Every client gets the newest frame whenever it is
ready for one: a slow client skips frames instead of queueing them, like a
real camera's server.

Network faults: ``stall`` (connections stay open, nothing is sent),
:meth:`MjpegServer.drop_connections` (every stream is cut without a
goodbye), :meth:`MjpegServer.begin_restart` (the listener and every stream
go away, and the server comes back on the same port after ``down_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

BOUNDARY = "walkoutframe"


@dataclass
class ServerStats:
    """Counters of the HTTP side."""

    connections: int = 0
    active: int = 0
    parts_sent: int = 0
    bytes_sent: int = 0
    dropped_connections: int = 0
    restarts: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


@dataclass
class _Latest:
    seq: int
    jpeg: bytes
    wall_ts: float


class _Client:
    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.cut = False


class MjpegServer:
    """Serves the frames handed to :meth:`publish` to any number of clients."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self.stats = ServerStats()
        self.stalled = False
        self._latest: _Latest | None = None
        self._new_frame = asyncio.Event()
        self._clients: set[_Client] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._closing = False
        self._restart_task: asyncio.Task[None] | None = None
        self.up = asyncio.Event()

    @property
    def port(self) -> int:
        """The bound port (kept across restarts)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        """The stream's URL."""
        return f"http://{self.host}:{self.port}/stream.mjpg"

    async def start(self) -> None:
        """Bind and serve."""
        app = web.Application()
        app.router.add_get("/stream.mjpg", self._stream)
        app.router.add_get("/video", self._stream)
        app.router.add_get("/snapshot.jpg", self._snapshot)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await self._listen(self._requested_port)

    async def stop(self) -> None:
        """Stop serving and close every connection; idempotent."""
        self._closing = True
        task, self._restart_task = self._restart_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._wake()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._site = None
        self.up.clear()

    def publish(self, seq: int, jpeg: bytes, wall_ts: float) -> None:
        """Make ``jpeg`` the frame every client gets next."""
        self._latest = _Latest(seq, jpeg, wall_ts)
        self._wake()

    def latest_jpeg(self) -> bytes | None:
        """The newest frame's bytes."""
        return None if self._latest is None else self._latest.jpeg

    def drop_connections(self) -> int:
        """Cut every stream at once (no closing chunk, no FIN handshake); how many."""
        count = 0
        for client in list(self._clients):
            client.cut = True
            transport = client.request.transport
            if transport is not None:
                transport.abort()
            count += 1
        self.stats.dropped_connections += count
        self._wake()
        return count

    def begin_restart(self, down_s: float) -> None:
        """Go away (listener and streams) now and come back on the same port after ``down_s``."""
        if down_s < 0:
            raise ValueError("down_s must be >= 0")
        if self._restart_task is not None and not self._restart_task.done():
            raise RuntimeError("a restart is already under way")
        self.up.clear()
        self._restart_task = asyncio.create_task(self._restart(down_s), name="mjpeg-restart")

    async def _restart(self, down_s: float) -> None:
        self.up.clear()
        site, self._site = self._site, None
        if site is not None:
            await site.stop()
        self.drop_connections()
        self.stats.restarts += 1
        log.info("MJPEG server down for %.2f s", down_s)
        await asyncio.sleep(down_s)
        await self._listen(self.port)
        log.info("MJPEG server back on port %d", self.port)

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        site = web.TCPSite(self._runner, self.host, port, reuse_address=True)
        await site.start()
        self._site = site
        server: Any = site._server  # the asyncio.Server, for the bound port
        self._port = int(server.sockets[0].getsockname()[1])
        self.up.set()

    def _wake(self) -> None:
        event, self._new_frame = self._new_frame, asyncio.Event()
        event.set()

    async def _snapshot(self, request: web.Request) -> web.Response:
        latest = self._latest
        if latest is None:
            raise web.HTTPServiceUnavailable(text="no frame yet")
        return web.Response(body=latest.jpeg, content_type="image/jpeg")

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-cache, no-store, must-revalidate",
                "Pragma": "no-cache",
                "Connection": "close",
            }
        )
        await response.prepare(request)
        client = _Client(request)
        self._clients.add(client)
        self.stats.connections += 1
        self.stats.active += 1
        try:
            await self._send_frames(client, response)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(client)
            self.stats.active -= 1
        return response

    async def _send_frames(self, client: _Client, response: web.StreamResponse) -> None:
        sent = -1
        while True:
            latest = self._latest
            while latest is None or latest.seq == sent or self.stalled:
                if client.cut or self._closing:
                    return
                await self._new_frame.wait()
                latest = self._latest
            if client.cut or self._closing:
                return
            head = (
                f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                f"Content-Length: {len(latest.jpeg)}\r\n"
                f"X-Timestamp: {latest.wall_ts:.6f}\r\n\r\n"
            ).encode("ascii")
            await response.write(head + latest.jpeg + b"\r\n")
            sent = latest.seq
            self.stats.parts_sent += 1
            self.stats.bytes_sent += len(head) + len(latest.jpeg) + 2
