"""The serial line an RTU server sits on: a pty pair it creates, or an existing device.

A pty does not enforce the baud rate, so :class:`LineSettings` carries the
character timing the RTU server uses to pace itself like a real RS-485 line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import termios
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Parity = Literal["N", "E", "O"]


@dataclass(frozen=True)
class LineSettings:
    """Baud rate and character format (always 8 data bits, as Modbus RTU requires)."""

    baudrate: int = 19200
    parity: Parity = "N"
    stopbits: int = 1

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise ValueError(f"baudrate must be > 0, got {self.baudrate}")
        if self.parity not in ("N", "E", "O"):
            raise ValueError(f"parity must be N, E or O, got {self.parity!r}")
        if self.stopbits not in (1, 2):
            raise ValueError(f"stopbits must be 1 or 2, got {self.stopbits}")

    @property
    def bits_per_char(self) -> int:
        """Start + 8 data + parity + stop bits: 10 for 8N1, 11 for 8E1/8O1/8N2."""
        return 1 + 8 + (self.parity != "N") + self.stopbits

    @property
    def char_time_s(self) -> float:
        """Wire time of one character."""
        return self.bits_per_char / self.baudrate

    @property
    def t35_s(self) -> float:
        """Silence between frames; fixed at 1.75 ms above 19200 baud (Modbus serial spec)."""
        return 0.00175 if self.baudrate > 19200 else 3.5 * self.char_time_s


def _baud_constant(baudrate: int) -> int | None:
    value = getattr(termios, f"B{baudrate}", None)
    return value if isinstance(value, int) else None


class SerialEndpoint:
    """A raw, non-blocking file descriptor for one serial line.

    For a pty the simulator keeps the slave end open itself: otherwise the
    master reads EIO every time the last client closes the slave, and the
    line would flap between clients.
    """

    def __init__(self, fd: int, path: str, *, keep_fd: int | None = None, link: Path | None = None):
        self.fd = fd
        self.path = path
        self.link = link
        self._keep_fd = keep_fd

    @classmethod
    def open_pty(cls, settings: LineSettings, link: str | Path | None = None) -> SerialEndpoint:
        """Create a pty pair; clients open :attr:`path` (the slave) or ``link``."""
        master, slave = os.openpty()
        try:
            _configure(slave, settings)
            os.set_blocking(master, False)
            path = os.ttyname(slave)
            link_path = _make_link(Path(link), path) if link is not None else None
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        log.info("RTU pty %s%s", path, f" (link {link_path})" if link_path else "")
        return cls(master, path, keep_fd=slave, link=link_path)

    @classmethod
    def open_device(cls, path: str | Path, settings: LineSettings) -> SerialEndpoint:
        """Open an existing serial device (RS-485 adapter, a socat pty end) in raw mode."""
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            _configure(fd, settings)
        except BaseException:
            os.close(fd)
            raise
        log.info("RTU device %s", path)
        return cls(fd, str(path))

    def close(self) -> None:
        """Close the descriptors and remove the link we made; idempotent."""
        for fd in (self.fd, self._keep_fd):
            if fd is not None and fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = -1
        self._keep_fd = None
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                if self.link.is_symlink():
                    self.link.unlink()
            self.link = None


def _configure(fd: int, settings: LineSettings) -> None:
    """Raw 8-bit mode with the configured framing; no echo, no line discipline."""
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    cflag = attrs[2]
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.PARODD | termios.CSTOPB)
    cflag |= termios.CS8 | termios.CLOCAL | termios.CREAD
    if settings.parity != "N":
        cflag |= termios.PARENB
        if settings.parity == "O":
            cflag |= termios.PARODD
    if settings.stopbits == 2:
        cflag |= termios.CSTOPB
    attrs[2] = cflag
    speed = _baud_constant(settings.baudrate)
    if speed is not None:
        attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _make_link(link: Path, target: str) -> Path:
    """Symlink ``link`` -> ``target``, replacing a stale symlink but never a real file."""
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        raise FileExistsError(f"{link} exists and is not a symlink")
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link
