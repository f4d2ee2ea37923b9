from __future__ import annotations

import asyncio
import errno
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from devices.backoff import Backoff
from devices.bus import Bus
from devices.gpu.reading import GpuReading
from devices.health import HealthChanged, HealthState
from devices.ups.state import UpsReading, UpsStatus
from facility.telemetry.buffer import DiskBuffer
from facility.telemetry.points import (
    GPU,
    UPS,
    ConverterRegistry,
    WallClockAnchor,
    convert_gpu_reading,
    convert_ups_reading,
    default_registry,
)
from facility.telemetry.writer import TelemetryTarget, TelemetryWriter, WriterStats

from .vm import Series, VictoriaMetrics

WAIT_S = 20.0
# A fixed anchor whose wall time is whole milliseconds: VictoriaMetrics keeps milliseconds.
WALL_MS = (time.time_ns() // 1_000_000_000) * 1000
# The monotonic side is the real clock: the writer stamps its own health with it.
MONO0 = time.monotonic()
ANCHOR = WallClockAnchor(wall_ns=WALL_MS * 1_000_000, mono_s=MONO0)


def gpu(i: int, store_gpu: int = 0) -> GpuReading:
    """One point: gpu_power_w = i, stamped WALL_MS + i ms."""
    return GpuReading(source="rack", t_mono=MONO0 + i / 1000, index=store_gpu, power_w=float(i))


def gpu_ups_registry() -> ConverterRegistry:
    """Without HealthChanged: the writer's own health would add points and move batch cuts."""
    reg = ConverterRegistry()
    reg.register(GpuReading, (GPU,), convert_gpu_reading)
    reg.register(UpsReading, (UPS,), convert_ups_reading)
    return reg


def writer(bus: Bus, url: str, buf: DiskBuffer, store: str, **kwargs: object) -> TelemetryWriter:
    options: dict[str, object] = {
        "registry": gpu_ups_registry(),
        "flush_interval_s": 0.05,
        "timeout_s": 2.0,
        "backoff": Backoff(initial_s=0.05, cap_s=0.2),
    }
    options.update(kwargs)
    return TelemetryWriter(
        bus,
        TelemetryTarget(url),
        buf,
        store=store,
        anchor=ANCHOR,
        **options,  # type: ignore[arg-type]
    )


async def until(what: str, check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout_s} s: {what}")
        await asyncio.sleep(0.01)  # polling a counter of the writer under test


def timestamps(series: dict[str, Series], name: str) -> list[int]:
    return sorted(series[name].timestamps_ms)


def new_store() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def test_points_arrive_with_values_tags_and_times(
    vm_shared: VictoriaMetrics, tmp_path: Path
) -> None:
    bus = Bus()
    store = new_store()
    reg = default_registry()
    async with writer(bus, vm_shared.url, DiskBuffer(tmp_path), store, registry=reg) as w:
        for i in range(200):
            bus.publish_nowait(gpu(i))
        bus.publish_nowait(
            UpsReading(
                source="ups1", t_mono=MONO0 + 0.5, status=UpsStatus.ON_BATTERY, runtime_s=321.0
            )
        )
        # 201 points, plus the writer's own health (online) once its first write succeeds.
        await until("written", lambda: w.stats().written == 202)
    series = await vm_shared.wait_for(f'{{store="{store}"}}', 200 + 4 + 3)
    power = series["gpu_power_w"]
    assert power.labels == {
        "__name__": "gpu_power_w",
        "store": store,
        "device": "rack",
        "gpu": "0",
    }
    pairs = sorted(zip(power.timestamps_ms, power.values, strict=True))
    assert pairs == [(WALL_MS + i, float(i)) for i in range(200)]
    assert series["ups_runtime_s"].values == [321.0]
    assert series["ups_runtime_s"].timestamps_ms == [WALL_MS + 500]
    assert series["ups_on_battery"].values == [1.0]
    assert "ups_charge_pct" not in series  # None: never written
    assert series["device_health_state"].labels["device"] == "telemetry"
    assert series["device_health_state"].values == [0.0]
    stats = w.stats()
    assert (stats.buffered, stats.replayed, stats.lost, stats.dropped) == (0, 0, 0, 0)


async def test_outage_buffers_and_replays_everything_in_order(
    vm_own: VictoriaMetrics, tmp_path: Path
) -> None:
    bus = Bus()
    health = bus.subscribe(HealthChanged, name="health-watch")
    store = new_store()
    vm_own.start()
    try:
        async with writer(bus, vm_own.url, DiskBuffer(tmp_path / "buf"), store) as w:
            for i in range(0, 300):
                bus.publish_nowait(gpu(i))
            await until("before the outage", lambda: w.stats().written == 300)
            vm_own.stop()
            for i in range(300, 1300):
                bus.publish_nowait(gpu(i))
                if i % 100 == 0:
                    await asyncio.sleep(0)  # let batches be cut while the server is down
            await until("buffered", lambda: w.stats().buffered == 1000)
            assert w.health.state is not HealthState.ONLINE
            assert w.stats().backlog == 1000
            vm_own.start()  # same port, same storage
            await until("replayed", lambda: w.stats().replayed == 1000)
            for i in range(1300, 1400):
                bus.publish_nowait(gpu(i))
            await until("after the outage", lambda: w.stats().written == 400)
            stats = w.stats()
        series = await vm_own.wait_for(f'{{store="{store}"}}', 1400)
        stamps = timestamps(series, "gpu_power_w")
        # Nothing lost; a batch can come twice only if its reply was lost mid-write.
        assert sorted(set(stamps)) == [WALL_MS + i for i in range(1400)]
        assert len(stamps) >= 1400
        assert (stats.evicted, stats.lost, stats.dropped, stats.backlog) == (0, 0, 0, 0)
        assert stats.failures >= 1
        states = []
        while (msg := health.get_nowait()) is not None:
            assert isinstance(msg, HealthChanged)
            if msg.health.device_id == "telemetry":
                states.append(msg.health.state)
        assert states[0] is HealthState.ONLINE
        assert HealthState.OFFLINE in states or HealthState.DEGRADED in states
        assert states[-1] is HealthState.ONLINE
    finally:
        health.close()


async def test_bound_evicts_exactly_the_oldest_then_replays_the_rest(
    vm_own: VictoriaMetrics, tmp_path: Path
) -> None:
    bus = Bus()
    store = new_store()
    buf = DiskBuffer(tmp_path / "buf", max_points=30)
    # Nothing listens on the port yet: every write fails with a refused connection.
    async with writer(bus, vm_own.url, buf, store, batch_points=10, flush_interval_s=30) as w:
        for i in range(50):
            bus.publish_nowait(gpu(i))
        await until("five batches stored", lambda: w.stats().buffered == 50)
        assert (w.stats().evicted, w.stats().backlog) == (20, 30)
        vm_own.start()
        await until("replayed", lambda: w.stats().replayed == 30)
        stats = w.stats()
    assert stats.evicted == 20
    series = await vm_own.wait_for(f'{{store="{store}"}}', 30)
    assert sorted(set(timestamps(series, "gpu_power_w"))) == [WALL_MS + i for i in range(20, 50)]


async def test_close_keeps_the_backlog_on_disk_for_the_next_start(
    tmp_path: Path, free_tcp_port: int
) -> None:
    bus = Bus()
    url = f"http://127.0.0.1:{free_tcp_port}"  # nobody there
    async with writer(bus, url, DiskBuffer(tmp_path), "s", flush_interval_s=30) as w:
        for i in range(25):
            bus.publish_nowait(gpu(i))
        await until("read from the bus", lambda: w.stats().points == 25)
    # The partial batch was cut at close, the write failed and it went to disk.
    stats = w.stats()
    assert stats.buffered == 25
    assert stats.written == 0
    with DiskBuffer(tmp_path) as buf:
        assert buf.points == 25
        batch = buf.peek()
        assert batch is not None
        assert batch.payload.decode().splitlines()[0].startswith("gpu,device=rack,gpu=0,store=s")


async def test_cancelled_writer_spills_memory_to_disk(tmp_path: Path, free_tcp_port: int) -> None:
    bus = Bus()
    url = f"http://127.0.0.1:{free_tcp_port}"
    w = writer(bus, url, DiskBuffer(tmp_path), "s", flush_interval_s=30)

    async def run() -> None:
        async with w:
            await asyncio.Event().wait()

    task = asyncio.create_task(run())
    await until("subscribed", lambda: "telemetry" in bus.stats())
    for i in range(25):
        bus.publish_nowait(gpu(i))
    await until("read from the bus", lambda: w.stats().points == 25)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert w.stats().buffered == 25
    with DiskBuffer(tmp_path) as buf:
        assert buf.points == 25


async def test_disk_full_counts_lost_points_and_keeps_running(
    tmp_path: Path, free_tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    full = True

    def write(fd: int, data: bytes | memoryview) -> int:
        if full and os.readlink(f"/proc/self/fd/{fd}").startswith(str(tmp_path)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr("facility.telemetry.buffer.os.write", write)
    bus = Bus()
    url = f"http://127.0.0.1:{free_tcp_port}"
    async with writer(bus, url, DiskBuffer(tmp_path), "s", batch_points=10) as w:
        for i in range(20):
            bus.publish_nowait(gpu(i))
        await until("lost", lambda: w.stats().lost == 20)
        full = False
        for i in range(20, 30):
            bus.publish_nowait(gpu(i))
        await until("buffered", lambda: w.stats().buffered == 10)
    stats: WriterStats = w.stats()
    assert (stats.lost, stats.buffered, stats.written) == (20, 10, 0)
