"""NVIDIA GPUs through NVML: inventory, one polled device per GPU, power limits.

``NvmlGpus`` owns the host's NVML session (``nvmlInit``/``nvmlShutdown``,
which NVML counts per process) and the one thread every NVML call runs on;
``NvmlGpu`` is the ``PolledDevice`` of one GPU, reading through it. One
polled device per GPU, not one for all, because health is per GPU: a board
that fell off the bus goes offline and is retried on backoff by the polling
coordinator while its neighbours keep their rate, and the supervisor sees
which board's data is stale. The session is shared the way a Modbus link is
shared by the units on it: whoever opened it closes it.

A host without the NVIDIA driver, or without GPUs, is a state, not a
crash: ``open`` returns a ``GpuInventory`` with ``available=False`` and a
reason, and reads raise ``DeviceConnectionError`` with that reason.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Self, TypeVar

from devices.base import PolledDevice
from devices.errors import DeviceCommandError, DeviceConnectionError, DeviceError
from devices.gpu.api import NvmlApi, real_nvml, text
from devices.gpu.fields import FIELDS, Field, GpuSlot, Value
from devices.gpu.nvml_errors import (
    FIELD_NO_SAMPLE,
    FIELD_UNSUPPORTED,
    INIT_REASONS,
    INVALID_ARGUMENT,
    NO_PERMISSION,
    NOT_SUPPORTED,
    SET_LIMIT_PERMISSION,
    describe,
    device_error,
    error_code,
)
from devices.gpu.reading import GpuIdentity, GpuInventory, GpuReading, PowerLimitAccess
from devices.gpu.worker import NvmlWorker

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

LIMIT_TOLERANCE_MW = 1000
"""Read-back tolerance for a power limit: boards round limits to whole watts or coarser."""


class NvmlGpus:
    """The host's GPUs through one NVML session.

    ``nvml`` is the ``pynvml`` module (the default) or anything with its
    functions, such as the fake NVML. ``call_timeout_s`` bounds one GPU's
    whole reading (about fifteen NVML calls, normally a few ms in all);
    ``init_timeout_s`` is longer because ``nvmlInit`` on GPUs without
    persistence mode has to wake every board and takes seconds.
    """

    def __init__(
        self,
        nvml: NvmlApi | None = None,
        *,
        device_id: str = "gpu",
        call_timeout_s: float = 3.0,
        init_timeout_s: float = 30.0,
    ) -> None:
        self.device_id = device_id
        self._nvml = nvml
        self._init_timeout_s = init_timeout_s
        self._worker = NvmlWorker(device_id, timeout_s=call_timeout_s)
        self._refs = 0  # our nvmlInit calls not yet shut down; touched on the NVML thread only
        self._inventory: GpuInventory | None = None
        self._slots: dict[int, GpuSlot] = {}
        self._open_lock = asyncio.Lock()

    # --- session ------------------------------------------------------------------------------

    @property
    def inventory(self) -> GpuInventory | None:
        """What ``open`` found; None before it ran."""
        return self._inventory

    async def open(self) -> GpuInventory:
        """Initialise NVML and list the GPUs; never raises for a host without them.

        A failed or empty open holds nothing (no thread, no NVML reference)
        and is remembered: ``close`` then ``open`` tries again.
        """
        async with self._open_lock:
            if self._inventory is None:
                try:
                    self._inventory = await self._open()
                except BaseException:  # cancelled, or a bug: leave nothing behind
                    self._slots.clear()
                    self._release_later()
                    raise
            return self._inventory

    async def _open(self) -> GpuInventory:
        try:
            nvml = self._nvml if self._nvml is not None else real_nvml()
        except ImportError as exc:
            return await self._unavailable(f"nvidia-ml-py (pynvml) is not installed: {exc}")
        self._nvml = nvml
        self._worker.start()
        try:
            await self._worker.run(self._init, what="nvmlInit", timeout_s=self._init_timeout_s)
        except DeviceError as exc:  # nvmlInit overran its deadline
            return await self._unavailable(str(exc))
        except Exception as exc:
            if error_code(exc) is None:
                raise
            return await self._unavailable(
                INIT_REASONS.get(error_code(exc) or 0, f"NVML init failed: {describe(exc)}")
            )
        try:
            inventory = await self._worker.run(self._discover, what="listing GPUs")
        except Exception as exc:
            if error_code(exc) is None and not isinstance(exc, DeviceError):
                raise
            return await self._unavailable(f"listing GPUs failed: {describe(exc)}")
        if not inventory.available:
            self._slots.clear()
            await self._shutdown()
        _LOGGER.info(
            "NVML: %s",
            ", ".join(f"GPU {g.index} {g.name} {g.uuid}" for g in inventory.gpus)
            or inventory.reason,
        )
        return inventory

    def _init(self) -> None:
        self._api().nvmlInit()
        self._refs += 1

    def _release(self) -> None:
        """On the NVML thread: one nvmlShutdown per successful nvmlInit of ours."""
        while self._refs:
            self._refs -= 1
            self._api().nvmlShutdown()

    async def _unavailable(self, reason: str) -> GpuInventory:
        self._slots.clear()
        await self._shutdown()
        _LOGGER.info("NVML unavailable: %s", reason)
        return GpuInventory(
            source=self.device_id, t_mono=time.monotonic(), available=False, reason=reason
        )

    def _discover(self) -> GpuInventory:
        """On the NVML thread: driver version, count, and each GPU's handle and identity."""
        nvml = self._api()
        try:
            driver: str | None = text(nvml.nvmlSystemGetDriverVersion())
        except Exception as exc:
            if error_code(exc) is None:
                raise
            driver = None
        count = nvml.nvmlDeviceGetCount()
        gpus: list[GpuIdentity] = []
        for index in range(count):
            slot = GpuSlot(index, f"{self.device_id}{index}")
            self._slots[index] = slot
            try:
                self._identify(slot)
            except Exception as exc:
                if error_code(exc) is None:
                    raise
                gpus.append(GpuIdentity(index, error=describe(exc)))
                continue
            gpus.append(GpuIdentity(index, slot.uuid, slot.name))
        answering = [g for g in gpus if g.error is None]
        if not count:
            reason = "NVML found no NVIDIA GPU on this host"
        elif not answering:
            reason = f"none of the {count} GPU(s) answered: {gpus[0].error}"
        else:
            reason = f"{len(answering)} of {count} GPU(s) answering"
        return GpuInventory(
            source=self.device_id,
            t_mono=time.monotonic(),
            available=bool(answering),
            reason=reason,
            driver_version=driver,
            gpus=tuple(gpus),
        )

    async def close(self) -> None:
        """Release NVML and the thread; safe to call twice."""
        await self._shutdown()
        self._slots.clear()
        self._inventory = None

    async def _shutdown(self) -> None:
        if not self._worker.started:
            return
        if self._worker.stuck:
            self._release_later()
            return
        try:
            await self._worker.run(self._release, what="nvmlShutdown")
        except Exception as exc:  # a failing driver must not stop the close
            _LOGGER.warning("%s: nvmlShutdown failed: %s", self.device_id, describe(exc))
        finally:
            self._worker.stop()

    def _release_later(self) -> None:
        """Queue the NVML release behind whatever the thread is doing and let it end there.

        For a hung call or a cancelled open: the event loop does not wait, and
        an ``nvmlInit`` that completes late is still matched by its shutdown.
        """
        if self._worker.started:
            self._worker.submit(self._release)
            self._worker.stop()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _api(self) -> NvmlApi:
        if self._nvml is None:
            raise RuntimeError("NVML session not opened")
        return self._nvml

    def require(self, index: int) -> None:
        """Raise ``DeviceConnectionError`` saying why GPU ``index`` cannot be read, if it cannot."""
        self._slot(index)

    def _slot(self, index: int) -> GpuSlot:
        """The GPU's slot, or why it cannot be read."""
        inventory = self._inventory
        if inventory is None:
            raise DeviceConnectionError(
                "NVML session not open", device=f"{self.device_id}{index}", address="nvml"
            )
        if not inventory.available:
            raise DeviceConnectionError(
                inventory.reason, device=f"{self.device_id}{index}", address="nvml"
            )
        slot = self._slots.get(index)
        if slot is None:
            raise DeviceConnectionError(
                f"no GPU {index}: NVML lists {len(self._slots)} GPU(s)",
                device=f"{self.device_id}{index}",
                address="nvml",
            )
        return slot

    @staticmethod
    def _address(slot: GpuSlot) -> str:
        return f"nvml index {slot.index}" + (f" {slot.uuid}" if slot.uuid else "")

    def devices(self, ids: Mapping[int, str] | None = None) -> list[NvmlGpu]:
        """One polled device per GPU found (``ids`` names them, default ``gpu<index>``)."""
        out: list[NvmlGpu] = []
        for index, slot in sorted(self._slots.items()):
            if ids is not None and index in ids:
                slot.device_id = ids[index]
            out.append(NvmlGpu(self, index, slot.device_id))
        return out

    async def _run(self, slot: GpuSlot, fn: Callable[[], T], doing: str) -> T:
        """``fn`` on the NVML thread; NVML errors become driver errors naming the GPU."""
        try:
            return await self._worker.run(fn, what=doing)
        except DeviceError:
            raise
        except Exception as exc:
            if error_code(exc) is None:
                raise
            slot.handle = None  # a lost or reset GPU needs a fresh handle
            raise device_error(
                exc, doing, device=slot.device_id, address=self._address(slot)
            ) from exc

    def _handle(self, slot: GpuSlot) -> object:
        """The GPU's handle, fetched again after a failure; the UUID must not have changed."""
        if slot.handle is not None:
            return slot.handle
        nvml = self._api()
        handle = nvml.nvmlDeviceGetHandleByIndex(slot.index)
        if slot.uuid is not None:  # seen before: it must still be the same board
            uuid = text(nvml.nvmlDeviceGetUUID(handle))
            if uuid != slot.uuid:
                raise DeviceConnectionError(
                    f"NVML index {slot.index} is now {uuid}, was {slot.uuid}: the GPUs were "
                    "renumbered (a board is missing?); reopen NVML",
                    device=slot.device_id,
                    address=self._address(slot),
                )
        slot.handle = handle
        return handle

    def _identify(self, slot: GpuSlot) -> None:
        """Name and UUID, each tolerated as unsupported like any other field."""
        nvml = self._api()
        handle = self._handle(slot)
        for f in FIELDS[:2]:
            (value,) = self._read_field(nvml, slot, handle, f)
            if value is not None:
                slot.static[f.names[0]] = value
        name, uuid = slot.static.get("name"), slot.static.get("uuid")
        slot.name = name if isinstance(name, str) else None
        slot.uuid = uuid if isinstance(uuid, str) else None

    # --- reading ------------------------------------------------------------------------------

    async def read(self, index: int) -> GpuReading:
        """One reading of GPU ``index``; raises ``DeviceError`` for that GPU only."""
        slot = self._slot(index)
        return await self._run(slot, lambda: self._read_sync(slot), f"reading GPU {index}")

    async def read_all(self) -> dict[int, GpuReading | DeviceError]:
        """Every GPU once, each with its reading or its error (for checks and scripts)."""
        out: dict[int, GpuReading | DeviceError] = {}
        for index in sorted(self._slots):
            try:
                out[index] = await self.read(index)
            except DeviceError as exc:
                out[index] = exc
        return out

    def _read_sync(self, slot: GpuSlot) -> GpuReading:
        nvml = self._api()
        handle = self._handle(slot)
        start = time.monotonic()
        values: dict[str, Value] = {}
        for f in FIELDS:
            if f.static and all(name in slot.static for name in f.names):
                values.update((name, slot.static[name]) for name in f.names)
                continue
            if f.names[0] in slot.unsupported:
                values.update((name, None) for name in f.names)
                continue
            got = self._read_field(nvml, slot, handle, f)
            values.update(zip(f.names, got, strict=True))
            if f.static and got[0] is not None:
                slot.static.update(zip(f.names, got, strict=True))
        end = time.monotonic()
        if slot.uuid is None and isinstance(values["uuid"], str):
            slot.uuid = values["uuid"]
        if slot.name is None and isinstance(values["name"], str):
            slot.name = values["name"]
        unsupported = tuple(f for f in _FIELD_ORDER if f in slot.unsupported)
        return GpuReading(
            source=slot.device_id,
            t_mono=(start + end) / 2,
            index=slot.index,
            unsupported=unsupported,
            **values,  # type: ignore[arg-type]
        )

    def _read_field(
        self, nvml: NvmlApi, slot: GpuSlot, handle: object, f: Field
    ) -> tuple[Value, ...]:
        """One field group; unsupported -> None for good, no sample -> None this time."""
        names = f.names
        if not f.available_in(nvml):  # an nvidia-ml-py older than the call
            slot.unsupported.update(names)
            return (None,) * len(names)
        try:
            return f.read(nvml, slot, handle)
        except Exception as exc:
            code = error_code(exc)
            if code in FIELD_UNSUPPORTED:
                slot.unsupported.update(names)
                _LOGGER.info(
                    "%s (%s): %s gives %s; %s reported as unknown from now on",
                    slot.device_id,
                    slot.name,
                    f.function,
                    describe(exc),
                    "/".join(names),
                )
                return (None,) * len(names)
            if code in FIELD_NO_SAMPLE:
                return (None,) * len(names)
            raise

    # --- power limit --------------------------------------------------------------------------

    async def set_power_limit(self, index: int, watts: float) -> float:
        """Set GPU ``index``'s power limit and return the enforced limit read back (W).

        Refused before touching the GPU when ``watts`` is outside the range
        the board allows; ``DeviceCommandError`` when NVML refuses (not root)
        or the enforced limit does not read back as asked.
        """
        slot = self._slot(index)
        if not math.isfinite(watts):
            raise DeviceCommandError(
                f"power limit must be a finite number of watts, got {watts!r}",
                device=slot.device_id,
            )
        return await self._run(
            slot, lambda: self._set_limit_sync(slot, watts), f"setting GPU {index} power limit"
        )

    def _constraints(self, slot: GpuSlot, handle: object) -> tuple[int, int] | None:
        try:
            lo, hi = self._api().nvmlDeviceGetPowerManagementLimitConstraints(handle)
        except Exception as exc:
            if error_code(exc) in FIELD_UNSUPPORTED:
                return None
            raise
        return lo, hi

    def _set_limit_sync(self, slot: GpuSlot, watts: float) -> float:
        nvml = self._api()
        handle = self._handle(slot)
        where = {"device": slot.device_id, "address": self._address(slot)}
        constraints = self._constraints(slot, handle)
        if constraints is None:
            raise DeviceCommandError(
                f"GPU {slot.index} ({slot.name}) has no settable power limit", **where
            )
        lo, hi = constraints
        limit_mw = round(watts * 1000)
        allowed = f"{lo / 1000:g}-{hi / 1000:g} W"
        if not lo <= limit_mw <= hi:
            raise DeviceCommandError(
                f"{watts:g} W is outside the power limit range of GPU {slot.index} "
                f"({slot.name}): {allowed}",
                **where,
            )
        try:
            nvml.nvmlDeviceSetPowerManagementLimit(handle, limit_mw)
        except Exception as exc:
            code = error_code(exc)
            if code == NO_PERMISSION:
                raise DeviceCommandError(SET_LIMIT_PERMISSION, **where) from exc
            if code == NOT_SUPPORTED:
                raise DeviceCommandError(
                    f"GPU {slot.index} ({slot.name}) does not allow setting its power limit",
                    **where,
                ) from exc
            if code == INVALID_ARGUMENT:
                raise DeviceCommandError(
                    f"GPU {slot.index} refused {watts:g} W as invalid (range {allowed})", **where
                ) from exc
            raise
        enforced_mw = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
        if abs(enforced_mw - limit_mw) > LIMIT_TOLERANCE_MW:
            managed_mw = nvml.nvmlDeviceGetPowerManagementLimit(handle)
            why = (
                "another, lower limit is in force"
                if abs(managed_mw - limit_mw) <= LIMIT_TOLERANCE_MW
                else f"the limit reads {managed_mw / 1000:g} W"
            )
            raise DeviceCommandError(
                f"set {watts:g} W but GPU {slot.index} enforces {enforced_mw / 1000:g} W: {why}",
                **where,
            )
        _LOGGER.info(
            "%s: power limit set to %g W (enforced %g W)",
            slot.device_id,
            watts,
            enforced_mw / 1000,
        )
        return enforced_mw / 1000

    async def can_set_power_limit(self, index: int) -> PowerLimitAccess:
        """Whether the power limit of GPU ``index`` can be changed, without changing it.

        The probe sets the present (power-management) limit to itself: NVML
        checks permission before anything else, so a refusal is certain and
        an acceptance changes nothing. Runs on the NVML thread, so none of our
        own limit changes can slip in between the read and the write.
        """
        slot = self._slot(index)
        return await self._run(
            slot, lambda: self._probe_sync(slot), f"probing GPU {index} power limit"
        )

    def _probe_sync(self, slot: GpuSlot) -> PowerLimitAccess:
        nvml = self._api()
        handle = self._handle(slot)
        constraints = self._constraints(slot, handle)
        if constraints is None:
            return PowerLimitAccess(
                slot.index, False, f"GPU {slot.index} ({slot.name}) has no settable power limit"
            )
        lo, hi = constraints
        current_mw = nvml.nvmlDeviceGetPowerManagementLimit(handle)
        result = {"limit_w": current_mw / 1000, "min_w": lo / 1000, "max_w": hi / 1000}
        try:
            nvml.nvmlDeviceSetPowerManagementLimit(handle, current_mw)
        except Exception as exc:
            code = error_code(exc)
            if code == NO_PERMISSION:
                return PowerLimitAccess(slot.index, False, SET_LIMIT_PERMISSION, **result)
            if code in (NOT_SUPPORTED, INVALID_ARGUMENT):
                return PowerLimitAccess(
                    slot.index,
                    False,
                    f"GPU {slot.index} ({slot.name}) refuses power limit changes: {describe(exc)}",
                    **result,
                )
            raise
        return PowerLimitAccess(
            slot.index,
            True,
            f"power limit can be set within {lo / 1000:g}-{hi / 1000:g} W "
            f"(now {current_mw / 1000:g} W)",
            **result,
        )


_FIELD_ORDER: tuple[str, ...] = tuple(name for f in FIELDS for name in f.names)


class NvmlGpu(PolledDevice[GpuReading]):
    """One GPU, polled through its ``NvmlGpus`` session (which its owner opens and closes)."""

    def __init__(self, gpus: NvmlGpus, index: int, device_id: str) -> None:
        super().__init__(device_id)
        self.gpus = gpus
        self.index = index

    async def connect(self) -> None:
        """Open the shared session if needed; fails when this GPU cannot be read."""
        await self.gpus.open()
        self.gpus.require(self.index)

    async def read(self) -> GpuReading:
        """One reading of this GPU."""
        return await self.gpus.read(self.index)

    async def close(self) -> None:
        """Nothing of its own: the session belongs to whoever opened ``NvmlGpus``."""

    async def set_power_limit(self, watts: float) -> float:
        """See ``NvmlGpus.set_power_limit``."""
        return await self.gpus.set_power_limit(self.index, watts)

    async def can_set_power_limit(self) -> PowerLimitAccess:
        """See ``NvmlGpus.can_set_power_limit``."""
        return await self.gpus.can_set_power_limit(self.index)
