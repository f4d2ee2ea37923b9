"""A named thread that runs blocking calls for the event loop, one at a time.

JPEG decoding, video capture and archive writes all block; they run here so
the loop that serves every other device in the store never waits on them.
Unlike an executor, :meth:`WorkerThread.stop` is awaitable and leaves no
thread behind: the thread signals its own exit to the loop, so closing a
camera never blocks the loop on a ``join``.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Task[Any], retry_s: float = 1.0) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again if it swallowed it.

    On Python 3.11 ``asyncio.wait_for`` (used inside aiomqtt) can swallow a
    cancellation that arrives together with the awaited result; the task then
    carries on as if nothing happened. Cancelling again until it ends makes
    ``close()`` reliable whatever the task was awaiting.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=retry_s)
    if not task.cancelled():
        task.exception()  # retrieved: an error while closing is not worth a warning


_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any]] | None


class WorkerThread:
    """One thread, a FIFO of jobs; results come back as awaited values."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exited: asyncio.Future[None] | None = None

    @property
    def running(self) -> bool:
        """The thread was started and not stopped."""
        return self._thread is not None

    def start(self) -> None:
        """Start the thread; must be called from the loop that awaits the results."""
        if self._thread is not None:
            raise RuntimeError(f"worker {self.name} already started")
        self._loop = asyncio.get_running_loop()
        self._exited = self._loop.create_future()
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the thread and return its result (or raise its exception).

        Cancelling the awaiting task does not interrupt a call already running:
        the thread finishes it and drops the result.
        """
        if self._loop is None or self._thread is None:
            raise RuntimeError(f"worker {self.name} is not running")
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put((fn, args, future))
        return await future

    async def stop(self) -> None:
        """Let the queued jobs finish, end the thread and join it; safe twice."""
        thread, exited = self._thread, self._exited
        self._thread = None
        if thread is None or exited is None:
            return
        self._jobs.put(None)
        await asyncio.shield(exited)
        thread.join()

    def _main(self) -> None:
        loop = self._loop
        assert loop is not None
        try:
            while (job := self._jobs.get()) is not None:
                fn, args, future = job
                if future.cancelled():
                    continue
                try:
                    result = fn(*args)
                except BaseException as exc:  # handed to the awaiting task
                    self._resolve(loop, future, None, exc)
                else:
                    self._resolve(loop, future, result, None)
        finally:
            exited = self._exited
            if exited is not None:
                self._resolve(loop, exited, None, None)

    @staticmethod
    def _resolve(
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        result: Any,
        exc: BaseException | None,
    ) -> None:
        def settle() -> None:
            if future.done():
                return
            if exc is not None:
                future.set_exception(exc)
            else:
                future.set_result(result)

        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(settle)
