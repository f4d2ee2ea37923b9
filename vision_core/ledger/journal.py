"""Append-only journal of checkout events in SQLite (WAL), the truth after a crash.

Layout: one table, one row per event: ``seq`` (1, 2, 3 ... without gaps),
``event_id`` (unique: an event delivered twice is stored once), ``kind`` and
``payload`` (canonical JSON, see :mod:`vision_core.ledger.events`) and
``checksum``: BLAKE2b over the previous row's checksum and this row, a hash
chain, so a damaged row, a lost row in the middle or rows out of order are
found on replay and named by their sequence number.

Durability. Each append is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``):
a row is either all there or not there, whatever kills the process. In WAL
mode SQLite's ``synchronous`` setting decides what a power cut can take:

- ``FULL``: the WAL is fsynced at every commit; an acknowledged append
  survives a power cut. Used for every event with ``money = True``.
- ``NORMAL``: the WAL is fsynced only at checkpoints; an acknowledged append
  survives a crash of the process (the OS holds it) but a power cut may take
  the last few. Used for the rest (``MemberJoined``). Since the next FULL
  commit fsyncs the WAL up to itself, what a power cut can lose is only a
  tail after the last money event, never a hole before one.

One writer: the journal holds an exclusive ``flock`` on ``<path>.lock`` while
open for writing; a second writer is refused (two ledgers with their own
memory on one file would each miss the other's events).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from vision_core.ledger.events import EventDecodeError, LedgerEvent, decode_event, encode_event

_LOGGER = logging.getLogger(__name__)

Synchronous = Literal["FULL", "NORMAL"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    checksum TEXT NOT NULL
)
"""
_GENESIS = "0" * 32


