import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from devices.backoff import Backoff
from facility.alerts.dispatch import AlertDispatcher
from facility.alerts.sinks import EmailSink
from facility.alerts.store import AlertStore

from .scenario import lifecycle


@dataclass
class SmtpServer:
    """A minimal SMTP responder (RFC 5321 subset: EHLO/HELO, MAIL, RCPT, DATA, RSET, QUIT).

    ``refuse_data`` is a list of reply lines given instead of accepting the next
    messages' data (e.g. "451 try later"), one per message.
    """

    port: int = 0
    mails: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse_data: list[str] = field(default_factory=list)
    sessions: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1

        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        sender, rcpts = "", list[str]()
        try:
            await reply("220 test ESMTP")
            while line := (await reader.readline()).decode().rstrip("\r\n"):
                verb = line[:4].upper()
                if verb in ("EHLO", "HELO"):
                    await reply("250 test")
                elif verb == "MAIL":
                    sender, rcpts = line.split(":", 1)[1].strip(" <>"), list[str]()
                    await reply("250 ok")
                elif verb == "RCPT":
                    rcpts.append(line.split(":", 1)[1].strip(" <>"))
                    await reply("250 ok")
                elif verb == "DATA":
                    await reply("354 go ahead")
                    data = b""
                    while (chunk := await reader.readline()) != b".\r\n":
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    if self.refuse_data:
                        await reply(self.refuse_data.pop(0))
                    else:
                        msg = email.message_from_bytes(data, policy=email.policy.default)
                        assert isinstance(msg, EmailMessage)
                        self.mails.append((sender, rcpts, msg))
                        await reply("250 queued")
                elif verb == "RSET":
                    await reply("250 ok")
                elif verb == "QUIT":
                    await reply("221 bye")
                    break
                else:
                    await reply("502 not implemented")
        finally:
            writer.close()
            await writer.wait_closed()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = srv.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        srv.close()
        await srv.wait_closed()


def make_sink(port: int) -> EmailSink:
    return EmailSink(
        "127.0.0.1", port, sender="walkout@store.example", recipients=("ops@example.com",),
        timeout_s=5,
    )  # fmt: skip


def fast() -> Backoff:
    return Backoff(initial_s=0.01, cap_s=0.05, jitter=0.0)


async def test_mails_each_event(smtp: SmtpServer) -> None:
    async with AlertDispatcher([make_sink(smtp.port)], backoff=fast) as dispatcher:
        for e in lifecycle():
            await dispatcher.deliver(e)
        await dispatcher.drain()
    assert [(s, r) for s, r, _ in smtp.mails] == [
        ("walkout@store.example", ["ops@example.com"])
    ] * 4
    subjects = [m["Subject"] for _, _, m in smtp.mails]
    assert subjects == [
        "[INFO] firing: Supply air too hot (crac1, #1)",
        "[WARNING] escalated: Supply air too hot (crac1, #1)",
        "[WARNING] acknowledged: Supply air too hot (crac1, #1)",
        "[WARNING] resolved: Supply air too hot (crac1, #1)",
    ]
    body = smtp.mails[0][2].get_content()
    assert "rule: hot" in body
    assert "value: 28.5" in body


async def test_transient_refusal_is_retried(smtp: SmtpServer) -> None:
    smtp.refuse_data = ["451 4.3.0 try again later"]
    async with AlertDispatcher([make_sink(smtp.port)], backoff=fast) as dispatcher:
        await dispatcher.deliver(lifecycle()[0])
        await dispatcher.drain()
        assert dispatcher.stats["email"].retries == 1
        assert dispatcher.stats["email"].delivered == 1
    assert len(smtp.mails) == 1
    assert smtp.sessions == 2


async def test_permanent_refusal_and_dead_server_are_recorded(
    smtp: SmtpServer, tmp_path: Path, free_tcp_port: int
) -> None:
    smtp.refuse_data = ["554 5.7.1 relay denied"]
    dead = EmailSink(
        "127.0.0.1", free_tcp_port, sender="a@b.c", recipients=("d@e.f",), name="dead-mail",
    )  # fmt: skip
    async with (
        AlertStore(tmp_path / "a.db") as store,
        AlertDispatcher(
            [make_sink(smtp.port), dead], store=store, max_attempts=2, backoff=fast
        ) as dispatcher,
    ):
        await dispatcher.deliver(lifecycle()[0])
        await dispatcher.drain()
        failures = {f.sink: f for f in await store.sink_failures()}
    assert smtp.sessions == 1  # 5xx: not retried
    assert failures["email"].attempts == 1
    assert "554" in failures["email"].error
    assert failures["dead-mail"].attempts == 2
    assert "Connection refused" in failures["dead-mail"].error
