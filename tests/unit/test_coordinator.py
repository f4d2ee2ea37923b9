import asyncio
import contextlib

from devices.base import PolledDevice
from devices.bus import Bus
from devices.coordinator import PollingCoordinator


class SwallowsCancellation(PolledDevice[int]):
    """Reads like pymodbus under Python 3.11: a cancel that lands as the reply arrives is lost."""

    def __init__(self, device_id: str, enough: asyncio.Event | None = None) -> None:
        super().__init__(device_id)
        self.reads = 0
        self.enough_reads = enough

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def read(self) -> int:
        self.reads += 1
        if self.enough_reads is not None and self.reads >= 4:
            self.enough_reads.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.001)
        return self.reads


async def test_coordinator_stops_even_when_a_read_swallows_the_cancel():
    coordinator = PollingCoordinator(Bus())
    enough = asyncio.Event()
    devices = [SwallowsCancellation(f"d{n}", enough) for n in range(5)]
    for device in devices:
        coordinator.add(device, 500.0, lambda r: [])
    task = asyncio.create_task(coordinator.run())
    await asyncio.wait_for(enough.wait(), 2.0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert task in done, "the coordinator did not stop when cancelled"
    assert task.cancelled()


async def test_jobs_start_spread_over_the_period():
    coordinator = PollingCoordinator(Bus())
    first_read: dict[str, float] = {}
    loop = asyncio.get_running_loop()

    all_started = asyncio.Event()

    class Stamp(SwallowsCancellation):
        async def read(self) -> int:
            first_read.setdefault(self.device_id, loop.time())
            if len(first_read) == 4:
                all_started.set()
            return 0

    for n in range(4):
        coordinator.add(Stamp(f"d{n}"), 2.0, lambda r: [])  # period 0.5 s
    start = loop.time()
    task = asyncio.create_task(coordinator.run())
    await asyncio.wait_for(all_started.wait(), 2.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    offsets = sorted(t - start for t in first_read.values())
    assert offsets[-1] - offsets[0] >= 0.3  # 3/4 of the period between first and last
