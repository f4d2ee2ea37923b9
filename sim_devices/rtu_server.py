"""Modbus RTU slave(s) on one serial line, paced like a real line at its baud rate.

Several unit ids share the line (RS-485 multi-drop). What a real line does
and a convenient server does not:

* a request for a unit id that is not on the line gets no reply at all
  (pymodbus answers exception 4 there, which no real bus can produce);
* a request with a bad CRC is discarded silently and counted;
* a pty delivers bytes instantly, so a request only counts as received once
  its bytes' wire time has passed, the reply waits the t3.5 silence, and it
  is written in chunks of at most ~1 ms of wire time, each released only
  when its last byte would have arrived on the real line. A master therefore
  never sees a byte earlier than a real device could send it.
* unit id 0 is a broadcast: writes are executed by every unit, nobody answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from sim_devices.faults import FaultMode, wrong_unit_id
from sim_devices.modbus_pdu import WRITE_FUNCTIONS, HostedUnit, handle_pdu
from sim_devices.rtu_framing import Frame, RtuRequestSplitter, with_crc
from sim_devices.serial_line import LineSettings, SerialEndpoint

log = logging.getLogger(__name__)

CHUNK_WIRE_S = 0.001
"""Wire time per write: the event loop's timers are only good to ~1 ms."""

MIN_SILENCE_S = 0.02
"""Gap that ends a garbage/unknown frame; above t3.5 because the scheduler
blurs the timing of the master's writes over a pty by a few ms."""

WRITE_STALL_S = 1.0
"""Give up on a reply if nobody drains the line for this long (a real line drops it)."""


@dataclass
class RtuStats:
    """Counters of one line; ``wire_busy_s`` is the wire time of every byte in and out."""

    requests: int = 0
    replies: int = 0
    crc_errors: int = 0
    ignored: int = 0
    silenced: int = 0
    broadcasts: int = 0
    dropped_bytes: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    wire_busy_s: float = 0.0


