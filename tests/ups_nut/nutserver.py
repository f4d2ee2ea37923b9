"""Real NUT (drivers + upsd) as child processes on a free loopback port, for tests.

Any NUT driver runs here, given its ``ups.conf`` section: ``dummy-ups`` serving
a ``.dev`` file of variables, or ``snmp-ups`` polling an SNMP agent (the UPS
simulator, snmpsim recordings)::

    sections = [UpsSection("ups1", "snmp-ups", {"port": "127.0.0.1:16161",
                "community": "public", "snmp_version": "v2c", "mibs": "ietf",
                "pollfreq": "2"})]
    with NutServer(tmp_path, sections) as nut:
        nut.upsc("ups1")               # the independent client's view
        NutConnection("127.0.0.1", nut.port)   # walkout's

Debian's ``/usr/sbin/upsd`` wrapper ignores ``NUT_CONFPATH``; the binaries
under ``/lib/nut`` are run directly, in the foreground, so they stay children
of the test process and are reaped by ``stop()``. Readiness is judged with
plain sockets speaking upsd's protocol, not with the client under test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

NUT_BIN = Path("/lib/nut")
UPSC = shutil.which("upsc")
# A driver that waits for nothing still takes ~3 s to hand upsd its first data.
READY_TIMEOUT_S = 20.0


def nut_missing() -> str | None:
    """Why real NUT cannot run here, or None when it can."""
    for binary in (NUT_BIN / "upsd", NUT_BIN / "dummy-ups"):
        if not os.access(binary, os.X_OK):
            return f"{binary} not installed (Debian nut-server)"
    if UPSC is None:
        return "upsc not installed (Debian nut-client)"
    return None


class NutServerError(RuntimeError):
    """NUT did not come up or did not answer; the message carries the log tails."""


@dataclass(frozen=True)
class UpsSection:
    """One ``ups.conf`` section: the UPS name, its driver and the driver's options."""

    name: str
    driver: str
    options: Mapping[str, str] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"[{self.name}]", f"  driver = {self.driver}"]
        lines += [f"  {key} = {_conf_quote(value)}" for key, value in self.options.items()]
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class NutUser:
    """One ``upsd.users`` entry; ``upsmon`` is the role that allows ``LOGIN``.

    ``instcmds`` lets the user run instant commands (``ALL``, or a list such
    as ``load.off``) with ``upscmd``.
    """

    name: str
    password: str
    upsmon: str | None = "secondary"
    instcmds: str | None = None

    def render(self) -> str:
        lines = [f"[{self.name}]", f"  password = {_conf_quote(self.password)}"]
        if self.upsmon:
            lines.append(f"  upsmon {self.upsmon}")
        if self.instcmds:
            lines.append(f"  instcmds = {self.instcmds}")
        return "\n".join(lines) + "\n"


