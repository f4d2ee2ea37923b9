"""The gate state machine: who may enter, who went in or out, and exits that never trap.

It runs on any ``GateIo`` (OSDP or digital-I/O) and only on what the bus
carries from them, so the rules below are written once:

Entry: a ``CredentialPresented`` runs the store's ``CredentialCheck``; an
admitted credential opens the door (``pulse_open``) for a group of up to
``group_size`` people (capped by ``max_group_size``). Each ``PassageSensed``
within ``group_window_s`` of the admission (or of the group's last passage)
counts one person in (``Entered``) and re-opens the door for the next; a
passage with nobody admitted is ``Tailgating``. Refusals, timeouts of the
check and doors that would not open end in ``Refused`` and never in an
open door.

Exit: ``ExitRequested`` (exit button, presence sensor on the inside, or
:meth:`GateMachine.request_exit`) opens the exit; each passage there is
``Exited``.

Modes: ``normal``; ``entry_locked`` (store closing: new credentials are
refused, groups already admitted finish, exits work as usual);
``emergency`` (fire alarm: every gate released and held, passages anywhere
count as people leaving).

Fail-open: an exit whose controller is lost is marked failed-open
(``ExitFailedOpen``; the hardware is fail-safe: a maglock drops without its
controller, the module's watchdog frees it); :meth:`release_exits` frees
every exit on command; and leaving the machine's context, normally, by an
exception or by cancellation, releases every exit. Any command that could
shut a gate re-checks the mode when it completes, so a pulse that raced an
emergency is followed by a release, never left locking the door.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Protocol

from devices.bus import Bus, Message, Subscription
from devices.errors import DeviceError
from devices.gate.io import (
    CredentialPresented,
    ExitRequested,
    GateIo,
    GateLinkChanged,
    PassageSensed,
)

_LOGGER = logging.getLogger(__name__)

Clock = Callable[[], float]


# --- modes and messages ----------------------------------------------------------------------


class GateMode(enum.StrEnum):
    """Store-wide gate mode (set by the facility supervisor or the operator)."""

    NORMAL = "normal"
    ENTRY_LOCKED = "entry_locked"
    EMERGENCY = "emergency"


class GateRole(enum.StrEnum):
    """What a gate is for."""

    ENTRY = "entry"
    EXIT = "exit"


@dataclass(frozen=True, slots=True, kw_only=True)
class Admitted(Message):
    """A credential was accepted and the entry opened (``t_mono``: when it opened)."""

    durable: ClassVar[bool] = True
    session_id: str
    credential: str  # redacted
    group_size: int
    latency_s: float  # from the credential being read to the door open


@dataclass(frozen=True, slots=True, kw_only=True)
class Entered(Message):
    """One admitted person went through the entry (``person`` of ``group_size``)."""

    durable: ClassVar[bool] = True
    session_id: str
    credential: str  # redacted
    person: int
    group_size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Exited(Message):
    """One person went out. The gate cannot tell who: vision binds it to a session.

    ``evacuation``: counted during an emergency, where any gate is a way out.
    """

    durable: ClassVar[bool] = True
    session_id: str | None = None
    evacuation: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused(Message):
    """A credential did not open the entry, and why."""

    durable: ClassVar[bool] = True
    credential: str  # redacted
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tailgating(Message):
    """A passage at the entry that no admission covers.

    ``session_id`` is the admission whose opening it most likely used (the
    gate's last one, if it was recent), else None.
    """

    durable: ClassVar[bool] = True
    session_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionExpired(Message):
    """An admission's window closed with people still expected (``unused`` of them)."""

    durable: ClassVar[bool] = True
    session_id: str
    unused: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitFailedOpen(Message):
    """An exit is free because its controller is lost or it was released on command."""

    durable: ClassVar[bool] = True
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GateOffline(Message):
    """An entry gate's controller is lost: credentials there are refused meanwhile."""

    durable: ClassVar[bool] = True
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GateOnline(Message):
    """A gate's controller is back and the gate is in its mode's state again."""

    durable: ClassVar[bool] = True


@dataclass(frozen=True, slots=True, kw_only=True)
class GateFault(Message):
    """A gate command failed (the reason names the device error)."""

    durable: ClassVar[bool] = True
    command: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GateModeChanged(Message):
    """The machine's mode changed (``source`` is the machine's name)."""

    durable: ClassVar[bool] = True
    mode: GateMode
    previous: GateMode
    reason: str = ""


MACHINE_EVENTS: tuple[type[Message], ...] = (
    Admitted,
    Entered,
    Exited,
    Refused,
    Tailgating,
    AdmissionExpired,
    ExitFailedOpen,
    GateOffline,
    GateOnline,
    GateFault,
    GateModeChanged,
)
"""Everything the machine publishes (subscribe to these for the ledger and alerts)."""


# --- credential checks -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """A credential check's answer. ``admit`` needs a session id: a session pays the bill."""

    admit: bool
    session_id: str | None = None
    group_size: int = 1
    reason: str = ""

    def __post_init__(self) -> None:
        if self.admit and not self.session_id:
            raise ValueError("an admitting decision needs a session id")

    @classmethod
    def refuse(cls, reason: str) -> Decision:
        """A refusal."""
        return cls(admit=False, reason=reason)


class CredentialCheck(Protocol):
    """Decides whether a credential may enter (allow list, store backend, ...)."""

    async def check(self, credential: CredentialPresented) -> Decision:
        """The decision; may raise, which the machine turns into a refusal."""
        ...


# --- the machine -----------------------------------------------------------------------------


@dataclass(frozen=True)
class GateSettings:
    """Timing and limits of the machine.

    ``open_ms`` is per opening (one person's time to walk through);
    ``group_window_s`` how long an admission waits for its next person;
    ``check_timeout_s`` bounds any credential check (a check that hangs
    must refuse, not hold the queue).
    """

    open_ms: int = 3000
    exit_open_ms: int = 3000
    group_window_s: float = 15.0
    max_group_size: int = 6
    check_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.open_ms < 1 or self.exit_open_ms < 1:
            raise ValueError("open times must be >= 1 ms")
        if self.max_group_size < 1:
            raise ValueError("max_group_size must be >= 1")
        if self.group_window_s <= 0 or self.check_timeout_s <= 0:
            raise ValueError("group_window_s and check_timeout_s must be > 0")


@dataclass
class _Admission:
    gate: str
    session_id: str
    credential: str
    group_size: int
    expires_s: float
    entered: int = 0

    @property
    def remaining(self) -> int:
        return self.group_size - self.entered


class GateMachine:
    """Every gate of one store; ``async with`` runs it.

    The gates' own connections belong to the caller (enter them first); the
    machine subscribes to their messages, commands them, and on leaving its
    context releases every exit.
    """

    def __init__(
        self,
        bus: Bus,
        check: CredentialCheck,
        *,
        entries: Sequence[GateIo] = (),
        exits: Sequence[GateIo] = (),
        settings: GateSettings | None = None,
        name: str = "gates",
        clock: Clock = time.monotonic,
    ) -> None:
        self.bus = bus
        self.check = check
        self.settings = settings or GateSettings()
        self.name = name
        self._clock = clock
        self.roles: dict[str, GateRole] = {}
        self.gates: dict[str, GateIo] = {}
        for role, gates in ((GateRole.ENTRY, entries), (GateRole.EXIT, exits)):
            for gate in gates:
                if gate.device_id in self.gates:
                    raise ValueError(f"gate {gate.device_id!r} is listed twice")
                self.gates[gate.device_id] = gate
                self.roles[gate.device_id] = role
        self._mode = GateMode.NORMAL
        self._exits_held = False
        self.failed_open: set[str] = set()
        self.offline: set[str] = set()
        self._admissions: list[_Admission] = []
        self._last_admission: dict[str, _Admission] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    # context ---------------------------------------------------------------------------------

    async def __aenter__(self) -> GateMachine:
        self._sub = self.bus.subscribe(
            CredentialPresented,
            PassageSensed,
            ExitRequested,
            GateLinkChanged,
            maxsize=10_000,
            name=f"{self.name}-machine",
        )
        try:
            await asyncio.gather(*(self._apply_mode(gid) for gid in self.gates))
        except BaseException:
            await self._shutdown()
            raise
        self._worker = asyncio.create_task(self._run(self._sub), name=f"{self.name}-machine")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        """Stop acting on events, then bring every gate to its final state whatever happens.

        The worker and every command in flight are cancelled first (nothing may
        lock a gate after this), then exits are released (and entries locked,
        or released in an emergency) from tasks of their own: a second
        cancellation meanwhile does not abort them; it is re-raised once every
        gate has been told.
        """
        cancelled = False
        running = set(self._tasks)
        if self._worker is not None:
            running.add(self._worker)
            self._worker = None
        for task in running:
            task.cancel()
        cancelled |= await _wait_all(running)
        finals = {
            asyncio.create_task(self._final_state(gid), name=f"{self.name}-final:{gid}")
            for gid in self.gates
        }
        cancelled |= await _wait_all(finals)
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if cancelled:
            raise asyncio.CancelledError

    async def _final_state(self, gate_id: str) -> None:
        gate = self.gates[gate_id]
        try:
            if self.roles[gate_id] is GateRole.EXIT or self._mode is GateMode.EMERGENCY:
                await gate.release()
            else:
                await gate.lock()  # nobody checks credentials any more
        except Exception as exc:
            _LOGGER.error("%s: final state not reached: %s", gate_id, exc)

    # commands from outside -----------------------------------------------------------------

    @property
    def mode(self) -> GateMode:
        """The current mode."""
        return self._mode

    async def set_mode(self, mode: GateMode, reason: str = "") -> None:
        """Switch mode; entering emergency releases every gate before returning."""
        previous, self._mode = self._mode, mode
        if previous is mode:
            return
        _LOGGER.info("gates: %s -> %s (%s)", previous, mode, reason)
        changed_s = self._clock()
        if mode is GateMode.EMERGENCY:
            self._admissions.clear()
        if mode is GateMode.EMERGENCY or previous is GateMode.EMERGENCY:
            # Gates first: publishing may wait on a slow subscriber, a fire alarm must not.
            await asyncio.gather(*(self._apply_mode(gid) for gid in self.gates))
        await self._publish(
            GateModeChanged(
                source=self.name, t_mono=changed_s, mode=mode, previous=previous, reason=reason
            )
        )

    async def release_exits(self, reason: str) -> None:
        """Free every exit on command and hold it free until :meth:`restore`."""
        self._exits_held = True
        await asyncio.gather(
            *(self._free_exit(gid, reason) for gid, r in self.roles.items() if r is GateRole.EXIT)
        )

    async def restore(self) -> None:
        """End a :meth:`release_exits`: exits return to their mode's state."""
        self._exits_held = False
        await asyncio.gather(
            *(self._apply_mode(gid) for gid, r in self.roles.items() if r is GateRole.EXIT)
        )

    async def request_exit(self, gate_id: str) -> None:
        """Open an exit as its button would (for the store app or an operator)."""
        await self._publish(ExitRequested(source=gate_id, t_mono=self._clock()))

    def open_admissions(self) -> list[tuple[str, str, int]]:
        """(gate, session, people still expected) of every admission still open."""
        return [(a.gate, a.session_id, a.remaining) for a in self._admissions]

    # event loop --------------------------------------------------------------------------------

    async def _run(self, sub: Subscription) -> None:
        while True:
            try:
                async with asyncio.timeout(1.0):
                    message = await sub.get()
            except TimeoutError:
                await self._expire()
                continue
            except EOFError:
                return
            await self._expire()
            if message.source not in self.gates:
                continue
            try:
                await self._handle(message)
            except Exception:
                _LOGGER.exception("gates: handling %s failed", type(message).__name__)

    async def _handle(self, message: Message) -> None:
        gate_id = message.source
        role = self.roles[gate_id]
        if isinstance(message, CredentialPresented):
            if role is GateRole.ENTRY:
                self._spawn(self._credential(gate_id, message), f"check:{gate_id}")
            else:
                _LOGGER.info("%s: credential at an exit ignored", gate_id)
        elif isinstance(message, PassageSensed):
            if role is GateRole.EXIT or self._mode is GateMode.EMERGENCY:
                evacuation = self._mode is GateMode.EMERGENCY
                await self._publish(
                    Exited(source=gate_id, t_mono=message.t_mono, evacuation=evacuation)
                )
            else:
                await self._entry_passage(gate_id, message.t_mono)
        elif isinstance(message, ExitRequested):
            if role is GateRole.EXIT and not self._is_free(gate_id):
                self._spawn(self._open_exit(gate_id), f"exit:{gate_id}")
        elif isinstance(message, GateLinkChanged):
            await self._link_changed(gate_id, role, message)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, message: Message) -> None:
        await self.bus.publish(message)

    # entry ------------------------------------------------------------------------------------

    async def _credential(self, gate_id: str, presented: CredentialPresented) -> None:
        shown = presented.redacted
        decision = await self._decide(gate_id, presented)
        if decision.admit and self._mode is not GateMode.NORMAL:
            decision = Decision.refuse(self._closed_reason())
        if not decision.admit:
            await self._refuse(gate_id, shown, decision.reason or "refused")
            return
        assert decision.session_id is not None
        size = max(1, min(decision.group_size, self.settings.max_group_size))
        if size != decision.group_size:
            _LOGGER.warning(
                "%s: group of %d for %s capped to %d", gate_id, decision.group_size, shown, size
            )
        admission = _Admission(
            gate_id, decision.session_id, shown, size, self._clock() + self.settings.group_window_s
        )
        self._admissions.append(admission)  # before opening: a quick first person counts
        self._last_admission[gate_id] = admission
        try:
            await self._open(gate_id, self.settings.open_ms)
        except DeviceError as exc:
            if admission in self._admissions:  # an emergency may have cleared them meanwhile
                self._admissions.remove(admission)
            if self._last_admission.get(gate_id) is admission:
                del self._last_admission[gate_id]
            await self._fault(gate_id, "pulse_open", exc)
            await self._refuse(gate_id, shown, f"gate did not open: {exc}")
            return
        opened = self._clock()
        await self._publish(
            Admitted(
                source=gate_id,
                t_mono=opened,
                session_id=decision.session_id,
                credential=shown,
                group_size=size,
                latency_s=opened - presented.t_mono,
            )
        )
        await self._feedback(gate_id, granted=True)

    async def _decide(self, gate_id: str, presented: CredentialPresented) -> Decision:
        if self._mode is not GateMode.NORMAL:
            return Decision.refuse(self._closed_reason())
        if gate_id in self.offline:
            return Decision.refuse("gate controller offline")
        try:
            async with asyncio.timeout(self.settings.check_timeout_s):
                return await self.check.check(presented)
        except TimeoutError:
            return Decision.refuse("credential check timed out")
        except Exception as exc:  # a broken check refuses; it never admits
            _LOGGER.exception("%s: credential check failed", gate_id)
            return Decision.refuse(f"credential check failed: {type(exc).__name__}")

    def _closed_reason(self) -> str:
        return "emergency" if self._mode is GateMode.EMERGENCY else "store closing"

    async def _refuse(self, gate_id: str, shown: str, reason: str) -> None:
        _LOGGER.info("%s: refused %s: %s", gate_id, shown, reason)
        await self._publish(
            Refused(source=gate_id, t_mono=self._clock(), credential=shown, reason=reason)
        )
        await self._feedback(gate_id, granted=False)

    async def _feedback(self, gate_id: str, *, granted: bool) -> None:
        try:
            await self.gates[gate_id].feedback(granted=granted)
        except DeviceError as exc:
            _LOGGER.warning("%s: feedback failed: %s", gate_id, exc)

    async def _entry_passage(self, gate_id: str, t_mono: float) -> None:
        admission = next(
            (
                a
                for a in self._admissions
                if a.gate == gate_id and a.remaining > 0 and t_mono <= a.expires_s
            ),
            None,
        )
        if admission is None:
            last = self._last_admission.get(gate_id)
            recent = last is not None and t_mono <= last.expires_s
            session = last.session_id if last is not None and recent else None
            _LOGGER.warning("%s: passage with no admission (session %s)", gate_id, session)
            await self._publish(Tailgating(source=gate_id, t_mono=t_mono, session_id=session))
            return
        admission.entered += 1
        admission.expires_s = max(admission.expires_s, t_mono + self.settings.group_window_s)
        if admission.remaining == 0:
            self._admissions.remove(admission)
        await self._publish(
            Entered(
                source=gate_id,
                t_mono=t_mono,
                session_id=admission.session_id,
                credential=admission.credential,
                person=admission.entered,
                group_size=admission.group_size,
            )
        )
        if admission.remaining > 0:
            self._spawn(self._reopen(gate_id), f"reopen:{gate_id}")

    async def _reopen(self, gate_id: str) -> None:
        try:
            await self._open(gate_id, self.settings.open_ms)
        except DeviceError as exc:
            await self._fault(gate_id, "pulse_open", exc)

    async def _expire(self) -> None:
        now = self._clock()
        for admission in [a for a in self._admissions if a.expires_s < now]:
            self._admissions.remove(admission)
            await self._publish(
                AdmissionExpired(
                    source=admission.gate,
                    t_mono=admission.expires_s,
                    session_id=admission.session_id,
                    unused=admission.remaining,
                )
            )

    # exits and gate states ----------------------------------------------------------------

    def _is_free(self, gate_id: str) -> bool:
        """Whether the gate is meant to stand open now (nothing may lock or pulse it)."""
        if self._mode is GateMode.EMERGENCY:
            return True
        return self.roles[gate_id] is GateRole.EXIT and (
            self._exits_held or gate_id in self.failed_open
        )

    async def _open(self, gate_id: str, duration_ms: int) -> None:
        """Pulse a gate open unless it must stand free; re-free it if the mode changed meanwhile."""
        gate = self.gates[gate_id]
        if self._is_free(gate_id):
            return
        await gate.pulse_open(duration_ms)
        if self._is_free(gate_id):
            await gate.release()

    async def _open_exit(self, gate_id: str) -> None:
        try:
            await self._open(gate_id, self.settings.exit_open_ms)
        except DeviceError as exc:
            await self._fault(gate_id, "pulse_open", exc)

    async def _apply_mode(self, gate_id: str) -> None:
        """Put a gate in its mode's resting state: free, or locked (entries and exits alike)."""
        if self._is_free(gate_id):
            await self._release_quietly(gate_id)
            return
        try:
            await self.gates[gate_id].lock()
        except DeviceError as exc:
            await self._fault(gate_id, "lock", exc)
            return
        if self._is_free(gate_id):  # the mode changed while it locked
            await self._release_quietly(gate_id)

    async def _free_exit(self, gate_id: str, reason: str) -> None:
        await self._release_quietly(gate_id)
        await self._publish(ExitFailedOpen(source=gate_id, t_mono=self._clock(), reason=reason))

    async def _link_changed(self, gate_id: str, role: GateRole, message: GateLinkChanged) -> None:
        if not message.online:
            if gate_id in self.offline:
                return
            self.offline.add(gate_id)
            reason = f"controller lost: {message.reason}" if message.reason else "controller lost"
            if role is GateRole.EXIT:
                self.failed_open.add(gate_id)
                _LOGGER.error("%s: exit failed open (%s)", gate_id, reason)
                await self._publish(
                    ExitFailedOpen(source=gate_id, t_mono=message.t_mono, reason=reason)
                )
                self._spawn(self._release_quietly(gate_id), f"release:{gate_id}")
            else:
                _LOGGER.error("%s: entry offline (%s)", gate_id, reason)
                await self._publish(
                    GateOffline(source=gate_id, t_mono=message.t_mono, reason=reason)
                )
            return
        was_down = gate_id in self.offline
        self.offline.discard(gate_id)
        self.failed_open.discard(gate_id)
        if was_down:
            await self._apply_mode(gate_id)
            await self._publish(GateOnline(source=gate_id, t_mono=message.t_mono))

    async def _release_quietly(self, gate_id: str) -> None:
        try:
            await self.gates[gate_id].release()
        except Exception as exc:  # release must not raise; a GateIo that does is logged
            _LOGGER.error("%s: release raised: %s", gate_id, exc)

    async def _fault(self, gate_id: str, command: str, exc: Exception) -> None:
        _LOGGER.error("%s: %s failed: %s", gate_id, command, exc)
        await self._publish(
            GateFault(source=gate_id, t_mono=self._clock(), command=command, reason=str(exc))
        )


async def _wait_all(tasks: set[asyncio.Task[Any]]) -> bool:
    """Wait until every task is done, even through cancellations; True if one came."""
    cancelled = False
    pending = set(tasks)
    while pending:
        try:
            _, pending = await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
    return cancelled
