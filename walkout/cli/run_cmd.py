"""``walkout run``: the store process: devices, cameras and tracking, checkout, facility."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from devices.bus import Subscription
from devices.health import HealthChanged
from facility.supervisor import ModeChanged
from vision_core.ledger.events import ReceiptSettled
from vision_core.shelf_events import ShelfChange
from walkout.checkout_wiring import open_checkout, shelf_change_service
from walkout.cli.common import CONFIG_OPTION, console, load, run_device_call
from walkout.config import StoreConfig
from walkout.facility_wiring import open_facility
from walkout.runtime import open_runtime
from walkout.vision_wiring import open_vision


def _describe(change: ShelfChange) -> str:
    where = "" if change.position_m is None else f" at {change.position_m:.2f} m"
    return f"shelf {change.shelf_id}: {change.kind} {abs(change.delta_g):.1f} g{where}"


async def _report(messages: Subscription) -> None:
    async for message in messages:
        if isinstance(message, HealthChanged):
            h = message.health
            console.print(f"health {h.device_id}: {h.state} {h.reason}".rstrip())
        elif isinstance(message, ShelfChange):
            console.print(_describe(message))
        elif isinstance(message, ModeChanged):
            console.print(f"store mode {message.previous} -> {message.mode}: {message.explanation}")
        elif isinstance(message, ReceiptSettled):
            console.print(
                f"receipt {message.session_id}: {len(message.lines)} line(s), "
                f"{message.total} {message.currency}"
            )


async def _run(config: StoreConfig) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            open_runtime(config) as runtime,
            open_checkout(config, runtime.bus) as checkout,
            open_vision(config, runtime.bus) as vision,
            open_facility(
                config, runtime, ledger=checkout, cameras=vision.fleet if vision else None
            ) as facility,
        ):
            messages = runtime.bus.subscribe(
                ShelfChange, HealthChanged, ModeChanged, ReceiptSettled, maxsize=10_000
            )
            shelves = shelf_change_service(config, runtime.bus)
            tasks = [
                asyncio.create_task(runtime.run(), name="runtime"),
                asyncio.create_task(shelves.run(), name="shelf-changes"),
                asyncio.create_task(facility.run(), name="facility"),
                asyncio.create_task(_report(messages), name="report"),
                asyncio.create_task(stop.wait(), name="stop-signal"),
            ]
            if checkout is not None:
                tasks.append(asyncio.create_task(checkout.service.run(), name="checkout"))
            if vision is not None and vision.tracking is not None:
                tasks.append(asyncio.create_task(vision.tracking.run(), name="tracking"))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # a crashed poller or reporter ends the run with its error
            finally:
                messages.close()
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def run(config: Path = CONFIG_OPTION) -> None:
    """Run the store: every device, shelf events, supervisor, alerts, telemetry and MQTT."""
    cfg = load(config)
    console.print(
        f"walkout running store {cfg.store.id}: {len(cfg.shelves)} shelves, "
        f"{len(cfg.cameras)} cameras (Ctrl-C stops)"
    )
    run_device_call(_run(cfg))
