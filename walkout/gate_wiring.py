"""The store's gates from config: controllers, the credential check, the state machine.

One OSDP line (serial port, libosdp control panel) is shared by every gate
on it; a digital-I/O module is reached through the runtime's link of its
Modbus bus. Leaving the wiring's context releases every exit first (the
machine does that), then closes the controllers (which release again) and
the lines: on every path, an exit is the last thing left free.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from types import TracebackType

from pydantic import SecretBytes

from devices.bus import Bus
from devices.gate.checks import AllowListCheck, HttpCheck
from devices.gate.dio import DioGate
from devices.gate.dio_profile import get_dio_profile
from devices.gate.io import GateIo
from devices.gate.machine import CredentialCheck, GateMachine, GateSettings
from devices.gate.osdp import OsdpGate
from devices.gate.osdp_config import OsdpGateSettings, OsdpLineSettings
from devices.gate.osdp_line import OsdpLine, OsdpPdSpec
from devices.modbus.link import ModbusLink
from walkout.config import AllowListCheckConfig, GatesSection, OsdpController, StoreConfig

OSDP_KEY_BYTES = 16


def make_check(section: GatesSection) -> CredentialCheck:
    """The configured credential check (an HTTP one must be entered before use)."""
    check = section.check
    if isinstance(check, AllowListCheckConfig):
        return AllowListCheck(check.path)
    token = check.token.reveal() if check.token is not None else None
    return HttpCheck(check.url, timeout_s=check.timeout_s, token=token)


def _scbk(ctl: OsdpController) -> SecretBytes:
    """The PD's key from its secret reference (the 0600 file check included)."""
    return SecretBytes(ctl.scbk.reveal_bytes_hex(OSDP_KEY_BYTES))


def _osdp_settings(ctl: OsdpController) -> OsdpGateSettings:
    return OsdpGateSettings(
        address=ctl.address,
        scbk=_scbk(ctl),
        relay_output=ctl.relay_output,
        relay_energised=ctl.relay_energised,
        passage_input=ctl.passage_input,
    )


@dataclass
class GateWiring:
    """Every configured gate, built but not connected; ``async with`` runs them."""

    config: StoreConfig
    bus: Bus
    gates: dict[str, GateIo] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    lines: dict[str, OsdpLine] = field(default_factory=dict)
    machine: GateMachine | None = None
    _stack: AsyncExitStack | None = None

    @classmethod
    def build(
        cls,
        config: StoreConfig,
        bus: Bus,
        link_for_bus: Callable[[str], ModbusLink],
        only: str | None = None,
    ) -> GateWiring:
        """Controllers for every gate (or just ``only``); OSDP keys are read here."""
        wiring = cls(config, bus)
        section = config.gates
        if section is None:
            return wiring
        chosen = [g for g in section.gates if only is None or g.id == only]
        osdp_by_line: dict[str, list[tuple[str, OsdpController]]] = {}
        for gate in chosen:
            if isinstance(gate.controller, OsdpController):
                osdp_by_line.setdefault(gate.controller.line, []).append((gate.id, gate.controller))
        for line in section.osdp_lines:
            members = osdp_by_line.get(line.id, [])
            if not members:
                continue
            specs = [OsdpPdSpec(ctl.address, _scbk(ctl), name=gate_id) for gate_id, ctl in members]
            wiring.lines[line.id] = OsdpLine(
                OsdpLineSettings(port=line.port, baudrate=line.baudrate), specs
            )
        for gate in chosen:
            ctl = gate.controller
            io: GateIo
            if isinstance(ctl, OsdpController):
                io = OsdpGate(gate.id, _osdp_settings(ctl), line=wiring.lines[ctl.line], bus=bus)
            else:
                profile = get_dio_profile(ctl.profile, tuple(config.profile_dirs))
                io = DioGate(
                    gate.id, link_for_bus(ctl.bus), bus, profile, ctl.wiring, unit_id=ctl.unit_id
                )
            wiring.gates[gate.id] = io
            wiring.roles[gate.id] = gate.role
        return wiring

    async def connect(self) -> None:
        """Connect every controller; the first that fails undoes the others (released)."""
        stack = AsyncExitStack()
        try:
            for line in self.lines.values():
                stack.push_async_callback(line.close)
            for gate in self.gates.values():
                await gate.connect()
                stack.push_async_callback(gate.close)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def __aenter__(self) -> GateWiring:
        """Connect the controllers and start the state machine with the credential check."""
        await self.connect()
        assert self._stack is not None
        try:
            section = self.config.gates
            if section is not None and self.gates:
                check = make_check(section)
                if isinstance(check, HttpCheck):
                    await self._stack.enter_async_context(check)
                admission = section.admission
                self.machine = GateMachine(
                    self.bus,
                    check,
                    entries=[g for i, g in self.gates.items() if self.roles[i] == "entry"],
                    exits=[g for i, g in self.gates.items() if self.roles[i] == "exit"],
                    settings=GateSettings(
                        open_ms=admission.open_ms,
                        exit_open_ms=admission.exit_open_ms,
                        group_window_s=admission.group_window_s,
                        max_group_size=admission.max_group_size,
                        check_timeout_s=admission.check_timeout_s,
                    ),
                )
                await self._stack.enter_async_context(self.machine)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Machine (releases exits), controllers (release, close), lines; safe twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
