"""Modbus links: one object per physical connection (a TCP socket or one RS-485 line).

A link carries bytes and timeouts and nothing else. Every unit on an RS-485
line shares one link, so the link holds the line's lock and keeps the
inter-frame silence the baud rate needs; a TCP gateway with several units
behind it is one link too. Framing, CRC and the unit-id check of each reply
are pymodbus' (pinned), plus our own unit-id check on every reply.

Reconnect is the link's job: a link that is down is re-opened at most once
per backoff delay, so a dead gateway costs one connect attempt per delay, not
one per poll of every unit behind it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from devices.backoff import Backoff
from devices.errors import (
    DeviceConnectionError,
    DeviceProtocolError,
    DeviceTimeoutError,
)
from devices.modbus.registers import BitTable, Table

_LOGGER = logging.getLogger(__name__)

# pymodbus logs every failed transaction at ERROR with a packet dump; the
# health tracker already logs a device going down once, so keep pymodbus'
# own log for debugging only.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

MODBUS_EXCEPTIONS = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ModbusExceptionError(DeviceProtocolError):
    """The unit answered with a Modbus exception response (``code``)."""

    def __init__(self, code: int, what: str, address: str) -> None:
        self.code = code
        meaning = MODBUS_EXCEPTIONS.get(code, "unknown exception")
        super().__init__(f"exception {code} ({meaning}) to {what}", address=address)

    @property
    def gateway_found_no_unit(self) -> bool:
        """Codes 10/11: a TCP gateway says nothing answers at that unit id."""
        return self.code in (10, 11)


def interframe_gap_s(baudrate: int, bits_per_char: int = 11) -> float:
    """Silence between RTU frames: 3.5 character times, 1.75 ms above 19200 baud.

    The fixed value above 19200 baud is the Modbus over serial line spec's
    (section 2.5.1.1): the t3.5 timer would otherwise be shorter than most
    UART drivers can honour.
    """
    if baudrate > 19200:
        return 0.00175
    return 3.5 * bits_per_char / baudrate


@dataclass(frozen=True, slots=True)
class TransactionTiming:
    """When a request left and its reply arrived (monotonic seconds)."""

    sent_s: float
    received_s: float

    @property
    def midpoint_s(self) -> float:
        """Best estimate of when the device sampled what it answered."""
        return (self.sent_s + self.received_s) / 2


class ModbusLink(ABC):
    """One physical Modbus connection shared by the units behind it."""

    def __init__(self, name: str, *, timeout_s: float, backoff: Backoff | None = None) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self._backoff = backoff or Backoff(initial_s=0.2, cap_s=10.0)
        self._lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._client: Any = None
        self._next_connect_s = 0.0
        self.last_connect_error = ""
        self.transactions = 0
        self.failures = 0

    @property
    @abstractmethod
    def address(self) -> str:
        """Where the link goes, for messages (host:port or serial path)."""

    @abstractmethod
    def _make_client(self) -> Any:
        """A new, unconnected pymodbus client."""

    @property
    def connected(self) -> bool:
        """Whether the link is open now."""
        return self._client is not None and bool(self._client.connected)

    async def connect(self) -> None:
        """Open the link; on failure nothing is left open and the backoff advances.

        Units sharing the link may all ask at once: one connects, the others
        wait for it and use the result.
        """
        async with self._connect_lock:
            if not self.connected:
                await self._open()

    async def _open(self) -> None:
        self._drop_client()
        client = self._make_client()
        try:
            async with asyncio.timeout(self.timeout_s * 4):
                ok = await client.connect()
        except (TimeoutError, OSError, ModbusException) as exc:
            client.close()
            raise self._connect_failed(str(exc) or type(exc).__name__) from exc
        if not ok:
            client.close()
            # pymodbus swallows the OS error; say what it usually is.
            raise self._connect_failed("refused, unreachable or no such port")
        self._client = client
        self.last_connect_error = ""
        self._backoff.reset()
        _LOGGER.debug("link %s open (%s)", self.name, self.address)

    async def ensure_connected(self) -> None:
        """Connect unless the last failure's backoff delay has not passed yet."""
        if self.connected:
            return
        wait_s = self._next_connect_s - time.monotonic()
        if wait_s > 0:
            raise DeviceConnectionError(
                f"link down ({self.last_connect_error}), next reconnect in {wait_s:.1f} s",
                address=self.address,
            )
        await self.connect()

    def _connect_failed(self, reason: str) -> DeviceConnectionError:
        self.last_connect_error = f"cannot open link: {reason}"
        self._schedule_reconnect()
        return DeviceConnectionError(self.last_connect_error, address=self.address)

    def _schedule_reconnect(self) -> None:
        self._next_connect_s = time.monotonic() + self._backoff.next_delay_s()

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        """Close the link; safe to call twice."""
        async with self._lock:
            self._drop_client()

    async def __aenter__(self) -> ModbusLink:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def read(
        self, unit: int, table: Table, address: int, count: int
    ) -> tuple[list[int], TransactionTiming]:
        """Read ``count`` registers; returns them with the transaction timing."""

        def request(client: Any) -> Any:
            if table is Table.HOLDING:
                return client.read_holding_registers(address, count=count, device_id=unit)
            return client.read_input_registers(address, count=count, device_id=unit)

        reply, timing = await self._transact(
            unit, lambda: f"{table} registers {address}..{address + count - 1}", request
        )
        registers: list[int] = reply.registers
        if len(registers) != count:
            raise DeviceProtocolError(
                f"reply to read of {table} registers {address}..{address + count - 1} "
                f"has {len(registers)} registers",
                address=self._where(unit),
                expected=f"{count}",
            )
        return registers, timing

    async def write(self, unit: int, address: int, values: Sequence[int]) -> TransactionTiming:
        """Write holding registers (FC6 for one, FC16 for several)."""

        def request(client: Any) -> Any:
            if len(values) == 1:
                return client.write_register(address, values[0], device_id=unit)
            return client.write_registers(address, list(values), device_id=unit)

        _, timing = await self._transact(
            unit,
            lambda: f"write of holding registers {address}..{address + len(values) - 1}",
            request,
        )
        return timing

    async def read_bits(
        self, unit: int, table: BitTable, address: int, count: int
    ) -> tuple[list[bool], TransactionTiming]:
        """Read ``count`` coils (FC1) or discrete inputs (FC2)."""

        def request(client: Any) -> Any:
            if table is BitTable.COILS:
                return client.read_coils(address, count=count, device_id=unit)
            return client.read_discrete_inputs(address, count=count, device_id=unit)

        reply, timing = await self._transact(
            unit, lambda: f"{table} {address}..{address + count - 1}", request
        )
        bits = [bool(bit) for bit in reply.bits]
        if len(bits) < count:  # replies are padded to whole bytes; fewer is a short reply
            raise DeviceProtocolError(
                f"reply to read of {table} {address}..{address + count - 1} has {len(bits)} bits",
                address=self._where(unit),
                expected=f"{count}",
            )
        return bits[:count], timing

    async def write_coils(
        self, unit: int, address: int, values: Sequence[bool]
    ) -> TransactionTiming:
        """Write coils (FC5 for one, FC15 for several)."""

        def request(client: Any) -> Any:
            if len(values) == 1:
                return client.write_coil(address, bool(values[0]), device_id=unit)
            return client.write_coils(address, [bool(v) for v in values], device_id=unit)

        _, timing = await self._transact(
            unit, lambda: f"write of coils {address}..{address + len(values) - 1}", request
        )
        return timing

    def _where(self, unit: int) -> str:
        return f"{self.address} unit {unit}"

    async def _transact(
        self, unit: int, describe: Callable[[], str], request: Any
    ) -> tuple[Any, TransactionTiming]:
        """One request/reply under the link's lock.

        ``describe`` names the request for error messages; it is only called on
        failure, which keeps string formatting off the polling path. The reply
        wait is bounded by the pymodbus client's own timeout (``timeout_s``,
        no retries), so no second timer is armed here.
        """
        await self.ensure_connected()
        async with self._lock:
            if not self.connected:
                raise DeviceConnectionError("link closed", address=self.address)
            await self._before_frame()
            self.transactions += 1
            sent = time.monotonic()
            try:
                reply = await request(self._client)
            except (TimeoutError, ModbusIOException) as exc:
                self.failures += 1
                await self._after_timeout()
                text = str(exc) or "no reply"
                if "device id" in text:
                    raise DeviceProtocolError(
                        f"reply from the wrong unit to {describe()}",
                        address=self._where(unit),
                        expected=f"unit id {unit}",
                    ) from exc
                raise DeviceTimeoutError(
                    f"no valid reply to {describe()} within {self.timeout_s:.3f} s "
                    "(silent, late, bad CRC or another unit's reply)",
                    address=self._where(unit),
                ) from exc
            except (ConnectionException, OSError) as exc:
                self.failures += 1
                self._drop_client()
                self.last_connect_error = f"lost: {exc}"
                self._schedule_reconnect()
                raise DeviceConnectionError(
                    f"link lost during {describe()}: {exc}", address=self.address
                ) from exc
            finally:
                self._frame_ended()
            received = time.monotonic()
        if reply.isError():
            code = int(getattr(reply, "exception_code", 0))
            raise ModbusExceptionError(code, describe(), self._where(unit))
        if reply.dev_id != unit:
            raise DeviceProtocolError(
                f"reply from unit {reply.dev_id} to {describe()}",
                address=self._where(unit),
                expected=f"unit id {unit}",
            )
        return reply, TransactionTiming(sent, received)

    async def _before_frame(self) -> None:  # noqa: B027 (optional hook)
        """Hook run inside the lock before a request is sent (RTU keeps its silence here)."""

    def _frame_ended(self) -> None:  # noqa: B027 (optional hook)
        """Hook run inside the lock when a transaction ends, answered or not."""

    async def _after_timeout(self) -> None:  # noqa: B027 (optional hook)
        """Hook run inside the lock after a request got no reply."""


