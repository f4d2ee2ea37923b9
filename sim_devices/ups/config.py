"""Configuration of the simulated UPS: the unit's ratings and battery, and its SNMP agent.

Written as YAML (every key optional; ``sim_devices/ups/scenarios/rack-3kva.yaml``
is the packaged sample)::

    ups:
      rating_va: 3000
      rating_w: 2700
      load_w: 900
      battery_capacity_wh: 900
    agent:
      communities: {read: public, write: private}
      traps: ["127.0.0.1:16200/v2c/public"]

Validation errors name the key path (``ups.rating_w``) and what was expected.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Positive = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]


class UpsConfigError(ValueError):
    """A configuration that cannot be run; the message names the key path."""


class UpsParams(BaseModel):
    """The physical unit. Units are in the names; defaults are a 3 kVA rack UPS.

    The battery is an energy store: on battery it delivers
    ``load_w / inverter_efficiency`` watts until ``battery_capacity_wh`` is
    used up; on grid it takes ``charge_power_w`` until full. Voltage
    thresholds follow the usual online-UPS window; ``topology`` decides what
    a sag or swell inside the window does (``line-interactive`` boosts or
    trims, ``online`` regenerates the nominal voltage).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    manufacturer: Annotated[str, Field(max_length=31)] = "walkout"
    model: Annotated[str, Field(max_length=63)] = "SIM-3000RM"
    ups_software_version: Annotated[str, Field(max_length=63)] = "UPS 1.4"
    agent_software_version: Annotated[str, Field(max_length=63)] = "walkout-sim-ups 0.1"
    name: Annotated[str, Field(max_length=63)] = "rack-ups"
    attached_devices: Annotated[str, Field(max_length=63)] = "store rack"

    topology: Literal["online", "line-interactive"] = "online"
    phases: Literal[1, 3] = 1
    rating_va: Positive = 3000.0
    rating_w: Positive = 2700.0
    power_factor: Fraction = 0.9
    """Load power factor: output VA = W / power_factor."""

    nominal_voltage_v: Positive = 230.0
    nominal_frequency_hz: Positive = 50.0
    low_transfer_v: Positive = 170.0
    high_transfer_v: Positive = 280.0
    boost_below_v: Positive = 207.0
    """line-interactive only: below this (and above low_transfer_v) the UPS boosts."""
    trim_above_v: Positive = 253.0
    """line-interactive only: above this (and below high_transfer_v) the UPS trims."""
    frequency_tolerance_hz: Positive = 3.0

    load_w: Annotated[float, Field(ge=0)] = 900.0
    battery_capacity_wh: Positive = 900.0
    battery_nominal_v: Positive = 72.0
    inverter_efficiency: Fraction = 0.9
    charge_power_w: Positive = 150.0
    initial_charge_pct: Annotated[float, Field(ge=0, le=100)] = 100.0
    low_batt_time_min: Annotated[int, Field(ge=0, le=2**31 - 1)] = 2
    max_runtime_min: Annotated[int, Field(ge=1, le=2**31 - 1)] = 9999
    """Runtime reported when the load is zero (or the estimate is longer)."""

    ambient_temp_c: float = 25.0
    temp_bad_c: float = 40.0
    test_duration_s: Positive = 10.0
    deep_test_duration_s: Positive = 60.0
    auto_restart: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> UpsParams:
        if not self.low_transfer_v < self.nominal_voltage_v < self.high_transfer_v:
            raise ValueError(
                "need low_transfer_v < nominal_voltage_v < high_transfer_v, got "
                f"{self.low_transfer_v} / {self.nominal_voltage_v} / {self.high_transfer_v}"
            )
        if not self.low_transfer_v <= self.boost_below_v <= self.nominal_voltage_v:
            raise ValueError("need low_transfer_v <= boost_below_v <= nominal_voltage_v")
        if not self.nominal_voltage_v <= self.trim_above_v <= self.high_transfer_v:
            raise ValueError("need nominal_voltage_v <= trim_above_v <= high_transfer_v")
        if self.rating_w > self.rating_va:
            raise ValueError(f"rating_w {self.rating_w} exceeds rating_va {self.rating_va}")
        return self


_TRAP = re.compile(
    r"^(?P<host>[^:/\s]+):(?P<port>\d{1,5})(?:/(?P<version>v1|v2c))?(?:/(?P<community>\S+))?$"
)


class TrapTarget(BaseModel):
    """Where notifications go: ``host:port[/v1|v2c[/community]]`` in text form."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    version: Literal["v1", "v2c"] = "v2c"
    community: str = "public"

    @field_validator("host")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(f"trap host must be an IPv4 address, got {value!r}") from None
        return value

    @classmethod
    def parse(cls, text: str) -> TrapTarget:
        """``127.0.0.1:16200/v2c/public``; version and community are optional."""
        match = _TRAP.match(text.strip())
        if match is None:
            raise UpsConfigError(
                f"bad trap target {text!r}: expected host:port[/v1|v2c[/community]]"
            )
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise UpsConfigError(f"bad trap target {text!r}: {_first_error(exc)}") from None

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.version}/{self.community}"


class Communities(BaseModel):
    """Community strings; a write community can also read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read: str = "public"
    write: str | None = "private"


class AgentConfig(BaseModel):
    """The SNMP side: address, communities, identity of the system group, trap targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 0
    communities: Communities = Communities()
    sys_descr: str = "walkout simulated UPS (RFC 1628 UPS-MIB agent)"
    sys_object_id: str = "1.3.6.1.2.1.33"
    """NUT's ``mibs = auto`` picks the IETF mapping from this value."""
    sys_contact: str = "store-ops@example.invalid"
    sys_name: str = "rack-ups"
    sys_location: str = "store rack"
    traps: tuple[str, ...] = ()
    cold_start_trap: bool = True
    max_message_size: Annotated[int, Field(ge=484, le=65507)] = 1472
    """Responses above this many bytes are tooBig (GetBulk is cut short instead)."""

    @field_validator("traps")
    @classmethod
    def _traps(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            TrapTarget.parse(text)
        return value

    @field_validator("sys_object_id")
    @classmethod
    def _oid(cls, value: str) -> str:
        if not re.fullmatch(r"\.?[0-2](\.\d+)+", value):
            raise ValueError(f"not a dotted OID: {value!r}")
        return value.lstrip(".")

    def trap_targets(self) -> list[TrapTarget]:
        """The parsed ``traps`` list."""
        return [TrapTarget.parse(text) for text in self.traps]


class UpsConfig(BaseModel):
    """A whole simulated UPS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ups: UpsParams = UpsParams()
    agent: AgentConfig = AgentConfig()


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for error in errors:
        path = ".".join(str(p) for p in error["loc"])
        parts.append(f"{path}: {error['msg']}" if path else str(error["msg"]))
    return "; ".join(parts)


def parse_config(data: Any, source: str = "config") -> UpsConfig:
    """Validate a mapping (e.g. parsed YAML); errors carry key paths."""
    if data is None:
        data = {}
    try:
        return UpsConfig.model_validate(data)
    except ValidationError as exc:
        raise UpsConfigError(f"{source}: {_first_error(exc)}") from None


def load_config(path: Path) -> UpsConfig:
    """Read and validate a YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UpsConfigError(f"{path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UpsConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))


SCENARIO_DIR = Path(__file__).with_name("scenarios")
DEFAULT_SCENARIO = SCENARIO_DIR / "rack-3kva.yaml"
