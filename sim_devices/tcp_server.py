"""Modbus TCP server (MBAP framing) hosting one or more unit ids.

One server with several unit ids behaves like a TCP-to-RTU gateway: a
request for a unit id it does not host is answered with exception 0x0B
(gateway target device failed to respond). That is what a real gateway
sends when nothing answers behind it, and it lets a master tell "wrong unit
id" from "host down" without waiting for its timeout.

MBAP header: transaction id (echoed), protocol id (must be 0), length
(unit id + PDU, so 2..254 for a legal ADU of at most 260 bytes), unit id.
A header that breaks those rules leaves the stream unframeable, so that
connection is closed.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from sim_devices.faults import FaultMode, wrong_unit_id
from sim_devices.modbus_pdu import ExceptionCode, HostedUnit, exception_pdu, handle_pdu
from sim_devices.stream_server import StreamServer

log = logging.getLogger(__name__)

MBAP = struct.Struct(">HHHB")
MAX_MBAP_LENGTH = 254


@dataclass
class TcpStats:
    """Counters of one TCP server."""

    requests: int = 0
    replies: int = 0
    no_such_unit: int = 0
    silenced: int = 0
    malformed: int = 0
    connections: int = 0
    connections_open: int = 0


class ModbusTcpServer(StreamServer):
    """Serves ``units`` on ``host``:``port`` (port 0 picks a free one, see :attr:`port`)."""

    kind = "Modbus TCP"

    def __init__(
        self, units: Mapping[int, HostedUnit], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(host, port)
        self.units = units
        self._stats = TcpStats()

    def stats(self) -> dict[str, float]:
        """Counters as a dict."""
        self._stats.connections_open = len(self._connections)
        return asdict(self._stats)

    async def start(self) -> None:
        """Bind and listen."""
        await super().start()
        log.info("Modbus TCP on %s:%s units %s", self.host, self.port, sorted(self.units))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._stats.connections += 1
        peer = writer.get_extra_info("peername")
        while True:
            try:
                header = await reader.readexactly(MBAP.size)
            except asyncio.IncompleteReadError:
                return
            transaction, protocol, length, unit_id = MBAP.unpack(header)
            if protocol != 0 or not 2 <= length <= MAX_MBAP_LENGTH:
                self._stats.malformed += 1
                log.warning(
                    "Modbus TCP from %s: bad MBAP header %s (protocol %d, length %d); closing",
                    peer,
                    header.hex(),
                    protocol,
                    length,
                )
                return
            pdu = await reader.readexactly(length - 1)
            reply = await self._answer(unit_id, pdu)
            if reply is None:
                continue
            reply_unit, response, length_error = reply
            declared = len(response) + 1 + length_error
            writer.write(MBAP.pack(transaction, 0, declared, reply_unit) + response)
            await writer.drain()
            self._stats.replies += 1

    async def _answer(self, unit_id: int, pdu: bytes) -> tuple[int, bytes, int] | None:
        """(unit id for the header, response PDU, MBAP length error) or None for no reply."""
        hosted = self.units.get(unit_id)
        if hosted is None:
            self._stats.no_such_unit += 1
            return unit_id, exception_pdu(pdu[0], ExceptionCode.GATEWAY_TARGET_FAILED), 0
        self._stats.requests += 1
        fault = hosted.fault
        if fault.mode is FaultMode.SILENT:
            self._stats.silenced += 1
            return None
        response = handle_pdu(hosted.device, pdu)
        if fault.mode is FaultMode.LATE:
            await asyncio.sleep(fault.delay_s)
        reply_unit = wrong_unit_id(unit_id) if fault.mode is FaultMode.WRONG_UNIT else unit_id
        length_error = -1 if fault.mode is FaultMode.CORRUPT_CRC else 0
        return reply_unit, response, length_error
