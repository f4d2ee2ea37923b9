"""Settings of OSDP gate controllers: the RS-485 line and each reader/controller (PD) on it.

The secure channel base key (SCBK) is a 16-byte secret per PD. It is held as
``SecretBytes`` so that ``repr``, logs and validation errors show ``**********``
instead of the key; it comes from a file or the environment, never from a
value typed into store.yaml in clear.
"""

from __future__ import annotations

import os
import string
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretBytes, field_validator

SCBK_LEN = 16
"""OSDP secure channel keys are AES-128 keys."""

TIMER_UNIT_MS = 100
"""OSDP output, LED and buzzer timers count in units of 100 ms."""

MAX_TIMER_COUNT = 255
"""Longest output pulse the libosdp Python binding carries: it narrows ``timer_count``
to 8 bits (the wire has 16), so 300 would silently become 44."""


class ScbkError(ValueError):
    """A secure channel key could not be read; the message never contains the key."""


def parse_scbk(data: bytes, *, where: str) -> SecretBytes:
    """A key from 32 hex digits (whitespace ignored) or from 16 raw bytes."""
    text = b"".join(data.split())
    if len(text) == 2 * SCBK_LEN and all(chr(c) in string.hexdigits for c in text):
        return SecretBytes(bytes.fromhex(text.decode("ascii")))
    if len(data) == SCBK_LEN:
        return SecretBytes(data)
    raise ScbkError(
        f"{where}: expected 32 hex digits or {SCBK_LEN} raw bytes, found {len(data)} bytes"
    )


def scbk_from_file(path: str | Path) -> SecretBytes:
    """Read a PD's SCBK from a file (a secrets mount, a 0600 file next to store.yaml)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ScbkError(f"cannot read SCBK file {path}: {exc.strerror}") from None
    return parse_scbk(data, where=f"SCBK file {path}")


def scbk_from_env(name: str) -> SecretBytes:
    """Read a PD's SCBK (32 hex digits) from environment variable ``name``."""
    value = os.environ.get(name)
    if value is None:
        raise ScbkError(f"environment variable {name} (SCBK) is not set")
    return parse_scbk(value.encode(), where=f"environment variable {name}")


def _coerce_scbk(value: Any) -> Any:
    if isinstance(value, str):
        return parse_scbk(value.encode(), where="scbk")
    if isinstance(value, bytes):
        return parse_scbk(value, where="scbk")
    return value


Scbk = Annotated[SecretBytes, BeforeValidator(_coerce_scbk)]


class OsdpLineSettings(BaseModel):
    """One RS-485 line with its control panel (CP); several PDs may share it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: str = Field(description="serial device, e.g. /dev/ttyUSB0 (an RS-485 adapter)")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200, 230400] = 115200
    refresh_s: float = Field(
        default=0.01,
        gt=0,
        le=0.05,
        description=(
            "longest wait between libosdp refreshes (incoming bytes and commands wake the "
            "line at once). Sets the grain of libosdp's 50 ms poll timer: measured card to "
            "driver median 25 ms and ~2 % of a core per line at 0.01; 36 ms and ~0.7 % at 0.02"
        ),
    )
    libosdp_log_level: int = Field(
        default=3,
        ge=0,
        le=7,
        description=(
            "libosdp's own log, written by the C library to stderr (not Python logging): "
            "3 error, 4 warning, 6 info. Its 'going offline for 300 seconds' is overridden "
            "by the driver's own reconnect"
        ),
    )


class OsdpGateSettings(BaseModel):
    """One gate's reader/controller (PD) and how its relay and inputs are wired.

    Validation errors do not echo input values: a mistyped key must not end up
    in a log through its error message.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    address: int = Field(ge=0, le=126, description="the PD's address on the line")
    scbk: Scbk = Field(description="secure channel base key, 16 bytes")
    relay_output: int = Field(default=0, ge=0, le=254, description="the PD output driving the lock")
    relay_energised: Literal["open", "locked"] = Field(
        default="locked",
        description=(
            "what an energised relay does to the passage: 'locked' for a maglock "
            "(power holds the door; fail-safe), 'open' for a strike (power frees it)"
        ),
    )
    passage_input: int | None = Field(
        default=0, ge=0, le=63, description="PD input of the passage sensor; None when not wired"
    )
    passage_active_high: bool = True
    reader: int = Field(default=0, ge=0, le=254, description="reader number for LED and buzzer")
    led: int = Field(default=0, ge=0, le=254, description="LED number for feedback")
    keypad_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="inter-key timeout; a PIN not ended by '#' in time is dropped",
    )
    keypad_max_digits: int = Field(default=16, ge=1, le=64)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    command_timeout_s: float = Field(
        default=1.0, gt=0, description="from submitting a command to the PD's acknowledgement"
    )
    link_timeout_s: float = Field(
        default=2.5,
        gt=0,
        description=(
            "no reply from the PD for this long means the link is lost. One lost frame "
            "already silences a PD for ~1 s (libosdp's 200 ms reply timeout + 800 ms retry "
            "wait), so 2.5 s rides out two in a row; libosdp alone takes ~9 s (8 probes)"
        ),
    )
    reconnect_cap_s: float = Field(default=5.0, gt=0, description="longest wait between reconnects")

    @field_validator("scbk")
    @classmethod
    def _scbk_len(cls, value: SecretBytes) -> SecretBytes:
        if len(value.get_secret_value()) != SCBK_LEN:
            raise ValueError(f"scbk must be {SCBK_LEN} bytes")
        return value

    @property
    def output_on_means_open(self) -> bool:
        """True when energising the relay frees the passage."""
        return self.relay_energised == "open"
