"""Errors of the perception package: model files, backend setup and bad input."""

from __future__ import annotations

from pathlib import Path


class PerceptionError(Exception):
    """Base of every perception error."""


class ModelFileError(PerceptionError):
    """A model file is missing or unreadable; the message names the file and where it looked."""


class ModelChecksumError(ModelFileError):
    """A model file's content is not the pinned one: a corrupt, truncated or swapped file."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"model file {path} has sha256 {actual}, expected {expected}: "
            "the file is corrupt or not the model walkout was validated with"
        )


class BackendError(PerceptionError):
    """A detector backend could not be set up or gave output it cannot decode."""
