"""Secrets in store.yaml are references, never values.

A key, password or community that grants control of a device is named in the
file by where to find it: an environment variable or a file (mode 0600, e.g.
a systemd credential or a Kubernetes secret mount). store.yaml can then be
committed, printed and attached to a support ticket.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import model_validator

from walkout.config.errors import Strict


class SecretError(ValueError):
    """A secret could not be read; the message names where it was looked for, not the value."""


class SecretRef(Strict):
    """``{env: NAME}`` or ``{file: /path}``: exactly one."""

    env: str | None = None
    file: Path | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' (variable name) or 'file' (path)")
        return self

    def where(self) -> str:
        """Where the secret comes from, for messages."""
        return f"environment variable {self.env}" if self.env else f"file {self.file}"

    def reveal(self) -> str:
        """The secret's value (stripped of the trailing newline files usually have)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            mode = self.file.stat().st_mode
            text = self.file.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretError(f"cannot read secret file {self.file}: {exc.strerror}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(
                f"secret file {self.file} is readable by others (mode {stat.S_IMODE(mode):o}): "
                "chmod 600 it"
            )
        return text.rstrip("\r\n")

    def reveal_bytes_hex(self, length: int) -> bytes:
        """A key written as hex (e.g. an OSDP SCBK of 16 bytes)."""
        text = self.reveal().strip()
        try:
            key = bytes.fromhex(text)
        except ValueError:
            raise SecretError(f"the key in {self.where()} is not hex") from None
        if len(key) != length:
            raise SecretError(f"the key in {self.where()} has {len(key)} bytes, expected {length}")
        return key
