"""Simulated OSDP door controllers (PDs) on one pty line, speaking through libosdp.

``OsdpPdSimulator`` opens a pty pair, keeps the slave end open (so the line
does not flap when the control panel reopens it) and serves the master end
from one thread: it reads what the CP sends, hands it to every simulated PD
(RS-485 is a shared line: each PD sees every byte and libosdp answers only
frames addressed to it), refreshes each PD's libosdp context and runs the
door model's timers and watchdog.

Everything that touches a libosdp context or a model holds one lock, so the
control API may be called from any thread (the CLI's event loop, a test).

Faults, per PD: ``silent`` (hears the CP, never answers), ``wrong_key`` (the
PD is rebuilt with another SCBK, as after a controller swap), ``drop_bytes``
(each byte in either direction is lost with probability ``rate``). ``none``
restores the PD.

Line timing: the PD's replies are paced at the configured baud rate (a pty
has none); the CP's bytes arrive as fast as the pty carries them.
"""

from __future__ import annotations

import contextlib
import enum
import heapq
import itertools
import logging
import os
import random
import select
import threading
import time
import tty
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import osdp
import osdp_sys

from sim_devices.osdp_pd.model import ModelError, PdModel

log = logging.getLogger(__name__)

Clock = Callable[[], float]

VENDOR_CODE = 0x5A4B4C  # a made-up IEEE OUI for the simulator
BITS_PER_CHAR = 10  # 8N1


class SimError(Exception):
    """A control request the simulator cannot carry out."""


class FaultMode(enum.StrEnum):
    """How one simulated PD misbehaves."""

    NONE = "none"
    SILENT = "silent"
    WRONG_KEY = "wrong_key"
    DROP_BYTES = "drop_bytes"


@dataclass(frozen=True)
class PdSpec:
    """One simulated PD: address, key, capabilities and wiring.

    ``secure=False`` is a PD in install mode: it has no SCBK and sets up the
    secure channel only with the default key (SCBK-D). libosdp PDs always
    advertise secure channel, so a PD without it cannot be simulated.
    """

    address: int = 0
    scbk: bytes | None = None
    secure: bool = True
    outputs: int = 2
    inputs: int = 2
    reader: bool = True
    leds: int = 1
    buzzer: bool = True
    relay_output: int = 0
    relay_energised: Literal["locked", "open"] = "locked"
    passage_input: int = 0
    watchdog_s: float | None = 2.0
    model: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 126:
            raise SimError(f"PD address must be 0..126, got {self.address}")
        if self.secure and (self.scbk is None or len(self.scbk) != 16):
            raise SimError(f"PD {self.address}: a secure PD needs a 16-byte SCBK")

    def capabilities(self) -> list[tuple[int, int, int]]:
        """Capability triples for libosdp (function code, compliance level, items)."""
        caps: list[tuple[int, int, int]] = []
        if self.outputs:
            caps.append((osdp.Capability.OutputControl, 1, self.outputs))
        if self.inputs:
            caps.append((osdp.Capability.ContactStatusMonitoring, 1, self.inputs))
        if self.reader:
            caps.append((osdp.Capability.CardDataFormat, 1, 1))
        if self.leds:
            caps.append((osdp.Capability.LEDControl, 1, self.leds))
        if self.buzzer:
            caps.append((osdp.Capability.AudibleControl, 1, 1))
        if self.secure:
            caps.append((osdp.Capability.CommunicationSecurity, 1, 1))
        return caps


