"""The runtime's UPS wiring against the UPS simulator: SNMP polls, traps, grid events.

The simulator is an independent SNMP agent (hand-written BER) with a battery and grid
model; walkout reaches it over real UDP. The poll interval is long (10 s) so that seeing
the transfer to battery at once proves the trap path, counted by the poll loop itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from peers.snmpsim import free_udp_port

from devices.bus import Message, Subscription
from devices.errors import DeviceConnectionError
from devices.ups.state import GridEvent, GridEventKind, UpsReading, UpsStatus, UpsTrap
from sim_devices.ups import UpsSimulator
from walkout.config import parse_config
from walkout.runtime import Runtime, open_runtime

WAIT_S = 10.0


def store(ups_port: int, trap_port: int | None, rate_hz: float) -> dict[str, Any]:
    facility: dict[str, Any] = {
        "ups": [
            {
                "id": "ups-1",
                "type": "snmp",
                "agent": {"host": "127.0.0.1", "port": ups_port, "timeout_s": 0.5},
                "rate_hz": rate_hz,
            }
        ]
    }
    if trap_port is not None:
        facility["traps"] = {"host": "127.0.0.1", "port": trap_port, "communities": ["public"]}
    return {"store": {"id": "ups-test"}, "facility": facility}


async def next_matching(
    messages: Subscription, predicate: Callable[[Message], bool], seen: list[Message]
) -> Message:
    async with asyncio.timeout(WAIT_S):
        async for message in messages:
            seen.append(message)
            if predicate(message):
                return message
    raise AssertionError("subscription closed")


@contextlib.asynccontextmanager
async def running(config: dict[str, Any], tmp_path: Path) -> AsyncIterator[Runtime]:
    async with open_runtime(parse_config(config, "test", tmp_path)) as runtime:
        task = asyncio.create_task(runtime.run())
        try:
            yield runtime
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def status(value: UpsStatus) -> Callable[[Message], bool]:
    return lambda m: isinstance(m, UpsReading) and m.status is value


async def test_trap_brings_on_battery_before_the_next_poll(tmp_path: Path) -> None:
    trap_port = free_udp_port()
    async with (
        UpsSimulator(port=0, traps=[f"127.0.0.1:{trap_port}/v2c/public"]) as ups,
        running(store(ups.port, trap_port, rate_hz=0.1), tmp_path) as runtime,
    ):
        messages = runtime.bus.subscribe(UpsReading, GridEvent, UpsTrap, name="test")
        seen: list[Message] = []
        first = await next_matching(messages, status(UpsStatus.ON_LINE), seen)
        assert isinstance(first, UpsReading)
        state = ups.state()
        assert first.input_v == pytest.approx(state["input_voltage_v"], abs=1)
        assert first.charge_pct == state["charge_pct"]
        assert first.runtime_s == state["runtime_min"] * 60  # UPS-MIB says minutes

        ups.cut_grid()
        await next_matching(messages, status(UpsStatus.ON_BATTERY), seen)
        assert runtime.upses is not None
        assert runtime.upses.loops[0].stats.triggered >= 1  # a trap asked for that poll
        traps = [m for m in seen if isinstance(m, UpsTrap)]
        assert "upsTrapOnBattery" in [t.name for t in traps]
        # The grid event comes right after the reading that showed it.
        start = await next_matching(messages, lambda m: isinstance(m, GridEvent), seen)
        assert isinstance(start, GridEvent)
        assert (start.kind, start.ended) == (GridEventKind.ON_BATTERY, False)

        ups.restore_grid()
        end = await next_matching(
            messages,
            lambda m: isinstance(m, GridEvent) and m.kind is GridEventKind.ON_BATTERY and m.ended,
            seen,
        )
        assert isinstance(end, GridEvent)
        assert end.duration_s is not None
        assert end.duration_s > 0
        messages.close()


async def test_polling_alone_sees_the_transfer(tmp_path: Path) -> None:
    async with (
        UpsSimulator(port=0) as ups,
        running(store(ups.port, None, rate_hz=5.0), tmp_path) as runtime,
    ):
        messages = runtime.bus.subscribe(UpsReading, name="test")
        seen: list[Message] = []
        await next_matching(messages, status(UpsStatus.ON_LINE), seen)
        ups.cut_grid()
        reading = await next_matching(messages, status(UpsStatus.ON_BATTERY), seen)
        assert isinstance(reading, UpsReading)
        assert reading.seconds_on_battery is not None
        assert runtime.upses is not None
        assert runtime.upses.loops[0].stats.triggered == 0
        messages.close()


async def test_trap_port_in_use_is_an_error_at_start(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(DeviceConnectionError, match="cannot listen for traps"):
            async with open_runtime(parse_config(store(16161, port, 1.0), "test", tmp_path)):
                pass
