"""Test-side tools: a steppable clock and a raw serial port on a pty.

The raw serial helper computes CRCs with pymodbus, an implementation
independent of the simulator's own, so a CRC bug cannot cancel out.
"""

from __future__ import annotations

import asyncio
import os
import tty
from pathlib import Path

import pytest
from pymodbus.framer.rtu import FramerRTU

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_SCENARIO = REPO_ROOT / "sim_devices" / "scenarios" / "demo.yaml"


def crc_bytes(body: bytes) -> bytes:
    """CRC-16/MODBUS as sent on the wire (low byte first), computed by pymodbus."""
    swapped: int = FramerRTU.compute_CRC(body)  # pymodbus returns it byte-swapped
    return swapped.to_bytes(2, "big")


def rtu(body: bytes) -> bytes:
    return body + crc_bytes(body)


class RawSerial:
    """The master end of a pty, raw bytes in and out, non-blocking via the event loop."""

    def __init__(self, path: str | None = None, *, fd: int | None = None) -> None:
        if fd is None:
            assert path is not None
            fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        os.set_blocking(fd, False)
        tty.setraw(fd)
        self.fd = fd
        self._buffer = bytearray()
        self._data = asyncio.Event()
        self.arrivals: list[tuple[float, int]] = []
        loop = asyncio.get_running_loop()
        loop.add_reader(self.fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return
        self._buffer += data
        self.arrivals.append((asyncio.get_running_loop().time(), len(data)))
        self._data.set()

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    async def read(self, count: int, within_s: float = 2.0) -> bytes:
        async with asyncio.timeout(within_s):
            while len(self._buffer) < count:
                self._data.clear()
                await self._data.wait()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def expect_silence(self, seconds: float) -> None:
        """Assert that nothing arrives for ``seconds`` (absence can only be timed)."""
        with pytest.raises(TimeoutError):
            await self.read(1, within_s=seconds)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.fd)
        os.close(self.fd)
