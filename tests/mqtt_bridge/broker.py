"""Mosquitto with passwords and ACLs, and a TCP relay that can cut the bridge's link."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers.mosquitto import Mosquitto

USERS = {"walkout": "bridge-pw", "bms": "bms-pw", "ha": "ha-pw"}

ACL = """\
user walkout
topic readwrite walkout/#
topic readwrite homeassistant/#

user bms
topic write walkout/+/cmd/+
topic read walkout/+/cmd/+/reply
topic read walkout/#

user ha
topic read #
topic write homeassistant/status
"""


class AuthMosquitto(Mosquitto):
    """The test broker of tests.peers.mosquitto, with a password file and ACLs."""

    def __init__(self, port: int, workdir: Path) -> None:
        super().__init__(port, workdir)
        passwd = workdir / "passwd"
        for index, (user, password) in enumerate(USERS.items()):
            args = ["mosquitto_passwd", "-b", *(["-c"] if index == 0 else []), str(passwd)]
            subprocess.run([*args, user, password], check=True, timeout=10, capture_output=True)
        acl = workdir / "acl"
        acl.write_text(ACL)
        self.conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
            f"password_file {passwd}\nacl_file {acl}\n"
            # As root mosquitto drops to user "mosquitto", which cannot read pytest's
            # private tmp dirs; a non-root run ignores this line.
            "user root\n"
        )


@contextlib.contextmanager
def auth_broker(port: int, workdir: Path) -> Iterator[AuthMosquitto]:
    """A started broker with auth for the block, stopped on every path."""
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto mosquitto-clients)")
    broker = AuthMosquitto(port, workdir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


class Relay:
    """Loopback TCP relay to the broker; ``cut()`` drops every link without a DISCONNECT.

    To the broker that is a client that died (crash, cable pulled): it must
    publish the client's last will.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for w in (writer, up_writer):
            w.close()
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        self._tasks.difference_update(pumps)
        self._writers -= {writer, up_writer}

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    def cut(self) -> None:
        """Abort every open link (RST, no MQTT DISCONNECT)."""
        for writer in tuple(self._writers):
            writer.transport.abort()

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)
