"""RTSP cameras, other FFmpeg URLs and video files, through ``cv2.VideoCapture``.

OpenCV's capture API is blocking, so each connection runs on its own thread:
it opens the stream, grabs, applies the fps cap *before* ``retrieve`` (the
colour conversion is skipped for dropped frames), makes the quality probe and
hands frames to the loop. Closing sets a flag the thread checks after every
frame; FFmpeg's open and read timeouts (``CAP_PROP_OPEN_TIMEOUT_MSEC``,
``CAP_PROP_READ_TIMEOUT_MSEC``) bound how long a dead camera can keep the
thread in a blocking call.

Transport options for RTSP (TCP instead of UDP interleaving, for instance)
are FFmpeg options and go through OpenCV's process-wide
``OPENCV_FFMPEG_CAPTURE_OPTIONS`` environment variable (``rtsp_transport;tcp``),
which the application sets before the first capture is opened.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import threading
import time
from pathlib import Path
from typing import Any

import cv2

from devices.camera.decode import make_probe
from devices.camera.frame import Image
from devices.camera.source import EndOfStream, FrameSource
from devices.errors import DeviceConnectionError, DeviceError

_RESTART = object()
"""Returned by a pump that wants its capture reopened (a file that loops)."""


class CaptureSource(FrameSource):
    """A live stream through FFmpeg: ``rtsp://...``, or any URL or file FFmpeg opens.

    A live stream that ends or errors is reopened on the source's backoff,
    like a dropped MJPEG connection. Closing waits for a blocking FFmpeg call
    to return: at most ``open_timeout_s`` (opening) or ``frame_timeout_s``.
    """

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        open_timeout_s: float = 10.0,
        frame_timeout_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(camera_id, address=url, **kwargs)
        if not (open_timeout_s > 0 and frame_timeout_s > 0):
            raise ValueError("open_timeout_s and frame_timeout_s must be > 0")
        self.url = url
        self.open_timeout_s = open_timeout_s
        self.frame_timeout_s = frame_timeout_s
        self._thread_name = f"camera-capture-{camera_id}"

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        outcome: asyncio.Future[BaseException | None] = loop.create_future()
        thread = threading.Thread(
            target=self._capture_main, args=(loop, stop, outcome), name=self._thread_name
        )
        thread.daemon = True
        thread.start()
        try:
            error = await asyncio.shield(outcome)
        finally:
            stop.set()
            await asyncio.shield(outcome)
            thread.join()
        if error is not None:
            raise error

    def _capture_main(
        self,
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
        outcome: asyncio.Future[BaseException | None],
    ) -> None:
        error: BaseException | None = None
        first_open = True
        try:
            while not stop.is_set():
                capture = self._open_capture()
                try:
                    if first_open:  # a file that loops is reopened, not reconnected
                        first_open = False
                        loop.call_soon_threadsafe(self._note_connected)
                    if self._pump(capture, loop, stop) is not _RESTART:
                        break
                finally:
                    capture.release()
        except DeviceError as exc:
            error = exc
        except Exception as exc:  # an OpenCV error: reported, the source reconnects
            error = DeviceConnectionError(
                f"capture failed: {exc}", device=self.camera_id, address=self.address
            )

        def settle() -> None:
            if not outcome.done():
                outcome.set_result(error)

        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(settle)

    def _open_capture(self) -> Any:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            round(self.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            round(self.frame_timeout_s * 1000),
        ]
        capture = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not capture.isOpened():
            capture.release()
            raise DeviceConnectionError(
                "FFmpeg cannot open the stream", device=self.camera_id, address=self.address
            )
        return capture

    def _pump(self, capture: Any, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> object:
        """Deliver frames until ``stop``; raise when the stream fails."""
        while not stop.is_set():
            if not capture.grab():
                raise DeviceConnectionError(
                    f"the stream ended or no frame arrived within {self.frame_timeout_s:g} s",
                    device=self.camera_id,
                    address=self.address,
                )
            self._retrieve(capture, loop, stop)
        return None

    def _retrieve(
        self, capture: Any, loop: asyncio.AbstractEventLoop, stop: threading.Event
    ) -> None:
        t_mono = self._clock()
        if not self._admit(t_mono):
            return
        ok, image = capture.retrieve()
        if not ok or image is None:
            self.stats.decode_errors += 1
            return
        position_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
        known = math.isfinite(position_ms) and position_ms >= 0
        source_ts = position_ms / 1000.0 if known else None
        self._hand_over(loop, stop, image, make_probe(image), t_mono, source_ts)

    def _hand_over(
        self,
        loop: asyncio.AbstractEventLoop,
        stop: threading.Event,
        image: Image,
        probe: Image,
        t_mono: float,
        source_ts: float | None,
    ) -> None:
        if not self.lossless:
            loop.call_soon_threadsafe(self._deliver, image, probe, t_mono, source_ts)
            return
        future = asyncio.run_coroutine_threadsafe(
            self._deliver_wait(image, probe, t_mono, source_ts), loop
        )
        while True:
            try:
                future.result(timeout=0.1)
                return
            except concurrent.futures.TimeoutError:
                if stop.is_set():
                    future.cancel()
                    return


class FileSource(CaptureSource):
    """A video file as a camera, for replay, tests and the bench.

    ``realtime`` replays at the file's own frame rate and drops frames for a
    slow consumer like a live camera; without it frames come as fast as they
    decode and none is dropped (the reader sets the pace). ``loop`` starts
    again at the end; otherwise iteration ends after the last frame.
    """

    def __init__(
        self,
        camera_id: str,
        path: str | Path,
        *,
        realtime: bool = True,
        loop: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(camera_id, str(path), **kwargs)
        self.path = Path(path)
        self.realtime = realtime
        self.loop = loop
        self.lossless = not realtime
        self.loops = 0
        """How many times the file started again from its beginning."""
        self.native_fps: float | None = None

    async def _open(self) -> None:
        if not self.path.is_file():
            raise DeviceConnectionError(
                "no such video file", device=self.camera_id, address=str(self.path)
            )

    def _pump(self, capture: Any, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> object:
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.native_fps = fps if math.isfinite(fps) and fps > 0 else None
        period = 1.0 / self.native_fps if self.realtime and self.native_fps else 0.0
        start = time.monotonic()
        count = 0
        while not stop.is_set():
            if period:
                delay = start + count * period - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return None
            if not capture.grab():
                if count == 0:
                    raise DeviceConnectionError(
                        "the file has no readable frame", device=self.camera_id, address=self.url
                    )
                if not self.loop:
                    raise EndOfStream("end of file", device=self.camera_id, address=self.url)
                self.loops += 1
                return _RESTART
            count += 1
            self._retrieve(capture, loop, stop)
        return None
