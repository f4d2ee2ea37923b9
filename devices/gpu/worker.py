"""One thread that makes every NVML call, each under a deadline.

NVML calls block (ioctl into the kernel driver) and a wedged driver can
block them for ever, so they never run on the event loop. One dedicated
thread rather than ``asyncio.to_thread``: a hung call then holds one thread
of ours instead of piling up in the default executor that every other
driver shares, and calls are serialised, so a read-modify-write such as
the power-limit probe cannot interleave with a set.

After a call overruns its deadline the thread is still inside NVML; later
calls fail at once with ``DeviceTimeoutError`` (instead of queueing behind
it) until that call returns. Stopping never blocks the event loop on a call
in flight: the thread is left to finish its queue and end by itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from devices.errors import DeviceTimeoutError

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")


class NvmlWorker:
    """Runs callables on its own thread with a per-call timeout."""

    def __init__(self, device: str, *, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.device = device
        self.timeout_s = timeout_s
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._stuck: concurrent.futures.Future[Any] | None = None
        self._pending: list[concurrent.futures.Future[Any]] = []
        self._stuck_what = ""
        self._stuck_since = 0.0

    @property
    def started(self) -> bool:
        """Between ``start`` and ``stop``."""
        return self._executor is not None

    @property
    def stuck(self) -> bool:
        """A call overran its deadline and has not returned yet."""
        return self._stuck is not None and not self._stuck.done()

    def start(self) -> None:
        """Create the thread's executor (the thread itself starts with the first call)."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"nvml-{self.device}"
            )

    async def run(self, fn: Callable[[], T], *, what: str, timeout_s: float | None = None) -> T:
        """``fn()`` on the worker thread; its exceptions propagate unchanged."""
        if self._executor is None:
            raise RuntimeError("NVML worker not started")
        if self.stuck:
            raise DeviceTimeoutError(
                f"{what}: NVML has not returned from {self._stuck_what} for "
                f"{time.monotonic() - self._stuck_since:.0f} s; the NVIDIA driver may be hung",
                device=self.device,
            )
        limit_s = self.timeout_s if timeout_s is None else timeout_s
        future = self.submit(fn)
        try:
            async with asyncio.timeout(limit_s):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            if not future.done():
                self._stuck = future
                self._stuck_what = what
                self._stuck_since = time.monotonic()
            raise DeviceTimeoutError(
                f"{what}: NVML did not answer within {limit_s:g} s", device=self.device
            ) from None

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        """Queue ``fn`` without waiting for it (used for clean-up on cancellation)."""
        if self._executor is None:
            raise RuntimeError("NVML worker not started")
        self._pending = [f for f in self._pending if not f.done()]
        future = self._executor.submit(fn)
        self._pending.append(future)
        return future

    def stop(self) -> None:
        """Let the thread end: at once if idle, else once its queued calls are done.

        A thread stuck inside NVML cannot be killed; it is abandoned.
        """
        executor, self._executor = self._executor, None
        if executor is None:
            return
        busy = any(not f.done() for f in self._pending)
        self._pending = []
        if self.stuck:
            _LOGGER.warning(
                "%s: abandoning the NVML thread, still inside %s", self.device, self._stuck_what
            )
        executor.shutdown(wait=not busy)
