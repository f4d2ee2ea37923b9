"""Digital-I/O module profiles and gate wiring, as validated data.

Two things describe a gate on a Modbus I/O module, and they change for
different reasons:

- the *profile* is the module model (``devices/profiles/dio/*.yaml``): where
  its coils and inputs start, how many it has, and which optional features
  it offers (a timed-output "pulse" register, a communication watchdog
  register, a model id). A new module model is a new YAML file.
- the *wiring* is the installation: which relay drives this gate's lock and
  with which polarity, which input is the passage beam, the exit button, the
  tamper switch, the LEDs. It lives in the store's configuration.

Channel numbers in the wiring are 0-based offsets from the profile's first
coil/input (the module's DO1/DI1 is 0). Both models refuse unknown keys, and
errors name the file and the key path.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.errors import ProfileError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BitBlock(_Strict):
    """A contiguous run of coils or discrete inputs."""

    address: int = Field(default=0, ge=0, le=65535)
    count: int = Field(ge=1, le=256)

    @model_validator(mode="after")
    def _fits(self) -> BitBlock:
        if self.address + self.count > 65536:
            raise ValueError(f"address {self.address} + count {self.count} runs past 65535")
        return self


class PulseRegisters(_Strict):
    """Timed outputs done by the module: one holding register per coil.

    Writing ``n`` to ``on_address + k`` switches coil ``k`` on at once and off
    after ``n * unit_ms``; ``off_address + k`` switches it off, then on again.
    A later write to the coil cancels the timer.
    """

    on_address: int = Field(ge=0, le=65535)
    off_address: int = Field(ge=0, le=65535)
    unit_ms: int = Field(default=100, ge=1, le=60_000)
    max_value: int = Field(default=65535, ge=1, le=65535)


class WatchdogRegister(_Strict):
    """Communication watchdog: ``n * unit_ms`` without a request puts the coils in safe state."""

    address: int = Field(ge=0, le=65535)
    unit_ms: int = Field(default=100, ge=1, le=60_000)
    max_value: int = Field(default=65535, ge=1, le=65535)


class Identify(_Strict):
    """A holding register with a known value: checked on connect (the right module there?)."""

    address: int = Field(ge=0, le=65535)
    equals: int = Field(ge=0, le=65535)


class DioProfile(_Strict):
    """One I/O module model."""

    name: str
    kind: Literal["dio"]
    manufacturer: str = ""
    model: str = ""
    description: str = ""
    coils: BitBlock
    discrete_inputs: BitBlock
    identify: Identify | None = None
    pulse: PulseRegisters | None = None
    watchdog: WatchdogRegister | None = None
    max_poll_hz: float = Field(default=50.0, gt=0, le=1000)


class DioWiring(_Strict):
    """How one gate is wired to a module (0-based channels; see the module docstring).

    ``energised_locks`` is the lock's polarity: True for a maglock (powered =
    locked; losing power frees the door, the fail-safe choice for exits),
    False for an electric strike (powered = open, fail-secure).
    ``module_watchdog_s`` is written to the module's watchdog register on
    connect (None leaves the module's own setting alone); the driver's input
    polling keeps the watchdog fed, so when walkout dies the module frees
    the door by itself.
    """

    lock_coil: int = Field(ge=0)
    energised_locks: bool = True
    passage_input: int | None = Field(default=None, ge=0)
    passage_active_high: bool = True
    exit_request_input: int | None = Field(default=None, ge=0)
    exit_request_active_high: bool = True
    tamper_input: int | None = Field(default=None, ge=0)
    tamper_active_high: bool = True
    granted_coil: int | None = Field(default=None, ge=0)
    refused_coil: int | None = Field(default=None, ge=0)
    buzzer_coil: int | None = Field(default=None, ge=0)
    feedback_ms: int = Field(default=800, ge=50, le=10_000)
    debounce_ms: int = Field(
        default=40, ge=0, le=2000, description="an input change must hold this long to count"
    )
    poll_hz: float = Field(default=20.0, gt=0, le=1000)
    offline_after: int = Field(
        default=3, ge=1, le=100, description="failed polls in a row before the link is down"
    )
    module_watchdog_s: float | None = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def _distinct(self) -> DioWiring:
        coils = {
            "lock_coil": self.lock_coil,
            "granted_coil": self.granted_coil,
            "refused_coil": self.refused_coil,
            "buzzer_coil": self.buzzer_coil,
        }
        inputs = {
            "passage_input": self.passage_input,
            "exit_request_input": self.exit_request_input,
            "tamper_input": self.tamper_input,
        }
        if self.module_watchdog_s is not None and self.module_watchdog_s < 3 / self.poll_hz:
            raise ValueError(
                f"module_watchdog_s {self.module_watchdog_s} s is shorter than three poll periods "
                f"({3 / self.poll_hz:g} s at {self.poll_hz:g} Hz): the module would free the "
                "door while walkout is running"
            )
        for group in (coils, inputs):
            seen: dict[int, str] = {}
            for key, channel in group.items():
                if channel is None:
                    continue
                if channel in seen:
                    raise ValueError(f"{key} and {seen[channel]} are both channel {channel}")
                seen[channel] = key
        return self

    def coils(self) -> dict[str, int]:
        """Every coil this gate uses, by key."""
        found = {
            "lock_coil": self.lock_coil,
            "granted_coil": self.granted_coil,
            "refused_coil": self.refused_coil,
            "buzzer_coil": self.buzzer_coil,
        }
        return {k: v for k, v in found.items() if v is not None}

    def inputs(self) -> dict[str, int]:
        """Every input this gate uses, by key."""
        found = {
            "passage_input": self.passage_input,
            "exit_request_input": self.exit_request_input,
            "tamper_input": self.tamper_input,
        }
        return {k: v for k, v in found.items() if v is not None}

    def check_against(self, profile: DioProfile, source: str = "wiring") -> None:
        """Refuse channels the module does not have, naming the key."""
        problems = [
            f"  {key}: coil {channel} outside 0..{profile.coils.count - 1} of {profile.name}"
            for key, channel in self.coils().items()
            if channel >= profile.coils.count
        ]
        problems += [
            f"  {key}: input {channel} outside 0..{profile.discrete_inputs.count - 1} "
            f"of {profile.name}"
            for key, channel in self.inputs().items()
            if channel >= profile.discrete_inputs.count
        ]
        if self.module_watchdog_s is not None and profile.watchdog is not None:
            longest_s = profile.watchdog.max_value * profile.watchdog.unit_ms / 1000
            if self.module_watchdog_s > longest_s:
                problems.append(
                    f"  module_watchdog_s: {self.module_watchdog_s} s is longer than "
                    f"{profile.name}'s maximum {longest_s:g} s"
                )
        if self.poll_hz > profile.max_poll_hz:
            problems.append(
                f"  poll_hz: {self.poll_hz} above {profile.name}'s maximum {profile.max_poll_hz}"
            )
        if problems:
            header = f"{source}: does not fit module {profile.name}"
            raise ProfileError("\n".join([header, *problems]))


def parse_dio_profile(data: object, source: str) -> DioProfile:
    """Validate loaded YAML data; errors name ``source`` and the key path."""
    try:
        return DioProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError.from_validation(exc, source, "I/O module profile") from None


def parse_wiring(data: object, source: str = "wiring") -> DioWiring:
    """Validate a gate's wiring; errors name ``source`` and the key path."""
    try:
        return DioWiring.model_validate(data)
    except ValidationError as exc:
        raise ProfileError.from_validation(exc, source, "gate wiring") from None


def load_dio_profile_file(path: Path) -> DioProfile:
    """Load and validate one profile file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from None
    return parse_dio_profile(data, str(path))


@cache
def builtin_dio_profiles() -> dict[str, DioProfile]:
    """I/O module profiles shipped with walkout, by name."""
    found: dict[str, DioProfile] = {}
    folder = resources.files("devices.profiles").joinpath("dio")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
            profile = parse_dio_profile(data, f"dio/{entry.name}")
            found[profile.name] = profile
    return found


def get_dio_profile(name: str, extra_dirs: tuple[Path, ...] = ()) -> DioProfile:
    """A profile by name, from the site's own folders first, then the built-ins.

    Files of other kinds in a site folder (scale profiles) are skipped.
    """
    for folder in extra_dirs:
        for path in sorted(folder.glob("*.yaml")):
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ProfileError(f"{path}: cannot read profile: {exc}") from None
            if isinstance(data, dict) and data.get("kind") == "dio" and data.get("name") == name:
                return parse_dio_profile(data, str(path))
    try:
        return builtin_dio_profiles()[name]
    except KeyError:
        known = ", ".join(sorted(builtin_dio_profiles()))
        raise ProfileError(f"unknown I/O module profile {name!r} (known: {known})") from None