def _conf_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class DevFile:
    """A ``dummy-ups`` ``.dev`` file that the driver re-reads when its mtime changes.

    dummy-ups (``dummy-once`` mode, NUT >= 2.8.0) compares whole-second
    modification times, so each write sets a new, strictly later mtime
    itself instead of trusting the clock to have moved on. A variable left
    out of a later write keeps its old value in the driver: write ``""`` to
    remove one.
    """

    def __init__(self, path: Path, values: Mapping[str, str]) -> None:
        self.path = path
        self._mtime = int(time.time()) - 1000
        self.write(values)

    def write(self, values: Mapping[str, str]) -> None:
        text = "".join(f"{name}: {_conf_quote(value)}\n" for name, value in values.items())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text)
        self._mtime += 2
        os.utime(tmp, (self._mtime, self._mtime))
        os.replace(tmp, self.path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def query(port: int, line: str, *, timeout_s: float = 2.0) -> list[str]:
    """One request to upsd over a fresh plain socket: the reply line, or a list's lines."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(line.encode() + b"\n")
        buffer = b""
        lines: list[str] = []
        while True:
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise NutServerError(f"upsd closed the connection answering {line!r}")
                buffer += chunk
            raw, buffer = buffer.split(b"\n", 1)
            lines.append(raw.decode())
            if not lines[0].startswith("BEGIN ") or lines[-1].startswith("END "):
                return lines


class NutServer:
    """Drivers for ``sections`` and one upsd on ``127.0.0.1:port``, in ``workdir``.

    ``maxage_s`` is upsd's MAXAGE: how long a silent driver's data stays
    fresh before upsd answers ``ERR DATA-STALE``. ``driver_globals`` go at
    the top of ``ups.conf`` (``pollinterval``, for drivers that poll).
    """

    def __init__(
        self,
        workdir: Path,
        sections: Sequence[UpsSection],
        *,
        users: Sequence[NutUser] = (),
        maxage_s: int = 15,
        driver_globals: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.driver_globals = dict(driver_globals or {})
        self.sections = {s.name: s for s in sections}
        self.users = tuple(users)
        self.maxage_s = maxage_s
        self.statepath = workdir / "state"
        self.port = 0
        self.drivers: dict[str, subprocess.Popen[bytes]] = {}
        self.upsd: subprocess.Popen[bytes] | None = None

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> NutServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "NUT_CONFPATH": str(self.workdir),
            "NUT_STATEPATH": str(self.statepath),
        }

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Start every driver and upsd; returns when every UPS has data in upsd."""
        self.statepath.mkdir(parents=True, exist_ok=True)
        (self.workdir / "nut.conf").write_text("MODE=standalone\n")
        (self.workdir / "ups.conf").write_text(
            "".join(f"{k} = {_conf_quote(v)}\n" for k, v in self.driver_globals.items())
            + "\n".join(s.render() for s in self.sections.values())
        )
        users = self.workdir / "upsd.users"
        users.write_text("\n".join(u.render() for u in self.users))
        users.chmod(0o600)
        try:
            deadline = time.monotonic() + timeout_s
            for name in self.sections:
                self._spawn_driver(name)
            for name in self.sections:
                self._wait_socket(name, deadline)
            self._start_upsd()
            for name in self.sections:
                self.wait_fresh(name, deadline - time.monotonic())
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop upsd and every driver, and reap them; safe to call twice."""
        procs = [p for p in (self.upsd, *self.drivers.values()) if p is not None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)  # a paused driver must be able to exit
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.upsd = None
        self.drivers.clear()

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        if os.geteuid() == 0:
            args += ["-u", "root"]
        # The child keeps its own copy of the log descriptor; ours closes at once.
        with (self.workdir / log_name).open("ab") as log:
            return subprocess.Popen(
                args, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def start_driver(self, name: str, timeout_s: float = 10.0) -> None:
        """Start the driver of UPS ``name``; returns once its socket for upsd exists."""
        self._spawn_driver(name)
        self._wait_socket(name, time.monotonic() + timeout_s)

    def _socket_path(self, name: str) -> Path:
        return self.statepath / f"{self.sections[name].driver}-{name}"

    def _spawn_driver(self, name: str) -> None:
        self._socket_path(name).unlink(missing_ok=True)
        driver = NUT_BIN / self.sections[name].driver
        self.drivers[name] = self._spawn([str(driver), "-a", name, "-F"], f"{name}.log")

    def _wait_socket(self, name: str, deadline: float) -> None:
        # A driver sets up its socket ~1 s after it starts: start them all, then wait.
        proc = self.drivers[name]
        while not self._socket_path(name).exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise NutServerError(
                    f"driver {self.sections[name].driver} for {name} did not come up: "
                    f"{self.log_tail(name)}"
                )
            time.sleep(0.01)

    def stop_driver(self, name: str) -> None:
        """Terminate the driver of ``name`` and reap it (upsd then says DRIVER-NOT-CONNECTED)."""
        proc = self.drivers.pop(name)
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=5)

    def pause_driver(self, name: str) -> None:
        """SIGSTOP the driver: it stays connected but silent (upsd goes DATA-STALE)."""
        self.drivers[name].send_signal(signal.SIGSTOP)

    def resume_driver(self, name: str) -> None:
        self.drivers[name].send_signal(signal.SIGCONT)

    def _start_upsd(self) -> None:
        for _ in range(5):  # the free port can be taken between probe and bind
            self.port = free_port()
            (self.workdir / "upsd.conf").write_text(
                f"LISTEN 127.0.0.1 {self.port}\n"
                f"STATEPATH {self.statepath}\n"
                f"MAXAGE {self.maxage_s}\n"
            )
            self.upsd = self._spawn([str(NUT_BIN / "upsd"), "-F"], "upsd.log")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.upsd.poll() is None:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.port), timeout=1),
                ):
                    return
                time.sleep(0.01)
            self.upsd.kill()
            self.upsd.wait()
        raise NutServerError(f"upsd did not listen: {self.log_tail('upsd')}")

    def dead(self) -> str:
        """What has exited that should be running (with its log), or ''."""
        procs = {"upsd": self.upsd, **self.drivers}
        gone = [
            f"{name} exited ({proc.returncode if proc else 'never started'}): {self.log_tail(name)}"
            for name, proc in procs.items()
            if proc is None or proc.poll() is not None
        ]
        return "; ".join(gone)

    # --- looking at it with independent tools --------------------------------------------

    def log_tail(self, name: str, chars: int = 600) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def query(self, line: str) -> list[str]:
        return query(self.port, line)

    def wait_fresh(self, name: str, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait until upsd has real data for ``name`` (no ERR, not WAIT); its ups.status."""
        return self.wait_for(
            name, lambda reply: "ERR" not in reply and '"WAIT"' not in reply, timeout_s
        )

    def wait_for_status(self, name: str, status: str, timeout_s: float = 10.0) -> str:
        return self.wait_for(name, lambda reply: reply.endswith(f'"{status}"'), timeout_s)

    def wait_for_error(self, name: str, code: str, timeout_s: float = 10.0) -> str:
        return self.wait_for(name, lambda reply: reply == f"ERR {code}", timeout_s)

    def wait_for(self, name: str, accept: Callable[[str], bool], timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        reply = ""
        while True:
            reply = self.query(f"GET VAR {name} ups.status")[0]
            if accept(reply):
                return reply
            if time.monotonic() > deadline:
                raise NutServerError(
                    f"{name}: upsd still says {reply!r} after {timeout_s:g} s; "
                    f"driver log: {self.log_tail(name)}; upsd log: {self.log_tail('upsd')}"
                )
            time.sleep(0.02)

    def upsc(self, name: str) -> dict[str, str]:
        """Every variable of ``name`` as NUT's own ``upsc`` prints it."""
        out = self._run_upsc(f"{name}@127.0.0.1:{self.port}")
        values: dict[str, str] = {}
        for line in out.splitlines():
            key, sep, value = line.partition(": ")
            if not sep:
                raise NutServerError(f"upsc printed {line!r}")
            values[key] = value
        return values

    def upsc_clients(self, name: str) -> list[str]:
        """Clients logged in to ``name`` (``upsc -c``)."""
        return self._run_upsc("-c", f"{name}@127.0.0.1:{self.port}").split()

    def upsc_list(self) -> list[str]:
        """UPS names upsd serves (``upsc -l``)."""
        return self._run_upsc("-l", f"127.0.0.1:{self.port}").split()

    def _run_upsc(self, *args: str) -> str:
        assert UPSC is not None
        done = subprocess.run(
            [UPSC, *args], capture_output=True, text=True, timeout=10, env=self.env, check=False
        )
        if done.returncode != 0:
            raise NutServerError(f"upsc {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout


@contextlib.contextmanager
def nut_server(
    workdir: Path,
    sections: Sequence[UpsSection],
    *,
    users: Sequence[NutUser] = (),
    maxage_s: int = 15,
) -> Iterator[NutServer]:
    """``NutServer`` as a context manager: started on entry, stopped and reaped on exit."""
    with NutServer(workdir, sections, users=users, maxage_s=maxage_s) as server:
        yield server
