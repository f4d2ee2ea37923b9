import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from devices.backoff import Backoff
from devices.bus import Bus
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.events import AlertEventKind, SinkFailed
from facility.alerts.sinks import LogSink, Sink, WebhookSink
from facility.alerts.store import AlertStore

from .scenario import lifecycle


@dataclass
class Receiver:
    """A webhook receiver whose answers the test scripts: a list of statuses, or 'hang'."""

    url: str = ""
    script: list[int | str] = field(default_factory=list)
    bodies: list[dict[str, object]] = field(default_factory=list)
    hits: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        action = self.script.pop(0) if self.script else 200
        if action == "hang":
            await self.release.wait()
            return web.Response(status=200)
        assert isinstance(action, int)
        if action == 200:
            self.bodies.append(await request.json())
        return web.Response(status=action, text="nope" if action != 200 else "ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rx.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    rx.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield rx
    finally:
        rx.release.set()
        await runner.cleanup()


def fast() -> Callable[[], Backoff]:
    return lambda: Backoff(initial_s=0.01, cap_s=0.05, jitter=0.0)


async def test_delivers_every_lifecycle_event_in_order(receiver: Receiver) -> None:
    events = lifecycle()
    sinks: list[Sink] = [WebhookSink(receiver.url), LogSink()]
    async with AlertDispatcher(sinks, backoff=fast()) as dispatcher:
        for e in events:
            await dispatcher.deliver(e)
        await dispatcher.drain()
        assert dispatcher.stats["webhook"].delivered == 4
        assert dispatcher.stats["log"].delivered == 4
    assert [b["event"] for b in receiver.bodies] == [
        "firing", "escalated", "acknowledged", "resolved",
    ]  # fmt: skip
    first = receiver.bodies[0]
    assert isinstance(first["alert"], dict)
    assert first["alert"]["rule"] == "hot"
    assert first["alert"]["severity"] == "info"
    assert receiver.bodies[1]["alert"]["severity"] == "warning"  # type: ignore[index]
    assert receiver.bodies[3]["alert"]["acked_by"] == "ops"  # type: ignore[index]
    json.dumps(receiver.bodies)  # plain JSON all the way


async def test_500_then_success_after_retry(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = [500, 503, 200]
    async with (
        AlertStore(tmp_path / "a.db") as store,
        AlertDispatcher([WebhookSink(receiver.url)], store=store, backoff=fast()) as dispatcher,
    ):
        await dispatcher.deliver(lifecycle()[0])
        await dispatcher.drain()
        assert dispatcher.stats["webhook"].retries == 2
        assert dispatcher.stats["webhook"].delivered == 1
        assert dispatcher.stats["webhook"].failed == 0
        assert await store.sink_failures() == []
    assert receiver.hits == 3
    assert [b["event"] for b in receiver.bodies] == ["firing"]


async def test_timeout_is_retried_then_reported(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = ["hang", "hang", "hang"]
    bus = Bus()
    failures = bus.subscribe(SinkFailed, name="test")
    sink = WebhookSink(receiver.url, timeout_s=0.2)
    try:
        async with (
            AlertStore(tmp_path / "a.db") as store,
            AlertDispatcher(
                [sink], store=store, bus=bus, max_attempts=3, backoff=fast()
            ) as dispatcher,
        ):
            await dispatcher.deliver(lifecycle()[0])
            await dispatcher.drain()
            [stored] = await store.sink_failures()
    finally:
        failures.close()
    assert receiver.hits == 3
    assert (stored.sink, stored.alert_id, stored.event, stored.attempts) == (
        "webhook", 1, AlertEventKind.FIRING, 3,
    )  # fmt: skip
    assert "no answer in 0.2" in stored.error
    event = failures.get_nowait()
    assert isinstance(event, SinkFailed)
    assert event.attempts == 3


async def test_permanent_refusal_is_not_retried(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = [404]
    async with (
        AlertStore(tmp_path / "a.db") as store,
        AlertDispatcher([WebhookSink(receiver.url)], store=store, backoff=fast()) as dispatcher,
    ):
        await dispatcher.deliver(lifecycle()[0])
        await dispatcher.drain()
        [stored] = await store.sink_failures()
    assert receiver.hits == 1
    assert stored.attempts == 1
    assert "answered 404" in stored.error


async def test_failing_sink_does_not_hold_the_others(
    receiver: Receiver, tmp_path: Path, free_tcp_port: int
) -> None:
    dead = WebhookSink(f"http://127.0.0.1:{free_tcp_port}/none", name="dead", timeout_s=1)
    good = WebhookSink(receiver.url, name="good")
    async with (
        AlertStore(tmp_path / "a.db") as store,
        AlertDispatcher([dead, good], store=store, max_attempts=2, backoff=fast()) as dispatcher,
    ):
        for e in lifecycle():
            await dispatcher.deliver(e)
        await dispatcher.drain()
        failures = await store.sink_failures()
    assert len(receiver.bodies) == 4
    assert sorted((f.sink, f.event.value) for f in failures) == sorted(
        ("dead", k) for k in ("firing", "escalated", "acknowledged", "resolved")
    )
