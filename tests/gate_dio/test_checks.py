"""Credential checks: the allow-list file and the store backend over real HTTP (aiohttp)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from devices.bus import Bus
from devices.gate.checks import AllowListCheck, AllowListError, HttpCheck
from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import Admitted, Entered, GateMachine, GateSettings, Refused
from sim_devices.dio import DioSimulator

from .conftest import Events

MakeGate = Any


def card(credential: str, gate: str = "entry") -> CredentialPresented:
    return CredentialPresented(
        source=gate,
        t_mono=time.monotonic(),
        kind=CredentialKind.CARD,
        credential=credential,
        bits=26,
    )


def touch_newer(path: Path, text: str) -> None:
    """Rewrite ``path`` so that its change stamp differs even within one clock tick."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


# --- allow list -------------------------------------------------------------------------------


async def test_text_allow_list(tmp_path: Path) -> None:
    path = tmp_path / "allow.txt"
    path.write_text("# staff\n04A1B2C3\n\n  QR-7Y2K  # trailing comment\n", encoding="utf-8")
    check = AllowListCheck(path)
    first = await check.check(card("04A1B2C3"))
    second = await check.check(card("04A1B2C3"))
    assert first.admit is True
    assert first.group_size == 1
    assert first.session_id != second.session_id  # every admission is a new session
    assert (await check.check(card("QR-7Y2K"))).admit is True
    refused = await check.check(card("04a1b2c3"))
    assert (refused.admit, refused.reason) == (False, "not on the allow list")


async def test_yaml_allow_list_with_groups_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "allow.yaml"
    path.write_text("credentials:\n  - A\n  - {credential: B, group_size: 4}\n", encoding="utf-8")
    check = AllowListCheck(path)
    assert (await check.check(card("B"))).group_size == 4
    assert (await check.check(card("C"))).admit is False
    touch_newer(path, "credentials:\n  - C\n")
    assert (await check.check(card("C"))).admit is True
    assert (await check.check(card("A"))).admit is False
    # A broken edit keeps the last good list (neither everyone nor nobody).
    touch_newer(path, "credentials:\n  - {credential: D, group_size: 0}\n")
    assert (await check.check(card("C"))).admit is True
    path.unlink()
    assert (await check.check(card("C"))).admit is True


def test_allow_list_errors_name_the_place(tmp_path: Path) -> None:
    path = tmp_path / "allow.yaml"
    path.write_text("credentials:\n  - A\n  - {credential: B, group_size: 0, vip: true}\n")
    with pytest.raises(AllowListError) as info:
        AllowListCheck(path)
    text = str(info.value)
    assert "credentials.1.group_size: Input should be greater than or equal to 1" in text
    assert "credentials.1.vip: Extra inputs are not permitted" in text
    twice = tmp_path / "allow.txt"
    twice.write_text("A\nB\nA\n")
    with pytest.raises(
        AllowListError, match=r"line 3: credential listed twice \(first at line 1\)"
    ):
        AllowListCheck(twice)
    with pytest.raises(AllowListError, match="missing"):
        AllowListCheck(tmp_path / "nowhere.txt")


# --- HTTP backend ----------------------------------------------------------------------------


class Backend:
    """A store backend stand-in: answers by credential, records requests."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[str | None] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(request.headers.get("Authorization"))
        credential = body["credential"]
        if credential == "SLOW":
            await self.release.wait()  # longer than any client timeout
        if credential == "BOOM":
            return web.Response(status=500, text="database down")
        if credential == "FORBIDDEN":
            return web.Response(status=403)
        if credential == "GARBAGE":
            return web.Response(text="<html>hello</html>")
        if credential == "STRINGY":
            return web.json_response({"admit": "true", "session_id": "s-x"})
        if credential == "NOSESSION":
            return web.json_response({"admit": True})
        if credential.startswith("OK"):
            return web.json_response(
                {"admit": True, "session_id": f"s-{credential}", "group_size": 2}
            )
        return web.json_response({"admit": False, "reason": "unknown member"})


@pytest.fixture
async def backend() -> AsyncIterator[tuple[Backend, str]]:
    state = Backend()
    app = web.Application()
    app.router.add_post("/gate/check", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield state, f"http://127.0.0.1:{port}/gate/check"
    finally:
        state.release.set()
        await runner.cleanup()


async def test_http_check_answers(backend: tuple[Backend, str]) -> None:
    state, url = backend
    async with HttpCheck(url, timeout_s=0.5, token="s3cret") as check:
        admitted = await check.check(card("OK-1"))
        assert (admitted.admit, admitted.session_id, admitted.group_size) == (True, "s-OK-1", 2)
        assert state.requests[0] == {
            "gate": "entry",
            "kind": "card",
            "credential": "OK-1",
            "bits": 26,
        }
        assert state.headers[0] == "Bearer s3cret"
        refused = await check.check(card("WHO"))
        assert (refused.admit, refused.reason) == (False, "unknown member")
        for credential, reason in [
            ("BOOM", "backend unreachable"),
            ("SLOW", "backend unreachable"),
            ("FORBIDDEN", "backend rejected the request (HTTP 403)"),
            ("GARBAGE", "backend answer invalid: not JSON"),
            ("NOSESSION", "backend answer invalid: admit without a session_id"),
        ]:
            decision = await check.check(card(credential))
            assert (decision.admit, decision.reason) == (False, reason), credential
        stringy = await check.check(card("STRINGY"))
        assert stringy.admit is False  # "true" is not true
        assert stringy.reason.startswith("backend answer invalid: admit")


async def test_http_check_backend_down(free_tcp_port: int) -> None:
    async with HttpCheck(f"http://127.0.0.1:{free_tcp_port}/x", timeout_s=0.5) as check:
        decision = await check.check(card("OK-1"))
    assert (decision.admit, decision.reason) == (False, "backend unreachable")


async def test_http_check_through_the_machine(
    backend: tuple[Backend, str], sim: DioSimulator, bus: Bus, make_gate: MakeGate, events: Events
) -> None:
    _, url = backend
    settings = GateSettings(open_ms=1500)
    async with (
        make_gate() as entry,
        HttpCheck(url, timeout_s=0.5) as check,
        GateMachine(bus, check, entries=[entry], settings=settings),
    ):
        await bus.publish(card("OK-family"))
        admitted = await events.next(Admitted)
        assert (admitted.session_id, admitted.group_size) == ("s-OK-family", 2)
        assert sim.walk_through("entry")["passed"]
        assert (await events.next(Entered)).session_id == "s-OK-family"
        await bus.publish(card("BOOM"))
        assert (await events.next(Refused)).reason == "backend unreachable"
        assert [m.credential for m in events.of(Refused)] == ["card:…BOOM"]
