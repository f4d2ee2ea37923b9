"""A real Mosquitto broker for tests: its own loopback port, started and stopped by the test."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

WAIT_S = 10.0


class Mosquitto:
    """A real broker on a loopback port of our own, started and stopped by the test.

    Config as RECIPES.md says: a listener on 127.0.0.1 only, anonymous
    clients, no persistence (a restart loses every session and queued
    message, like a broker that crashed).
    """

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_s: float = WAIT_S) -> None:
        """Start and wait until it accepts TCP connections."""
        assert self.proc is None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=log
            )
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"mosquitto exited with {code}: {self.log.read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"mosquitto not listening on {self.port}") from None
                time.sleep(0.02)  # polling the listener of a process we started

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; reaps it. Safe twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def publish(
        self, topic: str, payload: bytes | None = None, *, file: Path | None = None
    ) -> None:
        """Publish with mosquitto_pub, the independent peer."""
        args = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic]
        args += ["-f", str(file)] if file is not None else ["-s"]
        subprocess.run(args, input=payload if file is None else None, check=True, timeout=10)


@contextlib.contextmanager
def running_broker(port: int, workdir: Path) -> Iterator[Mosquitto]:
    """A started broker for the block, stopped on every path; skips where none is installed."""
    if shutil.which("mosquitto") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    broker = Mosquitto(port, workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
