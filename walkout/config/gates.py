"""Entry and exit gates: their controllers, the credential check and admission rules.

A gate's controller is either an OSDP reader/controller on an RS-485 line
(``osdp_lines``) or a Modbus TCP digital-I/O module on a bus from
``modbus.buses``. OSDP secure-channel keys are secret references, never
values in this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from devices.gate.dio_profile import DioWiring
from walkout.config.errors import Strict
from walkout.config.modbus import Identifier
from walkout.config.secrets import SecretRef
from walkout.config.vision import FloorPoint


class OsdpLine(Strict):
    """One RS-485 line with OSDP readers/controllers on it."""

    id: Identifier
    port: str = Field(description="serial device, e.g. /dev/ttyUSB1")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200, 230400] = 115200


class OsdpController(Strict):
    """A gate driven by an OSDP peripheral device (reader + relay + inputs)."""

    type: Literal["osdp"]
    line: str
    address: int = Field(ge=0, le=126)
    scbk: SecretRef = Field(description="secure channel base key: 32 hex digits")
    relay_output: int = Field(default=0, ge=0, le=254)
    relay_energised: Literal["open", "locked"] = "locked"
    passage_input: int | None = Field(default=0, ge=0, le=254)


class DioController(Strict):
    """A gate wired to a Modbus TCP digital-I/O module."""

    type: Literal["dio"]
    bus: str
    unit_id: int = Field(default=1, ge=1, le=247)
    profile: str = "io8"
    wiring: DioWiring


Controller = Annotated[OsdpController | DioController, Field(discriminator="type")]


class Gate(Strict):
    """One gate: entry or exit, what drives it, and where it is on the floor plan.

    ``floor`` is where a shopper passes through: the tracks that start there
    right after an entry are bound to its session, and an exit passage is
    bound to the track that ended there. Needed when the store has cameras.
    """

    id: Identifier
    role: Literal["entry", "exit"]
    controller: Controller
    floor: FloorPoint | None = None


class AllowListCheckConfig(Strict):
    """Credentials admitted from a local file (reloaded when it changes)."""

    type: Literal["allow_list"]
    path: Path


class HttpCheckConfig(Strict):
    """The store's app backend decides (POST, JSON); unreachable means refused."""

    type: Literal["http"]
    url: str = Field(pattern=r"^https?://")
    timeout_s: float = Field(default=2.0, gt=0, le=30)
    token: SecretRef | None = None


CredentialCheckConfig = Annotated[
    AllowListCheckConfig | HttpCheckConfig, Field(discriminator="type")
]


class Admission(Strict):
    """How long gates open and how groups are admitted."""

    open_ms: int = Field(default=3000, ge=100, le=60_000)
    exit_open_ms: int = Field(default=3000, ge=100, le=60_000)
    group_window_s: float = Field(default=15.0, gt=0, le=300)
    max_group_size: int = Field(default=6, ge=1, le=50)
    check_timeout_s: float = Field(default=5.0, gt=0, le=30)


class GatesSection(Strict):
    """The store's gates."""

    check: CredentialCheckConfig
    admission: Admission = Admission()
    osdp_lines: list[OsdpLine] = Field(default_factory=list)
    gates: list[Gate] = Field(default_factory=list)
