"""snmpsim-command-responder as a child process on a free loopback UDP port, for tests.

snmpsim serves every ``.snmprec[.bz2]`` file of its data directory; the
community (and, for SNMPv3, the context name) of a file is its name without
the suffix (``peers.snmprec.community_of``). It indexes the files at start, so
a file written later needs a new snmpsim. Readiness is judged with a
hand-built SNMPv2c GET over a plain socket, not with the client under test::

    with Snmpsim(data_dir, "phoenixtec-power") as agent:
        SnmpTarget("127.0.0.1", agent.port)

Starting blocks (up to a minute on a cold cache): from async code, construct
it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

RESPONDER = Path(sys.executable).parent / "snmpsim-command-responder"
# Indexing the large recordings of snmpsim-data takes seconds; a cold CI runner more.
START_TIMEOUT_S = 60.0


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int, community: str) -> bool:
    """One hand-built SNMPv2c GET of sysDescr.0; True when a response comes back in 0.25 s."""
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    pdu = v2c.GetRequestPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_varbinds(pdu, [("1.3.6.1.2.1.1.1.0", v2c.null)])
    v2c.apiMessage.set_pdu(message, pdu)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.25)
        sock.sendto(encoder.encode(message), ("127.0.0.1", port))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return False
    decoder.decode(data, asn1Spec=v2c.Message())
    return True


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user snmpsim accepts; protocols by snmpsim's names (MD5, SHA, SHA256, AES)."""

    user: str
    auth_key: str
    priv_key: str | None = None  # None: authNoPriv
    auth_proto: str = "SHA"
    priv_proto: str = "AES"

    def args(self) -> list[str]:
        args = [
            f"--v3-user={self.user}",
            f"--v3-auth-key={self.auth_key}",
            f"--v3-auth-proto={self.auth_proto}",
        ]
        if self.priv_key is not None:
            args += [f"--v3-priv-key={self.priv_key}", f"--v3-priv-proto={self.priv_proto}"]
        return args


class Snmpsim:
    """snmpsim-command-responder serving ``data_dir`` on 127.0.0.1:``port``.

    Started by the constructor, which returns once ``ready_community`` answers
    (the test fails with the responder's log otherwise). Its cache directory
    and log sit next to ``data_dir``.
    """

    def __init__(
        self,
        data_dir: Path,
        ready_community: str,
        users: Sequence[V3User] = (),
        timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.data_dir = data_dir
        self.host = "127.0.0.1"
        self.port = free_udp_port()
        cache = data_dir.parent / f"{data_dir.name}-cache"
        cache.mkdir(exist_ok=True)
        self.log_path = data_dir.parent / f"{data_dir.name}-snmpsim.log"
        command = [
            str(RESPONDER),
            f"--data-dir={data_dir}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint={self.host}:{self.port}",
        ]
        for user in users:
            command += user.args()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
            )
        try:
            deadline = time.monotonic() + timeout_s
            while not answers(self.port, ready_community):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"snmpsim did not answer on {self.host}:{self.port}:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> Snmpsim:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Terminate and reap it; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
