"""A scripted scene for a camera simulator: people (and their reaching hands) from outside.

The store simulator knows where its shoppers are and when a hand goes into
a shelf; a hardware-in-the-loop run hands that to each camera simulator so
the metadata it publishes shows the same people. The script is a list of
:class:`Keyframe` (a person's whole state from time ``t`` on: floor point,
hand point or None) and :class:`Departure` (the person left). No
interpolation: the caller sends keyframes as often as it wants the picture
to move. Everything due at one time goes as one ``people`` command (plus a
``remove`` per departure), so one camera frame never shows half a step.

:func:`play` is the whole playback on one clock; a run that already drives
other simulators from its own timeline can instead take :func:`steps` (each
has a ``t``, like the store simulator's records) and :func:`send` each one
when it is due.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sim_devices.camera.scene import Point

DUE_WITHIN_S = 1e-6
"""A step this close to its time is due (float clocks cannot always step by less)."""


class Requester(Protocol):
    """What playback needs of a control client (``sim_devices.control.ControlClient``)."""

    async def request(self, cmd: str, **fields: Any) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Keyframe:
    """From time ``t`` on, person ``person_id`` stands at (x_m, y_m), one hand at ``hand_m``."""

    t: float
    person_id: int
    x_m: float
    y_m: float
    hand_m: Point | None = None


@dataclass(frozen=True, slots=True)
class Departure:
    """At scenario time ``t`` person ``person_id`` leaves the camera's floor."""

    t: float
    person_id: int


@dataclass(frozen=True, slots=True)
class Step:
    """Everything due at one time: people placed (one command) and people gone."""

    t: float
    placed: tuple[Keyframe, ...]
    departed: tuple[int, ...]


def steps(script: Iterable[Keyframe | Departure]) -> list[Step]:
    """The script grouped by time, in time order (a stable sort: the given order breaks ties).

    A person with two keyframes at one time is placed as the later one says;
    a keyframe and a departure of one person at one time are refused, as is a
    time that is not a finite number >= 0.
    """
    events = sorted(script, key=lambda event: event.t)
    out: list[Step] = []
    i = 0
    while i < len(events):
        t = events[i].t
        if not (math.isfinite(t) and t >= 0):
            raise ValueError(f"script time must be a finite number >= 0, got {t!r}")
        placed: dict[int, Keyframe] = {}
        departed: dict[int, None] = {}
        while i < len(events) and events[i].t == t:
            event = events[i]
            if isinstance(event, Keyframe):
                placed[event.person_id] = event
            else:
                departed[event.person_id] = None
            i += 1
        both = sorted(placed.keys() & departed.keys())
        if both:
            raise ValueError(f"person {both[0]} both moves and leaves at t={t}")
        out.append(Step(t, tuple(placed.values()), tuple(departed)))
    return out


def people_entry(keyframe: Keyframe) -> dict[str, Any]:
    """One person of a ``people`` command."""
    hand = keyframe.hand_m
    return {
        "id": keyframe.person_id,
        "x_m": keyframe.x_m,
        "y_m": keyframe.y_m,
        "hand": None if hand is None else [hand[0], hand[1]],
    }


async def send(client: Requester, step: Step) -> None:
    """Carry out one step on the camera simulator now."""
    if step.placed:
        await client.request("people", people=[people_entry(k) for k in step.placed])
    for person_id in step.departed:
        await client.request("remove", id=person_id)


async def play(
    client: Requester,
    script: Iterable[Keyframe | Departure],
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    speed: float = 1.0,
    clear: bool = True,
) -> int:
    """Send each step once ``clock`` has moved by its time; how many steps were sent.

    Scenario time 0 is ``clock()`` at the call. ``clear`` first empties the
    floor (the simulator's random walkers are not part of a scripted scene).
    ``sleep`` takes real seconds: a wait of ``d`` clock seconds sleeps
    ``d / speed`` and re-reads the clock, so a late wake-up is not compounded.
    The script is checked whole before anything is sent.
    """
    if not (math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be > 0, got {speed}")
    timeline = steps(script)
    if clear:
        await client.request("people", people=[], replace=True)
    start = clock()
    for step in timeline:
        while (wait := step.t - (clock() - start)) > DUE_WITHIN_S:
            await sleep(wait / speed)
        await send(client, step)
    return len(timeline)
