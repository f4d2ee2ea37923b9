"""Fixtures for the digital-I/O gate: the module simulator on a real TCP port, gates, events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest

from devices.bus import Bus, Message, Subscription
from devices.gate.dio import DioGate
from devices.gate.dio_profile import DioProfile, DioWiring, get_dio_profile
from sim_devices.dio import DioSimSpec, DioSimulator

M = TypeVar("M", bound=Message)

ENTRY_WIRING = DioWiring(
    lock_coil=0, passage_input=0, granted_coil=4, refused_coil=5, buzzer_coil=6, tamper_input=7
)
EXIT_WIRING = DioWiring(lock_coil=1, passage_input=1, exit_request_input=2)


class Events:
    """A bus subscription a test can wait on; everything seen is kept in order."""

    def __init__(self, bus: Bus, *types: type[Message]) -> None:
        self.sub: Subscription = bus.subscribe(*types, maxsize=10_000, name="test")
        self.seen: list[Message] = []
        self._unclaimed: list[Message] = []

    async def next(
        self, kind: type[M], where: Callable[[M], bool] | None = None, timeout_s: float = 5.0
    ) -> M:
        """The oldest message of ``kind`` (matching ``where``) not returned yet.

        Messages of other kinds stay unclaimed for later calls, so the order in which a
        test asks for two concurrent events does not matter.
        """
        async with asyncio.timeout(timeout_s):
            while True:
                for index, message in enumerate(self._unclaimed):
                    if isinstance(message, kind) and (where is None or where(message)):
                        del self._unclaimed[index]
                        return message
                message = await self.sub.get()
                self.seen.append(message)
                self._unclaimed.append(message)

    def drain(self) -> None:
        """Pull everything queued now into ``seen``."""
        while (message := self.sub.get_nowait()) is not None:
            self.seen.append(message)
            self._unclaimed.append(message)

    def of(self, kind: type[M]) -> list[M]:
        """Every message of ``kind`` seen so far (after a drain)."""
        self.drain()
        return [m for m in self.seen if isinstance(m, kind)]

    def close(self) -> None:
        self.sub.close()


async def eventually(
    condition: Callable[[], Any], timeout_s: float = 5.0, what: str = "condition"
) -> None:
    """Wait until ``condition()`` is true, polling the event loop; fails after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(0.01)


@pytest.fixture
def io8() -> DioProfile:
    return get_dio_profile("io8")


@pytest.fixture
def bus() -> Bus:
    return Bus()


@pytest.fixture
async def sim() -> AsyncIterator[DioSimulator]:
    async with DioSimulator(DioSimSpec()) as simulator:
        yield simulator


@pytest.fixture
async def events(bus: Bus) -> AsyncIterator[Events]:
    watcher = Events(bus)
    yield watcher
    watcher.close()


@pytest.fixture
def make_gate(sim: DioSimulator, bus: Bus, io8: DioProfile) -> Callable[..., DioGate]:
    def make(
        device_id: str = "entry",
        wiring: DioWiring = ENTRY_WIRING,
        profile: DioProfile | None = None,
        **kwargs: Any,
    ) -> DioGate:
        return DioGate.tcp(
            device_id, "127.0.0.1", sim.port, bus, profile or io8, wiring, timeout_s=0.3, **kwargs
        )

    return make
