"""The byte channel libosdp's control panel talks through: a serial port (RS-485 adapter).

libosdp calls ``read``/``write``/``flush`` from inside its refresh, on the
line's refresh thread, and treats an exception raised there as a C-level
error that resurfaces later in an unrelated call. So every method here
catches its own errors, counts them and answers "no data" / "nothing sent";
the line notices through the missing replies.

A port that fails (USB adapter unplugged) is closed and reopened every
``reopen_s`` from the same thread, so the line comes back without a restart.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable

import osdp
import serial

from devices.gate.osdp_frames import Frame, FrameScanner

_LOGGER = logging.getLogger(__name__)

OpenPort = Callable[[str, int], "serial.Serial"]


def open_serial(port: str, baudrate: int) -> serial.Serial:
    """8N1, non-blocking, exclusive: OSDP fixes the character format (v2.2, 5.3)."""
    return serial.Serial(port, baudrate, timeout=0, write_timeout=0.5, exclusive=True)


class SerialChannel(osdp.Channel):  # type: ignore[misc]
    """libosdp channel over a serial port; also reports the frames it carries, both ways."""

    def __init__(
        self,
        port: str,
        baudrate: int,
        *,
        on_frame: Callable[[Frame, float], None],
        reopen_s: float = 1.0,
        opener: OpenPort = open_serial,
    ) -> None:
        super().__init__()
        self.port = port
        self.baudrate = baudrate
        self._on_frame = on_frame
        self._reopen_s = reopen_s
        self._opener = opener
        self._serial: serial.Serial | None = None
        self._next_reopen = 0.0
        self._closed = False
        self._scanner = FrameScanner()
        self._tx_scanner = FrameScanner()
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.errors = 0
        self.last_error = ""

    def open(self) -> None:
        """Open the port; raises ``OSError``/``SerialException`` on failure."""
        self._serial = self._opener(self.port, self.baudrate)
        self._closed = False

    def fileno(self) -> int | None:
        """Descriptor to wait on for incoming bytes; None while the port is down."""
        ser = self._serial
        return ser.fileno() if ser is not None and ser.is_open else None

    def close(self) -> None:
        """Close the port for good; later calls from libosdp become no-ops."""
        self._closed = True
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except (OSError, serial.SerialException) as exc:
                _LOGGER.debug("closing %s: %s", self.port, exc)

    def _fail(self, what: str, exc: BaseException) -> None:
        self.errors += 1
        self.last_error = f"{what} {self.port}: {exc}"
        if self._serial is not None:
            _LOGGER.error("%s; reopening every %.1f s", self.last_error, self._reopen_s)
            with contextlib.suppress(OSError, serial.SerialException):
                self._serial.close()
            self._serial = None
        self._next_reopen = time.monotonic() + self._reopen_s

    def _port(self) -> serial.Serial | None:
        if self._serial is not None or self._closed:
            return self._serial
        now = time.monotonic()
        if now < self._next_reopen:
            return None
        try:
            self.open()
        except (OSError, serial.SerialException) as exc:
            self._next_reopen = now + self._reopen_s
            self.last_error = f"reopen {self.port}: {exc}"
            return None
        _LOGGER.info("serial port %s is back", self.port)
        return self._serial

    def read(self, max_bytes: int) -> bytes:
        """Whatever has arrived, up to ``max_bytes``; never blocks, never raises."""
        ser = self._port()
        if ser is None:
            return b""
        try:
            data = os.read(ser.fileno(), max_bytes)
        except BlockingIOError:
            return b""
        except Exception as exc:
            self._fail("read from", exc)
            return b""
        if not data:  # EOF: the other end of a pty went away
            return b""
        self.rx_bytes += len(data)
        now = time.monotonic()
        try:
            for frame in self._scanner.feed(data):
                self._on_frame(frame, now)
        except Exception:
            _LOGGER.exception("frame scanner failed on %s", self.port)
        return data

    def write(self, buf: bytes) -> int:
        """Send a whole frame or nothing (libosdp's contract: len, 0 = retry, < 0 = error)."""
        ser = self._port()
        if ser is None:
            return -1
        try:
            sent = ser.write(buf)
        except Exception as exc:
            self._fail("write to", exc)
            return -1
        sent = int(sent or 0)
        self.tx_bytes += sent
        try:
            now = time.monotonic()
            for frame in self._tx_scanner.feed(bytes(buf[:sent])):
                self._on_frame(frame, now)
        except Exception:
            _LOGGER.exception("frame scanner failed on %s", self.port)
        return sent

    def flush(self) -> None:
        """Drop unread input: libosdp flushes before each command, anything left is stale."""
        ser = self._serial
        if ser is None:
            return
        try:
            ser.reset_input_buffer()
        except Exception as exc:
            self._fail("flush", exc)
