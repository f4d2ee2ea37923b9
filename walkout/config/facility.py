"""The rack's own devices: UPS units, precision air conditioning, GPUs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from devices.ups.grid import GridConfig
from walkout.config.errors import Strict
from walkout.config.modbus import Identifier
from walkout.config.secrets import SecretRef


class SnmpV3(Strict):
    """SNMPv3 user-based security (authPriv: authenticated and encrypted)."""

    user: str = Field(min_length=1)
    auth_protocol: Literal["md5", "sha", "sha224", "sha256", "sha384", "sha512"] = "sha"
    auth_key: SecretRef
    priv_protocol: Literal["des", "aes", "aes192", "aes256"] = "aes"
    priv_key: SecretRef


class SnmpAgent(Strict):
    """How to reach an SNMP agent."""

    host: str
    port: int = Field(default=161, ge=1, le=65535)
    version: Literal["1", "2c", "3"] = "2c"
    community: str = Field(default="public", description="v1/v2c read community")
    v3: SnmpV3 | None = None
    timeout_s: float = Field(default=1.0, gt=0, le=30)
    retries: int = Field(default=1, ge=0, le=5)

    @model_validator(mode="after")
    def _v3_needs_user(self) -> SnmpAgent:
        if self.version == "3" and self.v3 is None:
            raise ValueError("version 3 needs a 'v3' section (user, keys)")
        if self.version != "3" and self.v3 is not None:
            raise ValueError(f"'v3' is given but version is {self.version!r}")
        return self


class SnmpUps(Strict):
    """A UPS read over SNMP (UPS-MIB or APC PowerNet).

    ``trap_hosts``: the addresses its traps come from, when not the polled
    host (a card with two interfaces, traps through a NAT).
    """

    id: Identifier
    type: Literal["snmp"]
    agent: SnmpAgent
    profile: Literal["auto", "ietf", "powernet"] = "auto"
    rate_hz: float = Field(default=1.0, gt=0, le=10)
    trap_hosts: list[str] = Field(default_factory=list)


class NutUps(Strict):
    """A UPS read from an existing NUT server (upsd)."""

    id: Identifier
    type: Literal["nut"]
    host: str = "127.0.0.1"
    port: int = Field(default=3493, ge=1, le=65535)
    ups: str = Field(min_length=1, description="the UPS name in upsd, as in 'upsc NAME@host'")
    username: str | None = None
    password: SecretRef | None = None
    rate_hz: float = Field(default=1.0, gt=0, le=10)
    timeout_s: float = Field(default=2.0, gt=0, le=30)

    @model_validator(mode="after")
    def _login_pair(self) -> NutUps:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password', or neither")
        return self


Ups = Annotated[SnmpUps | NutUps, Field(discriminator="type")]


class TrapListener(Strict):
    """Where walkout listens for SNMP traps (a trap triggers an immediate poll)."""

    host: str = "0.0.0.0"
    port: int = Field(default=162, ge=1, le=65535)
    communities: list[str] = Field(default_factory=lambda: ["public"], min_length=1)


class GridBands(Strict):
    """What counts as a grid event at this site (see ``devices.ups.grid.GridConfig``).

    Percentages are of the nominal voltage; an event ends only back inside the
    band narrowed by the hysteresis, so a value on the edge gives one event.
    Invariants across fields are checked by the detector's own config when the
    runtime builds it, with the same names.
    """

    nominal_v: float = Field(default=230.0, gt=0)
    sag_pct: float = Field(default=10.0, gt=0, lt=100)
    swell_pct: float = Field(default=10.0, gt=0, lt=100)
    voltage_hysteresis_pct: float = Field(default=2.0, ge=0, lt=50)
    interruption_pct: float = Field(default=10.0, ge=0, lt=100)
    nominal_hz: Literal[50, 60] = 50
    frequency_band_hz: float = Field(default=1.0, gt=0, le=10)
    frequency_hysteresis_hz: float = Field(default=0.2, ge=0, le=5)
    min_duration_s: float = Field(default=0.0, ge=0, le=60)
    on_battery_min_duration_s: float = Field(default=0.0, ge=0, le=60)
    stale_after_s: float | None = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _bands_nest(self) -> GridBands:
        try:
            GridConfig(**self.model_dump())
        except ValueError as exc:
            raise ValueError(str(exc)) from None
        return self


class Crac(Strict):
    """A precision air-conditioning unit: on a Modbus bus, or an SNMP agent.

    Modbus units name ``bus`` and ``unit_id`` with a Modbus profile; SNMP units
    give ``agent`` with an SNMP profile (e.g. ``liebert_gp``).
    """

    id: Identifier
    profile: str
    bus: str | None = None
    unit_id: int | None = Field(default=None, ge=1, le=247)
    agent: SnmpAgent | None = None
    rate_hz: float = Field(default=1.0, gt=0, le=10)

    @model_validator(mode="after")
    def _one_transport(self) -> Crac:
        modbus = self.bus is not None or self.unit_id is not None
        if modbus == (self.agent is not None):
            raise ValueError("give either 'bus' and 'unit_id' (Modbus) or 'agent' (SNMP)")
        if modbus and (self.bus is None or self.unit_id is None):
            raise ValueError("a Modbus unit needs both 'bus' and 'unit_id'")
        return self


class Gpus(Strict):
    """The rack's NVIDIA GPUs, read through NVML."""

    enabled: bool = True
    rate_hz: float = Field(default=1.0, gt=0, le=10)


class FacilitySection(Strict):
    """Everything that keeps the rack alive."""

    ups: list[Ups] = Field(default_factory=list)
    traps: TrapListener | None = None
    grid: GridBands = GridBands()
    crac: list[Crac] = Field(default_factory=list)
    gpus: Gpus = Gpus()
