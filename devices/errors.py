"""One exception tree for every driver.

Each error carries the device, the address it was talking to and what was
expected, so a log line or a CLI message can say exactly which unit on which
bus misbehaved without the caller re-assembling context.
"""

from __future__ import annotations

from pydantic import ValidationError


class DeviceError(Exception):
    """Base of every driver error."""

    def __init__(self, message: str, *, device: str = "", address: str = "") -> None:
        self.device = device
        self.address = address
        where = ", ".join(part for part in (device, address) if part)
        super().__init__(f"{where}: {message}" if where else message)


class DeviceTimeoutError(DeviceError):
    """The device did not answer within the transaction timeout."""


class DeviceConnectionError(DeviceError):
    """The link to the device could not be opened or was lost."""


class DeviceAuthError(DeviceError):
    """The device refused our credentials or secure channel."""


class DeviceProtocolError(DeviceError):
    """The device answered, but not with what the protocol or profile expects."""

    def __init__(
        self, message: str, *, device: str = "", address: str = "", expected: str = ""
    ) -> None:
        self.expected = expected
        text = f"{message} (expected {expected})" if expected else message
        super().__init__(text, device=device, address=address)


class DeviceCommandError(DeviceError):
    """A command was sent but the device refused it or read-back disagrees."""


class ProfileError(ValueError):
    """A device profile file is invalid; the message names the file and the key."""

    @classmethod
    def from_validation(cls, exc: ValidationError, source: str, what: str) -> ProfileError:
        """One line per problem: ``source: invalid WHAT`` then ``  key.path: message``."""
        lines = [f"{source}: invalid {what}"]
        for err in exc.errors():
            path = ".".join(str(part) for part in err["loc"]) or "(top level)"
            lines.append(f"  {path}: {err['msg']}")
        return cls("\n".join(lines))
