"""A gate on an OSDP reader/controller (PD): credentials, relay, passage input, LED/buzzer.

``OsdpGate`` implements ``GateIo`` on one PD of an ``OsdpLine`` (the libosdp
control panel of one RS-485 line). Several gates can share a line: build one
``OsdpLine`` with every PD's address and key and pass it to each gate; a gate
given ``OsdpLineSettings`` instead builds and owns a line with only its PD.

Security: the secure channel is mandatory (libosdp ``EnforceSecure``). A PD
without secure channel, or with another key, never comes online; ``connect``
says which (``DeviceAuthError``) instead of timing out, from the last reply
the PD sent before libosdp gave up (see ``osdp_frames``).

Relay: ``relay_energised`` says what powering the relay does to the passage.
``pulse_open`` is one OSDP timed output command (the PD relocks by itself when
its timer ends, even if this host dies mid-pulse); the PD's permanent state
is set to "locked" first when it is not known to be. ``hold_open`` and
``release`` both leave the relay in the state that frees the passage;
``release`` never raises, and when it could not be sent it is sent again as
soon as the link is back. On link loss ``lock_state`` is UNKNOWN: what the PD
did on its own (an exit controller frees its door when it stops hearing the
CP) is not observed.

Events: card reads and PINs become ``CredentialPresented``, a rising edge of
the passage input ``PassageSensed``, the PD's local tamper bit
``TamperChanged``, link changes ``GateLinkChanged`` and ``HealthChanged``. All
are published in order by one task, stamped with the time the line received
them. libosdp reports inputs only when they change: there is no initial
read-out (the binding cannot answer osdp_ISTAT on the PD side, and a NAK
would take a real PD offline), so the first passage and tamper states come
with the first change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Self

import osdp

from devices.backoff import Backoff
from devices.bus import Bus, Message
from devices.errors import (
    DeviceAuthError,
    DeviceConnectionError,
    DeviceError,
    DeviceProtocolError,
    DeviceTimeoutError,
)
from devices.gate.io import (
    CredentialKind,
    CredentialPresented,
    GateLinkChanged,
    LockState,
    PassageSensed,
    TamperChanged,
)
from devices.gate.osdp_config import (
    MAX_TIMER_COUNT,
    TIMER_UNIT_MS,
    OsdpGateSettings,
    OsdpLineSettings,
)
from devices.gate.osdp_credentials import CardDataError, KeypadBuffer, card_credential
from devices.gate.osdp_frames import CMD_CHLNG, REPLY_CCRYPT, REPLY_NAK, REPLY_NAMES, REPLY_PDCAP
from devices.gate.osdp_line import OsdpLine, OsdpPdSpec, PdCapabilities, PdLink
from devices.health import HealthChanged, HealthTracker

_LOGGER = logging.getLogger(__name__)

# OSDP osdp_OUT control codes (v2.2, 6.7)
OUT_PERMANENT_OFF = 1  # permanent state OFF, abort any timed operation
OUT_PERMANENT_ON = 2  # permanent state ON, abort any timed operation
OUT_TEMPORARY_ON = 5  # ON for timer_count x 100 ms, then back to the permanent state
OUT_TEMPORARY_OFF = 6  # OFF for timer_count x 100 ms, then back to the permanent state

LED_TEMPORARY_SET = 2  # osdp_LED temporary control code: set and start the timer
BUZZER_DEFAULT_TONE = 2
FEEDBACK_LED_COUNT = 15  # 1.5 s of colour
BEEP_SHORT_COUNT = 1  # 100 ms
BEEP_LONG_COUNT = 10  # 1 s

Clock = Callable[[], float]


def timer_count(duration_ms: int) -> int:
    """``duration_ms`` in OSDP timer units (100 ms, rounded up); ValueError if out of range."""
    if duration_ms <= 0:
        raise ValueError(f"pulse of {duration_ms} ms: must be > 0")
    count = math.ceil(duration_ms / TIMER_UNIT_MS)
    if count > MAX_TIMER_COUNT:
        raise ValueError(
            f"pulse of {duration_ms} ms: OSDP timed outputs go up to "
            f"{MAX_TIMER_COUNT * TIMER_UNIT_MS} ms here; use hold_open and lock for longer"
        )
    return count


class OsdpGate:
    """``GateIo`` on one OSDP PD."""

    def __init__(
        self,
        device_id: str,
        settings: OsdpGateSettings,
        *,
        line: OsdpLine | OsdpLineSettings,
        bus: Bus,
        clock: Clock = time.monotonic,
    ) -> None:
        self.device_id = device_id
        self.settings = settings
        self.address = settings.address
        if isinstance(line, OsdpLineSettings):
            line = OsdpLine(line, [OsdpPdSpec(settings.address, settings.scbk, device_id)])
            self._owns_line = True
        else:
            if settings.address not in line.addresses():
                raise ValueError(
                    f"gate {device_id}: OSDP line {line.port} is not set up for "
                    f"address {settings.address} (has {line.addresses()})"
                )
            self._owns_line = False
        self.line = line
        self._bus = bus
        self._clock = clock
        self._where = f"{line.port} PD {settings.address}"
        self._health = HealthTracker(device_id, degraded_after=1, offline_after=1)
        self._link = PdLink(settings.address)
        self._link_changed = asyncio.Event()
        self._caps: PdCapabilities | None = None
        self._up = False
        self._connected = False
        self._closed = False
        self._outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._relay_lock = asyncio.Lock()
        self._lock_state = LockState.UNKNOWN
        self._permanent_locked: bool | None = None
        self._relock: asyncio.TimerHandle | None = None
        self._pending_release = False
        self._keypad = KeypadBuffer(settings.keypad_max_digits)
        self._keypad_timer: asyncio.TimerHandle | None = None
        self._passage_active = False
        self._tampered: bool | None = None
        self.stats = {"cards": 0, "pins": 0, "passages": 0, "bad_events": 0, "reconnects": 0}

    def __repr__(self) -> str:
        return f"OsdpGate({self.device_id!r}, {self._where}, up={self._up})"

    @property
    def capabilities(self) -> PdCapabilities | None:
        """What the PD reported at the last link-up."""
        return self._caps

    @property
    def online(self) -> bool:
        """The link is up (online, secure, answering)."""
        return self._up

    def lock_state(self) -> LockState:
        """Last commanded relay state; UNKNOWN after link loss or a failed command."""
        return self._lock_state

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Attach to the line and wait until the PD is online with secure channel.

        Raises ``DeviceAuthError`` (wrong key, no secure channel),
        ``DeviceTimeoutError`` (no answer within ``connect_timeout_s``),
        ``DeviceProtocolError`` (the configured relay output or input does not
        exist) or ``DeviceConnectionError`` (port). Nothing stays attached then.
        """
        if self._connected:
            return
        self._closed = False
        self._link = PdLink(self.address)
        self._link_changed.clear()
        self._pump = asyncio.create_task(self._pump_outbox(), name=f"{self.device_id}:publish")
        try:
            await self.line.attach(self.address, self, link_timeout_s=self.settings.link_timeout_s)
            await self._wait_first_up()
        except BaseException:
            with contextlib.suppress(DeviceError):
                await self.line.detach(self.address)
            if self._owns_line:
                await self.line.close()
            await self._stop_pump(drain=False)
            raise
        self._connected = True
        self._supervisor = asyncio.create_task(self._supervise(), name=f"{self.device_id}:link")

    async def close(self) -> None:
        """Release the gate, then stop polling its PD (and close the line if owned)."""
        if self._closed:
            return
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        self._cancel_keypad()
        if self._connected:
            await self.release()
        self._connected = False
        self._cancel_relock()
        await self.line.detach(self.address)
        if self._owns_line:
            await self.line.close()
        if self._up:
            self._up = False
            self._emit(
                GateLinkChanged(
                    source=self.device_id,
                    t_mono=self._clock(),
                    online=False,
                    reason="driver closed",
                )
            )
        await self._stop_pump(drain=True)

    async def _stop_pump(self, *, drain: bool) -> None:
        pump, self._pump = self._pump, None
        if pump is None:
            return
        if drain:
            self._outbox.put_nowait(None)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await asyncio.shield(pump)
        if not pump.done():
            pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

    async def _pump_outbox(self) -> None:
        while True:
            message = await self._outbox.get()
            if message is None:
                return
            try:
                await self._bus.publish(message)
            except Exception:
                _LOGGER.exception(
                    "%s: publishing %s failed", self.device_id, type(message).__name__
                )

    def _emit(self, message: Message) -> None:
        self._outbox.put_nowait(message)

    # --- link ---------------------------------------------------------------------------

    def on_pd_link(self, link: PdLink) -> None:
        """Called by the line (in the loop) when the PD's link snapshot changes."""
        self._link = link
        self._link_changed.set()

    async def _wait_link_change(self, timeout_s: float | None) -> bool:
        self._link_changed.clear()
        if timeout_s is not None and timeout_s <= 0:
            return False
        try:
            async with asyncio.timeout(timeout_s):
                await self._link_changed.wait()
        except TimeoutError:
            return False
        return True

    async def _wait_first_up(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.connect_timeout_s
        backoff = Backoff(initial_s=0.2, cap_s=1.0)
        seen_offline = 0
        restart_at: float | None = None
        while True:
            link = self._link
            if link.up:
                break
            now = loop.time()
            if link.offline_count > seen_offline:
                seen_offline = link.offline_count
                refusal = await self._refusal(link)
                if refusal is not None:
                    raise refusal
                restart_at = now + backoff.next_delay_s()
            if restart_at is not None and now >= restart_at:
                restart_at = None
                await self.line.restart_pd(self.address)
            if now >= deadline:
                raise await self._connect_timeout()
            wake_at = deadline if restart_at is None else min(deadline, restart_at)
            if link == self._link:
                await self._wait_link_change(wake_at - now)
        await self._went_up(initial=True)

    async def _refusal(self, link: PdLink) -> DeviceAuthError | None:
        """Why a PD that answered was refused, or None when it might just be absent or busy."""
        reply = link.reply_before_offline
        if (
            reply == REPLY_CCRYPT
            and link.command_before_offline == CMD_CHLNG
            and not link.command_retried_before_offline
        ):
            # The CP received the PD's cryptogram to its one challenge intact
            # and did not answer it with osdp_SCRYPT: it does not match our
            # key. (A lost RMAC_I leaves CCRYPT as the last reply after an
            # SCRYPT; a challenge sent twice may be answered for the first
            # one and fail for that reason alone.)
            return DeviceAuthError(
                f"secure channel refused by PD at address {self.address}: wrong SCBK? "
                "(its cryptogram does not match our key; a PD in install mode only has "
                "the default key)",
                device=self.device_id,
                address=self._where,
            )
        if reply in (REPLY_PDCAP, REPLY_NAK):
            # A NAK alone is no proof (a lost byte gives one too); a PD that
            # reported no secure channel capability is.
            caps = await self.line.capabilities(self.address)
            if caps.identified and not caps.secure:
                return DeviceAuthError(
                    f"PD at address {self.address} does not offer secure channel; refused "
                    "(secure channel is required)",
                    device=self.device_id,
                    address=self._where,
                )
        return None

    async def _connect_timeout(self) -> DeviceError:
        timeout = self.settings.connect_timeout_s
        with contextlib.suppress(DeviceError):
            caps = await self.line.capabilities(self.address)
            if caps.identified:
                return DeviceTimeoutError(
                    f"PD at address {self.address} answered but was not online with secure "
                    f"channel within {timeout:g} s",
                    device=self.device_id,
                    address=self._where,
                )
        return DeviceTimeoutError(
            f"no answer from PD at address {self.address} within {timeout:g} s",
            device=self.device_id,
            address=self._where,
        )

    async def _supervise(self) -> None:
        """Publish link changes; restart libosdp's PD state on our own backoff."""
        loop = asyncio.get_running_loop()
        backoff = Backoff(initial_s=0.5, cap_s=self.settings.reconnect_cap_s)
        seen_offline = self._link.offline_count
        restart_at: float | None = None
        last_refusal = ""
        while True:
            link = self._link
            now = loop.time()
            try:
                if link.up:
                    restart_at = None
                    if not self._up:
                        await self._went_up(initial=False)
                        backoff.reset()
                        last_refusal = ""
                else:
                    if self._up:
                        self._went_down(self._down_reason(link))
                    if link.offline_count > seen_offline:
                        seen_offline = link.offline_count
                        refusal = await self._refusal(link)
                        if refusal is not None and str(refusal) != last_refusal:
                            last_refusal = str(refusal)
                            _LOGGER.error("%s: %s", self.device_id, refusal)
                            self._note_failure(last_refusal)
                        restart_at = now + backoff.next_delay_s()
                    if restart_at is not None and now >= restart_at:
                        restart_at = None
                        self.stats["reconnects"] += 1
                        await self.line.restart_pd(self.address)
            except DeviceError as exc:
                # The PD answered but does not fit the wiring (swapped for another model?).
                _LOGGER.error("%s: %s", self.device_id, exc)
                self._note_failure(str(exc))
                await asyncio.sleep(backoff.next_delay_s())
                with contextlib.suppress(DeviceError):
                    await self.line.restart_pd(self.address)
                continue
            if link == self._link:
                await self._wait_link_change(None if restart_at is None else restart_at - now)

    def _down_reason(self, link: PdLink) -> str:
        if not link.enabled:
            return f"PD at address {self.address} is not polled (line closed or PD restarting)"
        if not link.online:
            code = link.reply_before_offline
            if code is None:
                return f"PD at address {self.address} went offline (no reply)"
            return (
                f"PD at address {self.address} went offline "
                f"(last reply {REPLY_NAMES.get(code, hex(code))})"
            )
        if not link.replying:
            return (
                f"no reply from PD at address {self.address} for {self.settings.link_timeout_s:g} s"
            )
        return f"secure channel with PD at address {self.address} lost"

    async def _went_up(self, *, initial: bool) -> None:
        caps = await self.line.capabilities(self.address)
        self._check_wiring(caps)
        self._caps = caps
        self._up = True
        self._lock_state = LockState.UNKNOWN
        self._permanent_locked = None
        self._passage_active = False
        now = self._clock()
        _LOGGER.info(
            "%s: PD at address %d online with secure channel (vendor %06X model %d, "
            "%d outputs, %d inputs)",
            self.device_id,
            self.address,
            caps.vendor_code,
            caps.model,
            caps.outputs,
            caps.inputs,
        )
        if self._pending_release and not initial:
            await self.release()
        self._emit(GateLinkChanged(source=self.device_id, t_mono=now, online=True))
        changed = self._health.record_success(now)
        if changed is not None:
            self._emit(HealthChanged(source=self.device_id, t_mono=now, health=changed))

    def _check_wiring(self, caps: PdCapabilities) -> None:
        s = self.settings
        if s.relay_output >= caps.outputs:
            raise DeviceProtocolError(
                f"PD reports {caps.outputs} output(s); "
                f"relay_output {s.relay_output} does not exist",
                device=self.device_id,
                address=self._where,
                expected=f"relay_output < {caps.outputs}",
            )
        if s.passage_input is not None and s.passage_input >= caps.inputs:
            raise DeviceProtocolError(
                f"PD reports {caps.inputs} monitored input(s); passage_input "
                f"{s.passage_input} does not exist",
                device=self.device_id,
                address=self._where,
                expected=f"passage_input < {caps.inputs}",
            )

    def _went_down(self, reason: str) -> None:
        self._up = False
        self._lock_state = LockState.UNKNOWN
        self._permanent_locked = None
        self._cancel_relock()
        self._cancel_keypad()
        _LOGGER.warning("%s: link lost: %s", self.device_id, reason)
        now = self._clock()
        self._emit(GateLinkChanged(source=self.device_id, t_mono=now, online=False, reason=reason))
        self._note_failure(reason)

    def _note_failure(self, reason: str) -> None:
        now = self._clock()
        changed = self._health.record_failure(reason, now)
        if changed is not None:
            self._emit(HealthChanged(source=self.device_id, t_mono=now, health=changed))

    # --- events -------------------------------------------------------------------------

    def on_osdp_event(self, event: dict[str, Any], t_mono: float) -> None:
        """Called by the line (in the loop) for every libosdp event of this PD."""
        kind = event.get("event")
        if kind == osdp.Event.CardRead:
            self._on_card(event, t_mono)
        elif kind == osdp.Event.KeyPress:
            self._on_keys(event, t_mono)
        elif kind == osdp.Event.Status:
            self._on_status(event, t_mono)
        else:
            _LOGGER.debug("%s: ignored OSDP event %s", self.device_id, kind)

    def _on_card(self, event: dict[str, Any], t_mono: float) -> None:
        try:
            card = card_credential(event)
        except CardDataError as exc:
            self.stats["bad_events"] += 1
            _LOGGER.warning("%s: unusable card read: %s", self.device_id, exc)
            return
        self.stats["cards"] += 1
        message = CredentialPresented(
            source=self.device_id,
            t_mono=t_mono,
            kind=CredentialKind.CARD,
            credential=card.credential,
            bits=card.bits,
        )
        _LOGGER.info("%s: card %s (%s bits)", self.device_id, message.redacted, card.bits)
        self._emit(message)

    def _on_keys(self, event: dict[str, Any], t_mono: float) -> None:
        data = event.get("data", b"")
        if not isinstance(data, bytes):
            self.stats["bad_events"] += 1
            return
        for pin in self._keypad.feed(data):
            self.stats["pins"] += 1
            message = CredentialPresented(
                source=self.device_id, t_mono=t_mono, kind=CredentialKind.KEYPAD, credential=pin
            )
            _LOGGER.info("%s: PIN %s", self.device_id, message.redacted)
            self._emit(message)
        self._cancel_keypad(clear=False)
        if self._keypad.pending:
            loop = asyncio.get_running_loop()
            self._keypad_timer = loop.call_later(
                self.settings.keypad_timeout_s, self._keypad_expired
            )

    def _keypad_expired(self) -> None:
        self._keypad_timer = None
        if self._keypad.pending:
            _LOGGER.info("%s: PIN entry timed out, discarded", self.device_id)
            self._keypad.clear()

    def _cancel_keypad(self, *, clear: bool = True) -> None:
        if self._keypad_timer is not None:
            self._keypad_timer.cancel()
            self._keypad_timer = None
        if clear:
            self._keypad.clear()

    def _on_status(self, event: dict[str, Any], t_mono: float) -> None:
        report = event.get("report", b"")
        if not isinstance(report, bytes):
            self.stats["bad_events"] += 1
            return
        kind = event.get("type")
        if kind == osdp.StatusReportType.Input:
            self._on_inputs(report, t_mono)
        elif kind == osdp.StatusReportType.Local and report:
            tampered = bool(report[0])
            if tampered != self._tampered:
                self._tampered = tampered
                _LOGGER.log(
                    logging.WARNING if tampered else logging.INFO,
                    "%s: tamper %s",
                    self.device_id,
                    "on" if tampered else "off",
                )
                self._emit(TamperChanged(source=self.device_id, t_mono=t_mono, tampered=tampered))

    def _on_inputs(self, report: bytes, t_mono: float) -> None:
        index = self.settings.passage_input
        if index is None:
            return
        if index >= len(report):
            self.stats["bad_events"] += 1
            _LOGGER.warning(
                "%s: input report of %d inputs lacks passage input %d",
                self.device_id,
                len(report),
                index,
            )
            return
        active = bool(report[index]) == self.settings.passage_active_high
        if active and not self._passage_active:
            self.stats["passages"] += 1
            self._emit(PassageSensed(source=self.device_id, t_mono=t_mono))
        self._passage_active = active

    # --- commands -------------------------------------------------------------------------

    def _output_code(self, *, passage_open: bool, temporary: bool = False) -> int:
        """The osdp_OUT control code that puts the relay in the wanted passage state."""
        energise = passage_open == self.settings.output_on_means_open
        if temporary:
            return OUT_TEMPORARY_ON if energise else OUT_TEMPORARY_OFF
        return OUT_PERMANENT_ON if energise else OUT_PERMANENT_OFF

    async def _command(self, what: str, command: dict[str, Any]) -> None:
        if not self._connected:
            raise DeviceConnectionError(
                f"{what}: gate is not connected", device=self.device_id, address=self._where
            )
        if not self._up:
            raise DeviceConnectionError(
                f"{what}: {self._down_reason(self._link)}",
                device=self.device_id,
                address=self._where,
            )
        timeout = self.settings.command_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self.line.command(self.address, command)
        except TimeoutError:
            raise DeviceTimeoutError(
                f"{what}: no acknowledgement from PD within {timeout:g} s",
                device=self.device_id,
                address=self._where,
            ) from None
        except DeviceError as exc:
            raise type(exc)(f"{what}: {exc}", device=self.device_id, address=self._where) from exc

    async def _output(self, what: str, code: int, count: int = 0) -> None:
        await self._command(
            what,
            {
                "command": osdp.Command.Output,
                "output_no": self.settings.relay_output,
                "control_code": code,
                "timer_count": count,
            },
        )

    def _cancel_relock(self) -> None:
        if self._relock is not None:
            self._relock.cancel()
            self._relock = None

    def _relocked(self) -> None:
        self._relock = None
        if self._lock_state is LockState.PULSED_OPEN:
            self._lock_state = LockState.LOCKED

    async def _set_relay(self, what: str, *, passage_open: bool, state: LockState) -> None:
        async with self._relay_lock:
            self._cancel_relock()
            try:
                await self._output(what, self._output_code(passage_open=passage_open))
            except DeviceError:
                self._lock_state = LockState.UNKNOWN
                self._permanent_locked = None
                raise
            self._lock_state = state
            self._permanent_locked = not passage_open
            self._pending_release = False

    async def pulse_open(self, duration_ms: int) -> None:
        """Free the passage for ``duration_ms`` (100 ms steps, up to 25.5 s); the PD relocks."""
        count = timer_count(duration_ms)
        async with self._relay_lock:
            self._cancel_relock()
            try:
                if self._permanent_locked is not True:
                    await self._output(
                        "pulse_open (set locked)", self._output_code(passage_open=False)
                    )
                    self._permanent_locked = True
                await self._output(
                    "pulse_open", self._output_code(passage_open=True, temporary=True), count
                )
            except DeviceError:
                self._lock_state = LockState.UNKNOWN
                self._permanent_locked = None
                raise
            self._lock_state = LockState.PULSED_OPEN
            self._pending_release = False
            loop = asyncio.get_running_loop()
            self._relock = loop.call_later(count * TIMER_UNIT_MS / 1000, self._relocked)

    async def hold_open(self) -> None:
        """Free the passage until ``lock`` or ``release``."""
        await self._set_relay("hold_open", passage_open=True, state=LockState.HELD_OPEN)

    async def lock(self) -> None:
        """Lock the passage (permanent state; aborts a running pulse)."""
        await self._set_relay("lock", passage_open=False, state=LockState.LOCKED)

    async def release(self) -> None:
        """Fail-safe free passage; never raises: a release that fails is retried on reconnect."""
        if not self._connected or not self._up:
            self._pending_release = True
            self._lock_state = LockState.UNKNOWN
            _LOGGER.warning(
                "%s: release not sent (link down); will send it when the PD is back",
                self.device_id,
            )
            return
        try:
            await self._set_relay("release", passage_open=True, state=LockState.RELEASED)
        except DeviceError as exc:
            self._pending_release = True
            _LOGGER.error("%s: release failed: %s", self.device_id, exc)

    async def feedback(self, *, granted: bool) -> None:
        """Green + short beep when granted, red + long beep when refused (what the PD has)."""
        caps = self._caps
        if caps is None:
            raise DeviceConnectionError(
                "feedback: gate is not connected", device=self.device_id, address=self._where
            )
        s = self.settings
        if caps.leds > s.led:
            color = osdp.CommandLEDColor.Green if granted else osdp.CommandLEDColor.Red
            await self._command(
                "feedback (LED)",
                {
                    "command": osdp.Command.LED,
                    "reader": s.reader,
                    "led_number": s.led,
                    "temporary": True,
                    "control_code": LED_TEMPORARY_SET,
                    "on_color": color,
                    "off_color": osdp.CommandLEDColor.Black,
                    "on_count": FEEDBACK_LED_COUNT,
                    "off_count": 0,
                    "timer_count": FEEDBACK_LED_COUNT,
                },
            )
        if caps.audible:
            await self._command(
                "feedback (buzzer)",
                {
                    "command": osdp.Command.Buzzer,
                    "reader": s.reader,
                    "control_code": BUZZER_DEFAULT_TONE,
                    "on_count": BEEP_SHORT_COUNT if granted else BEEP_LONG_COUNT,
                    "off_count": 1,
                    "rep_count": 1,
                },
            )