class JournalError(Exception):
    """A journal operation failed; ``path`` names the database."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"journal {path}: {message}")
        self.path = path


class JournalWriteError(JournalError):
    """An append did not happen (nothing of it is stored); the event was not acknowledged."""


class JournalFull(JournalWriteError):
    """The disk (or the journal's size limit) is full."""


class JournalReadOnly(JournalWriteError):
    """The database cannot be written (read-only file, mount or open mode)."""


class JournalLocked(JournalError):
    """Another writer holds the journal."""


class JournalConflict(JournalWriteError):
    """An event id already stored with different content: two events claim one id."""


class JournalCorrupt(JournalError):
    """A stored row fails its checksum, its sequence or its decoding; ``seq`` names it."""

    def __init__(self, path: Path, seq: int | None, message: str) -> None:
        where = f"entry seq={seq}" if seq is not None else "database"
        super().__init__(path, f"{where} is corrupt: {message}")
        self.seq = seq


@dataclass(frozen=True, slots=True)
class Appended:
    """Result of an append: the row's sequence number, and whether it was there already."""

    seq: int
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Entry:
    """One verified row of the journal."""

    seq: int
    event: LedgerEvent


def _checksum(previous: str, seq: int, event_id: str, kind: str, payload: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in (previous, str(seq), event_id, kind, payload):
        raw = part.encode()
        digest.update(len(raw).to_bytes(4, "big"))
        digest.update(raw)
    return digest.hexdigest()


class Journal:
    """The journal file; a context manager. Not thread-safe: one owner calls it.

    ``read_only``: open for replay only (e.g. an audit copy); appends raise
    :class:`JournalReadOnly`. ``size_limit_bytes``: refuse appends past this
    size with :class:`JournalFull`, so the journal fails loudly before it
    fills a disk that video buffers share. ``money_synchronous`` /
    ``default_synchronous``: the ``synchronous`` level for money events and for
    the rest; lowering the first trades a bill's survival of a power cut for
    throughput (the benchmark measures how much).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        read_only: bool = False,
        size_limit_bytes: int | None = None,
        default_synchronous: Synchronous = "NORMAL",
        money_synchronous: Synchronous = "FULL",
    ) -> None:
        self.path = Path(path)
        self.money_synchronous: Synchronous = money_synchronous
        self.read_only = read_only
        self.default_synchronous: Synchronous = default_synchronous
        self._lock_fd: int | None = None
        self._synchronous: Synchronous | None = None
        try:
            if read_only:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            else:
                self._lock_fd = self._take_lock()
                self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            self._release_lock()
            raise self._translate(exc, "open") from exc
        try:
            if not read_only:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(_SCHEMA)
                if size_limit_bytes is not None:
                    page_size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
                    pages = max(size_limit_bytes // page_size, 2)
                    self._db.execute(f"PRAGMA max_page_count={pages}")
            row = self._db.execute(
                "SELECT seq, checksum FROM journal ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error as exc:
            self.close()
            raise self._translate(exc, "open") from exc
        self._last_seq: int = int(row[0]) if row else 0
        self._last_checksum: str = str(row[1]) if row else _GENESIS

    def _take_lock(self) -> int:
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalLocked(self.path, "another writer has it open") from None
        return fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    def close(self) -> None:
        """Close the database and drop the writer lock; safe to call twice."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
        self._release_lock()

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest row (0 when empty)."""
        return self._last_seq

    def _translate(self, exc: sqlite3.Error, doing: str) -> JournalError:
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith("SQLITE_FULL"):
            return JournalFull(self.path, f"{doing} failed, disk or size limit full ({exc})")
        if name.startswith("SQLITE_READONLY") or (self.read_only and doing == "append"):
            return JournalReadOnly(self.path, f"{doing} failed, database is read-only ({exc})")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return JournalCorrupt(self.path, None, f"{doing} failed ({exc})")
        if doing == "append":
            return JournalWriteError(
                self.path, f"{doing} failed ({name or type(exc).__name__}: {exc})"
            )
        return JournalError(self.path, f"{doing} failed ({name or type(exc).__name__}: {exc})")

    def _set_synchronous(self, mode: Synchronous) -> None:
        if self._synchronous != mode:
            self._db.execute(f"PRAGMA synchronous={mode}")
            self._synchronous = mode

    def checkpoint(self) -> None:
        """Move the write-ahead log into the database file and truncate it.

        Every append is already durable (see ``money_synchronous``); this is for
        a shutdown: the file alone then holds everything, with no WAL beside it.
        """
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise self._translate(exc, "checkpoint") from exc

    def lookup(self, event: LedgerEvent) -> int | None:
        """The seq at which ``event`` is stored, None if its id is not stored.

        Raises :class:`JournalConflict` when the id is stored with other content.
        """
        try:
            kind, payload = encode_event(event)
        except ValueError:
            return None  # not a finite number somewhere: append refuses such an event
        try:
            return self._lookup(event.event_id, kind, payload)
        except sqlite3.Error as exc:
            raise self._translate(exc, "lookup") from exc

    def _lookup(self, event_id: str, kind: str, payload: str) -> int | None:
        existing = self._db.execute(
            "SELECT seq, kind, payload FROM journal WHERE event_id = ?", (event_id,)
        ).fetchone()
        if existing is None:
            return None
        if existing[1] != kind or existing[2] != payload:
            raise JournalConflict(
                self.path,
                f"event id {event_id!r} is stored at seq={existing[0]} with other content",
            )
        return int(existing[0])

    def append(self, event: LedgerEvent) -> Appended:
        """Store ``event`` durably (see the module's notes) and return its sequence number.

        An event id already stored with the same content is not stored again
        (``duplicate=True``, its original ``seq``); with other content it is a
        :class:`JournalConflict`. On any error nothing of the event is stored.
        """
        kind, payload = encode_event(event)
        if self.read_only:
            raise JournalReadOnly(
                self.path, f"append of {event.event_id} refused: opened read-only"
            )
        try:
            self._set_synchronous(
                self.money_synchronous if event.money else self.default_synchronous
            )
            stored = self._lookup(event.event_id, kind, payload)
            if stored is not None:
                return Appended(stored, duplicate=True)
            seq = self._last_seq + 1
            checksum = _checksum(self._last_checksum, seq, event.event_id, kind, payload)
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO journal (seq, event_id, kind, payload, checksum) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (seq, event.event_id, kind, payload, checksum),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            error = self._translate(exc, "append")
            _LOGGER.error("journal append of %s failed: %s", event.event_id, error)
            raise error from exc
        self._last_seq = seq
        self._last_checksum = checksum
        return Appended(seq, duplicate=False)

    def replay(self) -> Iterator[Entry]:
        """Every row from the first, verified (sequence, checksum chain, decoding).

        Raises :class:`JournalCorrupt` naming the first bad row; rows before it
        have been yielded and are sound.
        """
        previous = _GENESIS
        expected = 1
        try:
            cursor = self._db.execute(
                "SELECT seq, event_id, kind, payload, checksum FROM journal ORDER BY seq"
            )
            for seq, event_id, kind, payload, checksum in cursor:
                if seq != expected:
                    raise JournalCorrupt(
                        self.path, expected, f"missing (next stored row is seq={seq})"
                    )
                if _checksum(previous, seq, event_id, kind, payload) != checksum:
                    raise JournalCorrupt(self.path, seq, "checksum mismatch")
                try:
                    event = decode_event(kind, payload)
                except EventDecodeError as exc:
                    raise JournalCorrupt(self.path, seq, str(exc)) from exc
                if event.event_id != event_id:
                    raise JournalCorrupt(self.path, seq, "event id differs from its payload")
                yield Entry(seq, event)
                previous = checksum
                expected += 1
        except sqlite3.Error as exc:
            raise self._translate(exc, "replay") from exc
