"""One RS-485 line, one libosdp control panel (CP), several PDs (one per gate reader/controller).

libosdp's CP is created with its whole PD list and runs on a refresh loop.
This module owns that loop in one thread and is the only code that touches
the libosdp context, so nothing needs a lock around it:

- the asyncio side sends *requests* (submit a command, read capabilities,
  restart a PD) through a queue and a wake-up pipe and gets
  ``concurrent.futures`` back;
- the thread sends *events* (card reads, key presses, status reports) and
  *link snapshots* to the PD's listener with ``loop.call_soon_threadsafe``.

The thread sleeps in ``select`` on the serial port and the wake-up pipe, so a
reply or a new command is handled at once rather than on the next tick of a
fixed 20 ms loop (what ``osdp.ControlPanel.start`` does).

Gates attach to the line by PD address. A PD without an attached gate is
disabled in libosdp (not polled); the line opens the port when the first gate
attaches and closes it after the last one detaches.

libosdp behaviours this module works around (libosdp 3.2.9):

- after any failure (no answer, NAK, failed handshake) libosdp parks the PD
  offline for 300 s. ``restart_pd`` cycles it through disable/enable so the
  gate's own backoff decides when to try again;
- a PD that stops answering is only declared offline after 8 probes (~9 s):
  the link snapshot's ``replying`` comes from the replies seen on the wire
  (``osdp_frames``), so a gate can report the loss within ``link_timeout_s``;
- command completion callbacks carry no id; commands complete in order per
  PD, so pending commands are kept in a FIFO and matched by command type.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import osdp
import osdp_sys
from pydantic import SecretBytes

from devices.errors import DeviceCommandError, DeviceConnectionError, DeviceError
from devices.gate.osdp_channel import OpenPort, SerialChannel, open_serial
from devices.gate.osdp_config import OsdpLineSettings
from devices.gate.osdp_frames import Frame

_LOGGER = logging.getLogger(__name__)

_NOTIFY_SC = 1  # osdp_sys.EVENT_NOTIFICATION_SC_STATUS
_NOTIFY_PD = 2  # osdp_sys.EVENT_NOTIFICATION_PD_STATUS
_STOP_JOIN_S = 2.0


@dataclass(frozen=True, slots=True)
class OsdpPdSpec:
    """A PD the CP is set up for: address and secure channel key (never logged)."""

    address: int
    scbk: SecretBytes
    name: str = ""

    def __repr__(self) -> str:
        return f"OsdpPdSpec(address={self.address}, name={self.name!r}, scbk=**********)"


@dataclass(frozen=True, slots=True)
class PdLink:
    """What the line knows about one PD's link at a moment.

    ``online``/``secure`` are libosdp's view; ``replying`` is whether the PD
    answered within the gate's link timeout. The ``*_before_offline`` fields
    describe the last exchange before libosdp's latest offline transition:
    the CP's command code, whether it had to send it twice, the PD's reply
    code (None: no reply). They tell a wrong key (the CP got the PD's
    cryptogram to a single challenge and went no further) from an absent PD
    or a frame lost on the line.
    """

    address: int
    enabled: bool = False
    online: bool = False
    secure: bool = False
    replying: bool = False
    offline_count: int = 0
    reply_before_offline: int | None = None
    command_before_offline: int | None = None
    command_retried_before_offline: bool = False

    @property
    def up(self) -> bool:
        """Usable: online, secure channel active and answering."""
        return self.enabled and self.online and self.secure and self.replying


@dataclass(frozen=True, slots=True)
class PdCapabilities:
    """A PD's identity and capabilities as it reported them (osdp_PDID, osdp_PDCAP)."""

    outputs: int
    inputs: int
    leds: int
    audible: bool
    readers: int
    secure: bool
    vendor_code: int
    model: int
    serial_number: int
    firmware: int

    @property
    def identified(self) -> bool:
        """The PD answered osdp_ID (libosdp leaves zeros otherwise)."""
        return any((self.vendor_code, self.model, self.serial_number, self.firmware))


class PdListener(Protocol):
    """A gate attached to one PD; called in the event loop."""

    def on_osdp_event(self, event: dict[str, Any], t_mono: float) -> None:
        """A card read, key press, status report ... from libosdp (the raw event dict)."""

    def on_pd_link(self, link: PdLink) -> None:
        """The PD's link snapshot changed."""