class TcpLink(ModbusLink):
    """Modbus TCP to one device or gateway (MBAP framing, transaction ids checked)."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 502,
        *,
        timeout_s: float = 0.5,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, timeout_s=timeout_s, backoff=backoff)
        self.host = host
        self.port = port

    @property
    def address(self) -> str:
        """host:port."""
        return f"{self.host}:{self.port}"

    def _make_client(self) -> Any:
        return AsyncModbusTcpClient(
            self.host,
            port=self.port,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,
            name=self.name,
        )


class RtuLink(ModbusLink):
    """Modbus RTU on one RS-485 line: one lock for every unit on it, t3.5 between frames.

    After a request that got no reply the line is held quiet for a late-reply
    guard and the receive buffer is flushed: a unit that answers late must
    not have its reply taken for the next unit's.
    """

    def __init__(
        self,
        name: str,
        port: str,
        *,
        baudrate: int = 19200,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        timeout_s: float = 0.2,
        late_reply_guard_s: float | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name, timeout_s=timeout_s, backoff=backoff)
        self.port = port
        self.baudrate = baudrate
        self.parity = parity
        self.stopbits = stopbits
        self.bytesize = bytesize
        bits = 1 + bytesize + (0 if parity == "N" else 1) + stopbits
        self.char_time_s = bits / baudrate
        self._quiet_until_s = 0.0
        self.gap_s = interframe_gap_s(baudrate, bits)
        # Long enough for the longest reply (256 bytes) to finish arriving.
        self.late_reply_guard_s = (
            late_reply_guard_s if late_reply_guard_s is not None else 256 * self.char_time_s + 0.02
        )

    @property
    def address(self) -> str:
        """The serial port path."""
        return self.port

    def _make_client(self) -> Any:
        return AsyncModbusSerialClient(
            self.port,
            framer=FramerType.RTU,
            baudrate=self.baudrate,
            parity=self.parity,
            stopbits=self.stopbits,
            bytesize=self.bytesize,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,
            name=self.name,
        )

    async def _before_frame(self) -> None:
        # Only the part of t3.5 that has not already passed while the reply
        # was decoded and the next poll came round.
        wait_s = self._quiet_until_s - time.monotonic()
        if wait_s > 0:
            await asyncio.sleep(wait_s)

    def _frame_ended(self) -> None:
        self._quiet_until_s = time.monotonic() + self.gap_s

    async def _after_timeout(self) -> None:
        await asyncio.sleep(self.late_reply_guard_s)
        if self._client is not None:
            self._client.ctx.recv_buffer = b""
