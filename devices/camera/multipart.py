r"""Sans-IO parser of a ``multipart/x-mixed-replace`` stream (MJPEG over HTTP).

A camera sends, for ever::

    --BOUNDARY\r\n
    Content-Type: image/jpeg\r\n
    Content-Length: 48213\r\n          (optional: many cameras omit it)
    X-Timestamp: 1767225600.123456\r\n (optional: mjpg-streamer, motion, walkout's simulator)
    \r\n
    <JPEG bytes>\r\n

Real cameras disagree on the details, so the parser is lenient where it
costs nothing: bare ``\n`` line ends are accepted, a ``boundary=`` value that
already starts with ``--`` (a common firmware bug) also matches with the
dashes once, and bytes between a part and the next delimiter are skipped and
counted. It is strict where a peer could exhaust memory: a part larger than
``max_part_bytes`` or a header block larger than ``max_header_bytes`` is a
:class:`MultipartError`, and so is a ``Content-Length`` that is not a number.

With ``Content-Length`` the body is taken by length (no scanning); without it
the parser scans for the next delimiter, resuming where the last scan ended,
so a frame split over many reads costs one pass over its bytes.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class MultipartError(ValueError):
    """The stream is not a well-formed multipart stream (or breaks a size limit)."""


@dataclass(frozen=True, slots=True)
class Part:
    """One part: its headers (names lower-cased) and its body."""

    headers: Mapping[str, str]
    body: bytes


def boundary_from_content_type(content_type: str) -> str:
    """The boundary of a ``multipart/...; boundary=...`` content type."""
    media, _, params = content_type.partition(";")
    if not media.strip().lower().startswith("multipart/"):
        raise MultipartError(f"not a multipart stream: Content-Type {content_type!r}")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            boundary = value.strip().strip('"')
            if not boundary:
                break
            if len(boundary) > 200:
                raise MultipartError(f"boundary longer than 200 characters: {boundary[:40]!r}...")
            return boundary
    raise MultipartError(f"no boundary in Content-Type {content_type!r}")


class _State(enum.Enum):
    SEEK = enum.auto()
    HEADERS = enum.auto()
    BODY = enum.auto()
    SCAN = enum.auto()
    DONE = enum.auto()


class MultipartParser:
    """Feed bytes in, get complete parts out."""

    def __init__(
        self,
        boundary: str,
        *,
        max_part_bytes: int = 8 * 1024 * 1024,
        max_header_bytes: int = 8 * 1024,
    ) -> None:
        raw = boundary.encode("latin-1")
        if raw.startswith(b"--"):
            raw = raw[2:]
        if not raw:
            raise MultipartError("empty boundary")
        self._delimiter = b"--" + raw
        self._max_part = max_part_bytes
        self._max_header = max_header_bytes
        self._buf = bytearray()
        self._pos = 0
        self._state = _State.SEEK
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._need = 0
        self._scan_from = 0
        self.skipped_bytes = 0
        """Bytes outside any part (preamble, junk after a body), for diagnostics."""
        self.parts = 0

    @property
    def finished(self) -> bool:
        """The closing delimiter (``--BOUNDARY--``) was seen."""
        return self._state is _State.DONE

    def feed(self, data: bytes) -> list[Part]:
        """Add received bytes; returns the parts they completed (possibly none)."""
        if self._state is _State.DONE:
            self.skipped_bytes += len(data)
            return []
        self._buf += data
        parts: list[Part] = []
        while self._step(parts):
            pass
        if self._pos:
            del self._buf[: self._pos]
            self._scan_from -= self._pos
            self._pos = 0
        return parts

    def _step(self, parts: list[Part]) -> bool:
        """Advance one state; False when more bytes are needed."""
        state = self._state
        if state is _State.SEEK:
            return self._seek()
        if state is _State.HEADERS:
            return self._header_line()
        if state is _State.BODY:
            if len(self._buf) - self._pos < self._need:
                return False
            end = self._pos + self._need
            self._emit(parts, bytes(self._buf[self._pos : end]))
            self._pos = end
            self._state = _State.SEEK
            return True
        if state is _State.SCAN:
            return self._scan(parts)
        return False

    def _seek(self) -> bool:
        buf, delim = self._buf, self._delimiter
        index = buf.find(delim, self._pos)
        if index < 0:
            keep = len(delim) - 1
            junk = len(buf) - self._pos - keep
            if junk > 0:
                self._skip(junk)
            return False
        after = index + len(delim)
        newline = buf.find(b"\n", after)
        if newline < 0:
            if len(buf) - after > 256:  # a delimiter line is short
                self._skip(after - self._pos)
                return True
            return False
        rest = bytes(buf[after:newline]).strip()
        self._skip(index - self._pos)
        self._pos = newline + 1
        if rest.startswith(b"--"):
            self._state = _State.DONE
            return False
        if rest:  # "--BOUNDARYxyz": a longer token, not our delimiter
            return True
        self._headers = {}
        self._header_bytes = 0
        self._state = _State.HEADERS
        return True

    def _header_line(self) -> bool:
        buf = self._buf
        newline = buf.find(b"\n", self._pos)
        if newline < 0:
            if self._header_bytes + len(buf) - self._pos > self._max_header:
                raise MultipartError(f"part headers longer than {self._max_header} bytes")
            return False
        line = bytes(buf[self._pos : newline]).rstrip(b"\r")
        self._header_bytes += newline + 1 - self._pos
        self._pos = newline + 1
        if self._header_bytes > self._max_header:
            raise MultipartError(f"part headers longer than {self._max_header} bytes")
        if line:
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise MultipartError(f"malformed part header line {line[:60]!r}")
            self._headers[name.strip().lower()] = value.strip()
            return True
        length = self._headers.get("content-length")
        if length is None:
            self._state = _State.SCAN
            self._scan_from = self._pos
            return True
        try:
            self._need = int(length)
        except ValueError:
            raise MultipartError(f"Content-Length is not a number: {length!r}") from None
        if not 0 <= self._need <= self._max_part:
            raise MultipartError(
                f"part of {self._need} bytes refused (limit {self._max_part} bytes)"
            )
        self._state = _State.BODY
        return True

    def _scan(self, parts: list[Part]) -> bool:
        buf, delim = self._buf, self._delimiter
        index = buf.find(delim, max(self._scan_from, self._pos))
        while index > self._pos and buf[index - 1] != 0x0A:  # not at a line start: body bytes
            index = buf.find(delim, index + 1)
        if index < 0:
            size = len(buf) - self._pos
            if size > self._max_part:
                raise MultipartError(f"part without Content-Length exceeds {self._max_part} bytes")
            self._scan_from = max(self._pos, len(buf) - len(delim) + 1)
            return False
        end = index
        if end - 1 >= self._pos and buf[end - 1] == 0x0A:  # "\n" before the delimiter
            end -= 1
            if end - 1 >= self._pos and buf[end - 1] == 0x0D:
                end -= 1
        self._emit(parts, bytes(buf[self._pos : end]))
        self._pos = index
        self._state = _State.SEEK
        return True

    def _emit(self, parts: list[Part], body: bytes) -> None:
        self.parts += 1
        parts.append(Part(self._headers, body))

    def _skip(self, count: int) -> None:
        if count > 0:
            # The line end after a body is expected framing, not junk.
            self.skipped_bytes += len(bytes(self._buf[self._pos : self._pos + count]).strip())
            self._pos += count
