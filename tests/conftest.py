"""Fixtures shared by every test, and the leak checks every test runs under.

Each test fails (reported as an error at teardown) when it leaves behind:

- a thread, a child process, or an open file descriptor (socket, pipe, file, pty ...):
  ``_leakcheck_1_resources`` compares a snapshot taken before the test's function-scoped
  fixtures (its event loop included) with the state after they are all torn down;
- for ``async def`` tests, a task still pending in the test's event loop:
  ``_leakcheck_2_tasks`` runs an async fixture in that loop which compares
  ``asyncio.all_tasks()`` at setup and at teardown.

What a test is left to finish gets a short grace (``WALKOUT_LEAK_GRACE_S``, default 1 s),
polled, so a thread or process on its way out does not fail the test. Resources owned by
wider-scoped fixtures (module, session) exist before the snapshot and are not counted.
Leaked child processes are killed and leaked tasks cancelled after they are reported, so
later tests start clean; leaked threads and descriptors cannot be reclaimed safely.

The two autouse fixtures are ordered by name (pytest sets up the autouse fixtures of one
conftest in sorted order): the resource snapshot must come before the event loop is made,
and its check after the loop is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# onnxruntime opens a SQLite file under ~/.cache/Microsoft/DeveloperTools when first
# imported and keeps it for the life of the process: import it before any per-test
# descriptor snapshot, so it is never reported as a leak of whichever test came first.
import onnxruntime  # noqa: F401
import psutil
import pytest
import pytest_asyncio

pytest_plugins = ["pytester"]

GRACE_S = float(os.environ.get("WALKOUT_LEAK_GRACE_S", "1.0"))
POLL_S = 0.01
HARDWARE_ENV = "WALKOUT_HARDWARE"
_PROC_FD = Path("/proc/self/fd")
_PROC_TASK = Path("/proc/self/task")
_LoopScope = Literal["function", "class", "module", "package", "session"]
_LOOP_SCOPES: tuple[_LoopScope, ...] = ("function", "class", "module", "package", "session")


# --- hardware tests ---------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-hardware",
        action="store_true",
        default=False,
        help=f"run tests marked 'hardware' (real devices on the bus); same as {HARDWARE_ENV}=1",
    )


def _hardware_enabled(config: pytest.Config) -> bool:
    env = os.environ.get(HARDWARE_ENV, "").strip().lower()
    return bool(config.getoption("--run-hardware")) or env in {"1", "true", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _hardware_enabled(config):
        return
    skip = pytest.mark.skip(
        reason=f"needs real hardware: run with --run-hardware or {HARDWARE_ENV}=1"
    )
    for item in items:
        if item.get_closest_marker("hardware") is not None:
            item.add_marker(skip)


# --- small fixtures -----------------------------------------------------------------------


@pytest.fixture
def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- leak checks: threads, child processes, file descriptors ---------------------------------


def _loop_scope(item: pytest.Item) -> str | None:
    """The scope of the event loop an async test runs in; None for a sync test."""
    if not pytest_asyncio.is_async_test(item):
        return None
    marker = item.get_closest_marker("asyncio")
    scope = (marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")) if marker else None
    return str(scope or item.config.getini("asyncio_default_test_loop_scope") or "function")


def _children() -> dict[tuple[int, float], psutil.Process]:
    """Live (not zombie) descendants of this process, keyed by (pid, start time)."""
    out: dict[tuple[int, float], psutil.Process] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                out[(proc.pid, proc.create_time())] = proc
        except psutil.Error:  # exited meanwhile
            continue
    return out


def _fds() -> dict[int, str]:
    """Open descriptors of this process: number -> link target ("socket:[123]", a path ...)."""
    if not _PROC_FD.is_dir():  # not Linux: nothing to compare
        return {}
    out: dict[int, str] = {}
    for entry in os.listdir(_PROC_FD):
        try:
            out[int(entry)] = os.readlink(_PROC_FD / entry)
        except OSError:  # closed meanwhile (e.g. the directory handle listdir used)
            continue
    return out


def _thread_alive(thread: threading.Thread) -> bool:
    # Threads started outside the threading module (C libraries calling back into Python)
    # appear as dummy threads that threading never marks as finished: ask the kernel.
    if isinstance(thread, threading._DummyThread):
        return thread.native_id is not None and (_PROC_TASK / str(thread.native_id)).exists()
    return thread.is_alive()


@dataclass
class _Leaks:
    threads: list[threading.Thread] = field(default_factory=list)
    children: list[psutil.Process] = field(default_factory=list)
    fds: dict[int, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.threads or self.children or self.fds)


@dataclass
class _Snapshot:
    threads: set[threading.Thread]
    children: set[tuple[int, float]]
    fds: set[tuple[int, str]]
    ignore_thread: Callable[[threading.Thread], bool]

    @classmethod
    def take(cls, ignore_thread: Callable[[threading.Thread], bool]) -> _Snapshot:
        return cls(
            threads=set(threading.enumerate()),
            children=set(_children()),
            fds=set(_fds().items()),
            ignore_thread=ignore_thread,
        )

    def new_since(self) -> _Leaks:
        return _Leaks(
            threads=[
                t
                for t in threading.enumerate()
                if t not in self.threads and not self.ignore_thread(t) and _thread_alive(t)
            ],
            children=[p for key, p in _children().items() if key not in self.children],
            fds={fd: tgt for fd, tgt in _fds().items() if (fd, tgt) not in self.fds},
        )

    def leaks_after_grace(self) -> _Leaks:
        """What is still new after up to GRACE_S of polling for it to go away."""
        deadline = time.monotonic() + GRACE_S
        while True:
            leaks = self.new_since()
            if not leaks or time.monotonic() >= deadline:
                return leaks
            time.sleep(POLL_S)


def _describe_thread(thread: threading.Thread) -> str:
    target = getattr(thread, "_target", None)
    where = f" target={getattr(target, '__qualname__', target)!r}" if target else ""
    return f"thread {thread!r}{where}"


def _describe_process(proc: psutil.Process) -> str:
    try:
        cmd = " ".join(proc.cmdline()) or proc.name()
        status = proc.status()
    except psutil.Error:
        return f"child process pid {proc.pid} (exited while being described)"
    if len(cmd) > 200:
        cmd = cmd[:197] + "..."
    return f"child process pid {proc.pid} ({status}): {cmd}"


def _addr(addr: Any) -> str:
    if not addr:
        return "-"
    if isinstance(addr, str):  # unix socket path ("" when unnamed)
        return addr
    return f"{addr[0]}:{addr[1]}"


def _describe_fds(fds: dict[int, str]) -> list[str]:
    try:
        conns = {c.fd: c for c in psutil.Process().net_connections(kind="all")}
    except psutil.Error:
        conns = {}
    lines = []
    for fd, target in sorted(fds.items()):
        conn = conns.get(fd)
        if conn is None:
            lines.append(f"fd {fd} -> {target}")
            continue
        family = socket.AddressFamily(conn.family).name
        kind = socket.SocketKind(conn.type).name
        status = f" {conn.status}" if conn.status and conn.status != psutil.CONN_NONE else ""
        lines.append(
            f"fd {fd} -> {target} {family}/{kind}{status} "
            f"local {_addr(conn.laddr)} remote {_addr(conn.raddr)}"
        )
    return lines


def _kill(procs: list[psutil.Process]) -> None:
    """Kill leaked processes and wait until they are gone or zombies (left to their owner)."""
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            continue
    deadline = time.monotonic() + 5.0
    for proc in procs:
        while time.monotonic() < deadline:
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.Error:
                break
            time.sleep(POLL_S)


@pytest.fixture(autouse=True)
def _leakcheck_1_resources(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if it leaves a thread, a child process or a file descriptor open."""
    scope = _loop_scope(request.node)
    if scope not in (None, "function"):
        # The test shares a wider event loop: make sure that loop (its self-pipe, its
        # selector) exists before the snapshot. A function-scoped loop is instead made
        # after the snapshot and closed before the check, as pytest-asyncio appends it.
        with contextlib.suppress(pytest.FixtureLookupError):  # renamed upstream: best effort
            request.getfixturevalue(f"_{scope}_scoped_runner")

    def ignore_thread(thread: threading.Thread) -> bool:
        # Worker threads of a wider loop's default executor live as long as that loop.
        return scope not in (None, "function") and thread.name.startswith("asyncio_")

    before = _Snapshot.take(ignore_thread)
    yield
    leaks = before.leaks_after_grace()
    if not leaks:
        return
    counts = [
        f"{len(leaks.threads)} thread(s)" if leaks.threads else "",
        f"{len(leaks.children)} child process(es)" if leaks.children else "",
        f"{len(leaks.fds)} file descriptor(s)" if leaks.fds else "",
    ]
    lines = [
        f"left behind by this test: {', '.join(c for c in counts if c)} "
        f"(still there {GRACE_S:g} s after teardown)",
        *(f"  {_describe_thread(t)}" for t in leaks.threads),
        *(f"  {_describe_process(p)}" for p in leaks.children),
        *(f"  {line}" for line in _describe_fds(leaks.fds)),
    ]
    if leaks.children:
        lines.append("  (the child processes were killed)")
        _kill(leaks.children)
    pytest.fail("\n".join(lines), pytrace=False)


