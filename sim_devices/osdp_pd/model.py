"""What a simulated OSDP door controller does with its outputs, inputs and tamper switch.

Pure state, driven by the PD runtime with explicit monotonic times, so its
rules are tested without a line.

Outputs follow osdp_OUT (OSDP v2.2, 6.7): each has a *permanent* state and
may run a *temporary* state for ``timer_count`` x 100 ms, after which the
permanent state is back. Control codes: 0 no-op, 1/2 permanent off/on and
abort the timer, 3/4 permanent off/on and let the timer finish, 5/6
temporary on/off.

The lock relay is one output; ``relay_energised`` says what powering it does
to the passage ("locked" for a maglock, "open" for a strike). Exit
controllers fail safe: when the PD has not heard the control panel for
``watchdog_s`` it puts the lock relay in the state that frees the passage
and keeps it there until the control panel commands that output again.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

TIMER_UNIT_S = 0.1
HISTORY = 256

Passage = Literal["locked", "open"]


class ModelError(ValueError):
    """A request the simulated PD cannot carry out (no such input, bad card data ...)."""


@dataclass
class Output:
    """One PD output (relay)."""

    number: int
    permanent_on: bool = False
    temporary_on: bool | None = None
    temporary_until: float | None = None

    def is_on(self) -> bool:
        """Current state (the caller expires timers first with ``tick``)."""
        return self.permanent_on if self.temporary_on is None else self.temporary_on

    def tick(self, now: float) -> bool:
        """End a temporary state whose timer ran out; True if it did."""
        if self.temporary_until is not None and now >= self.temporary_until:
            self.temporary_on = None
            self.temporary_until = None
            return True
        return False

    def apply(self, code: int, timer_count: int, now: float) -> None:
        """Carry out one osdp_OUT record."""
        if code == 0:
            return
        if code in (1, 2, 3, 4):
            self.permanent_on = code in (2, 4)
            if code in (1, 2):
                self.temporary_on = None
                self.temporary_until = None
            return
        if code in (5, 6):
            if timer_count <= 0:
                raise ModelError(f"output {self.number}: temporary state needs a timer")
            self.temporary_on = code == 5
            self.temporary_until = now + timer_count * TIMER_UNIT_S
            return
        raise ModelError(f"output {self.number}: unknown control code {code}")

    def as_dict(self, now: float) -> dict[str, Any]:
        """JSON form."""
        return {
            "no": self.number,
            "on": self.is_on(),
            "permanent_on": self.permanent_on,
            "timer_s": None
            if self.temporary_until is None
            else round(max(0.0, self.temporary_until - now), 3),
        }


@dataclass
class PdModel:
    """One simulated PD: outputs, inputs, tamper, reader feedback and what the CP sent."""

    address: int
    outputs: int = 2
    inputs: int = 2
    relay_output: int = 0
    relay_energised: Passage = "locked"
    passage_input: int = 0
    watchdog_s: float | None = 2.0
    started: float = 0.0
    tamper: bool = False
    power_fail: bool = False
    led: dict[str, Any] | None = None
    buzzer: dict[str, Any] | None = None
    last_heard: float | None = None
    failsafe_active: bool = False
    failsafe_trips: int = 0
    commands: int = 0
    history: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    relay_changes: deque[tuple[float, Passage, str]] = field(
        default_factory=lambda: deque(maxlen=HISTORY)
    )
    _outputs: list[Output] = field(default_factory=list)
    _inputs: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 <= self.relay_output < self.outputs:
            raise ModelError(f"relay output {self.relay_output} of {self.outputs} outputs")
        if self.inputs and not 0 <= self.passage_input < self.inputs:
            raise ModelError(f"passage input {self.passage_input} of {self.inputs} inputs")
        self._outputs = [Output(n) for n in range(self.outputs)]
        self._inputs = [0] * self.inputs
        self.relay_changes.append((self.started, self.passage(), "power-up"))

    # --- relay ------------------------------------------------------------------------

    @property
    def relay(self) -> Output:
        """The output wired to the lock."""
        return self._outputs[self.relay_output]

    def passage(self) -> Passage:
        """What the lock relay does to the passage right now."""
        on = self.relay.is_on()
        return "open" if on == (self.relay_energised == "open") else "locked"

    def _track(self, now: float, why: str, before: Passage) -> None:
        after = self.passage()
        if after != before:
            self.relay_changes.append((now, after, why))

    def heard(self, now: float) -> None:
        """Bytes from the control panel arrived."""
        self.last_heard = now

    def tick(self, now: float) -> None:
        """Expire output timers; trip the watchdog when the CP has gone quiet."""
        before = self.passage()
        for output in self._outputs:
            if output.tick(now) and output is self.relay:
                self._track(now, "timer", before)
                before = self.passage()
        if self.watchdog_s is None or self.watchdog_s <= 0 or self.failsafe_active:
            return
        last = self.started if self.last_heard is None else self.last_heard
        if now - last >= self.watchdog_s:
            self.relay.permanent_on = self.relay_energised == "open"
            self.relay.temporary_on = None
            self.relay.temporary_until = None
            self.failsafe_active = True
            self.failsafe_trips += 1
            self.history.append({"t": now, "what": "failsafe", "silent_s": round(now - last, 3)})
            self._track(now, "failsafe", before)

    # --- commands from the CP ---------------------------------------------------------

    def on_command(self, command: dict[str, Any], now: float) -> int:
        """Apply a libosdp command dict; returns 0 (ACK) or -1 (NAK)."""
        kind = command.get("command")
        record = {"t": now, **{k: v for k, v in command.items() if not isinstance(v, bytes)}}
        self.history.append(record)
        self.commands += 1
        try:
            if kind == 1:  # output
                number = int(command["output_no"])
                if not 0 <= number < self.outputs:
                    return -1
                before = self.passage()
                self._outputs[number].apply(
                    int(command["control_code"]), int(command["timer_count"]), now
                )
                if number == self.relay_output:
                    self.failsafe_active = False
                    self._track(now, f"command {command['control_code']}", before)
            elif kind == 2:  # LED
                self.led = record
            elif kind == 3:  # buzzer
                self.buzzer = record
            else:
                return 0
        except (KeyError, ValueError, TypeError, ModelError):
            return -1
        return 0

    # --- the physical side ------------------------------------------------------------

    def set_input(self, number: int, active: bool) -> bytes:
        """Change an input; returns the whole input report (one byte per input)."""
        if not 0 <= number < self.inputs:
            raise ModelError(f"PD {self.address} has inputs 0..{self.inputs - 1}, not {number}")
        self._inputs[number] = int(active)
        return bytes(self._inputs)

    def set_tamper(self, on: bool) -> bytes:
        """Change the tamper switch; returns the local status report (tamper, power)."""
        self.tamper = on
        return bytes([int(self.tamper), int(self.power_fail)])

    # --- reporting ----------------------------------------------------------------------

    def last_command(self) -> dict[str, Any] | None:
        """The latest command record (or failsafe trip)."""
        return self.history[-1] if self.history else None

    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON form for the control API."""
        relay = self.relay
        return {
            "address": self.address,
            "relay": {
                **relay.as_dict(now),
                "passage": self.passage(),
                "energised_means": self.relay_energised,
                "failsafe": self.failsafe_active,
            },
            "failsafe_trips": self.failsafe_trips,
            "outputs": [o.as_dict(now) for o in self._outputs],
            "inputs": list(self._inputs),
            "tamper": self.tamper,
            "led": self.led,
            "buzzer": self.buzzer,
            "commands": self.commands,
            "last_command": self.last_command(),
            "relay_changes": [
                {"t": t, "passage": p, "why": why} for t, p, why in self.relay_changes
            ],
            "cp_heard_s_ago": None if self.last_heard is None else round(now - self.last_heard, 3),
        }