@dataclass
class _Pd:
    index: int
    spec: OsdpPdSpec
    listener: PdListener | None = None
    link_timeout_s: float = 1.0
    wanted: bool = False
    restart: bool = False
    disable_sent: bool = False
    online: bool = False
    secure: bool = False
    last_reply_t: float | None = None
    attempt_reply: int | None = None
    attempt_command: int | None = None
    attempt_retried: bool = False
    reply_before_offline: int | None = None
    command_before_offline: int | None = None
    retried_before_offline: bool = False
    offline_count: int = 0
    replies: int = 0
    pending: deque[tuple[dict[str, Any], concurrent.futures.Future[None]]] = field(
        default_factory=deque
    )
    published: PdLink | None = None


def _noop(*_args: object) -> int:
    return 0


Request = Callable[[Any], Any]


class OsdpLine:
    """The CP of one serial line; gates attach to it by PD address."""

    def __init__(
        self,
        settings: OsdpLineSettings,
        pds: Sequence[OsdpPdSpec],
        *,
        opener: OpenPort = open_serial,
    ) -> None:
        if not pds:
            raise ValueError(f"OSDP line {settings.port}: no PDs")
        addresses = [pd.address for pd in pds]
        dupes = sorted({a for a in addresses if addresses.count(a) > 1})
        if dupes:
            raise ValueError(f"OSDP line {settings.port}: address(es) {dupes} listed twice")
        self.settings = settings
        self._pds = {pd.address: _Pd(i, pd) for i, pd in enumerate(pds)}
        self._by_index = {p.index: p for p in self._pds.values()}
        self._opener = opener
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self._stop = threading.Event()
        self._requests: queue.SimpleQueue[tuple[Request, concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._wake_r = self._wake_w = -1
        self._channel: SerialChannel | None = None
        self._ctx: Any = None
        self.refreshes = 0

    @property
    def port(self) -> str:
        """The serial device."""
        return self.settings.port

    @property
    def is_open(self) -> bool:
        """The refresh thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def addresses(self) -> list[int]:
        """PD addresses the CP was set up for."""
        return list(self._pds)

    # --- attach / detach ----------------------------------------------------------------

    async def attach(self, address: int, listener: PdListener, *, link_timeout_s: float) -> None:
        """Start polling the PD at ``address`` and send its events to ``listener``.

        Opens the port on the first attach; raises ``DeviceConnectionError``
        if it cannot be opened (nothing stays open then).
        """
        pd = self._pd(address)
        async with self._lock:
            if pd.listener is not None:
                raise DeviceError(f"PD address {address} already has a gate", address=self.port)
            pd.listener = listener
            pd.link_timeout_s = link_timeout_s
            pd.published = None
            if self._thread is None:
                try:
                    await self._open()
                except BaseException:
                    pd.listener = None
                    raise
            await self._call(lambda _ctx: self._set_wanted(pd, True))

    async def detach(self, address: int) -> None:
        """Stop polling the PD; closes the port after the last gate left. Idempotent."""
        pd = self._pd(address)
        async with self._lock:
            if pd.listener is None:
                return
            pd.listener = None
            if not any(p.listener is not None for p in self._pds.values()):
                await self._close()
                return
            with contextlib.suppress(DeviceError):
                await self._call(lambda _ctx: self._set_wanted(pd, False))

    async def close(self) -> None:
        """Stop the CP and close the port whatever is attached (owners' shutdown path).

        Gates still attached get a last link snapshot (not enabled, offline).
        """
        async with self._lock:
            listeners = [(pd.spec.address, pd.listener) for pd in self._pds.values()]
            for pd in self._pds.values():
                pd.listener = None
            await self._close()
        for address, listener in listeners:
            if listener is not None:
                listener.on_pd_link(PdLink(address))

    # --- requests -----------------------------------------------------------------------

    async def command(self, address: int, command: dict[str, Any]) -> None:
        """Submit a libosdp command and wait for the PD's acknowledgement.

        Raises ``DeviceConnectionError`` when the PD is not online and
        ``DeviceCommandError`` when it refused the command. The caller bounds
        the wait (``asyncio.timeout``).
        """
        pd = self._pd(address)
        done: concurrent.futures.Future[None] = await self._call(
            lambda ctx: self._submit(ctx, pd, command)
        )
        await asyncio.wrap_future(done)

    async def capabilities(self, address: int) -> PdCapabilities:
        """Identity and capabilities as the PD reported them during the handshake."""
        pd = self._pd(address)
        caps: PdCapabilities = await self._call(lambda ctx: _read_capabilities(ctx, pd.index))
        return caps

    async def restart_pd(self, address: int) -> None:
        """Make libosdp start over with the PD (disable, then enable) instead of waiting 300 s."""
        pd = self._pd(address)

        def restart(_ctx: Any) -> None:
            pd.restart = True

        await self._call(restart)

    def stats(self) -> dict[str, Any]:
        """Counters for telemetry and benchmarks (approximate: read without the thread)."""
        ch = self._channel
        return {
            "port": self.port,
            "refreshes": self.refreshes,
            "rx_bytes": ch.rx_bytes if ch else 0,
            "tx_bytes": ch.tx_bytes if ch else 0,
            "channel_errors": ch.errors if ch else 0,
            "replies": {a: p.replies for a, p in self._pds.items()},
        }

    # --- lifecycle (event loop side) ----------------------------------------------------

    def _pd(self, address: int) -> _Pd:
        pd = self._pds.get(address)
        if pd is None:
            raise ValueError(
                f"OSDP line {self.port} has no PD at address {address} "
                f"(configured: {sorted(self._pds)})"
            )
        return pd

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        channel = SerialChannel(
            self.port, self.settings.baudrate, on_frame=self._on_frame, opener=self._opener
        )
        try:
            channel.open()
        except Exception as exc:
            raise DeviceConnectionError(
                f"cannot open serial port: {exc}", address=self.port
            ) from exc
        wake_r, wake_w = os.pipe()
        try:
            os.set_blocking(wake_r, False)
            os.set_blocking(wake_w, False)
            osdp_sys.set_loglevel(self.settings.libosdp_log_level)
            flags = [osdp.LibFlag.EnforceSecure, osdp.LibFlag.EnableNotification]
            infos = [
                osdp.PDInfo(
                    pd.spec.address,
                    channel,
                    scbk=pd.spec.scbk.get_secret_value(),
                    name=(pd.spec.name or f"PD-{pd.spec.address}")[:15],
                    flags=flags,
                ).get()
                for pd in sorted(self._pds.values(), key=lambda p: p.index)
            ]
            ctx = osdp_sys.ControlPanel(infos)
            del infos  # the only copies of the keys outside libosdp
            ctx.set_event_callback(self._on_event)
            ctx.set_command_completion_callback(self._on_completion)
        except BaseException:
            channel.close()
            os.close(wake_r)
            os.close(wake_w)
            raise
        for pd in self._pds.values():
            pd.online = pd.secure = False
            pd.restart = pd.disable_sent = False
            pd.wanted = pd.listener is not None
            pd.last_reply_t = pd.attempt_reply = pd.reply_before_offline = None
            pd.attempt_command = pd.command_before_offline = None
            pd.attempt_retried = pd.retried_before_offline = False
        self._loop = loop
        self._channel = channel
        self._ctx = ctx
        self._wake_r, self._wake_w = wake_r, wake_w
        self._stop.clear()
        self._done = loop.create_future()
        self._thread = threading.Thread(target=self._run, name=f"osdp-cp:{self.port}", daemon=True)
        self._thread.start()
        _LOGGER.info("OSDP line %s open at %d baud", self.port, self.settings.baudrate)

    async def _close(self) -> None:
        thread, done = self._thread, self._done
        if thread is None:
            return
        self._stop.set()
        self._wake()
        if done is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_STOP_JOIN_S):
                    await asyncio.shield(done)
        thread.join(_STOP_JOIN_S)
        if thread.is_alive():
            _LOGGER.error("OSDP line %s: refresh thread did not stop", self.port)
        self._thread = None
        self._done = None
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            # Break the ctx -> callback -> line cycle so libosdp tears down now.
            ctx.set_event_callback(_noop)
            ctx.set_command_completion_callback(_noop)
            del ctx
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1
        # Drain requests that raced with the stop.
        while True:
            try:
                _, fut = self._requests.get_nowait()
            except queue.Empty:
                break
            if fut.set_running_or_notify_cancel():
                fut.set_exception(DeviceConnectionError("OSDP line closed", address=self.port))
        _LOGGER.info("OSDP line %s closed", self.port)

    async def _call(self, request: Request) -> Any:
        if self._thread is None or self._stop.is_set():
            raise DeviceConnectionError("OSDP line is not open", address=self.port)
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._requests.put((request, fut))
        self._wake()
        return await asyncio.wrap_future(fut)

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"\0")

    # --- the refresh thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._serve_requests()
                # Twice: libosdp only marks a command (or a due poll) for sending in
                # one refresh and writes it in the next; one refresh per wake-up would
                # add a whole refresh_s to every exchange.
                self._ctx.refresh()
                self._ctx.refresh()
                self.refreshes += 2
                now = time.monotonic()
                status, sc_status = self._ctx.status(), self._ctx.sc_status()
                for pd in self._pds.values():
                    self._reconcile(pd)
                    self._update_link(pd, status, sc_status, now)
                self._sleep()
        except Exception:
            _LOGGER.exception("OSDP line %s: refresh thread failed", self.port)
        finally:
            for pd in self._pds.values():
                self._fail_pending(pd, "OSDP line closed")
            self._post(self._thread_done)

    def _thread_done(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def _sleep(self) -> None:
        fds = [self._wake_r]
        port_fd = self._channel.fileno() if self._channel is not None else None
        if port_fd is not None:
            fds.append(port_fd)
        try:
            readable, _, _ = select.select(fds, [], [], self.settings.refresh_s)
        except (OSError, ValueError):  # port closed under us: the channel reopens it
            time.sleep(self.settings.refresh_s)
            return
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError, OSError):
                os.read(self._wake_r, 4096)

    def _serve_requests(self) -> None:
        while True:
            try:
                request, fut = self._requests.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(request(self._ctx))
            except BaseException as exc:
                fut.set_exception(exc)

    def _set_wanted(self, pd: _Pd, wanted: bool) -> None:
        pd.wanted = wanted
        if not wanted:
            self._fail_pending(pd, "gate detached")

    def _reconcile(self, pd: _Pd) -> None:
        """Drive libosdp's enabled state towards what the gates want."""
        ctx = self._ctx
        enabled = bool(ctx.is_pd_enabled(pd.index))
        if not enabled:
            pd.disable_sent = False
        if pd.restart:
            if enabled:
                if not pd.disable_sent:
                    pd.disable_sent = bool(ctx.disable_pd(pd.index))
                return
            pd.restart = False
            if pd.wanted:
                ctx.enable_pd(pd.index)
            return
        if pd.wanted and not enabled:
            ctx.enable_pd(pd.index)
        elif not pd.wanted and enabled and not pd.disable_sent:
            pd.disable_sent = bool(ctx.disable_pd(pd.index))

    def _update_link(self, pd: _Pd, status: int, sc_status: int, now: float) -> None:
        bit = 1 << pd.index
        online, secure = bool(status & bit), bool(sc_status & bit)
        if pd.online and not online:
            self._fail_pending(pd, "PD went offline")
        pd.online, pd.secure = online, secure
        if pd.listener is None:
            return
        replying = pd.last_reply_t is not None and now - pd.last_reply_t < pd.link_timeout_s
        link = PdLink(
            address=pd.spec.address,
            enabled=pd.wanted and not pd.restart,
            online=online,
            secure=secure,
            replying=replying,
            offline_count=pd.offline_count,
            reply_before_offline=pd.reply_before_offline,
            command_before_offline=pd.command_before_offline,
            command_retried_before_offline=pd.retried_before_offline,
        )
        if link != pd.published:
            pd.published = link
            self._post(pd.listener.on_pd_link, link)

    def _submit(
        self, ctx: Any, pd: _Pd, command: dict[str, Any]
    ) -> concurrent.futures.Future[None]:
        if not pd.wanted or not pd.online:
            raise DeviceConnectionError(f"PD at address {pd.spec.address} is not online")
        if not ctx.submit_command(pd.index, command):
            raise DeviceCommandError(
                f"libosdp refused the command for PD at address {pd.spec.address} "
                "(queue full or PD offline)"
            )
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        done.set_running_or_notify_cancel()
        pd.pending.append((command, done))
        return done

    def _fail_pending(self, pd: _Pd, why: str) -> None:
        if not pd.pending:
            return
        if self._ctx is not None:
            with contextlib.suppress(Exception):
                self._ctx.flush_commands(pd.index)
        while pd.pending:
            _, done = pd.pending.popleft()
            done.set_exception(DeviceConnectionError(f"PD at address {pd.spec.address}: {why}"))

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(callback, *args)

    # --- libosdp callbacks (refresh thread, inside ctx.refresh) ---------------------------

    def _on_frame(self, frame: Frame, t_mono: float) -> None:
        pd = self._pds.get(frame.address)
        if pd is None:
            return
        if not frame.is_reply:
            pd.attempt_retried = frame.code == pd.attempt_command and pd.attempt_reply is None
            pd.attempt_command = frame.code
            pd.attempt_reply = None
            return
        pd.last_reply_t = t_mono
        pd.attempt_reply = frame.code
        pd.replies += 1

    def _on_event(self, index: int, event: dict[str, Any]) -> int:
        try:
            pd = self._by_index.get(index)
            if pd is None:
                return 0
            if event.get("event") == osdp.Event.Notification:
                self._on_notification(pd, event)
                return 0
            if pd.listener is not None:
                self._post(pd.listener.on_osdp_event, event, time.monotonic())
        except Exception:
            _LOGGER.exception("OSDP line %s: event handler failed", self.port)
        return 0

    def _on_notification(self, pd: _Pd, event: dict[str, Any]) -> None:
        kind, arg0 = event.get("type"), event.get("arg0")
        if kind == _NOTIFY_PD and not arg0:
            pd.offline_count += 1
            pd.reply_before_offline = pd.attempt_reply
            pd.command_before_offline = pd.attempt_command
            pd.retried_before_offline = pd.attempt_retried
            pd.attempt_reply = pd.attempt_command = None
            pd.attempt_retried = False
            pd.last_reply_t = None
            pd.online = False
            self._fail_pending(pd, "PD went offline")
        elif kind == _NOTIFY_PD:
            pd.attempt_reply = pd.attempt_command = None
            pd.attempt_retried = False
        _LOGGER.debug("PD %d notification %s", pd.spec.address, event)

    def _on_completion(self, index: int, command: dict[str, Any], status: int) -> None:
        try:
            pd = self._by_index.get(index)
            if pd is None:
                return
            kind = command.get("command")
            while pd.pending:
                sent, done = pd.pending.popleft()
                if sent.get("command") == kind:
                    if status == osdp.CompletionStatus.Ok:
                        done.set_result(None)
                    else:
                        done.set_exception(
                            DeviceCommandError(
                                f"PD at address {pd.spec.address} refused the command "
                                f"(completion status {status})"
                            )
                        )
                    return
                done.set_exception(
                    DeviceCommandError(f"PD at address {pd.spec.address}: command lost by libosdp")
                )
        except Exception:
            _LOGGER.exception("OSDP line %s: completion handler failed", self.port)


def _read_capabilities(ctx: Any, index: int) -> PdCapabilities:
    def cap(code: int) -> tuple[int, int]:
        level, items = ctx.check_capability(index, code)
        return int(level), int(items)

    pd_id = ctx.get_pd_id(index) or {}
    out_level, outputs = cap(osdp.Capability.OutputControl)
    in_level, inputs = cap(osdp.Capability.ContactStatusMonitoring)
    led_level, leds = cap(osdp.Capability.LEDControl)
    buz_level, buzzers = cap(osdp.Capability.AudibleControl)
    _, readers = cap(osdp.Capability.Readers)
    sc_level, _ = cap(osdp.Capability.CommunicationSecurity)
    return PdCapabilities(
        outputs=outputs if out_level else 0,
        inputs=inputs if in_level else 0,
        leds=leds if led_level else 0,
        audible=bool(buz_level and buzzers),
        readers=readers,
        secure=bool(sc_level),
        vendor_code=int(pd_id.get("vendor_code", 0)),
        model=int(pd_id.get("model", 0)),
        serial_number=int(pd_id.get("serial_number", 0)) & 0xFFFFFFFF,
        firmware=int(pd_id.get("firmware_version", 0)),
    )
