"""The abstract base of polled drivers.

Every polled driver (scales now; UPS, CRAC and GPU drivers later) is an
async context manager with ``connect``/``read``/``close``. ``read`` performs
one complete reading with per-transaction timeouts and raises a
``DeviceError`` subclass on failure; scheduling, health and backoff live in
the polling coordinator so every driver gets them the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, Self, TypeVar

ReadingT = TypeVar("ReadingT")


class PolledDevice(ABC, Generic[ReadingT]):
    """A device that is read by polling."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id

    @abstractmethod
    async def connect(self) -> None:
        """Open what the device needs; a failure leaves nothing open."""

    @abstractmethod
    async def read(self) -> ReadingT:
        """One complete reading; raises ``DeviceError`` on failure."""

    @abstractmethod
    async def close(self) -> None:
        """Release the device; safe to call twice."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