class ModbusRtuServer:
    """Serves ``units`` on a pty it creates (default) or on an existing ``device`` path."""

    def __init__(
        self,
        units: Mapping[int, HostedUnit],
        settings: LineSettings | None = None,
        *,
        link: str | Path | None = None,
        device: str | Path | None = None,
    ) -> None:
        self.units = units
        self.settings = settings or LineSettings()
        self._link = link
        self._device = device
        self._endpoint: SerialEndpoint | None = None
        self._splitter = RtuRequestSplitter(
            self.settings.char_time_s, max(self.settings.t35_s, MIN_SILENCE_S)
        )
        self._queue: asyncio.Queue[Frame] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._quiet: asyncio.TimerHandle | None = None
        self._line_free_s = float("-inf")
        self._started_s = 0.0
        self._stats = RtuStats()

    @property
    def path(self) -> str:
        """Device path a master opens (the pty slave, or the device given)."""
        if self._endpoint is None:
            raise RuntimeError("server not started")
        return self._endpoint.path

    @property
    def link(self) -> str | None:
        """The symlink made to the pty slave, if one was requested."""
        if self._endpoint is None or self._endpoint.link is None:
            return None
        return str(self._endpoint.link)

    def stats(self) -> dict[str, float]:
        """Counters plus the fraction of time the line carried bytes since start."""
        self._stats.crc_errors = self._splitter.crc_errors
        self._stats.dropped_bytes = self._splitter.dropped_bytes
        self._stats.bytes_in = self._splitter.bytes_in
        self._stats.wire_busy_s = (
            self._stats.bytes_in + self._stats.bytes_out
        ) * self.settings.char_time_s
        result: dict[str, float] = asdict(self._stats)
        elapsed = asyncio.get_running_loop().time() - self._started_s
        result["wire_utilisation"] = self._stats.wire_busy_s / elapsed if elapsed > 0 else 0.0
        return result

    async def start(self) -> None:
        """Open the line and start serving; on failure nothing is left open."""
        loop = asyncio.get_running_loop()
        if self._device is not None:
            endpoint = SerialEndpoint.open_device(self._device, self.settings)
        else:
            endpoint = SerialEndpoint.open_pty(self.settings, self._link)
        try:
            loop.add_reader(endpoint.fd, self._on_readable)
        except BaseException:
            endpoint.close()
            raise
        self._endpoint = endpoint
        self._started_s = loop.time()
        self._worker = asyncio.create_task(self._serve(), name=f"modbus-rtu {endpoint.path}")

    async def stop(self) -> None:
        """Stop serving and close the line; idempotent."""
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._endpoint is not None:
            loop = asyncio.get_running_loop()
            if self._endpoint.fd >= 0:
                loop.remove_reader(self._endpoint.fd)
                loop.remove_writer(self._endpoint.fd)
            self._endpoint.close()
            self._endpoint = None

    # receive ------------------------------------------------------------------

    def _on_readable(self) -> None:
        assert self._endpoint is not None
        fd = self._endpoint.fd
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            data = b""
            if exc.errno != errno.EIO:
                log.error("RTU line %s read failed: %s", self._endpoint.path, exc)
        if not data:
            # Only an opened device can hang up (we hold our pty's slave end).
            log.error("RTU line %s closed by the other end; no longer serving", self.path)
            asyncio.get_running_loop().remove_reader(fd)
            return
        loop = asyncio.get_running_loop()
        for frame in self._splitter.feed(data, loop.time()):
            self._queue.put_nowait(frame)
        self._arm_quiet_timer()

    def _arm_quiet_timer(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        if self._splitter.pending:
            loop = asyncio.get_running_loop()
            self._quiet = loop.call_at(self._splitter.quiet_deadline_s, self._on_quiet)

    def _on_quiet(self) -> None:
        self._quiet = None
        for frame in self._splitter.flush():
            self._queue.put_nowait(frame)

    # serve ----------------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            frame = await self._queue.get()
            try:
                await self._answer(frame)
            except Exception:
                log.exception("RTU line %s failed on frame %s", self.path, frame.adu.hex())

    async def _answer(self, frame: Frame) -> None:
        settings = self.settings
        unit_id, pdu = frame.adu[0], frame.adu[1:-2]
        await _sleep_until(frame.end_s)
        if unit_id == 0:
            self._broadcast(pdu)
            return
        hosted = self.units.get(unit_id)
        if hosted is None:
            self._stats.ignored += 1
            return
        self._stats.requests += 1
        fault = hosted.fault
        if fault.mode is FaultMode.SILENT:
            self._stats.silenced += 1
            return
        response = handle_pdu(hosted.device, pdu)
        reply_unit = wrong_unit_id(unit_id) if fault.mode is FaultMode.WRONG_UNIT else unit_id
        reply = with_crc(
            bytes([reply_unit]) + response, corrupt=fault.mode is FaultMode.CORRUPT_CRC
        )
        start = frame.end_s + settings.t35_s
        if fault.mode is FaultMode.LATE:
            start += fault.delay_s
        if await self._send_paced(reply, start):
            self._stats.replies += 1

    def _broadcast(self, pdu: bytes) -> None:
        """Broadcast writes reach every unit that is not playing dead; no reply."""
        self._stats.broadcasts += 1
        if not pdu or pdu[0] not in WRITE_FUNCTIONS:
            return
        for hosted in self.units.values():
            if hosted.fault.mode is not FaultMode.SILENT:
                handle_pdu(hosted.device, pdu)

    async def _send_paced(self, reply: bytes, start_s: float) -> bool:
        """Write ``reply`` so that no byte leaves before its wire time; False if dropped.

        Each wake-up writes every byte whose wire time has passed, then sleeps
        until the next ~1 ms worth is due. Deadlines are absolute, so a late
        wake-up (timers are only good to ~1 ms) is caught up at once instead of
        stretching the reply.
        """
        loop = asyncio.get_running_loop()
        char = self.settings.char_time_s
        per_chunk = max(1, int(CHUNK_WIRE_S / char))
        start_s = max(start_s, self._line_free_s)
        total = len(reply)
        self._line_free_s = start_s + total * char
        sent = 0
        while sent < total:
            await _sleep_until(start_s + min(total, sent + per_chunk) * char)
            # The epsilon only absorbs float rounding at an exact deadline.
            due = min(total, int((loop.time() - start_s) / char + 1e-6))
            if due > sent:
                if not await self._write_all(reply[sent:due]):
                    return False
                sent = due
        return True

    async def _write_all(self, data: bytes) -> bool:
        assert self._endpoint is not None
        fd = self._endpoint.fd
        view = memoryview(data)
        while view:
            try:
                written = os.write(fd, view)
            except BlockingIOError:
                if not await self._wait_writable(fd):
                    log.warning(
                        "RTU line %s not drained for %.1f s; reply dropped",
                        self.path,
                        WRITE_STALL_S,
                    )
                    return False
                continue
            except OSError as exc:
                log.warning("RTU line %s write failed: %s", self.path, exc)
                return False
            self._stats.bytes_out += written
            view = view[written:]
        return True

    async def _wait_writable(self, fd: int) -> bool:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def _wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_writer(fd, _wake)
        try:
            async with asyncio.timeout(WRITE_STALL_S):
                await ready
            return True
        except TimeoutError:
            return False
        finally:
            loop.remove_writer(fd)


async def _sleep_until(when_s: float) -> None:
    """Sleep until loop time ``when_s``; epoll rounds timeouts up, so never early."""
    delay = when_s - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
