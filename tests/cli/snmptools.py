"""snmpsim as a child process, and an snmprec reader that shares no code with walkout.

snmpsim serves every ``.snmprec[.bz2]`` file of its data directory; the community
(and, for SNMPv3, the context name) of a file is its name without the suffix. It
indexes the files at start, so a file written later needs a new snmpsim.
"""

from __future__ import annotations

import bz2
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import snmpsim_data
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto.api import v2c

RESPONDER = Path(sys.executable).parent / "snmpsim-command-responder"
RECORDINGS = Path(snmpsim_data.__file__).parent / "data" / "UPS"
HANDMADE_APC = Path(__file__).parents[1] / "ups_snmp" / "data" / "apc-smart-ups-handmade.snmprec"
START_DEADLINE_S = 30.0


@dataclass(frozen=True)
class V3User:
    user: str
    auth_key: str
    priv_key: str  # SHA authentication, AES-128 privacy


def free_udp_port() -> int:
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


class Snmpsim:
    """snmpsim-command-responder on a free loopback UDP port, serving ``data_dir``."""

    def __init__(self, data_dir: Path, ready_community: str, users: tuple[V3User, ...] = ()):
        self.data_dir = data_dir
        self.port = free_udp_port()
        cache = data_dir.parent / f"{data_dir.name}-cache"
        cache.mkdir(exist_ok=True)
        self.log_path = data_dir.parent / f"{data_dir.name}-snmpsim.log"
        command = [
            str(RESPONDER),
            f"--data-dir={data_dir}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
        ]
        for user in users:
            command += [
                f"--v3-user={user.user}",
                f"--v3-auth-key={user.auth_key}",
                "--v3-auth-proto=SHA",
                f"--v3-priv-key={user.priv_key}",
                "--v3-priv-proto=AES",
            ]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "SNMPSIM_ALLOW_ROOT": "true"},
            )
        try:
            deadline = time.monotonic() + START_DEADLINE_S
            while not answers(self.port, ready_community):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"snmpsim did not answer on 127.0.0.1:{self.port}:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

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


def copy_recording(source: Path, data_dir: Path) -> str:
    """Copy a recording into snmpsim's data directory; its community."""
    shutil.copy(source, data_dir / source.name)
    return community_of(source)


def community_of(path: Path) -> str:
    name = path.name
    for suffix in (".bz2", ".snmprec"):
        name = name.removesuffix(suffix)
    return name


def read_snmprec(path: Path) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """(comment lines, {OID: (tag, value)}) of a ``.snmprec`` or ``.snmprec.bz2`` file.

    Only for reading test expectations: records must be ``OID|TAG|VALUE``.
    """
    raw = path.read_bytes()
    if path.name.endswith(".bz2"):
        raw = bz2.decompress(raw)
    comments: list[str] = []
    records: dict[str, tuple[str, str]] = {}
    for line in raw.decode("iso-8859-1").splitlines():  # as snmpsim reads it
        if line.startswith("#"):
            comments.append(line)
        elif line.strip():
            oid, tag, value = line.split("|", 2)
            records[oid] = (tag, value)
    return comments, records


def octets_text(record: tuple[str, str]) -> str:
    """The text of an OCTET STRING record, plain or hex."""
    tag, value = record
    return bytes.fromhex(value).decode("iso-8859-1") if tag.endswith("x") else value
