"""A real VictoriaMetrics for tests: its own loopback port and storage dir, started and stopped.

It accepts the InfluxDB v2 write API (``/api/v2/write``) and names series
``<measurement>_<field>``. Written samples become readable after
``/internal/force_flush``, so readers poll flush + export until a condition holds.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

BINARY = "/usr/bin/victoria-metrics"
WAIT_S = 15.0


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    values: list[float]
    timestamps_ms: list[int]


class VictoriaMetrics:
    """One server process; ``stop`` then ``start`` again keeps port and data."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.storage = workdir / "vm-data"
        self.log = workdir / "vm.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = WAIT_S) -> None:
        assert self.proc is None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    BINARY,
                    f"-httpListenAddr=127.0.0.1:{self.port}",
                    f"-storageDataPath={self.storage}",
                    "-retentionPeriod=100y",
                    "-search.latencyOffset=0s",
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise RuntimeError(f"victoria-metrics exited with {code}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=0.5) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"victoria-metrics not healthy on {self.port}")
            time.sleep(0.05)  # polling the health endpoint of a process we started

    def stop(self) -> None:
        """SIGTERM (it flushes its data to disk), then SIGKILL; reaps it. Safe twice."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""

    async def export(self, match: str) -> list[Series]:
        """Flush, then every series matching the selector ``match``."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{self.url}/internal/force_flush") as resp:
                resp.raise_for_status()
            async with session.get(f"{self.url}/api/v1/export", params={"match[]": match}) as resp:
                resp.raise_for_status()
                text = await resp.text()
        out = []
        for line in text.splitlines():
            if line.strip():
                row = json.loads(line)
                out.append(Series(row["metric"], row["values"], row["timestamps"]))
        return out

    async def wait_for(self, match: str, count: int, timeout_s: float = 20.0) -> dict[str, Series]:
        """Series by ``__name__`` once at least ``count`` samples match in total."""
        deadline = time.monotonic() + timeout_s
        while True:
            series = await self.export(match)
            total = sum(len(s.values) for s in series)
            if total >= count:
                return {s.labels["__name__"]: s for s in series}
            if time.monotonic() > deadline:
                raise TimeoutError(f"{total} of {count} samples for {match}")
            await asyncio.sleep(0.2)  # polling interval of the readback


def require_binary() -> None:
    if shutil.which(BINARY) is None:
        pytest.skip("victoria-metrics is not installed (apt-get install victoria-metrics)")
