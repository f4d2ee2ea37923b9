"""Where alert events go: the sink plugins (log, webhook, MQTT, email).

A sink makes one delivery attempt per ``send`` and raises ``SinkError`` when
it fails; retrying, backoff and reporting a final failure belong to
``facility.alerts.dispatch``, the same for every sink. ``SinkError.retryable``
is False when trying again cannot help (a webhook answering 404 or 401), so
the failure is reported at once instead of after every retry.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import smtplib
from email.message import EmailMessage
from typing import Protocol, runtime_checkable

import aiohttp
import aiomqtt

from devices.mqtt_publish import publish
from facility.alerts.events import (
    AlertEscalated,
    AlertEvent,
    AlertEventKind,
    AlertResolved,
)
from facility.alerts.rules import Severity

_LOGGER = logging.getLogger(__name__)


class SinkError(Exception):
    """One delivery attempt failed; ``retryable`` says whether another may succeed."""

    def __init__(self, sink: str, message: str, *, retryable: bool = True) -> None:
        super().__init__(f"{sink}: {message}")
        self.sink = sink
        self.retryable = retryable


@runtime_checkable
class Sink(Protocol):
    """A destination for alert events; ``name`` identifies it in logs and the store."""

    name: str

    async def send(self, event: AlertEvent) -> None:
        """Deliver one event or raise ``SinkError``."""

    async def aclose(self) -> None:
        """Release connections; the sink is not used afterwards."""


def subject(event: AlertEvent) -> str:
    """One line for a log entry or mail subject."""
    a = event.alert
    return f"[{a.severity.value.upper()}] {event.kind.value}: {a.summary} ({a.source}, #{a.id})"


_LOG_LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.CRITICAL: logging.CRITICAL,
}


class LogSink:
    """Writes each event to the log at a level matching its severity (resolutions at INFO)."""

    def __init__(self, name: str = "log", *, logger: logging.Logger | None = None) -> None:
        self.name = name
        self._logger = logger or _LOGGER

    async def send(self, event: AlertEvent) -> None:
        """Log one event."""
        level = (
            logging.INFO
            if event.kind in (AlertEventKind.RESOLVED, AlertEventKind.ACKNOWLEDGED)
            else _LOG_LEVELS[event.alert.severity]
        )
        self._logger.log(level, "%s value=%s", subject(event), event.alert.value)

    async def aclose(self) -> None:
        """Nothing to release."""


class WebhookSink:
    """HTTP POST of the event as JSON (``AlertEvent.to_json``).

    ``timeout_s`` bounds the whole request (connect, send, answer): a hung
    receiver must not hold the alert queue. 2xx is success; 408, 429 and 5xx
    are worth retrying; any other status is a permanent refusal.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "webhook",
        timeout_s: float = 5.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def send(self, event: AlertEvent) -> None:
        """POST one event."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout_s), headers=self._headers
            )
        try:
            async with self._session.post(self.url, json=event.to_json()) as response:
                if 200 <= response.status < 300:
                    return
                body = (await response.text())[:200]
                retryable = response.status in (408, 429) or response.status >= 500
                raise SinkError(
                    self.name,
                    f"POST {self.url} answered {response.status}: {body!r}",
                    retryable=retryable,
                )
        except TimeoutError:
            raise SinkError(self.name, f"POST {self.url}: no answer in {self.timeout_s}s") from None
        except aiohttp.ClientError as exc:
            raise SinkError(self.name, f"POST {self.url}: {exc!r}") from None

    async def aclose(self) -> None:
        """Close the HTTP session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class MqttSink:
    """Publishes events to ``{prefix}/{severity}/{alert id}`` with QoS 1.

    While an alert is active its topic holds a retained message with its
    current state, so a dashboard that subscribes later sees every active
    alert at once. An escalation moves it to the new severity's topic (the
    old retained message is cleared); a resolution is published once, not
    retained, and then the retained message is cleared.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str = "mqtt",
        prefix: str = "walkout/alerts",
        identifier: str | None = None,
        timeout_s: float = 5.0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.prefix = prefix.rstrip("/")
        self.timeout_s = timeout_s
        self._identifier = identifier
        self._username = username
        self._password = password
        self._client: aiomqtt.Client | None = None

    def topic(self, severity: Severity, alert_id: int) -> str:
        """Where an alert of this severity is published."""
        return f"{self.prefix}/{severity.value}/{alert_id}"

    async def _connected(self) -> aiomqtt.Client:
        if self._client is not None and self._client._disconnected.done():
            await self.aclose()  # lost while idle: reconnect now rather than fail one attempt
        if self._client is None:
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=self._identifier,
                timeout=self.timeout_s,
                username=self._username,
                password=self._password,
            )
            await client.__aenter__()
            # aiomqtt resolves this future with the error when the broker goes away; nobody
            # else awaits it while the sink is idle, so take it here and forget the client
            # (the next send reconnects) instead of leaving "exception never retrieved".
            client._disconnected.add_done_callback(self._on_disconnected)
            self._client = client
        return self._client

    def _on_disconnected(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            return
        error = future.exception()
        if error is not None:
            _LOGGER.info(
                "%s: broker connection to %s:%s lost: %s", self.name, self.host, self.port, error
            )

    async def send(self, event: AlertEvent) -> None:
        """Publish one event (and clear retained messages it makes stale)."""
        alert = event.alert
        payload = json.dumps(event.to_json())
        topic = self.topic(alert.severity, alert.id)
        try:
            client = await self._connected()
            if isinstance(event, AlertEscalated) and event.previous_severity != alert.severity:
                old = self.topic(event.previous_severity, alert.id)
                await publish(client, old, b"", qos=1, retain=True, timeout=self.timeout_s)
            if isinstance(event, AlertResolved):
                await publish(client, topic, payload, qos=1, retain=False, timeout=self.timeout_s)
                await publish(client, topic, b"", qos=1, retain=True, timeout=self.timeout_s)
            else:
                await publish(client, topic, payload, qos=1, retain=True, timeout=self.timeout_s)
        except aiomqtt.MqttError as exc:
            await self.aclose()
            raise SinkError(self.name, f"publish to {self.host}:{self.port}: {exc}") from None

    async def aclose(self) -> None:
        """Disconnect (a later send reconnects)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.__aexit__(None, None, None)


