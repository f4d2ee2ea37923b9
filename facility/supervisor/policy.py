"""The supervisor's policy as data: rules, dwell times, and what each mode does.

Everything is a frozen dataclass checked on construction, so a bad policy
is refused with the field and what was expected, before it can decide
anything. ``default_policy()`` is the shipped one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from facility.supervisor.modes import StoreMode
from facility.supervisor.rules import (
    BatteryFloorRule,
    CracRule,
    EmptyShutdownRule,
    GpuMarginRule,
    OnBatteryRule,
    Rule,
    RuntimeBudgetRule,
    StaleInputRule,
)
from facility.supervisor.thermal import ThermalConfig

CAMERA_PROFILES = frozenset({"all", "checkout_only", "checkout_low_fps", "off"})
SCREEN_MODES = frozenset({"normal", "static", "off"})


@dataclass(frozen=True, slots=True)
class ModeActions:
    """What one mode asks of the store.

    ``gpu_cap_frac``: each GPU's cap as a fraction of its settable range
    (1 = uncapped, 0 = lowest limit), further lowered by the thermal loop.
    ``load_factor``: share of the non-GPU load left after the mode's other
    actions (cameras, screens), used to predict the runtime the mode buys.
    ``shutdown_after_s``: signal host shutdown this long after entering.
    """

    cameras: str = "all"
    screens: str = "normal"
    entry_locked: bool = False
    gpu_cap_frac: float = 1.0
    load_factor: float = 1.0
    flush_ledger: bool = False
    shutdown_after_s: float | None = None

    def __post_init__(self) -> None:
        if self.cameras not in CAMERA_PROFILES:
            raise ValueError(
                f"cameras must be one of {sorted(CAMERA_PROFILES)}, got {self.cameras!r}"
            )
        if self.screens not in SCREEN_MODES:
            raise ValueError(f"screens must be one of {sorted(SCREEN_MODES)}, got {self.screens!r}")
        if not 0 <= self.gpu_cap_frac <= 1:
            raise ValueError(f"gpu_cap_frac must be in [0, 1], got {self.gpu_cap_frac}")
        if not 0 < self.load_factor <= 1:
            raise ValueError(f"load_factor must be in (0, 1], got {self.load_factor}")
        if self.shutdown_after_s is not None and self.shutdown_after_s < 0:
            raise ValueError(f"shutdown_after_s must be >= 0, got {self.shutdown_after_s}")


DEFAULT_ACTIONS: Mapping[StoreMode, ModeActions] = MappingProxyType(
    {
        StoreMode.NORMAL: ModeActions(),
        StoreMode.CONSERVE: ModeActions(
            cameras="checkout_only", screens="static", gpu_cap_frac=0.5, load_factor=0.9
        ),
        StoreMode.DEGRADED: ModeActions(
            cameras="checkout_low_fps", screens="off", gpu_cap_frac=0.25, load_factor=0.8
        ),
        StoreMode.CLOSING: ModeActions(
            cameras="checkout_low_fps",
            screens="off",
            entry_locked=True,
            gpu_cap_frac=0.0,
            load_factor=0.8,
            flush_ledger=True,
        ),
        StoreMode.SHUTDOWN: ModeActions(
            cameras="off",
            screens="off",
            entry_locked=True,
            gpu_cap_frac=0.0,
            load_factor=0.6,
            flush_ledger=True,
            shutdown_after_s=0.0,
        ),
    }
)

DEFAULT_DWELL_S: Mapping[StoreMode, float] = MappingProxyType(
    {
        StoreMode.NORMAL: 0.0,
        StoreMode.CONSERVE: 120.0,
        StoreMode.DEGRADED: 300.0,
        StoreMode.CLOSING: 600.0,
        StoreMode.SHUTDOWN: 0.0,
    }
)


def _default_rules() -> tuple[Rule, ...]:
    return (
        OnBatteryRule(),
        RuntimeBudgetRule(),
        BatteryFloorRule(),
        EmptyShutdownRule(),
        CracRule(),
        GpuMarginRule(),
        StaleInputRule(),
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """Rules, per-mode minimum dwell, per-mode actions and the control loops' tuning.

    ``latch_shutdown``: once shutdown is decided it is never undone (the
    host is going down; a returning grid must not leave it half-stopped).
    ``ups_ids``: UPS units that must be heard from (stale from the start
    when silent); others are watched once they speak. A GPU reading older
    than ``gpu_stale_s`` is left out of the rules; a CRAC silent for
    ``crac_stale_s`` (or offline) counts as degraded cooling for the thermal loop.
    """

    rules: tuple[Rule, ...] = field(default_factory=_default_rules)
    min_dwell_s: Mapping[StoreMode, float] = field(default_factory=lambda: DEFAULT_DWELL_S)
    actions: Mapping[StoreMode, ModeActions] = field(default_factory=lambda: DEFAULT_ACTIONS)
    thermal: ThermalConfig = field(default_factory=ThermalConfig)
    latch_shutdown: bool = True
    ups_ids: tuple[str, ...] = ()
    crac_window_s: float = 120.0
    gpu_stale_s: float = 30.0
    crac_stale_s: float = 60.0
    fit_window_s: float = 900.0
    ups_rated_w: float | None = None

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"policy.rules: names must be unique; repeated: {', '.join(dupes)}")
        missing = [m.value for m in StoreMode if m not in self.min_dwell_s]
        if missing:
            raise ValueError(f"policy.min_dwell_s: missing modes {missing}")
        if any(v < 0 for v in self.min_dwell_s.values()):
            raise ValueError("policy.min_dwell_s: dwell times must be >= 0")
        missing = [m.value for m in StoreMode if m not in self.actions]
        if missing:
            raise ValueError(f"policy.actions: missing modes {missing}")
        for name in ("crac_window_s", "gpu_stale_s", "crac_stale_s", "fit_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"policy.{name} must be > 0, got {getattr(self, name)}")
        if self.ups_rated_w is not None and self.ups_rated_w <= 0:
            raise ValueError(f"policy.ups_rated_w must be > 0, got {self.ups_rated_w}")
        floors = [r for r in self.rules if isinstance(r, BatteryFloorRule)]
        for budget in (r for r in self.rules if isinstance(r, RuntimeBudgetRule)):
            for floor in floors:
                if budget.shutdown_runtime_s < floor.min_runtime_s:
                    raise ValueError(
                        f"policy.rules: {budget.name}.shutdown_runtime_s "
                        f"({budget.shutdown_runtime_s} s) is below {floor.name}.min_runtime_s "
                        f"({floor.min_runtime_s} s): the floor would shut the store down "
                        "before the shoppers the budget planned for are settled"
                    )

        for empty in (r for r in self.rules if isinstance(r, EmptyShutdownRule)):
            unknown = sorted(set(empty.closing_rules) - set(names))
            if unknown:
                raise ValueError(
                    f"policy.rules: {empty.name}.closing_rules names rules the policy does "
                    f"not have: {', '.join(unknown)}"
                )

    def with_empty_shutdown(self, grace_s: float | None) -> Policy:
        """A copy with the empty-store shutdown after ``grace_s``, or without it (None).

        The rule keeps its other settings; a policy without one gets the
        shipped rule with this grace.
        """
        current = next(
            (r for r in self.rules if isinstance(r, EmptyShutdownRule)), EmptyShutdownRule()
        )
        kept = tuple(r for r in self.rules if not isinstance(r, EmptyShutdownRule))
        if grace_s is None:
            return dataclasses.replace(self, rules=kept)
        tuned = dataclasses.replace(current, grace_s=grace_s)
        if len(kept) == len(self.rules):
            return dataclasses.replace(self, rules=(*kept, tuned))
        rules = tuple(tuned if isinstance(r, EmptyShutdownRule) else r for r in self.rules)
        return dataclasses.replace(self, rules=rules)

    def rule(self, name: str) -> Rule:
        """A rule by name."""
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)


def default_policy() -> Policy:
    """The shipped policy (see each rule's defaults for the figures)."""
    return Policy()