class _PdChannel(osdp.Channel):  # type: ignore[misc]
    """One PD's view of the shared line."""

    def __init__(self, sim: OsdpPdSimulator, pd: _Pd) -> None:
        super().__init__()
        self._sim = sim
        self._pd = pd

    def read(self, max_bytes: int) -> bytes:
        rx = self._pd.rx
        data = bytes(rx[:max_bytes])
        del rx[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        return self._sim._send(self._pd, bytes(buf))

    def flush(self) -> None:
        self._pd.rx.clear()


class _Pd:
    def __init__(self, spec: PdSpec, model: PdModel, seed: int) -> None:
        self.spec = spec
        self.model = model
        self.rx = bytearray()
        self.ctx: Any = None
        self.key = spec.scbk
        self.fault = FaultMode.NONE
        self.drop_rate = 0.0
        self.rng = random.Random(seed)
        self.secure_active = False
        self.events = 0
        self.events_refused = 0
        self.dropped = 0


def _ack(status: int) -> tuple[int, None]:
    # libosdp 3.2.9's PD binding drops a reference to the tuple's second item
    # and leaks the tuple: a fresh tuple keeps None's refcount balanced; a
    # constant ``(0, None)`` (what osdp.PeripheralDevice returns) makes it
    # fall by one per command until CPython aborts.
    return (status, None)


def _noop_command(_command: object) -> tuple[int, None]:
    return _ack(0)


class OsdpPdSimulator:
    """OSDP PDs on a pty; ``path`` is the end a control panel opens."""

    def __init__(
        self,
        pds: Sequence[PdSpec],
        *,
        baudrate: int = 115200,
        refresh_s: float = 0.005,
        seed: int = 0,
        clock: Clock = time.monotonic,
        libosdp_log_level: int = 3,
    ) -> None:
        if not pds:
            raise SimError("no PDs to simulate")
        addresses = [p.address for p in pds]
        if len(set(addresses)) != len(addresses):
            raise SimError(f"PD addresses repeat: {addresses}")
        self.baudrate = baudrate
        self.refresh_s = refresh_s
        self._clock = clock
        self._log_level = libosdp_log_level
        now = clock()
        self._pds = {
            spec.address: _Pd(
                spec,
                PdModel(
                    address=spec.address,
                    outputs=spec.outputs,
                    inputs=spec.inputs,
                    relay_output=spec.relay_output,
                    relay_energised=spec.relay_energised,
                    passage_input=spec.passage_input,
                    watchdog_s=spec.watchdog_s,
                    started=now,
                ),
                seed + spec.address,
            )
            for spec in pds
        }
        self._default = pds[0].address
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self._wake_r = self._wake_w = -1
        self.path = ""
        self._schedule: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.rx_bytes = 0
        self.tx_bytes = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        """Create the pty and the PDs, start the line thread."""
        if self._thread is not None:
            raise SimError("already started")
        master, slave = os.openpty()
        try:
            tty.setraw(master)
            tty.setraw(slave)
            os.set_blocking(master, False)
            self.path = os.ttyname(slave)
            wake_r, wake_w = os.pipe()
        except BaseException:
            os.close(master)
            os.close(slave)
            raise
        self._master, self._slave, self._wake_r, self._wake_w = master, slave, wake_r, wake_w
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        try:
            osdp_sys.set_loglevel(self._log_level)
            with self._lock:
                for pd in self._pds.values():
                    self._build(pd)
        except BaseException:
            self._close_fds()
            raise
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"osdp-pd-sim:{self.path}")
        self._thread.start()
        log.info("OSDP PD simulator on %s, addresses %s", self.path, sorted(self._pds))
        return self

    def stop(self) -> None:
        """Stop the thread, drop the libosdp contexts, close the pty; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            self._wake()
            thread.join(5.0)
        with self._lock:
            for pd in self._pds.values():
                self._drop_ctx(pd)
        self._close_fds()

    def _close_fds(self) -> None:
        for name in ("_master", "_slave", "_wake_r", "_wake_w"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")

    # --- libosdp contexts -----------------------------------------------------------------

    def _build(self, pd: _Pd) -> None:
        spec = pd.spec
        key = pd.key if spec.secure else None
        info = osdp.PDInfo(
            spec.address,
            _PdChannel(self, pd),
            scbk=key,
            flags=[osdp.LibFlag.EnforceSecure] if spec.secure else [],
            id=osdp.PdId(2, spec.model, VENDOR_CODE, 1000 + spec.address, 0x010203),
        )
        caps = osdp.PDCapabilities(spec.capabilities())
        ctx = osdp_sys.PeripheralDevice(info.get(), capabilities=caps.get())
        ctx.set_command_callback(lambda command: self._on_command(pd, command))
        self._drop_ctx(pd)
        pd.ctx = ctx
        pd.rx.clear()
        pd.secure_active = False

    @staticmethod
    def _drop_ctx(pd: _Pd) -> None:
        ctx, pd.ctx = pd.ctx, None
        if ctx is not None:
            ctx.set_command_callback(_noop_command)  # break ctx -> lambda -> sim cycle
            del ctx

    def _on_command(self, pd: _Pd, command: dict[str, Any]) -> tuple[int, None]:
        try:
            status = pd.model.on_command(command, self._clock())
        except Exception:
            log.exception("PD %d: command handler failed", pd.spec.address)
            status = -1
        return _ack(status)

    # --- the line thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                timeout = self.refresh_s
                if self._schedule:
                    timeout = min(timeout, max(0.0, self._schedule[0][0] - self._clock()))
                readable, _, _ = select.select([self._master, self._wake_r], [], [], timeout)
                data = b""
                if self._master in readable:
                    data = self._read_master()
                if self._wake_r in readable:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_r, 4096)
                with self._lock:
                    self._step(data)
        except Exception:
            log.exception("OSDP PD simulator line thread failed")

    def _read_master(self) -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(self._master, 4096)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        self.rx_bytes += len(data)
        return data

    def _step(self, data: bytes) -> None:
        now = self._clock()
        while self._schedule and self._schedule[0][0] <= now:
            _, _, action = heapq.heappop(self._schedule)
            try:
                action()
            except (SimError, ModelError) as exc:
                log.warning("scheduled action failed: %s", exc)
        for pd in self._pds.values():
            if data:
                pd.model.heard(now)
                pd.rx += self._lossy(pd, data)
            if pd.fault is FaultMode.SILENT or pd.ctx is None:
                pd.rx.clear()
            else:
                pd.ctx.refresh()
                pd.secure_active = bool(pd.ctx.is_sc_active())
            pd.model.tick(self._clock())

    def _lossy(self, pd: _Pd, data: bytes) -> bytes:
        if pd.fault is not FaultMode.DROP_BYTES or pd.drop_rate <= 0:
            return data
        kept = bytes(b for b in data if pd.rng.random() >= pd.drop_rate)
        pd.dropped += len(data) - len(kept)
        return kept

    def _send(self, pd: _Pd, data: bytes) -> int:
        """A PD's reply onto the line (libosdp's write callback): all or nothing."""
        wire = self._lossy(pd, data)
        time.sleep(len(data) * BITS_PER_CHAR / self.baudrate)
        try:
            if wire:
                os.write(self._master, wire)
        except OSError as exc:
            log.debug("PD %d: write failed: %s", pd.spec.address, exc)
            return -1
        self.tx_bytes += len(wire)
        return len(data)

    def _at(self, due: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._schedule, (due, next(self._seq), action))
        self._wake()

    # --- control API (any thread) -----------------------------------------------------------

    def _pd(self, address: int | None) -> _Pd:
        pd = self._pds.get(self._default if address is None else address)
        if pd is None:
            raise SimError(f"no PD at address {address} (have {sorted(self._pds)})")
        return pd

    def _submit(self, pd: _Pd, event: dict[str, Any]) -> float:
        if pd.ctx is None:
            raise SimError("simulator is not running")
        ok = pd.ctx.submit_event(event)
        if not ok:
            pd.events_refused += 1
            raise SimError(f"PD {pd.spec.address}: libosdp refused the event (queue full?)")
        pd.events += 1
        self._wake()
        return self._clock()

    def card(
        self, hex_data: str, bits: int, *, address: int | None = None, wiegand: bool = False
    ) -> float:
        """Present a card: ``hex_data`` is the raw bits MSB first, padded to whole bytes.

        Returns the monotonic time the read was handed to libosdp.
        """
        try:
            data = bytes.fromhex(hex_data)
        except ValueError:
            raise SimError(f"card data is not hex: {hex_data!r}") from None
        if not 0 < bits <= len(data) * 8 or bits <= (len(data) - 1) * 8:
            raise SimError(f"{bits} bits do not fit {len(data)} bytes of card data")
        with self._lock:
            pd = self._pd(address)
            if not pd.spec.reader:
                raise SimError(f"PD {pd.spec.address} has no reader")
            return self._submit(
                pd,
                {
                    "event": osdp.Event.CardRead,
                    "reader_no": 0,
                    "format": osdp.CardFormat.Wiegand if wiegand else osdp.CardFormat.Unspecified,
                    "direction": 0,
                    "length": bits,
                    "data": data,
                },
            )

    def keypad(self, keys: str, *, address: int | None = None) -> float:
        """Type ``keys`` (digits, '*' clears, '#' enters), sent as OSDP key codes."""
        table = {"#": 0x0D, "*": 0x7F}
        if not keys or any(not (k.isdigit() or k in table) for k in keys):
            raise SimError(f"keys must be digits, '*' or '#': {keys!r}")
        data = bytes(table.get(k, ord(k)) for k in keys)
        with self._lock:
            pd = self._pd(address)
            return self._submit(pd, {"event": osdp.Event.KeyPress, "reader_no": 0, "data": data})

    def set_input(self, number: int, active: bool, *, address: int | None = None) -> float:
        """Change one input and report all inputs to the CP."""
        with self._lock:
            pd = self._pd(address)
            report = pd.model.set_input(number, active)
            return self._submit(
                pd,
                {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "report": report},
            )

    def walk_through(
        self,
        people: int = 1,
        *,
        address: int | None = None,
        interval_s: float = 0.6,
        dwell_s: float = 0.25,
    ) -> list[float]:
        """People pass the passage sensor: input active for ``dwell_s``, one every ``interval_s``.

        Returns the times each person starts breaking the beam.
        """
        if people < 1:
            raise SimError("walk_through needs at least one person")
        if dwell_s >= interval_s:
            raise SimError("dwell_s must be shorter than interval_s")
        with self._lock:
            pd = self._pd(address)
            beam = pd.spec.passage_input
            start = self._clock()
            times = [start + i * interval_s for i in range(people)]
            for t in times:
                self._at(t, lambda: self._set_input_locked(pd, beam, True))
                self._at(t + dwell_s, lambda: self._set_input_locked(pd, beam, False))
            return times

    def _set_input_locked(self, pd: _Pd, number: int, active: bool) -> None:
        report = pd.model.set_input(number, active)
        self._submit(
            pd, {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "report": report}
        )

    def tamper(self, on: bool, *, address: int | None = None) -> float:
        """Open or close the tamper switch."""
        with self._lock:
            pd = self._pd(address)
            report = pd.model.set_tamper(on)
            return self._submit(
                pd,
                {"event": osdp.Event.Status, "type": osdp.StatusReportType.Local, "report": report},
            )

    def set_fault(
        self, mode: str, *, address: int | None = None, rate: float | None = None
    ) -> dict[str, Any]:
        """Switch a PD's fault (``none`` restores it)."""
        try:
            fault = FaultMode(mode)
        except ValueError:
            raise SimError(
                f"unknown fault {mode!r} ({', '.join(m.value for m in FaultMode)})"
            ) from None
        with self._lock:
            pd = self._pd(address)
            if fault is FaultMode.DROP_BYTES:
                if rate is None or not 0 < rate < 1:
                    raise SimError("drop_bytes needs a rate between 0 and 1")
                pd.drop_rate = rate
            if fault is FaultMode.WRONG_KEY:
                if not pd.spec.secure or pd.spec.scbk is None:
                    raise SimError(f"PD {pd.spec.address} has no secure channel to get wrong")
                pd.key = bytes(b ^ 0x5A for b in pd.spec.scbk)
                self._build(pd)
            elif pd.key != pd.spec.scbk:
                pd.key = pd.spec.scbk
                self._build(pd)
            pd.fault = fault
            log.info("PD %d fault: %s", pd.spec.address, fault.value)
            return self._fault_dict(pd)

    @staticmethod
    def _fault_dict(pd: _Pd) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": pd.fault.value}
        if pd.fault is FaultMode.DROP_BYTES:
            out["rate"] = pd.drop_rate
        return out

    def state(self, address: int | None = None) -> dict[str, Any]:
        """One PD's model, link and fault as JSON-ready data."""
        with self._lock:
            pd = self._pd(address)
            now = self._clock()
            return {
                **pd.model.snapshot(now),
                "secure": pd.secure_active,
                "fault": self._fault_dict(pd),
                "events_sent": pd.events,
                "events_refused": pd.events_refused,
                "bytes_dropped": pd.dropped,
            }

    def states(self) -> list[dict[str, Any]]:
        """Every PD's state."""
        return [self.state(a) for a in sorted(self._pds)]

    def info(self) -> dict[str, Any]:
        """What a client needs to connect (the ready line)."""
        return {
            "path": self.path,
            "baudrate": self.baudrate,
            "pds": [
                {
                    "address": pd.spec.address,
                    "secure": pd.spec.secure,
                    "outputs": pd.spec.outputs,
                    "inputs": pd.spec.inputs,
                    "relay_output": pd.spec.relay_output,
                    "relay_energised": pd.spec.relay_energised,
                    "passage_input": pd.spec.passage_input,
                    "watchdog_s": pd.spec.watchdog_s,
                }
                for pd in self._pds.values()
            ],
        }
