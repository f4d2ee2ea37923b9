"""Drill: the time-series server goes down for a while and comes back; nothing is lost.

A real VictoriaMetrics on its own port takes the store's telemetry. It is
stopped for many flush intervals while the UPS keeps being polled, then
started again on the same port and storage. Every UPS reading the bus
carried up to a cut after the restart must be in the server: each is one
``ups_runtime_s`` sample stamped with the reading's own time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from telemetry.vm import VictoriaMetrics, require_binary

from devices.health import HealthChanged, HealthState
from devices.ups.state import UpsReading
from facility.telemetry.points import WallClockAnchor

from .store import drill_store, wait_until

FLUSH_S = 0.2
"""The drill store's telemetry flush interval."""
OUTAGE_READINGS = 20
"""UPS readings (5 per second) polled while the server is down: 4 s, 20 flush intervals."""
SERIES = 'ups_runtime_s{store="drill",device="ups-1"}'


async def test_tsdb_outage_buffers_on_disk_and_replays_everything(
    tmp_path: Path, free_tcp_port: int
) -> None:
    require_binary()
    vm = VictoriaMetrics(free_tcp_port, tmp_path)
    await asyncio.to_thread(vm.start)
    try:
        async with drill_store(tmp_path, None, telemetry_url=vm.url) as store:
            rec = store.recorder
            writer = store.facility.telemetry
            assert writer is not None
            # Readings flow and reach the server.
            await rec.wait_for(UpsReading)
            await vm.wait_for(SERIES, 3)

            down = time.monotonic()
            await asyncio.to_thread(vm.stop)
            t_noticed, failing = await rec.wait_for(
                HealthChanged,
                lambda h: (
                    h.health.device_id == "telemetry" and h.health.state is not HealthState.ONLINE
                ),
                after=down,
            )
            before = len(rec.of(UpsReading))
            await rec.wait_for(
                UpsReading,
                lambda _: len(rec.of(UpsReading)) >= before + OUTAGE_READINGS,
                timeout_s=10.0,
            )
            during = writer.stats()
            up = time.monotonic()
            await asyncio.to_thread(vm.start)
            t_back, _ = await rec.wait_for(
                HealthChanged,
                lambda h: (
                    h.health.device_id == "telemetry" and h.health.state is HealthState.ONLINE
                ),
                after=up,
                timeout_s=15.0,
            )
            # The writer has no event for an empty backlog: its counter is polled.
            await wait_until("backlog replayed", lambda: writer.stats().backlog == 0)
            # A cut halfway between two readings after the replay: both sides agree on it.
            await rec.wait_for(
                UpsReading, lambda _: len(rec.of(UpsReading, t_back)) >= 2, after=t_back
            )
            readings = [m for _, m in rec.of(UpsReading)]
            cut_mono = (readings[-2].t_mono + readings[-1].t_mono) / 2
            sent = [r for r in readings if r.t_mono <= cut_mono]
            anchor = WallClockAnchor.now()
            cut_ms = anchor.to_ns(cut_mono) // 1_000_000
            series = await vm.wait_for(SERIES, len(sent))
            stats = writer.stats()
    finally:
        await asyncio.to_thread(vm.stop)

    stored = sorted({ts for ts in series["ups_runtime_s"].timestamps_ms if ts <= cut_ms})
    outage = [r for r in sent if down <= r.t_mono <= up]
    assert len(outage) >= OUTAGE_READINGS
    assert len(stored) == len(sent), f"{len(sent)} readings on the bus, {len(stored)} stored"
    assert during.buffered > 0
    assert during.backlog > 0
    assert stats.dropped == 0
    assert stats.lost == 0
    assert stats.evicted == 0
    assert stats.backlog == 0
    assert stats.replayed == stats.buffered
    assert failing.health.consecutive_failures >= 1
    print(
        f"TSDB outage: writer noticed {t_noticed - down:.2f} s after the stop, "
        f"{len(outage)} UPS readings during {up - down:.1f} s down, "
        f"{during.buffered} points buffered then ({during.failures} failed writes), "
        f"online {t_back - up:.2f} s after the restart; {len(sent)} readings on the bus, "
        f"{len(stored)} in the server; buffered {stats.buffered} = replayed {stats.replayed}, "
        f"written directly {stats.written}"
    )
