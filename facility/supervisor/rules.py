"""Mode rules as data: each says when the store must be at least in some mode, and why.

A rule looks at one ``Facts`` snapshot (built by the supervisor from the
latest readings, all stamped in event time) and returns a ``Finding``
(the mode it demands, an explanation, the figures behind it) or None. The
mode machine turns findings into a mode with hysteresis: a finding that
stops holding keeps its mode for the rule's ``recover_s`` more seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.crac.messages import CracReading
from devices.gpu.reading import GpuReading
from devices.ups.state import UpsReading, UpsStatus
from facility.supervisor.budget import BudgetEstimate, StoreOccupancy
from facility.supervisor.decisions import Figure
from facility.supervisor.modes import StoreMode

ON_BATTERY_STATUSES = frozenset({UpsStatus.ON_BATTERY, UpsStatus.LOW_BATTERY})


@dataclass(frozen=True, slots=True)
class UpsFacts:
    """One UPS as last heard; ``closing`` predicts runtime at the load closing would leave."""

    source: str
    reading: UpsReading | None
    age_s: float
    offline: bool
    closing: BudgetEstimate | None = None

    @property
    def on_battery(self) -> bool:
        """The last reading said the load runs from the battery."""
        return self.reading is not None and self.reading.status in ON_BATTERY_STATUSES


@dataclass(frozen=True, slots=True)
class CracFacts:
    """One cooling unit: last reading and the supply-air trend over the rule's window."""

    source: str
    reading: CracReading
    age_s: float
    supply_slope_k_per_min: float | None


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the rules see at one moment (``now`` is event time).

    ``empty_since_t``: since when the occupancy has said nobody is inside
    (the first empty snapshot after an occupied one; None while someone is
    inside, before any occupancy, or since its source went offline).
    ``occupancy_offline``: the occupancy's source is reported offline.
    ``holding``: the rules that held at the previous decision (or are within
    their recovery time) and the mode each asks for.
    """

    now: float
    ups: tuple[UpsFacts, ...] = ()
    occupancy: StoreOccupancy | None = None
    cracs: tuple[CracFacts, ...] = ()
    gpus: tuple[GpuReading, ...] = ()
    empty_since_t: float | None = None
    occupancy_offline: bool = False
    holding: tuple[tuple[str, StoreMode], ...] = ()


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule holds: the store must be at least in ``mode``."""

    rule: str
    mode: StoreMode
    explanation: str
    figures: tuple[Figure, ...] = ()


def _check(condition: bool, rule: str, message: str) -> None:
    if not condition:
        raise ValueError(f"rule {rule!r}: {message}")


