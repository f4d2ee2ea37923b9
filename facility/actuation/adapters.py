"""The actuator's ports on walkout's own drivers: NVML GPUs, the gate machine, price tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from devices.esl.fleet import EslFleet
from devices.esl.model import TagMode
from devices.gate.machine import GateMachine, GateMode
from devices.gpu.nvml import NvmlGpu
from facility.actuation.ports import ScreenResult


class UnknownGpu(LookupError):
    """A cap names a GPU source id that no NVML device has."""


class NvmlGpuCapper:
    """``GpuCapper`` on the NVML driver's per-GPU devices (``NvmlGpus.devices()``).

    ``NvmlGpu.set_power_limit`` already checks the enforced limit right after
    setting it; ``read_power_limit`` takes a fresh reading, so the actuator's
    read-back also sees a limit that another tool or the board changed since.
    """

    def __init__(self, gpus: Iterable[NvmlGpu]) -> None:
        self._gpus = {gpu.device_id: gpu for gpu in gpus}

    def _gpu(self, source: str) -> NvmlGpu:
        gpu = self._gpus.get(source)
        if gpu is None:
            known = ", ".join(sorted(self._gpus)) or "none"
            raise UnknownGpu(f"no GPU with source id {source!r} (known: {known})")
        return gpu

    async def set_power_limit(self, source: str, watts: float) -> float:
        """Set and return the enforced limit (W); ``DeviceError`` when the GPU refuses."""
        return await self._gpu(source).set_power_limit(watts)

    async def read_power_limit(self, source: str) -> float | None:
        """The enforced limit of a fresh reading (W)."""
        return (await self._gpu(source).read()).power_limit_w


class EntryInEmergency(RuntimeError):
    """The gates are held free by an emergency; only ``clear_emergency`` may change them."""


class GateEntryControl:
    """``EntryControl`` on the gate state machine.

    Locking the entry is the machine's ``entry_locked`` mode: new credentials
    are refused, groups already admitted finish, exits open on request as
    always. A fire alarm's (or the fail-safe's) emergency is never ended by a
    supervisor action. An emergency admits nobody, so it already is a locked
    entry (every door held free for people to get out): asking to lock it then
    is satisfied as it stands, asking to open it is refused.
    """

    def __init__(self, machine: GateMachine) -> None:
        self.machine = machine

    async def set_locked(self, locked: bool, reason: str) -> None:
        """Switch between ``normal`` and ``entry_locked``."""
        if self.machine.mode is GateMode.EMERGENCY:
            if locked:
                return  # nobody is admitted in an emergency
            raise EntryInEmergency("gates are in emergency: the entry admits nobody until it ends")
        await self.machine.set_mode(GateMode.ENTRY_LOCKED if locked else GateMode.NORMAL, reason)

    def entry_locked(self) -> bool | None:
        """From the machine's mode (what it enforces on every credential)."""
        return self.machine.mode in (GateMode.ENTRY_LOCKED, GateMode.EMERGENCY)

    async def emergency(self, reason: str) -> None:
        """Every gate released and held (the machine releases before it returns)."""
        await self.machine.set_mode(GateMode.EMERGENCY, reason)

    def in_emergency(self) -> bool:
        """Whether the machine is in emergency mode."""
        return self.machine.mode is GateMode.EMERGENCY

    async def clear_emergency(self, *, locked: bool, reason: str) -> None:
        """Back to ``entry_locked`` or ``normal``; nothing happens outside an emergency."""
        if self.machine.mode is GateMode.EMERGENCY:
            await self.machine.set_mode(
                GateMode.ENTRY_LOCKED if locked else GateMode.NORMAL, reason
            )


SCREEN_TAG_MODES: Mapping[str, TagMode] = MappingProxyType(
    {"normal": TagMode.NORMAL, "static": TagMode.NO_ANIMATIONS, "off": TagMode.DIMMED}
)
"""Supervisor screen modes to tag modes.

``off`` is ``dimmed``, not ``blank``: shoppers still inside a closing store
must see prices, and a blank e-paper tag saves nothing (it holds its image
unpowered). ``static`` drops ads and animations.
"""


class EslScreenControl:
    """``ScreenControl`` on the price-tag fleet: every known tag switched, acks counted."""

    def __init__(self, fleet: EslFleet, modes: Mapping[str, TagMode] = SCREEN_TAG_MODES) -> None:
        self.fleet = fleet
        self.modes = dict(modes)

    async def set_screens(self, mode: str) -> ScreenResult:
        """Switch every tag; a tag that did not ack counts as failed."""
        tag_mode = self.modes.get(mode)
        if tag_mode is None:
            raise ValueError(f"screen mode must be one of {sorted(self.modes)}, got {mode!r}")
        result = await self.fleet.set_mode_all(tag_mode)
        failed = result.not_updated
        return ScreenResult(len(result.results) - len(failed), len(failed), tuple(failed))
