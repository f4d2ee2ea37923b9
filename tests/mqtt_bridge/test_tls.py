"""TLS to the broker: a CA and server certificate made with openssl, the bridge verifying them."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from devices.bus import Bus
from facility.mqtt_bridge import BridgeSettings, MqttBridge, TlsSettings
from mqtt_bridge.broker import USERS, AuthMosquitto

pytestmark = pytest.mark.peer


def make_certs(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=walkout test CA",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))  # fmt: skip
    (d / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", str(d / "ext"), "-out", str(d / "server.crt"))  # fmt: skip


async def test_bridge_connects_over_tls_and_refuses_an_unknown_ca(
    free_tcp_port: int, tmp_path: Path
) -> None:
    if shutil.which("openssl") is None or shutil.which("mosquitto") is None:
        pytest.skip("needs openssl and mosquitto to make certificates and serve TLS")
    make_certs(tmp_path)
    broker = AuthMosquitto(free_tcp_port, tmp_path)
    broker.conf.write_text(
        broker.conf.read_text()
        + f"cafile {tmp_path / 'ca.crt'}\ncertfile {tmp_path / 'server.crt'}\n"
        f"keyfile {tmp_path / 'server.key'}\n"
    )
    broker.start()
    try:
        settings = BridgeSettings(
            store_id="s1",
            port=free_tcp_port,
            username="walkout",
            password=USERS["walkout"],  # type: ignore[arg-type]
            tls=TlsSettings(ca_file=tmp_path / "ca.crt"),
            backoff_initial_s=0.05,
            backoff_cap_s=0.2,
        )
        bridge = MqttBridge(settings, Bus())
        task = asyncio.create_task(bridge.run())
        try:
            deadline = time.monotonic() + 10
            while not bridge.connected.is_set():
                assert not task.done(), task
                assert time.monotonic() < deadline, "no TLS connection"
                await asyncio.sleep(0.01)  # polling a condition with a deadline
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The system CAs do not know our test CA: the handshake must fail, never connect.
        untrusting = MqttBridge(settings.model_copy(update={"tls": TlsSettings()}), Bus())
        task = asyncio.create_task(untrusting.run())
        try:
            deadline = time.monotonic() + 10
            while untrusting.failures < 2:
                assert time.monotonic() < deadline, "no failed handshakes"
                await asyncio.sleep(0.01)  # polling a condition with a deadline
            assert not untrusting.connected.is_set()
            assert untrusting.connects == 0
            assert "CERTIFICATE_VERIFY_FAILED" in (untrusting.last_error or "")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        broker.stop()