class EmailSink:
    """Mails each event over SMTP (smtplib on a dedicated thread).

    No asyncio SMTP client is installed, so ``smtplib`` runs on one thread
    of this sink's own: a slow mail server then holds that thread, never the
    event loop or the shared default pool. ``timeout_s`` is smtplib's socket
    timeout (each connect, read and write). ``starttls`` upgrades the session
    before ``username``/``password`` are sent.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        sender: str,
        recipients: tuple[str, ...],
        name: str = "email",
        timeout_s: float = 10.0,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if not recipients:
            raise ValueError("EmailSink needs at least one recipient")
        self.name = name
        self.host = host
        self.port = port
        self.sender = sender
        self.recipients = recipients
        self.timeout_s = timeout_s
        self.starttls = starttls
        self._username = username
        self._password = password
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def render(self, event: AlertEvent) -> EmailMessage:
        """The mail for one event: a readable body plus the JSON for machines."""
        a = event.alert
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Subject"] = subject(event)
        lines = [
            f"{event.kind.value.upper()}: {a.summary}",
            f"rule: {a.rule}",
            f"source: {a.source}",
            f"severity: {a.severity.value}",
            f"value: {a.value}",
            f"alert id: {a.id}",
            f"group: {a.group_key}",
            "",
            json.dumps(event.to_json(), indent=2),
        ]
        msg.set_content("\n".join(lines))
        return msg

    def _send_blocking(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
            if self.starttls:
                smtp.starttls()
            if self._username is not None:
                smtp.login(self._username, self._password or "")
            smtp.send_message(msg)

    async def send(self, event: AlertEvent) -> None:
        """Mail one event."""
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"smtp-{self.name}"
            )
        msg = self.render(event)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._send_blocking, msg)
        except smtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.smtp_code < 500  # 4xx: transient by SMTP's own rules
            raise SinkError(
                self.name,
                f"{self.host}:{self.port} answered {exc.smtp_code} {exc.smtp_error!r}",
                retryable=retryable,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SinkError(self.name, f"{self.host}:{self.port}: {exc!r}") from None

    async def aclose(self) -> None:
        """Let the thread go; a send still in progress ends by itself within ``timeout_s``."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
