"""Test-side helpers for the OSDP gate tests: keys, settings, waiting on the bus."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from devices.bus import Message, Subscription
from devices.gate.osdp_config import OsdpGateSettings
from sim_devices.osdp_pd.device import PdSpec

KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
OTHER_KEY = bytes.fromhex("0f1e2d3c4b5a69788796a5b4c3d2e1f0")
ADDRESS = 3

M = TypeVar("M", bound=Message)


def gate_settings(**overrides: Any) -> OsdpGateSettings:
    values: dict[str, Any] = {
        "address": ADDRESS,
        "scbk": KEY.hex(),
        "link_timeout_s": 0.5,
        "connect_timeout_s": 3.0,
        "command_timeout_s": 1.0,
        "reconnect_cap_s": 1.0,
    }
    values.update(overrides)
    return OsdpGateSettings(**values)


def pd_spec(**overrides: Any) -> PdSpec:
    values: dict[str, Any] = {"address": ADDRESS, "scbk": KEY, "watchdog_s": 5.0}
    values.update(overrides)
    return PdSpec(**values)


async def next_of(sub: Subscription, kind: type[M], timeout_s: float = 3.0) -> M:
    """The next message of ``kind`` (others are skipped) within ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            message = await sub.get()
            if isinstance(message, kind):
                return message


async def until(predicate: Callable[[], bool], timeout_s: float = 3.0, what: str = "") -> None:
    """Wait for ``predicate`` to hold, polling; fails the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s} s: {what or predicate}")
        await asyncio.sleep(0.01)
