"""MJPEG over HTTP (``multipart/x-mixed-replace``), the stream most IP cameras serve.

The HTTP body is read on the event loop and cut into JPEG parts by
:class:`~devices.camera.multipart.MultipartParser`; each part is decoded on
the source's own decode thread. Frames above the fps cap are dropped before
decoding (only their bytes are read), and while the decoder is busy only the
newest waiting JPEG is kept: the others are counted in ``dropped_decode``.
So a camera faster than the decoder costs bytes, not a growing backlog.

Timeouts: ``connect_timeout_s`` bounds the TCP connect plus the response
headers (a camera that accepts but never answers); ``frame_timeout_s``
bounds the time between two complete parts (a stream that stalls, or trickles
bytes without ever finishing a frame). Either failure closes the connection
and reconnects on the source's backoff.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
from typing import Any

import aiohttp

from devices.camera.decode import REDUCE_FLAGS, decode_jpeg
from devices.camera.multipart import (
    MultipartError,
    MultipartParser,
    Part,
    boundary_from_content_type,
)
from devices.camera.source import FrameSource
from devices.camera.worker import WorkerThread, cancel_and_wait
from devices.errors import (
    DeviceAuthError,
    DeviceConnectionError,
    DeviceProtocolError,
    DeviceTimeoutError,
)

_LOGGER = logging.getLogger(__name__)

_Encoded = tuple[bytes, float, float | None]


class MjpegSource(FrameSource):
    """Frames from an MJPEG HTTP stream.

    ``reduce`` (1, 2, 4, 8) decodes at that fraction of the resolution, which
    libjpeg does several times faster; ``headers`` and ``auth`` go with every
    request (``aiohttp.BasicAuth`` for cameras that need it). The other keyword
    arguments are :class:`~devices.camera.source.FrameSource`'s.
    """

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        connect_timeout_s: float = 5.0,
        frame_timeout_s: float = 5.0,
        max_part_bytes: int = 8 * 1024 * 1024,
        reduce: int = 1,
        headers: Mapping[str, str] | None = None,
        auth: aiohttp.BasicAuth | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(camera_id, address=url, **kwargs)
        if reduce not in REDUCE_FLAGS:
            raise ValueError(f"reduce must be one of {sorted(REDUCE_FLAGS)}, got {reduce}")
        if not (connect_timeout_s > 0 and frame_timeout_s > 0):
            raise ValueError("connect_timeout_s and frame_timeout_s must be > 0")
        self.url = url
        self.connect_timeout_s = connect_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self.max_part_bytes = max_part_bytes
        self.reduce = reduce
        self._headers = dict(headers or {})
        self._auth = auth
        self._session: aiohttp.ClientSession | None = None
        self._worker = WorkerThread(f"camera-decode-{camera_id}")
        self._pending: _Encoded | None = None
        self._decode_wake = asyncio.Event()
        self._decoder: asyncio.Task[None] | None = None
        self._decode_error_logged = False

    async def _open(self) -> None:
        self._worker.start()
        try:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, limit=1),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s),
                auto_decompress=False,
            )
        except BaseException:
            await self._worker.stop()
            raise
        self._decoder = asyncio.create_task(
            self._decode_loop(), name=f"camera:{self.camera_id}:decode"
        )

    async def _release(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            await cancel_and_wait(decoder)
        session, self._session = self._session, None
        if session is not None:
            await session.close()
        await self._worker.stop()

    async def _stream(self) -> None:
        session = self._session
        assert session is not None
        address, device = self.address, self.camera_id
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                response = await session.get(
                    self.url, headers=self._headers, auth=self._auth, allow_redirects=True
                )
        except TimeoutError:
            raise DeviceTimeoutError(
                f"no HTTP answer within {self.connect_timeout_s:g} s",
                device=device,
                address=address,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DeviceConnectionError(
                f"cannot connect: {exc or type(exc).__name__}", device=device, address=address
            ) from exc
        try:
            await self._read_stream(response)
        finally:
            response.close()

    async def _read_stream(self, response: aiohttp.ClientResponse) -> None:
        address, device = self.address, self.camera_id
        if response.status in (401, 403):
            raise DeviceAuthError(
                f"HTTP {response.status} {response.reason}: check the credentials",
                device=device,
                address=address,
            )
        if response.status != 200:
            raise DeviceConnectionError(
                f"HTTP {response.status} {response.reason}", device=device, address=address
            )
        content_type = response.headers.get("Content-Type", "")
        try:
            parser = MultipartParser(
                boundary_from_content_type(content_type), max_part_bytes=self.max_part_bytes
            )
        except MultipartError as exc:
            raise DeviceProtocolError(
                str(exc),
                device=device,
                address=address,
                expected="multipart/x-mixed-replace with a boundary",
            ) from None
        self._note_connected()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.frame_timeout_s
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await response.content.readany()
            except TimeoutError:
                raise DeviceTimeoutError(
                    f"no complete frame for {self.frame_timeout_s:g} s",
                    device=device,
                    address=address,
                ) from None
            except (aiohttp.ClientError, OSError) as exc:
                raise DeviceConnectionError(
                    f"stream lost: {exc or type(exc).__name__}", device=device, address=address
                ) from exc
            if not chunk:
                raise DeviceConnectionError(
                    "the camera ended the stream", device=device, address=address
                )
            self.stats.bytes += len(chunk)
            try:
                parts = parser.feed(chunk)
            except MultipartError as exc:
                raise DeviceProtocolError(str(exc), device=device, address=address) from None
            if parts:
                deadline = loop.time() + self.frame_timeout_s
                now = self._clock()
                for part in parts:
                    self._on_part(part, now)
            if parser.finished:
                raise DeviceConnectionError(
                    "the camera closed the multipart stream", device=device, address=address
                )

    def _on_part(self, part: Part, t_mono: float) -> None:
        content_type = part.headers.get("content-type", "image/jpeg").lower()
        if not content_type.startswith("image/jpeg") or not part.body:
            return
        if not self._admit(t_mono):
            return
        if self._pending is not None:
            self.stats.dropped_decode += 1
        self._pending = (part.body, t_mono, _timestamp(part.headers.get("x-timestamp")))
        self._decode_wake.set()

    async def _decode_loop(self) -> None:
        while True:
            await self._decode_wake.wait()
            self._decode_wake.clear()
            item, self._pending = self._pending, None
            if item is None:
                continue
            data, t_mono, source_ts = item
            try:
                decoded = await self._worker.call(decode_jpeg, data, self.reduce)
            except Exception:  # cv2.error on pathological input: a bad frame, not a dead source
                decoded = None
            if decoded is None:
                self.stats.decode_errors += 1
                if not self._decode_error_logged:
                    self._decode_error_logged = True
                    _LOGGER.warning(
                        "camera %s: a part of %d bytes is not a decodable JPEG "
                        "(further ones are only counted)",
                        self.camera_id,
                        len(data),
                    )
                continue
            self._deliver(decoded[0], decoded[1], t_mono, source_ts)


def _timestamp(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        ts = float(value)
    except ValueError:
        return None
    return ts if math.isfinite(ts) else None
