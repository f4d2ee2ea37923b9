"""A TCP server that keeps hold of its connections, so that stopping it ends them all.

``asyncio.Server.close()`` only stops listening: the handlers of open
connections keep running (and ``wait_closed()`` waits for them on Python
3.12+), so a simulator told to stop must close and cancel each one itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import ClassVar

log = logging.getLogger(__name__)


class StreamServer(ABC):
    """Serves :meth:`_session` per connection on ``host``:``port`` (0 picks a port).

    A session that ends by a dropped connection or by :meth:`stop` ends
    quietly; any other exception is a bug in the session and is logged with
    its traceback before the connection is closed.
    """

    kind: ClassVar[str] = "server"
    """What the server is, for log lines and errors."""

    line_limit: ClassVar[int] = 64 * 1024
    """Buffer limit of each connection's StreamReader (asyncio's default)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError(f"{self.kind} not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind and listen."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self._requested_port, limit=self.line_limit
        )

    async def stop(self) -> None:
        """Close the listener and every connection; idempotent."""
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._connections.items()):
            writer.close()
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._session(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels this task. Ending it normally matters on
            # Python 3.11, whose start_server callback logs a cancelled
            # client task as an error ("Exception in callback").
            pass
        except Exception:
            log.exception(
                "%s connection from %s failed", self.kind, writer.get_extra_info("peername")
            )
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    @abstractmethod
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Talk to one client until it leaves (return) or the stream breaks (raise)."""
