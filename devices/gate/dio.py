"""A gate on a Modbus TCP digital-I/O module (relay coil, passage beam, buttons).

The module knows nothing about doors: the wiring (``DioWiring``) says which
relay holds the lock and with which polarity, which input is the passage
beam, the exit button, the tamper switch. The driver turns that into
``GateIo``: lock/open commands with a read-back of the coil after every write
(a module can acknowledge a write its output stage never carries out), and
input edges into bus events, from a poll loop the driver owns.

Pulses: where the module's profile has timed-output registers the pulse is
one register write and the module relocks by itself. Otherwise the driver
times it (coil open, wait, coil closed), which is weaker: the relock needs
this process, its event loop and the link to all still be alive at the end
of the pulse; if walkout crashes or the link drops mid-pulse the door stays
unlocked until the next write or the module's watchdog (which frees it too),
and the pulse length carries the loop's and the network's jitter. For an
entry that is a security gap, never a safety one: the failure leaves the
door open, not shut.

Link loss: ``offline_after`` failed polls in a row publish
``GateLinkChanged(online=False)`` and make ``lock_state`` UNKNOWN; the
module's own watchdog (written on connect, fed by the polls) frees the door
when this host stops talking to it. A ``release`` that could not be sent is
sent again as soon as the link is back, before anything else is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from devices.base import PolledDevice
from devices.bus import Bus
from devices.errors import DeviceCommandError, DeviceError, DeviceProtocolError
from devices.gate.dio_profile import DioProfile, DioWiring
from devices.gate.io import ExitRequested, GateLinkChanged, LockState, PassageSensed, TamperChanged
from devices.health import HealthChanged, HealthState, HealthTracker
from devices.modbus.link import ModbusLink, TcpLink
from devices.modbus.registers import BitTable, Table

_LOGGER = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class DioSnapshot:
    """One poll: raw input levels of the wired inputs and the lock coil as read back.

    ``t_mono`` is the midpoint of the input read (when the module sampled).
    """

    t_mono: float
    inputs: dict[int, bool]
    lock_coil: bool
    coil_sent_s: float


class _Debounced:
    """A level that must hold ``debounce_s`` before it counts as changed."""

    def __init__(self, level: bool, debounce_s: float) -> None:
        self.stable = level
        self.debounce_s = debounce_s
        self._candidate: bool | None = None
        self._since = 0.0

    def update(self, level: bool, t: float) -> float | None:
        """Feed one sample; returns the time the change began when it is accepted."""
        if level == self.stable:
            self._candidate = None
            return None
        if self._candidate != level:
            self._candidate = level
            self._since = t
        if t - self._since >= self.debounce_s:
            self.stable = level
            self._candidate = None
            return self._since
        return None


class DioGate(PolledDevice[DioSnapshot]):
    """``GateIo`` on a Modbus digital-I/O module.

    The link may be shared (one module often drives the entry and the exit
    relay: two ``DioGate`` on one link); the gate closes it only when it owns
    it (``owns_link``, as :meth:`tcp` builds it).
    """

    def __init__(
        self,
        device_id: str,
        link: ModbusLink,
        bus: Bus,
        profile: DioProfile,
        wiring: DioWiring,
        *,
        unit_id: int = 1,
        owns_link: bool = False,
        host_pulse: bool = False,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(device_id)
        wiring.check_against(profile, f"gate {device_id} wiring")
        self.link = link
        self.bus = bus
        self.profile = profile
        self.wiring = wiring
        self.unit_id = unit_id
        self.owns_link = owns_link
        self.device_pulse = profile.pulse is not None and not host_pulse
        self._clock = clock
        self._period_s = 1.0 / wiring.poll_hz
        self._debounce_s = wiring.debounce_ms / 1000
        used = sorted(wiring.inputs().values())
        self._input_span = (used[0], used[-1] - used[0] + 1) if used else None
        self._command_lock = asyncio.Lock()
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._timer_writing: set[int] = set()
        self._poll_task: asyncio.Task[None] | None = None
        self._tracker = HealthTracker(
            device_id, degraded_after=1, offline_after=wiring.offline_after
        )
        self._inputs: dict[int, _Debounced] = {}
        self._commanded = LockState.UNKNOWN
        self._coil_locked: bool | None = None
        self._coil_seen_s = -math.inf
        self._online = False
        self._release_pending = False
        self._closed = True

    @classmethod
    def tcp(
        cls,
        device_id: str,
        host: str,
        port: int,
        bus: Bus,
        profile: DioProfile,
        wiring: DioWiring,
        *,
        unit_id: int = 1,
        timeout_s: float = 0.5,
        host_pulse: bool = False,
    ) -> DioGate:
        """A gate with its own Modbus TCP link to the module."""
        link = TcpLink(device_id, host, port, timeout_s=timeout_s)
        return cls(
            device_id,
            link,
            bus,
            profile,
            wiring,
            unit_id=unit_id,
            owns_link=True,
            host_pulse=host_pulse,
        )

    @property
    def address(self) -> str:
        """Link address and unit id, for messages."""
        return f"{self.link.address} unit {self.unit_id}"

    @property
    def online(self) -> bool:
        """Whether the last polls reached the module."""
        return self._online

    # lifecycle ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Reach the module, check it, arm its watchdog, read a baseline, start polling.

        A failure leaves nothing running (and the link closed if it is ours).
        """
        if not self._closed:
            return
        try:
            await self.link.ensure_connected()
            await self._identify()
            await self._arm_watchdog()
            snapshot = await self.read()
        except BaseException:
            if self.owns_link:
                await self.link.close()
            raise
        self._closed = False
        self._baseline(snapshot)
        self._tracker.record_success(self._clock())
        self._online = True
        self._poll_task = asyncio.create_task(
            self._poll_forever(), name=f"dio-poll:{self.device_id}"
        )
        await self.bus.publish(
            GateLinkChanged(source=self.device_id, t_mono=self._clock(), online=True)
        )
        tamper = self.wiring.tamper_input
        if tamper is not None and self._inputs[tamper].stable:
            await self._publish_tamper(True, snapshot.t_mono)

    async def close(self) -> None:
        """Release the gate, stop polling, close the link if it is ours; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.release()
        finally:
            for coil in list(self._timers):  # host-timed LEDs: switch them off now
                await self._stop_timer(coil)
                with contextlib.suppress(DeviceError):
                    await self.link.write_coils(
                        self.unit_id, self.profile.coils.address + coil, [False]
                    )
            task, self._poll_task = self._poll_task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._online = False
            if self.owns_link:
                await self.link.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _identify(self) -> None:
        ident = self.profile.identify
        if ident is None:
            return
        values, _ = await self.link.read(self.unit_id, Table.HOLDING, ident.address, 1)
        if values[0] != ident.equals:
            raise DeviceProtocolError(
                f"register {ident.address:#06x} reads {values[0]:#06x}: not a {self.profile.name}",
                device=self.device_id,
                address=self.address,
                expected=f"{ident.equals:#06x}",
            )

    async def _arm_watchdog(self) -> None:
        watchdog, seconds = self.profile.watchdog, self.wiring.module_watchdog_s
        if watchdog is None or seconds is None:
            return
        value = min(watchdog.max_value, max(1, round(seconds * 1000 / watchdog.unit_ms)))
        await self.link.write(self.unit_id, watchdog.address, [value])
        back, _ = await self.link.read(self.unit_id, Table.HOLDING, watchdog.address, 1)
        if back[0] != value:
            raise DeviceCommandError(
                f"watchdog register reads {back[0]} after writing {value}",
                device=self.device_id,
                address=self.address,
            )

    # GateIo commands ----------------------------------------------------------------------

    def lock_state(self) -> LockState:
        """The relay as last read back, in the terms of the last command."""
        if not self._online or self._coil_locked is None:
            return LockState.UNKNOWN
        if self._coil_locked:
            return LockState.LOCKED
        if self._commanded in (LockState.PULSED_OPEN, LockState.HELD_OPEN, LockState.RELEASED):
            return self._commanded
        return LockState.RELEASED  # open without our asking (watchdog, power cycle)

    async def pulse_open(self, duration_ms: int) -> None:
        """Unlock for ``duration_ms``: one timed-output write, or host-timed without one."""
        if duration_ms < 1:
            raise ValueError("duration_ms must be >= 1")
        coil = self.wiring.lock_coil
        await self._stop_timer(coil)
        async with self._command_lock:
            pulse = self.profile.pulse
            if self.device_pulse and pulse is not None:
                ticks = min(pulse.max_value, max(1, math.ceil(duration_ms / pulse.unit_ms)))
                opens_energised = not self.wiring.energised_locks
                base = pulse.on_address if opens_energised else pulse.off_address
                await self.link.write(self.unit_id, base + coil, [ticks])
                await self._verify(coil, self._open_value, "pulse open")
            else:
                await self._write_verified(coil, self._open_value, "pulse open")
                self._schedule(coil, self._locked_value, duration_ms / 1000, relock=True)
            self._commanded = LockState.PULSED_OPEN
            self._release_pending = False

    async def hold_open(self) -> None:
        """Unlock until told otherwise."""
        await self._set_lock(self._open_value, LockState.HELD_OPEN)

    async def lock(self) -> None:
        """Lock."""
        await self._set_lock(self._locked_value, LockState.LOCKED)

    async def release(self) -> None:
        """Free the passage; never raises: a failure is logged and retried on reconnect."""
        try:
            await self._set_lock(self._open_value, LockState.RELEASED)
        except DeviceError as exc:
            self._release_pending = True
            self._commanded = LockState.RELEASED
            _LOGGER.warning("%s: release not confirmed, will resend: %s", self.device_id, exc)

    async def feedback(self, *, granted: bool) -> None:
        """Light the granted or refused LED (and the buzzer on refusal) for ``feedback_ms``."""
        coils = [self.wiring.granted_coil] if granted else [self.wiring.refused_coil]
        if not granted:
            coils.append(self.wiring.buzzer_coil)
        for coil in coils:
            if coil is not None:
                await self._flash(coil, self.wiring.feedback_ms)

    async def _flash(self, coil: int, duration_ms: int) -> None:
        await self._stop_timer(coil)
        async with self._command_lock:
            pulse = self.profile.pulse
            if self.device_pulse and pulse is not None:
                ticks = min(pulse.max_value, max(1, math.ceil(duration_ms / pulse.unit_ms)))
                await self.link.write(self.unit_id, pulse.on_address + coil, [ticks])
                await self._verify(coil, True, "feedback")
            else:
                await self._write_verified(coil, True, "feedback")
                self._schedule(coil, False, duration_ms / 1000, relock=False)

    async def _set_lock(self, value: bool, state: LockState) -> None:
        coil = self.wiring.lock_coil
        await self._stop_timer(coil)
        async with self._command_lock:
            await self._write_verified(coil, value, str(state))
            self._commanded = state
            self._release_pending = False

    @property
    def _locked_value(self) -> bool:
        return self.wiring.energised_locks

    @property
    def _open_value(self) -> bool:
        return not self.wiring.energised_locks

    async def _write_verified(self, coil: int, value: bool, what: str) -> None:
        await self.link.write_coils(self.unit_id, self.profile.coils.address + coil, [value])
        await self._verify(coil, value, what)

    async def _verify(self, coil: int, value: bool, what: str) -> None:
        """Read the coil back: the module must now show what was written."""
        bits, timing = await self.link.read_bits(
            self.unit_id, BitTable.COILS, self.profile.coils.address + coil, 1
        )
        if coil == self.wiring.lock_coil:
            self._observe_lock_coil(bits[0], timing.sent_s)
        if bits[0] != value:
            raise DeviceCommandError(
                f"{what}: coil {coil} reads {int(bits[0])} after writing {int(value)} "
                "(the module ignored the write)",
                device=self.device_id,
                address=self.address,
            )

    def _observe_lock_coil(self, value: bool, sent_s: float) -> None:
        # Reads can finish out of order with a command's read-back: keep the newest.
        if sent_s < self._coil_seen_s:
            return
        self._coil_seen_s = sent_s
        locked = value == self.wiring.energised_locks
        if locked and self._commanded is LockState.PULSED_OPEN:
            self._commanded = LockState.LOCKED  # the pulse ended
        self._coil_locked = locked

    # host-side timers ---------------------------------------------------------------------

    def _schedule(self, coil: int, value: bool, after_s: float, *, relock: bool) -> None:
        self._timers[coil] = asyncio.create_task(
            self._timer(coil, value, after_s, relock), name=f"dio-timer:{self.device_id}:{coil}"
        )

    async def _timer(self, coil: int, value: bool, after_s: float, relock: bool) -> None:
        await asyncio.sleep(after_s)
        async with self._command_lock:
            self._timer_writing.add(coil)
            try:
                await self._write_verified(coil, value, "end of pulse")
                if relock:
                    self._commanded = LockState.LOCKED
            except DeviceError as exc:
                _LOGGER.error("%s: end of pulse on coil %d not done: %s", self.device_id, coil, exc)
            finally:
                self._timer_writing.discard(coil)
                if self._timers.get(coil) is asyncio.current_task():
                    del self._timers[coil]

    async def _stop_timer(self, coil: int) -> None:
        """Cancel a pending end-of-pulse write; one already being sent is let finish first."""
        task = self._timers.pop(coil, None)
        if task is None:
            return
        if coil not in self._timer_writing:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # polling ------------------------------------------------------------------------------

    async def read(self) -> DioSnapshot:
        """One poll: the wired inputs (one FC2 read) and the lock coil (one FC1 read)."""
        inputs: dict[int, bool] = {}
        t_mono = self._clock()
        if self._input_span is not None:
            first, count = self._input_span
            bits, timing = await self.link.read_bits(
                self.unit_id, BitTable.DISCRETE, self.profile.discrete_inputs.address + first, count
            )
            inputs = {first + i: bit for i, bit in enumerate(bits)}
            t_mono = timing.midpoint_s
        coil, timing = await self.link.read_bits(
            self.unit_id, BitTable.COILS, self.profile.coils.address + self.wiring.lock_coil, 1
        )
        return DioSnapshot(t_mono, inputs, coil[0], timing.sent_s)

    def _active(self, key: str, channel: int, raw: bool) -> bool:
        active_high = {
            "passage_input": self.wiring.passage_active_high,
            "exit_request_input": self.wiring.exit_request_active_high,
            "tamper_input": self.wiring.tamper_active_high,
        }[key]
        return raw == active_high

    def _baseline(self, snapshot: DioSnapshot) -> None:
        """Take the inputs as they are now without reporting edges (unknown history)."""
        self._inputs = {
            channel: _Debounced(
                self._active(key, channel, snapshot.inputs[channel]), self._debounce_s
            )
            for key, channel in self.wiring.inputs().items()
        }
        self._observe_lock_coil(snapshot.lock_coil, snapshot.coil_sent_s)

    async def _poll_forever(self) -> None:
        next_s = self._clock()
        while True:
            next_s += self._period_s
            try:
                snapshot = await self.read()
            except DeviceError as exc:
                await self._poll_failed(str(exc))
            except Exception as exc:  # a poll loop that dies silently is worse than any bug
                _LOGGER.exception("%s: poll failed unexpectedly", self.device_id)
                await self._poll_failed(f"unexpected: {exc!r}")
            else:
                await self._poll_ok(snapshot)
            now = self._clock()
            if next_s < now:
                next_s += math.ceil((now - next_s) / self._period_s) * self._period_s
            await asyncio.sleep(next_s - now)

    async def _poll_failed(self, reason: str) -> None:
        changed = self._tracker.record_failure(reason, self._clock())
        if changed is not None:
            await self.bus.publish(
                HealthChanged(source=self.device_id, t_mono=self._clock(), health=changed)
            )
        if self._online and self._tracker.health.state is HealthState.OFFLINE:
            self._online = False
            await self.bus.publish(
                GateLinkChanged(
                    source=self.device_id, t_mono=self._clock(), online=False, reason=reason
                )
            )

    async def _poll_ok(self, snapshot: DioSnapshot) -> None:
        if not self._online:
            await self._recovered(snapshot)
            return
        changed = self._tracker.record_success(self._clock())
        if changed is not None:
            await self.bus.publish(
                HealthChanged(source=self.device_id, t_mono=self._clock(), health=changed)
            )
        self._observe_lock_coil(snapshot.lock_coil, snapshot.coil_sent_s)
        for key, channel in self.wiring.inputs().items():
            active = self._active(key, channel, snapshot.inputs[channel])
            began = self._inputs[channel].update(active, snapshot.t_mono)
            if began is None:
                continue
            if key == "tamper_input":
                await self._publish_tamper(active, began)
            elif active and key == "passage_input":
                await self.bus.publish(PassageSensed(source=self.device_id, t_mono=began))
            elif active:
                await self.bus.publish(ExitRequested(source=self.device_id, t_mono=began))

    async def _recovered(self, snapshot: DioSnapshot) -> None:
        """Back after a loss: resend a release that was not confirmed, re-arm, report."""
        try:
            await self._arm_watchdog()
            if self._release_pending:
                await self._set_lock(self._open_value, LockState.RELEASED)
        except DeviceError as exc:
            await self._poll_failed(str(exc))
            return
        self._baseline(snapshot)
        changed = self._tracker.record_success(self._clock())
        if changed is not None:
            await self.bus.publish(
                HealthChanged(source=self.device_id, t_mono=self._clock(), health=changed)
            )
        self._online = True
        await self.bus.publish(
            GateLinkChanged(source=self.device_id, t_mono=self._clock(), online=True)
        )

    async def _publish_tamper(self, tampered: bool, t_mono: float) -> None:
        if tampered:
            _LOGGER.warning("%s: tamper input active", self.device_id)
        await self.bus.publish(
            TamperChanged(source=self.device_id, t_mono=t_mono, tampered=tampered)
        )
