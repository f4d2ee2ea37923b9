"""What a gate controller driver offers the gate state machine, whatever the wiring.

Two kinds of wiring exist in stores: an OSDP reader/controller on RS-485
(credentials, relay, passage input, LED/buzzer, tamper) and a plain Modbus
digital-I/O module (relay coil, passage sensor input; credentials come from a
separate reader or the app). Both drivers implement ``GateIo`` and publish the
messages below, so the state machine and its safety rules are written once.

Safety is part of the interface: ``release`` must leave the passage free
(maglock unpowered / relay in its fail-safe position) and must be safe to call
in any state, including on a connection that is already broken; the driver's
``close`` releases every exit it controls before it lets go of the line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import ClassVar, Protocol, Self

from devices.bus import Message


class CredentialKind(enum.StrEnum):
    """How a credential reached the gate."""

    CARD = "card"  # raw or formatted card data from a reader
    QR = "qr"  # a QR / app code from a scanner
    KEYPAD = "keypad"  # a PIN typed on the reader's keypad


class LockState(enum.StrEnum):
    """The gate's relay as last read back (or commanded, where no read-back exists)."""

    LOCKED = "locked"
    PULSED_OPEN = "pulsed_open"  # open for a timed pulse, relocks by itself
    HELD_OPEN = "held_open"  # open until told otherwise
    RELEASED = "released"  # fail-safe: free passage, the state of an exit on trouble
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class CredentialPresented(Message):
    """A credential was read at a gate; ``source`` is the gate id.

    ``credential`` is the normalised string the store's check receives (hex of
    card bits, the QR text, the PIN). It is a secret-ish identifier: log it
    only through ``redacted``.
    """

    durable: ClassVar[bool] = True
    kind: CredentialKind
    credential: str
    bits: int | None = None  # card data length in bits, when the reader says

    @property
    def redacted(self) -> str:
        """Form fit for logs: the kind and the last four characters."""
        return f"{self.kind}:…{self.credential[-4:]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PassageSensed(Message):
    """The passage sensor saw a person go through (one per person)."""

    durable: ClassVar[bool] = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitRequested(Message):
    """Someone asks to leave: exit button or presence sensor on the inside of a gate."""

    durable: ClassVar[bool] = True


@dataclass(frozen=True, slots=True, kw_only=True)
class TamperChanged(Message):
    """The controller's tamper input changed."""

    durable: ClassVar[bool] = True
    tampered: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class GateLinkChanged(Message):
    """The driver gained or lost its controller; on loss exits are assumed released."""

    durable: ClassVar[bool] = True
    online: bool
    reason: str = ""


class GateIo(Protocol):
    """One gate's controller. Methods raise ``DeviceError`` when the command fails."""

    device_id: str

    async def connect(self) -> None:
        """Open the line; events start flowing onto the bus."""

    async def close(self) -> None:
        """Release the gate (free passage), then close the line; safe to call twice."""

    async def pulse_open(self, duration_ms: int) -> None:
        """Unlock for ``duration_ms``, then relock by itself (done by the controller)."""

    async def hold_open(self) -> None:
        """Unlock until ``lock`` or ``release`` is called."""

    async def lock(self) -> None:
        """Lock (the only command that can keep a person out; never used on exits in trouble)."""

    async def release(self) -> None:
        """Fail-safe free passage; must not raise on a broken line (it logs and returns)."""

    async def feedback(self, *, granted: bool) -> None:
        """LED/buzzer signal to the person at the gate (no-op where the wiring has none)."""

    def lock_state(self) -> LockState:
        """Last known relay state."""

    async def __aenter__(self) -> Self:
        """Connect."""

    async def __aexit__(self, *exc_info: object) -> None:
        """Close (which releases)."""