# --- leak checks: asyncio tasks -------------------------------------------------------------


def _describe_task(task: asyncio.Task[Any]) -> str:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None)
    origin = f" defined at {code.co_filename}:{code.co_firstlineno}" if code else ""
    stack = task.get_stack(limit=1)
    waiting = f", suspended at {stack[0].f_code.co_filename}:{stack[0].f_lineno}" if stack else ""
    name = getattr(coro, "__qualname__", repr(coro))
    return f"task {task.get_name()!r} running {name}{origin}{waiting}"


def _make_task_check(loop_scope: _LoopScope) -> Any:
    @pytest_asyncio.fixture(loop_scope=loop_scope, name=f"_leakcheck_tasks_{loop_scope}")
    async def _check() -> AsyncIterator[None]:
        before = asyncio.all_tasks()
        yield
        current = asyncio.current_task()
        pending = {t for t in asyncio.all_tasks() if t is not current and t not in before}
        if not pending:
            return
        # Tasks the test already cancelled, or that are just finishing, get the grace.
        _, still = await asyncio.wait(pending, timeout=GRACE_S)
        if not still:
            return
        lines = [
            f"left behind by this test: {len(still)} pending asyncio task(s) "
            f"(still pending {GRACE_S:g} s after teardown; now cancelled)",
            *(f"  {_describe_task(t)}" for t in sorted(still, key=lambda t: t.get_name())),
        ]
        for task in still:
            task.cancel()
        await asyncio.wait(still, timeout=GRACE_S)
        pytest.fail("\n".join(lines), pytrace=False)

    return _check


for _scope in _LOOP_SCOPES:
    globals()[f"_leakcheck_tasks_{_scope}"] = _make_task_check(_scope)


@pytest.fixture(autouse=True)
def _leakcheck_2_tasks(request: pytest.FixtureRequest) -> None:
    """For async tests: fail the test if it leaves a task pending in its event loop.

    The check runs as an async fixture in the test's own loop (one fixture per loop scope,
    picked here), so sync tests are never put into an event loop.
    """
    scope = _loop_scope(request.node)
    if scope is not None:
        request.getfixturevalue(f"_leakcheck_tasks_{scope}")