def _fmt(value: float | None, unit: str) -> str:
    return "unknown" if value is None else f"{value:.0f} {unit}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OnBatteryRule:
    """The grid is gone: save power from the first second."""

    name: str = "on_battery"
    mode: StoreMode = StoreMode.CONSERVE
    recover_s: float = 60.0

    def __post_init__(self) -> None:
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds while any UPS runs on battery."""
        for ups in facts.ups:
            if ups.on_battery and ups.reading is not None:
                r = ups.reading
                return Finding(
                    self.name,
                    self.mode,
                    f"UPS {ups.source} on battery (runtime {_fmt(r.runtime_s, 's')}, "
                    f"charge {_fmt(r.charge_pct, '%')}, input {_fmt(r.input_v, 'V')})",
                    (
                        ("ups", ups.source),
                        ("status", r.status.value),
                        ("runtime_s", r.runtime_s),
                        ("charge_pct", r.charge_pct),
                        ("load_pct", r.load_pct),
                        ("input_v", r.input_v),
                    ),
                )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeBudgetRule:
    """Close the store while the battery still covers emptying it, settling and shutting down.

    Holds when the runtime predicted at the closing load, less
    ``margin_frac`` of itself (model error) and ``margin_s``, no longer
    exceeds the time to empty the store plus ``shutdown_runtime_s`` (the
    runtime at which the store shuts down). With the runtime unknown on
    battery it holds too: nothing proves there is time.
    """

    name: str = "runtime_budget"
    mode: StoreMode = StoreMode.CLOSING
    recover_s: float = 300.0
    margin_s: float = 120.0
    margin_frac: float = 0.15
    shutdown_runtime_s: float = 300.0
    default_visit_s: float = 600.0

    def __post_init__(self) -> None:
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")
        _check(self.margin_s >= 0, self.name, "margin_s must be >= 0")
        _check(0 <= self.margin_frac < 1, self.name, "margin_frac must be in [0, 1)")
        _check(self.shutdown_runtime_s > 0, self.name, "shutdown_runtime_s must be > 0")
        _check(self.default_visit_s >= 0, self.name, "default_visit_s must be >= 0")

    def time_to_empty_s(self, occupancy: StoreOccupancy | None) -> tuple[float, float, bool]:
        """Seconds to empty the store as it is, seconds a shopper entering now needs, known.

        ``known``: the checkout said; without occupancy a full visit is assumed inside.
        """
        if occupancy is None:
            return self.default_visit_s, self.default_visit_s, False
        visit = occupancy.typical_visit_s
        entering = (self.default_visit_s if visit is None else visit) + occupancy.settlement_s
        return occupancy.time_to_empty_s, entering, True

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds for the first UPS on battery whose budget does not cover the need.

        The need is for the longer of emptying the store as it is and serving
        a shopper who walks in now: the store stays open only while it could
        serve that shopper, so emptying never reopens it on battery.
        """
        inside_s, entering_s, known = self.time_to_empty_s(facts.occupancy)
        empty_s = max(inside_s, entering_s)
        need_s = empty_s + self.shutdown_runtime_s + self.margin_s
        for ups in facts.ups:
            if not ups.on_battery:
                continue
            est = ups.closing
            base: tuple[Figure, ...] = (
                ("ups", ups.source),
                ("time_to_empty_s", inside_s),
                ("new_visit_s", entering_s),
                ("occupancy_known", known),
                ("shutdown_runtime_s", self.shutdown_runtime_s),
                ("margin_s", self.margin_s),
                ("need_s", need_s),
            )
            if est is None:
                return Finding(
                    self.name,
                    self.mode,
                    f"UPS {ups.source} on battery and its runtime is unknown: "
                    "closing, since nothing shows the store can be emptied in time",
                    (*base, ("predicted_runtime_s", None)),
                )
            usable_s = est.runtime_after_s * (1 - self.margin_frac)
            if usable_s - self.margin_s <= empty_s + self.shutdown_runtime_s:
                return Finding(
                    self.name,
                    self.mode,
                    f"UPS {ups.source}: predicted runtime {est.runtime_after_s:.0f} s at "
                    f"{est.load_after_pct:.0f}% load (now {est.runtime_now_s:.0f} s at "
                    f"{est.load_now_pct:.0f}%) less {self.margin_frac:.0%} no longer covers "
                    f"{empty_s:.0f} s to serve and settle every shopper (inside: {inside_s:.0f} s, "
                    f"walking in now: {entering_s:.0f} s) + {self.shutdown_runtime_s:.0f} s "
                    f"shutdown reserve + {self.margin_s:.0f} s margin",
                    (
                        *base,
                        ("runtime_s", est.runtime_now_s),
                        ("load_pct", est.load_now_pct),
                        ("load_after_pct", est.load_after_pct),
                        ("predicted_runtime_s", est.runtime_after_s),
                        ("usable_runtime_s", usable_s),
                        ("exponent", est.exponent),
                        ("fitted", est.fitted),
                    ),
                )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryFloorRule:
    """Fixed floors, as NUT and apcupsd have them: they hold whatever the budget model says.

    On battery, a charge at or below ``min_charge_pct``, a reported runtime
    at or below ``min_runtime_s``, or the UPS's own low-battery status
    shuts the store down.
    """

    name: str = "battery_floor"
    mode: StoreMode = StoreMode.SHUTDOWN
    recover_s: float = 600.0
    min_charge_pct: float = 10.0
    min_runtime_s: float = 300.0
    obey_low_battery: bool = True

    def __post_init__(self) -> None:
        _check(0 <= self.min_charge_pct < 100, self.name, "min_charge_pct must be in [0, 100)")
        _check(self.min_runtime_s >= 0, self.name, "min_runtime_s must be >= 0")
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds for the first UPS on battery past a floor."""
        for ups in facts.ups:
            r = ups.reading
            if r is None or not ups.on_battery:
                continue
            why: list[str] = []
            if r.charge_pct is not None and r.charge_pct <= self.min_charge_pct:
                why.append(f"charge {r.charge_pct:.0f}% <= {self.min_charge_pct:.0f}%")
            if r.runtime_s is not None and r.runtime_s <= self.min_runtime_s:
                why.append(f"runtime {r.runtime_s:.0f} s <= {self.min_runtime_s:.0f} s")
            if self.obey_low_battery and r.status is UpsStatus.LOW_BATTERY:
                why.append("the UPS reports low battery")
            if why:
                return Finding(
                    self.name,
                    self.mode,
                    f"UPS {ups.source} on battery: " + "; ".join(why),
                    (
                        ("ups", ups.source),
                        ("status", r.status.value),
                        ("charge_pct", r.charge_pct),
                        ("runtime_s", r.runtime_s),
                        ("min_charge_pct", self.min_charge_pct),
                        ("min_runtime_s", self.min_runtime_s),
                    ),
                )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class EmptyShutdownRule:
    """On battery, a store closed for the battery shuts down once it is empty and settled.

    Closing on battery is there to let every shopper out and settle their
    receipts before the battery ends; once that is done, staying up only
    drains the battery until ``battery_floor`` shuts the store down anyway.
    The rule holds when all of these hold:

    - a rule in ``closing_rules`` holds closing or worse: the store is closing
      *because of the battery*;
    - every UPS is heard from (within ``stale_s``, not offline) and on
      battery: with the grid back the store reopens instead, and a UPS that
      cannot be heard leaves the floors in charge;
    - the occupancy is known (one has arrived, its source is not offline and,
      with ``occupancy_stale_s`` set, it is no older than that) and has said
      nobody is inside for its ``settlement_s`` (the receipts' settlement
      allowance, as the runtime budget plans it: the gate tracker drops a
      session at its last exit, and nothing else marks it unsettled) plus
      ``grace_s``. Anyone entering restarts the count.

    A fire alarm or an operator holding the store in closing is not a reason
    to power the rack off: with grid power the store must be up when the
    alarm clears or the operator reopens, and on battery such a hold only
    keeps a store closed that the battery alone would leave in conserve.
    Neither is in ``closing_rules``, so neither shuts down an empty store;
    when the battery closes the store as well, the rule applies whatever
    the holds.

    ``occupancy_stale_s`` is off by default because the gate tracker sends
    occupancy only when it changes (an empty store sends nothing); set it
    when a checkout republishes occupancy on a period.
    """

    name: str = "empty_shutdown"
    mode: StoreMode = StoreMode.SHUTDOWN
    recover_s: float = 600.0
    grace_s: float = 60.0
    stale_s: float = 30.0
    occupancy_stale_s: float | None = None
    closing_rules: tuple[str, ...] = ("runtime_budget",)

    def __post_init__(self) -> None:
        _check(self.grace_s >= 0, self.name, "grace_s must be >= 0")
        _check(self.stale_s > 0, self.name, "stale_s must be > 0")
        _check(
            self.occupancy_stale_s is None or self.occupancy_stale_s > 0,
            self.name,
            "occupancy_stale_s must be > 0 or None",
        )
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")
        _check(bool(self.closing_rules), self.name, "closing_rules must name a rule")
        _check(self.name not in self.closing_rules, self.name, "closing_rules must not name itself")

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds once every condition above has held for the grace period."""
        closing_rule = next(
            (
                name
                for name, mode in facts.holding
                if name in self.closing_rules and mode.severity >= StoreMode.CLOSING.severity
            ),
            None,
        )
        if closing_rule is None or not facts.ups:
            return None
        if any(u.offline or u.age_s > self.stale_s or not u.on_battery for u in facts.ups):
            return None
        occupancy = facts.occupancy
        if occupancy is None or facts.occupancy_offline or facts.empty_since_t is None:
            return None
        if occupancy.sessions:
            return None
        if (
            self.occupancy_stale_s is not None
            and facts.now - occupancy.t_mono > self.occupancy_stale_s
        ):
            return None
        empty_s = facts.now - facts.empty_since_t
        if empty_s < occupancy.settlement_s + self.grace_s:
            return None
        ups = facts.ups[0]
        r = ups.reading
        assert r is not None  # on battery implies a reading
        readings = "; ".join(
            f"UPS {u.source} charge {_fmt(u.reading.charge_pct, '%')}, "
            f"runtime {_fmt(u.reading.runtime_s, 's')}"
            for u in facts.ups
            if u.reading is not None
        )
        return Finding(
            self.name,
            self.mode,
            f"store closing for {closing_rule} and empty for {empty_s:.0f} s (0 sessions; "
            f"{occupancy.settlement_s:.0f} s settlement + {self.grace_s:.0f} s grace passed) "
            f"with the grid out ({readings}): shutting down now rather than draining the "
            "battery to its floor",
            (
                ("ups", ups.source),
                ("status", r.status.value),
                ("charge_pct", r.charge_pct),
                ("runtime_s", r.runtime_s),
                ("closing_rule", closing_rule),
                ("sessions", len(occupancy.sessions)),
                ("empty_s", empty_s),
                ("settlement_s", occupancy.settlement_s),
                ("grace_s", self.grace_s),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class CracRule:
    """Cooling in trouble: an alarm while supply air climbs, or supply air past a limit.

    ``alarms`` empty means any alarm counts. The slope is fitted over the
    supervisor's ``crac_window_s`` of supply-air readings.
    """

    name: str = "crac_cooling"
    mode: StoreMode = StoreMode.DEGRADED
    recover_s: float = 300.0
    alarms: tuple[str, ...] = ()
    rise_k_per_min: float = 0.3
    supply_limit_c: float | None = 32.0

    def __post_init__(self) -> None:
        _check(self.rise_k_per_min > 0, self.name, "rise_k_per_min must be > 0")
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds for the first unit in trouble."""
        for crac in facts.cracs:
            r = crac.reading
            active = tuple(a for a in (r.alarms or ()) if not self.alarms or a in self.alarms)
            slope = crac.supply_slope_k_per_min
            rising = slope is not None and slope >= self.rise_k_per_min
            too_hot = (
                self.supply_limit_c is not None
                and r.supply_air_c is not None
                and r.supply_air_c >= self.supply_limit_c
            )
            if (active and rising) or too_hot:
                what = (
                    f"alarms {', '.join(active)} with supply air rising {slope:.2f} K/min"
                    if active and rising and slope is not None
                    else f"supply air {r.supply_air_c:.1f} degC >= {self.supply_limit_c} degC"
                )
                return Finding(
                    self.name,
                    self.mode,
                    f"CRAC {crac.source}: {what}",
                    (
                        ("crac", crac.source),
                        ("alarms", ",".join(active)),
                        ("supply_air_c", r.supply_air_c),
                        ("return_air_c", r.return_air_c),
                        ("supply_slope_k_per_min", slope),
                    ),
                )
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class GpuMarginRule:
    """A GPU close to where it slows itself down: save power before it does."""

    name: str = "gpu_thermal_margin"
    mode: StoreMode = StoreMode.CONSERVE
    recover_s: float = 120.0
    margin_k: float = 3.0

    def __post_init__(self) -> None:
        _check(self.margin_k >= 0, self.name, "margin_k must be >= 0")
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds for the GPU with the least margin when it is below ``margin_k``."""
        worst: tuple[float, GpuReading, float] | None = None
        for gpu in facts.gpus:
            limit = gpu.max_operating_c or gpu.slowdown_c
            if gpu.temperature_c is None or limit is None:
                continue
            margin = limit - gpu.temperature_c
            if worst is None or margin < worst[0]:
                worst = (margin, gpu, limit)
        if worst is None or worst[0] > self.margin_k:
            return None
        margin, gpu, limit = worst
        return Finding(
            self.name,
            self.mode,
            f"GPU {gpu.source} at {gpu.temperature_c:.1f} degC, {margin:.1f} K below its "
            f"{limit:.0f} degC slowdown threshold (margin floor {self.margin_k:.1f} K)",
            (
                ("gpu", gpu.source),
                ("temperature_c", gpu.temperature_c),
                ("threshold_c", limit),
                ("margin_k", margin),
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleInputRule:
    """Fail-safe: a UPS not heard from for ``stale_s`` (or offline) is assumed in trouble.

    Last seen on line: conserve (the grid may have gone since). Last seen on
    battery: closing (the budget can no longer be watched).
    """

    name: str = "stale_ups"
    mode: StoreMode = StoreMode.CONSERVE
    mode_if_on_battery: StoreMode = StoreMode.CLOSING
    recover_s: float = 30.0
    stale_s: float = 30.0

    def __post_init__(self) -> None:
        _check(self.stale_s > 0, self.name, "stale_s must be > 0")
        _check(self.recover_s >= 0, self.name, "recover_s must be >= 0")

    def evaluate(self, facts: Facts) -> Finding | None:
        """Holds for the worst stale UPS."""
        found: Finding | None = None
        for ups in facts.ups:
            if not (ups.offline or ups.age_s > self.stale_s):
                continue
            mode = self.mode_if_on_battery if ups.on_battery else self.mode
            last = "never" if ups.reading is None else f"{ups.age_s:.0f} s ago"
            state = "offline" if ups.offline else f"silent for more than {self.stale_s:.0f} s"
            finding = Finding(
                self.name,
                mode,
                f"UPS {ups.source} {state} (last reading {last}, last seen "
                f"{'on battery' if ups.on_battery else 'on line or unknown'}): "
                f"assuming {mode.value} to stay safe",
                (
                    ("ups", ups.source),
                    ("age_s", ups.age_s),
                    ("offline", ups.offline),
                    ("last_on_battery", ups.on_battery),
                ),
            )
            if found is None or mode.severity > found.mode.severity:
                found = finding
        return found


Rule = (
    OnBatteryRule
    | RuntimeBudgetRule
    | BatteryFloorRule
    | EmptyShutdownRule
    | CracRule
    | GpuMarginRule
    | StaleInputRule
)
