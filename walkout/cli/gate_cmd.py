"""``walkout gate test``: commission one gate, step by step, with a pass/fail line each.

Steps: the controller answers; a credential is read at the reader (OSDP
gates; a person presents a card or code when asked); an open/close cycle
with read-back; the passage sensor (a person walks through when asked); the
fail-open check (released, then locked again). A step that needs a person
waits ``--wait`` seconds. Exit status 1 if any step failed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from devices.bus import Bus, Message, Subscription
from devices.errors import DeviceError
from devices.gate.io import CredentialPresented, GateIo, LockState, PassageSensed
from devices.gate.osdp import OsdpGate
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load, run_device_call
from walkout.config import SecretError, StoreConfig
from walkout.gate_wiring import GateWiring
from walkout.runtime import Runtime

app = typer.Typer(help="Entry and exit gates.", no_args_is_help=True)

EXIT_FAILED = 1
PULSE_MS = 1500


@dataclass
class Step:
    """One line of the report."""

    name: str
    ok: bool | None  # None: skipped
    detail: str


async def _next(sub: Subscription, kind: type[Message], within_s: float) -> Message | None:
    try:
        async with asyncio.timeout(within_s):
            async for message in sub:
                if isinstance(message, kind):
                    return message
    except TimeoutError:
        return None
    return None


async def _until(check: Callable[[], bool], within_s: float) -> bool:
    """Wait for a state the driver tracks from its own polling/read-back."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)  # the driver updates lock_state from its polls
    return True


async def _run_steps(
    gate: GateIo, role: str, sub: Subscription, wait_s: float, say: Callable[[str], None]
) -> list[Step]:
    steps: list[Step] = [Step("controller answers", True, f"{gate.lock_state()} at start")]

    async def attempt(name: str, action: Callable[[], Awaitable[Step]]) -> None:
        try:
            steps.append(await action())
        except DeviceError as exc:
            steps.append(Step(name, False, str(exc)))

    async def credential() -> Step:
        if not isinstance(gate, OsdpGate):
            return Step("credential read", None, "no reader on this wiring")
        say(f"PRESENT a card or code at the reader of {gate.device_id} ({wait_s:.0f} s)")
        seen = await _next(sub, CredentialPresented, wait_s)
        if not isinstance(seen, CredentialPresented):
            return Step("credential read", False, f"nothing read within {wait_s:.0f} s")
        await gate.feedback(granted=True)
        return Step("credential read", True, seen.redacted)

    async def cycle() -> Step:
        await gate.pulse_open(PULSE_MS)
        opened = gate.lock_state()
        if opened is not LockState.PULSED_OPEN:
            return Step("open/close cycle", False, f"after the pulse the relay reads {opened}")
        relocked = await _until(
            lambda: gate.lock_state() is LockState.LOCKED, PULSE_MS / 1000 + 3.0
        )
        detail = f"opened for {PULSE_MS} ms, " + ("relocked" if relocked else "did NOT relock")
        return Step("open/close cycle", relocked, detail)

    async def passage() -> Step:
        await gate.hold_open()
        try:
            say(f"WALK THROUGH {gate.device_id} now ({wait_s:.0f} s)")
            seen = await _next(sub, PassageSensed, wait_s)
        finally:
            await gate.lock()
        if seen is None:
            return Step("passage sensor", False, f"no passage within {wait_s:.0f} s")
        return Step("passage sensor", True, "one passage sensed")

    async def fail_open() -> Step:
        await gate.release()
        state = gate.lock_state()
        ok = state is LockState.RELEASED
        await gate.lock()
        detail = f"released -> {state}; locked again ({role} gate)"
        return Step("fail-open (release)", ok, detail)

    await attempt("credential read", credential)
    await attempt("open/close cycle", cycle)
    await attempt("passage sensor", passage)
    await attempt("fail-open (release)", fail_open)
    return steps


def _report(gate_id: str, steps: list[Step]) -> bool:
    ok = True
    for step in steps:
        if step.ok is None:
            mark = "[yellow]SKIP[/]"
        elif step.ok:
            mark = "[green]PASS[/]"
        else:
            mark = "[red]FAIL[/]"
            ok = False
        console.print(f"{mark}  {step.name}: {step.detail}")
    console.print(f"gate {gate_id}: " + ("[green]passed[/]" if ok else "[red]FAILED[/]"))
    return ok


@app.command("test")
def gate_test(
    gate_id: Annotated[str, typer.Argument(metavar="GATE", help="gate id from store.yaml")],
    wait: Annotated[float, typer.Option(help="seconds to wait for a person at each step")] = 30.0,
    config: Path = CONFIG_OPTION,
) -> None:
    """Credential read, open/close cycle, passage sensor and fail-open check of one gate."""
    cfg = load(config)
    try:
        role = cfg.gate(gate_id).role
    except KeyError as exc:
        raise fail(str(exc.args[0]), EXIT_CONFIG) from None

    async def go() -> list[Step]:
        return await _commission(cfg, gate_id, role, wait)

    try:
        steps = run_device_call(go())
    except SecretError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    if not _report(gate_id, steps):
        raise typer.Exit(EXIT_FAILED)


async def _commission(cfg: StoreConfig, gate_id: str, role: str, wait_s: float) -> list[Step]:
    runtime = Runtime(cfg)
    bus = Bus()
    sub = bus.subscribe(CredentialPresented, PassageSensed, name="gate-test")
    wiring = GateWiring.build(cfg, bus, runtime.link_for_bus, only=gate_id)
    try:
        await wiring.connect()
        gate = wiring.gates[gate_id]
        return await _run_steps(
            gate, role, sub, wait_s, lambda text: console.print(f">>> {text}", highlight=False)
        )
    finally:
        sub.close()
        try:
            await wiring.close()
        finally:
            await runtime.close()
