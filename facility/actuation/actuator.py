"""Carry out the supervisor's actions on the equipment and report each one.

The actuator subscribes to ``ActionRequest`` messages and runs each against
its port. Kinds of action run concurrently, each in a lane of its own, so a
hung camera server or a slow tag fleet never delays the entry lock or a GPU
cap; within one kind requests are applied in order, and when several of one
kind are waiting only the newest is carried out (the others are reported as
superseded: a later ``SetEntry`` must not be overtaken by an earlier one,
and applying a stale one first would only waste time in a power event).

Every action has a time limit (``timeout_s``; per GPU for a GPU cap; host
shutdown is bounded by its runner instead), is verified by read-back where
the equipment gives one, and ends in an ``ActionOutcome`` on the bus. A
failure is logged and, through the ``action_failed`` alert rule, alerted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from devices.bus import Bus
from facility.actuation.outcome import ActionOutcome, action_kind
from facility.actuation.ports import (
    CameraControl,
    EntryControl,
    GpuCapper,
    LedgerControl,
    ScreenControl,
)
from facility.actuation.shutdown import HostShutdownRunner
from facility.supervisor.decisions import (
    ActionRequest,
    CapGpus,
    FlushLedger,
    SetCameras,
    SetEntry,
    SetScreens,
    ShutdownHost,
)

_LOGGER = logging.getLogger(__name__)

SOURCE = "actuation"

GPU_LIMIT_TOLERANCE_W = 1.0
"""Read-back tolerance of a GPU cap: boards round limits to whole watts or coarser."""


@dataclass(frozen=True, slots=True)
class _Result:
    ok: bool
    detail: str
    verified: bool = False
    failed: tuple[str, ...] = ()


@dataclass
class _Lane:
    """Requests of one kind waiting their turn, and the task working through them."""

    queue: deque[ActionRequest] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Actuator:
    """Runs action requests from ``bus`` against the ports given; ``run()`` until cancelled.

    A port left as None means the store has no such equipment (store.yaml names
    no screens, no GPUs, no gates): its requests succeed unverified with an
    outcome that says there was nothing to do, so a store without screens does
    not raise an alert at every mode change. Equipment that is configured but
    fails is a failed outcome. The host shutdown is the exception: without a
    runner it always fails (the host must go down). ``ready`` is set once the
    actuator listens on the bus.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        gpus: GpuCapper | None = None,
        entry: EntryControl | None = None,
        screens: ScreenControl | None = None,
        cameras: CameraControl | None = None,
        ledger: LedgerControl | None = None,
        shutdown: HostShutdownRunner | None = None,
        timeout_s: float = 10.0,
        gpu_tolerance_w: float = GPU_LIMIT_TOLERANCE_W,
        source: str = SOURCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(timeout_s) and timeout_s > 0):
            raise ValueError(f"actuator timeout_s must be > 0, got {timeout_s!r}")
        if not (math.isfinite(gpu_tolerance_w) and gpu_tolerance_w >= 0):
            raise ValueError(f"actuator gpu_tolerance_w must be >= 0, got {gpu_tolerance_w!r}")
        self.bus = bus
        self.gpus = gpus
        self.entry = entry
        self.screens = screens
        self.cameras = cameras
        self.ledger = ledger
        self.shutdown = shutdown
        self.timeout_s = timeout_s
        self.gpu_tolerance_w = gpu_tolerance_w
        self.source = source
        self.ready = asyncio.Event()
        self._clock = clock
        self._lanes: dict[str, _Lane] = {}

    # --- running ------------------------------------------------------------------------

    async def run(self) -> None:
        """Listen and act until cancelled; cancelling stops every lane (a pending shutdown too)."""
        sub = self.bus.subscribe(ActionRequest, maxsize=1000, name=f"{self.source}-actuator")
        try:
            async with asyncio.TaskGroup() as group:
                self.ready.set()
                async for message in sub:
                    assert isinstance(message, ActionRequest)
                    kind = action_kind(message)
                    lane = self._lanes.get(kind)
                    if lane is None:
                        lane = self._lanes[kind] = _Lane()
                        group.create_task(self._work(lane), name=f"{self.source}-{kind}")
                    lane.queue.append(message)
                    lane.wakeup.set()
        finally:
            sub.close()
            self._lanes.clear()
            self.ready.clear()

    async def _work(self, lane: _Lane) -> None:
        while True:
            while not lane.queue:
                lane.wakeup.clear()
                await lane.wakeup.wait()
            request = lane.queue.popleft()
            while lane.queue:  # only the newest of a kind is worth doing
                newer = lane.queue.popleft()
                await self._superseded(request, newer)
                request = newer
            await self.execute(request)

    async def _superseded(self, request: ActionRequest, by: ActionRequest) -> None:
        kind = action_kind(request)
        _LOGGER.info("%s for %s skipped: superseded by a newer request", kind, request.mode)
        await self.bus.publish(
            self._outcome(
                request,
                _Result(True, f"superseded by a newer {kind} request ({by.mode}) before it ran"),
                0.0,
            )
        )

    async def execute(self, request: ActionRequest) -> ActionOutcome:
        """Carry out one request now, publish its outcome and return it."""
        kind = action_kind(request)
        start = self._clock()
        try:
            result = await self._perform(request)
        except TimeoutError:
            result = _Result(False, f"no answer within {self.timeout_s:g} s")
        except Exception as exc:
            result = _Result(False, _error_text(exc))
        outcome = self._outcome(request, result, self._clock() - start)
        if outcome.ok:
            _LOGGER.info(
                "%s for %s done in %.2f s: %s",
                kind,
                request.mode,
                outcome.duration_s,
                result.detail,
            )
        else:
            _LOGGER.error("%s for %s FAILED: %s", kind, request.mode, result.detail)
        await self.bus.publish(outcome)
        return outcome

    def _outcome(self, request: ActionRequest, result: _Result, duration_s: float) -> ActionOutcome:
        kind = action_kind(request)
        return ActionOutcome(
            source=f"{self.source}.{kind}",
            t_mono=self._clock(),
            kind=kind,
            mode=request.mode,
            ok=result.ok,
            detail=result.detail,
            duration_s=duration_s,
            verified=result.verified and result.ok,
            failed=result.failed,
            request_source=request.source,
            request_t_mono=request.t_mono,
            reason=request.reason,
        )

    # --- the actions --------------------------------------------------------------------

    async def _perform(self, request: ActionRequest) -> _Result:
        if isinstance(request, CapGpus):
            return await self._cap_gpus(request)
        if isinstance(request, SetEntry):
            return await self._set_entry(request)
        if isinstance(request, SetScreens):
            return await self._set_screens(request)
        if isinstance(request, SetCameras):
            return await self._set_cameras(request)
        if isinstance(request, FlushLedger):
            return await self._flush_ledger()
        if isinstance(request, ShutdownHost):
            return await self._shutdown_host(request)
        return _Result(False, f"no actuation for {type(request).__name__}")

    async def _cap_gpus(self, request: CapGpus) -> _Result:
        gpus = self.gpus
        if gpus is None:
            return _Result(True, "no GPUs in this store")
        if not request.targets:
            return _Result(True, "no GPU to cap")
        # Each GPU on its own: one refusing (no permission, no settable limit) or
        # hanging leaves the others capped.
        results = await asyncio.gather(
            *(self._cap_one(gpus, source, watts) for source, watts in request.targets)
        )
        failed = tuple(
            source
            for (source, _), (ok, _, _) in zip(request.targets, results, strict=True)
            if not ok
        )
        detail = "; ".join(text for _, text, _ in results)
        verified = all(v for _, _, v in results)
        return _Result(not failed, detail, verified, failed)

    async def _cap_one(self, gpus: GpuCapper, source: str, watts: float) -> tuple[bool, str, bool]:
        """(ok, detail, verified) for one GPU."""
        try:
            async with asyncio.timeout(self.timeout_s):
                applied_w = await gpus.set_power_limit(source, watts)
                read_w = await gpus.read_power_limit(source)
        except TimeoutError:
            return False, f"{source}: no answer within {self.timeout_s:g} s", False
        except Exception as exc:
            return False, f"{source}: {_error_text(exc)}", False
        tol = self.gpu_tolerance_w
        if abs(applied_w - watts) > tol:
            return False, f"{source}: asked {watts:g} W, GPU enforces {applied_w:g} W", False
        if read_w is None:
            return True, f"{source}: {applied_w:g} W (no read-back)", False
        if abs(read_w - watts) > tol:
            return False, f"{source}: asked {watts:g} W, reads back {read_w:g} W", False
        return True, f"{source}: {read_w:g} W", True

    async def _set_entry(self, request: SetEntry) -> _Result:
        entry = self.entry
        if entry is None:
            return _Result(True, "no gates in this store")
        asked = "locked" if request.locked else "open"
        async with asyncio.timeout(self.timeout_s):
            await entry.set_locked(request.locked, request.reason or str(request.mode))
        state = entry.entry_locked()
        if state is None:
            return _Result(False, f"entry {asked} asked, but the gates are in emergency")
        if state != request.locked:
            now = "locked" if state else "open"
            return _Result(False, f"entry {asked} asked, reads back {now}")
        return _Result(True, f"entry {asked}; exits free", verified=True)

    async def _set_screens(self, request: SetScreens) -> _Result:
        screens = self.screens
        if screens is None:
            return _Result(True, "no screens in this store")
        async with asyncio.timeout(self.timeout_s):
            result = await screens.set_screens(request.screens)
        if result.failed:
            shown = ", ".join(result.not_updated[:10])
            more = (
                f" (+{len(result.not_updated) - 10} more)" if len(result.not_updated) > 10 else ""
            )
            return _Result(
                False,
                f"screens {request.screens}: {result.failed} of {result.total} did not confirm"
                + (f": {shown}{more}" if shown else ""),
                failed=result.not_updated,
            )
        if result.total == 0:
            return _Result(True, f"screens {request.screens}: no screens known")
        return _Result(True, f"screens {request.screens}: {result.done} confirmed", verified=True)

    async def _set_cameras(self, request: SetCameras) -> _Result:
        cameras = self.cameras
        if cameras is None:
            return _Result(True, "no camera control in this store")
        async with asyncio.timeout(self.timeout_s):
            now = await cameras.set_profile(request.profile)
        if now is None:
            return _Result(True, f"cameras {request.profile} (no read-back)")
        if now != request.profile:
            return _Result(False, f"cameras {request.profile} asked, profile reads {now}")
        return _Result(True, f"cameras {request.profile}", verified=True)

    async def _flush_ledger(self) -> _Result:
        ledger = self.ledger
        if ledger is None:
            return _Result(True, "no ledger in this store")
        async with asyncio.timeout(self.timeout_s):
            await ledger.flush()
        return _Result(True, "ledger flushed")

    async def _shutdown_host(self, request: ShutdownHost) -> _Result:
        runner = self.shutdown
        if runner is None:
            return _Result(False, "no host shutdown command configured")
        # ``after_s`` counts from the request's event time; time already passed is
        # deducted, but never more than asked (a replayed request is in the past).
        elapsed = min(max(0.0, self._clock() - request.t_mono), request.after_s)
        result = await runner.run(request.after_s - elapsed)
        return _Result(result.ok, result.detail, verified=result.ok and result.ran)
