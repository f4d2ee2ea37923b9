"""The test harness itself: the leak checks and the hardware switch of conftest.py.

An inner pytest run (a subprocess, so what it leaks dies with it) uses a copy of this
directory's conftest.py on a file of tests that leak on purpose, next to tests that clean
up after themselves, and must fail exactly the leaking ones with a message naming the leak.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")

INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
markers =
    hardware: needs a real device
"""

INNER_TESTS = """
import asyncio
import socket
import subprocess
import sys
import threading
import time

import pytest

KEEP = []  # strong references, so nothing leaked is closed by the garbage collector


def test_leaks_thread():
    stop = threading.Event()
    KEEP.append(stop)
    threading.Thread(target=stop.wait, args=(30,), name="leaky-thread", daemon=True).start()


def test_leaks_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    KEEP.append(sock)


def test_leaks_file():
    KEEP.append(open(__file__))


def test_leaks_subprocess():
    KEEP.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))


async def test_leaks_task():
    KEEP.append(asyncio.create_task(asyncio.sleep(30), name="leaky-task"))


@pytest.mark.asyncio(loop_scope="module")
async def test_leaks_task_in_module_loop():
    KEEP.append(asyncio.create_task(asyncio.sleep(30), name="leaky-module-task"))


def test_clean_thread_finishing_within_grace():
    threading.Thread(target=time.sleep, args=(0.05,)).start()


def test_clean_sync_with_asyncio_run():
    asyncio.run(asyncio.sleep(0))


def test_clean_subprocess_run():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


async def test_clean_server_and_connection(free_tcp_port):
    async def handle(reader, writer):
        writer.write(await reader.read(5))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", free_tcp_port)
    # "localhost" goes through getaddrinfo in the loop's default executor thread.
    reader, writer = await asyncio.open_connection("localhost", free_tcp_port)
    writer.write(b"hello")
    assert await reader.read(5) == b"hello"
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


async def test_clean_async_subprocess():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    assert await proc.wait() == 0


async def test_clean_cancelled_task():
    task = asyncio.create_task(asyncio.sleep(30))
    await asyncio.sleep(0)
    task.cancel()  # not awaited: finishes within the grace


@pytest.mark.asyncio(loop_scope="module")
async def test_clean_in_module_loop():
    await asyncio.get_running_loop().getaddrinfo("localhost", 80)


@pytest.mark.hardware
def test_needs_hardware():
    pass
"""

LEAKY = {
    "test_leaks_thread": ["*1 thread(s)*", "*thread <Thread(leaky-thread, started daemon*"],
    "test_leaks_socket": ["*1 file descriptor(s)*", "*socket:*AF_INET/SOCK_STREAM LISTEN*"],
    "test_leaks_file": ["*1 file descriptor(s)*", "*test_inner.py*"],
    "test_leaks_subprocess": [
        "*1 child process(es)*",
        "*child process pid *time.sleep(30)*",
        "*the child processes were killed*",
    ],
    "test_leaks_task": ["*1 pending asyncio task(s)*", "*task 'leaky-task' running sleep*"],
    "test_leaks_task_in_module_loop": [
        "*1 pending asyncio task(s)*",
        "*task 'leaky-module-task' running sleep*",
    ],
}
CLEAN = {
    "test_clean_thread_finishing_within_grace",
    "test_clean_sync_with_asyncio_run",
    "test_clean_subprocess_run",
    "test_clean_server_and_connection",
    "test_clean_async_subprocess",
    "test_clean_cancelled_task",
    "test_clean_in_module_loop",
}


@pytest.fixture
def inner(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makeini(INNER_INI)
    pytester.makepyfile(test_inner=INNER_TESTS)
    monkeypatch.setenv("WALKOUT_LEAK_GRACE_S", "0.3")  # keeps the leaking tests quick
    monkeypatch.delenv("WALKOUT_HARDWARE", raising=False)
    return pytester


def _outcomes(stdout: str) -> dict[str, set[str]]:
    """Test name -> outcomes ("PASSED", "ERROR" ...) from the -rA short summary."""
    out: dict[str, set[str]] = {}
    for match in re.finditer(r"^(PASSED|FAILED|ERROR|SKIPPED) test_inner\.py::(\w+)", stdout, re.M):
        out.setdefault(match.group(2), set()).add(match.group(1))
    return out


def test_leak_checks_fail_exactly_the_leaking_tests(inner: pytest.Pytester) -> None:
    result = inner.runpytest_subprocess("-rA", "-p", "no:cacheprovider", timeout=120)
    stdout = result.stdout.str()
    outcomes = _outcomes(stdout)

    errored = {name for name, seen in outcomes.items() if "ERROR" in seen}
    assert errored == set(LEAKY), stdout
    for name in CLEAN:
        assert outcomes.get(name) == {"PASSED"}, f"{name}: {outcomes.get(name)}\n{stdout}"
    # a leak is reported at teardown, after the test body itself passed
    result.assert_outcomes(passed=len(LEAKY) + len(CLEAN), errors=len(LEAKY), skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED

    for name, patterns in LEAKY.items():
        section = stdout.split(f"ERROR at teardown of {name} ", 1)[1].split("\n____", 1)[0]
        pytest.LineMatcher(section.splitlines()).fnmatch_lines(patterns)


def test_hardware_tests_skip_with_reason_unless_enabled(inner: pytest.Pytester) -> None:
    skipped = inner.runpytest_subprocess("-rA", "-p", "no:cacheprovider", "-k", "hardware")
    skipped.assert_outcomes(skipped=1, deselected=len(LEAKY) + len(CLEAN))
    skipped.stdout.fnmatch_lines(["*needs real hardware: run with --run-hardware*"])

    flag = inner.runpytest_subprocess("-p", "no:cacheprovider", "-k", "hardware", "--run-hardware")
    flag.assert_outcomes(passed=1, deselected=len(LEAKY) + len(CLEAN))


def test_hardware_tests_run_with_env(
    inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WALKOUT_HARDWARE", "1")
    result = inner.runpytest_subprocess("-p", "no:cacheprovider", "-k", "hardware")
    result.assert_outcomes(passed=1, deselected=len(LEAKY) + len(CLEAN))


def test_free_tcp_port_can_be_bound(free_tcp_port: int) -> None:
    import socket

    assert 0 < free_tcp_port < 65536
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", free_tcp_port))
