"""The UPS simulator for in-process use: model + SNMP agent + a pump timer.

::

    async with UpsSimulator() as ups:              # 127.0.0.1, a free UDP port
        print(ups.port)                            # point snmpget / pysnmp / NUT here
        ups.cut_grid()                             # traps go out now, upsOutputSource = battery(5)
        ups.set_load_w(1800)
        ups.restore_grid()

Time: by default the model follows ``time.monotonic``; ``accel=60`` makes a
model minute pass in a real second (runtimes, recharge, countdowns and the
one-minute on-battery trap all speed up); a test passes a
:class:`sim_devices.clock.ManualClock` and calls :meth:`UpsSimulator.pump`
after moving it. Every control method pumps, so notifications for what it
caused are on the wire when it returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from types import TracebackType
from typing import Any

from sim_devices.clock import AcceleratedClock
from sim_devices.ups.agent import SnmpAgent
from sim_devices.ups.config import TrapTarget, UpsConfig, UpsConfigError
from sim_devices.ups.faults import DeviceFault, WireFault
from sim_devices.ups.model import Clock, ModelError, UpsEvent, UpsModel

log = logging.getLogger(__name__)

PUMP_INTERVAL_S = 0.1
"""Real seconds between model updates when nobody asks: the latency of a trap for a
battery running low on its own. Cheap (one model update when nothing happens)."""


class UpsSimulatorError(Exception):
    """A control request the simulator refuses; the message says why."""


class UpsSimulator:
    """One simulated UPS with its SNMP agent, started and stopped together.

    ``host``/``port`` override the config's agent address; ``traps`` adds
    trap targets (``host:port[/v1|v2c[/community]]``).
    """

    def __init__(
        self,
        config: UpsConfig | None = None,
        *,
        clock: Clock | None = None,
        accel: float = 1.0,
        host: str | None = None,
        port: int | None = None,
        traps: list[str] | tuple[str, ...] = (),
        pump_interval_s: float = PUMP_INTERVAL_S,
    ) -> None:
        config = config if config is not None else UpsConfig()
        agent_overrides: dict[str, Any] = {}
        if host is not None:
            agent_overrides["host"] = host
        if port is not None:
            agent_overrides["port"] = port
        if traps:
            agent_overrides["traps"] = (*config.agent.traps, *traps)
        if agent_overrides:
            agent = config.agent.model_validate({**config.agent.model_dump(), **agent_overrides})
            config = config.model_copy(update={"agent": agent})
        self.config = config
        if clock is None and accel != 1.0:
            clock = AcceleratedClock(accel)
        self.accel = accel
        self.model = UpsModel(config.ups, clock)
        self.events: collections.deque[UpsEvent] = collections.deque(maxlen=1000)
        self.agent = SnmpAgent(self.model, config.agent, on_event=self.events.append)
        self.device_faults: set[DeviceFault] = set()
        self._pump_interval_s = pump_interval_s
        self._pump_task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the agent and start the pump timer."""
        await self.agent.start()
        self._pump_task = asyncio.create_task(self._pump_loop(), name="ups-sim-pump")
        log.info("UPS simulator up: SNMP %s:%s", self.host, self.port)

    async def stop(self) -> None:
        """Stop the pump and close the agent; idempotent."""
        task, self._pump_task = self._pump_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.agent.stop()

    async def __aenter__(self) -> UpsSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _pump_loop(self) -> None:
        while True:
            await asyncio.sleep(self._pump_interval_s)
            try:
                self.agent.pump()
            except Exception:
                log.exception("UPS model update failed")

    @property
    def host(self) -> str:
        """Address the agent listens on."""
        return self.agent.host

    @property
    def port(self) -> int:
        """UDP port of the agent."""
        return self.agent.port

    def pump(self) -> None:
        """Update the model to its clock now and send the notifications that follow."""
        self.agent.pump()

    # --- the bench's levers ---------------------------------------------------------------

    def cut_grid(self) -> None:
        """Mains lost."""
        self._do(self.model.cut_grid)

    def restore_grid(self) -> None:
        """Mains back."""
        self._do(self.model.restore_grid)

    def set_load_w(self, load_w: float) -> None:
        """Load on the output in watts."""
        self._do(self.model.set_load_w, load_w)

    def set_input_voltage(self, voltage_v: float) -> None:
        """Mains voltage (a sag or swell; outside the transfer points the UPS goes on battery)."""
        self._do(self.model.set_input, voltage_v=voltage_v)

    def set_input_frequency(self, frequency_hz: float) -> None:
        """Mains frequency."""
        self._do(self.model.set_input, frequency_hz=frequency_hz)

    def set_charge(self, charge_pct: float) -> None:
        """Battery state of charge in percent."""
        self._do(self.model.set_charge_pct, charge_pct)

    def set_ambient_temp(self, temp_c: float) -> None:
        """Room temperature around the battery."""
        self._do(self.model.set_ambient_temp_c, temp_c)

    def set_fault(
        self, mode: str, *, delay_s: float | None = None, on: bool = True
    ) -> dict[str, Any]:
        """Wire faults (``none`` clears all faults) or device faults (``on`` false clears one)."""
        if mode in DeviceFault._value2member_map_:
            device = DeviceFault(mode)
            if on:
                self.device_faults.add(device)
            else:
                self.device_faults.discard(device)
            setter = (
                self.model.set_battery_failed
                if device == DeviceFault.BATTERY_FAILED
                else self.model.set_overload_fault
            )
            self._do(setter, on)
        elif mode in WireFault._value2member_map_:
            wire = WireFault(mode)
            if delay_s is not None and not 0 <= delay_s <= 60:
                raise UpsSimulatorError(f"delay_s {delay_s} is outside 0..60")
            self.agent.fault.mode = wire
            if delay_s is not None:
                self.agent.fault.delay_s = delay_s
            if wire == WireFault.NONE:
                for device in list(self.device_faults):
                    self.set_fault(device.value, on=False)
        else:
            known = ", ".join([*WireFault, *DeviceFault])
            raise UpsSimulatorError(f"unknown fault mode {mode!r} ({known})")
        return self.faults()

    def faults(self) -> dict[str, Any]:
        """The faults in force."""
        return {
            "wire": self.agent.fault.as_dict(),
            "device": sorted(fault.value for fault in self.device_faults),
        }

    def add_trap_target(self, target: str | TrapTarget) -> TrapTarget:
        """Notify ``host:port[/v1|v2c[/community]]`` from now on."""
        parsed = self._target(target)
        self.agent.add_trap_target(parsed)
        return parsed

    def remove_trap_target(self, target: str | TrapTarget) -> TrapTarget:
        """Stop notifying a target."""
        parsed = self._target(target)
        if not self.agent.remove_trap_target(parsed):
            raise UpsSimulatorError(f"{parsed} is not a trap target")
        return parsed

    @staticmethod
    def _target(target: str | TrapTarget) -> TrapTarget:
        if isinstance(target, TrapTarget):
            return target
        try:
            return TrapTarget.parse(target)
        except UpsConfigError as exc:
            raise UpsSimulatorError(str(exc)) from None

    def _do(self, action: Any, *args: Any, **kwargs: Any) -> None:
        try:
            action(*args, **kwargs)
        except ModelError as exc:
            raise UpsSimulatorError(str(exc)) from None
        self.pump()

    # --- reporting ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Model state plus faults, trap targets and where the agent listens."""
        state = self.model.state()
        self.pump()
        state["faults"] = self.faults()
        state["trap_targets"] = [str(t) for t in self.agent.trap_targets]
        state["snmp"] = {"host": self.host, "port": self.port}
        state["accel"] = self.accel
        return state

    def stats(self) -> dict[str, Any]:
        """Agent counters."""
        return self.agent.counters.as_dict()
