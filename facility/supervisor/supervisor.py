"""The supervisor: readings in, one store mode and its actions out, in event time.

``feed`` takes any bus message (others are ignored) and ``tick`` lets time
pass without one (staleness, dwell and recovery are judged then). Both
return the decisions taken at that moment: a ``ModeChanged`` first, then
the ``ActionRequest`` messages of the new mode, or a ``CapGpus`` alone
when only the GPU caps moved. No clock is read and nothing is random:
the same messages give the same decisions.

Event time never runs backwards here: a message stamped before the latest
one seen is applied to its device's state but judged at the latest time.

Commands from people and building systems arrive as *holds* (``hold`` /
``release``): a fire alarm or a demand-response request is a floor (the
store is at least in that mode, like a rule that holds); an operator's
mode override is exact (the store is in that mode, stepping down without
waiting out the dwell) except that a rule asking for closing or shutdown
still wins: no override keeps a store open on a dying battery.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from dataclasses import dataclass

from devices.bus import Message
from devices.crac.messages import CracAlarm, CracReading
from devices.gpu.reading import GpuReading
from devices.health import HealthChanged, HealthState
from devices.ups.state import GridEvent, GridEventKind, UpsReading, UpsStatus
from facility.supervisor.budget import BudgetEstimate, RuntimeModel, StoreOccupancy
from facility.supervisor.decisions import (
    CapGpus,
    Decision,
    FlushLedger,
    ModeChanged,
    SetCameras,
    SetEntry,
    SetScreens,
    ShutdownHost,
)
from facility.supervisor.modes import StoreMode
from facility.supervisor.policy import Policy
from facility.supervisor.rules import (
    ON_BATTERY_STATUSES,
    CracFacts,
    Facts,
    Finding,
    UpsFacts,
)
from facility.supervisor.thermal import ThermalController

_LOGGER = logging.getLogger(__name__)

SOURCE = "supervisor"


@dataclass
class _Ups:
    reading: UpsReading | None = None
    seen_t: float | None = None
    offline: bool = False


@dataclass
class _Crac:
    reading: CracReading
    seen_t: float
    supply: deque[tuple[float, float]]
    offline: bool = False


@dataclass(frozen=True)
class _External:
    mode: StoreMode
    until_t: float | None
    explanation: str
    exact: bool


SAFETY_FLOOR = StoreMode.CLOSING
"""Rules asking for this mode or a worse one override an operator's exact mode override."""


@dataclass
class _Held:
    finding: Finding
    last_true_t: float
    recover_s: float


def _slope_per_min(points: deque[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t, value) in units per minute; None with under 2 points."""
    n = len(points)
    if n < 2:
        return None
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    stt = sum((t - mt) ** 2 for t, _ in points)
    if stt <= 1e-9:
        return None
    return 60.0 * sum((t - mt) * (v - mv) for t, v in points) / stt


class Supervisor:
    """Holds one store mode, changed only as the policy's rules and dwell times allow."""

    def __init__(self, policy: Policy, *, source: str = SOURCE) -> None:
        self._policy = policy
        self._source = source
        self._thermal = ThermalController(policy.thermal)
        self._ups: dict[str, _Ups] = {ups_id: _Ups() for ups_id in policy.ups_ids}
        self._fits: dict[str, RuntimeModel] = {}
        self._gpus: dict[str, GpuReading] = {}
        self._gpu_offline: set[str] = set()
        self._cracs: dict[str, _Crac] = {}
        self._occupancy: StoreOccupancy | None = None
        self._occupancy_offline = False
        self._empty_since: float | None = None
        self._mode = StoreMode.NORMAL
        self._entered_t: float | None = None
        self._start_t: float | None = None
        self._now: float | None = None
        self._held: dict[str, _Held] = {}
        self._caps_sent: dict[str, float] = {}
        self._last_facts: Facts | None = None
        self._external: dict[str, _External] = {}

    # --- what it holds ------------------------------------------------------------------

    @property
    def mode(self) -> StoreMode:
        """The store's mode now."""
        return self._mode

    @property
    def now(self) -> float | None:
        """The latest event time judged."""
        return self._now

    @property
    def facts(self) -> Facts | None:
        """The snapshot the last decision was taken on."""
        return self._last_facts

    def held_rules(self) -> tuple[str, ...]:
        """Rules holding (or within their recovery time) now."""
        return tuple(sorted(self._held))

    def gpu_caps(self) -> dict[str, float]:
        """The caps last asked for, by GPU source."""
        return dict(self._caps_sent)

    # --- input --------------------------------------------------------------------------

    def feed(self, message: Message) -> list[Decision]:
        """Apply one message and decide at its time."""
        t = message.t_mono
        if isinstance(message, UpsReading):
            self._on_ups(message)
        elif isinstance(message, GridEvent):
            self._on_grid(message)
        elif isinstance(message, CracReading):
            self._on_crac(message)
        elif isinstance(message, CracAlarm):
            crac = self._cracs.get(message.source)
            if crac is not None and message.t_mono >= crac.reading.t_mono:
                crac.reading = dataclasses.replace(crac.reading, alarms=message.active)
        elif isinstance(message, GpuReading):
            self._gpus[message.source] = message
            self._gpu_offline.discard(message.source)
        elif isinstance(message, StoreOccupancy):
            self._on_occupancy(message)
        elif isinstance(message, HealthChanged):
            self._on_health(message)
        else:
            return []
        return self._decide(t, gpu=message if isinstance(message, GpuReading) else None)

    def tick(self, t: float) -> list[Decision]:
        """Let event time reach ``t`` with no new message."""
        return self._decide(t, gpu=None)

    def hold(
        self,
        name: str,
        mode: StoreMode,
        t: float,
        *,
        until_t: float | None = None,
        explanation: str = "",
        exact: bool = False,
    ) -> list[Decision]:
        """Hold the store in ``mode`` (at least, or exactly) until ``until_t`` or ``release``.

        ``name`` identifies the hold (``fire_alarm``, ``demand_response``,
        ``mode_override``); holding the same name again replaces it.
        """
        if until_t is not None and until_t <= t:
            raise ValueError(f"hold {name!r}: until_t {until_t} is not after t {t}")
        if exact:  # one exact override at a time: the newest wins
            for other in [n for n, e in self._external.items() if e.exact]:
                del self._external[other]
        self._external[name] = _External(mode, until_t, explanation or name, exact)
        return self._decide(t, gpu=None)

    def release(self, name: str, t: float) -> list[Decision]:
        """End a hold (nothing happens when it is not held)."""
        self._external.pop(name, None)
        return self._decide(t, gpu=None)

    def holds(self) -> dict[str, StoreMode]:
        """The commands holding the store now, by name."""
        return {name: e.mode for name, e in sorted(self._external.items())}

    def _on_ups(self, reading: UpsReading) -> None:
        ups = self._ups.setdefault(reading.source, _Ups())
        if ups.seen_t is not None and reading.t_mono < ups.seen_t:
            return  # an older poll arriving late changes nothing
        ups.reading, ups.seen_t, ups.offline = reading, reading.t_mono, False
        model = self._fits.get(reading.source)
        if model is None:
            model = self._fits[reading.source] = RuntimeModel(window_s=self._policy.fit_window_s)
        # Only on-line readings feed the exponent fit: the battery is full, only the load
        # moves. On battery the level drains with time and would bias the exponent.
        if reading.status is UpsStatus.ON_LINE:
            model.add(reading.t_mono, reading.load_pct, reading.runtime_s)

    def _on_occupancy(self, occupancy: StoreOccupancy) -> None:
        """The newest snapshot replaces the last whatever its stamp (the tracker's is current).

        Emptiness is dated from the first empty snapshot after an occupied one,
        so a source that repeats "empty" on a period does not restart the count.
        """
        self._occupancy, self._occupancy_offline = occupancy, False
        if occupancy.sessions:
            self._empty_since = None
        elif self._empty_since is None:
            self._empty_since = occupancy.t_mono

    def _on_grid(self, event: GridEvent) -> None:
        """A transfer event (from a trap) is known before the next poll: apply it at once."""
        if event.kind is not GridEventKind.ON_BATTERY:
            return
        ups = self._ups.get(event.source)
        if ups is None or ups.reading is None or ups.seen_t is None or event.t_mono < ups.seen_t:
            return
        on_battery = not event.ended
        if (ups.reading.status in ON_BATTERY_STATUSES) != on_battery:
            status = UpsStatus.ON_BATTERY if on_battery else UpsStatus.ON_LINE
            ups.reading = dataclasses.replace(ups.reading, status=status)

    def _on_crac(self, reading: CracReading) -> None:
        crac = self._cracs.get(reading.source)
        if crac is None:
            crac = _Crac(reading, reading.t_mono, deque())
            self._cracs[reading.source] = crac
        elif reading.t_mono < crac.seen_t:
            return
        if reading.alarms is None and crac.reading.alarms is not None:
            reading = dataclasses.replace(reading, alarms=crac.reading.alarms)
        crac.reading, crac.seen_t, crac.offline = reading, reading.t_mono, False
        if reading.supply_air_c is not None:
            crac.supply.append((reading.t_mono, reading.supply_air_c))
        while crac.supply and reading.t_mono - crac.supply[0][0] > self._policy.crac_window_s:
            crac.supply.popleft()

    def _on_health(self, message: HealthChanged) -> None:
        device = message.health.device_id
        offline = message.health.state is HealthState.OFFLINE
        if device in self._ups:
            self._ups[device].offline = offline
        if device in self._cracs:
            self._cracs[device].offline = offline
        if self._occupancy is not None and device == self._occupancy.source:
            # Who came and went while it was down is unknown: emptiness counts anew.
            self._occupancy_offline = offline
            if offline:
                self._empty_since = None
        if device in self._gpus:
            if offline:
                self._gpu_offline.add(device)
            else:
                self._gpu_offline.discard(device)

    # --- deciding -----------------------------------------------------------------------

    def _decide(self, t: float, gpu: GpuReading | None) -> list[Decision]:
        now = t if self._now is None else max(self._now, t)
        self._now = now
        if self._start_t is None:
            self._start_t = now
            self._entered_t = now
        crac_degraded = self._crac_degraded(now)
        if gpu is not None and gpu.source not in self._gpu_offline:
            self._thermal.update(gpu, crac_degraded=crac_degraded)
        facts = self._facts(now)
        self._last_facts = facts
        decisions: list[Decision] = []
        changed = self._step_mode(facts, decisions)
        caps = self._caps(self._mode)
        if caps and (changed or self._caps_moved(caps)):
            self._caps_sent = dict(caps)
            decisions.insert(
                1 if changed else 0,
                CapGpus(
                    source=self._source,
                    t_mono=now,
                    mode=self._mode,
                    reason=self._cap_reason(changed),
                    targets=tuple(sorted(caps.items())),
                ),
            )
        return decisions

    def _crac_degraded(self, now: float) -> bool:
        """For the thermal loop: a CRAC rule holding, or a CRAC we cannot hear (fail-safe)."""
        if any(c.offline for c in self._cracs.values()):
            return True
        return any(h.finding.mode is StoreMode.DEGRADED for h in self._held.values()) or any(
            now - c.seen_t > self._policy.crac_stale_s for c in self._cracs.values()
        )

    def _facts(self, now: float) -> Facts:
        start = self._start_t if self._start_t is not None else now
        ups_facts: list[UpsFacts] = []
        for source, ups in sorted(self._ups.items()):
            age = now - (ups.seen_t if ups.seen_t is not None else start)
            ups_facts.append(
                UpsFacts(
                    source=source,
                    reading=ups.reading,
                    age_s=age,
                    offline=ups.offline,
                    closing=self._estimate(source, ups.reading, StoreMode.CLOSING, now),
                )
            )
        cracs = tuple(
            CracFacts(source, c.reading, now - c.seen_t, _slope_per_min(c.supply))
            for source, c in sorted(self._cracs.items())
            if not c.offline
        )
        gpus = tuple(
            g
            for source, g in sorted(self._gpus.items())
            if source not in self._gpu_offline and now - g.t_mono <= self._policy.gpu_stale_s
        )
        return Facts(
            now,
            tuple(ups_facts),
            self._occupancy,
            cracs,
            gpus,
            empty_since_t=self._empty_since,
            occupancy_offline=self._occupancy_offline,
            holding=tuple((name, h.finding.mode) for name, h in sorted(self._held.items())),
        )

    def _estimate(
        self, source: str, reading: UpsReading | None, mode: StoreMode, now: float
    ) -> BudgetEstimate | None:
        """Runtime at the load ``mode`` would leave; None when the runtime is unknown.

        The GPU part of the load is credited at the caps of ``mode`` only when
        the UPS says how many watts a percent of load is (output power, or
        ``policy.ups_rated_w``); otherwise no saving is assumed. The rest of
        the load scales by the ratio of the two modes' ``load_factor``.
        """
        if reading is None or reading.runtime_s is None:
            return None
        load = reading.load_pct
        if load is None or load <= 0:
            return BudgetEstimate(reading.runtime_s, 0.0, 0.0, reading.runtime_s, 1.0, False)
        w_per_pct: float | None = None
        if reading.output_power_w and reading.output_power_w > 0:
            w_per_pct = reading.output_power_w / load
        elif self._policy.ups_rated_w is not None:
            w_per_pct = self._policy.ups_rated_w / 100.0
        after = load
        if w_per_pct is not None:
            targets = self._caps(mode)
            gpu_now = gpu_after = 0.0
            for g in self._gpus.values():
                if g.power_w is None or now - g.t_mono > self._policy.gpu_stale_s:
                    continue
                gpu_now += g.power_w
                gpu_after += min(g.power_w, targets.get(g.source, g.power_w))
            gpu_now_pct = min(gpu_now / w_per_pct, load)
            gpu_after_pct = min(gpu_after / w_per_pct, gpu_now_pct)
            ratio = (
                self._policy.actions[mode].load_factor
                / self._policy.actions[self._mode].load_factor
            )
            after = (load - gpu_now_pct) * min(ratio, 1.0) + gpu_after_pct
        model = self._fits.get(source) or RuntimeModel(window_s=self._policy.fit_window_s)
        return model.predict(reading.runtime_s, load, after)

    def _step_mode(self, facts: Facts, out: list[Decision]) -> bool:
        now = facts.now
        findings = {}
        for rule in self._policy.rules:
            finding = rule.evaluate(facts)
            if finding is not None:
                findings[rule.name] = finding
                self._held[rule.name] = _Held(finding, now, rule.recover_s)
        for name in list(self._held):
            held = self._held[name]
            if name not in findings and now - held.last_true_t >= held.recover_s:
                del self._held[name]
        if self._policy.latch_shutdown and self._mode is StoreMode.SHUTDOWN:
            return False
        target = StoreMode.NORMAL
        driver: _Held | None = None
        for name in sorted(self._held):
            held = self._held[name]
            if held.finding.mode.severity > target.severity:
                target, driver = held.finding.mode, held
        exact = self._external_step(now, target, driver, out)
        if exact is not None:
            return exact
        for name, ext in sorted(self._external.items()):
            if ext.mode.severity > target.severity:
                target = ext.mode
                driver = _Held(Finding(name, ext.mode, ext.explanation), now, 0.0)
        entered = self._entered_t if self._entered_t is not None else now
        if target.severity > self._mode.severity:
            assert driver is not None
            self._switch(
                target,
                driver.finding.rule,
                driver.finding.explanation,
                driver.finding.figures,
                now,
                out,
            )
            return True
        if target.severity < self._mode.severity:
            dwell = self._policy.min_dwell_s[self._mode]
            if now - entered < dwell:
                return False
            if driver is None:
                explanation = f"every rule clear; {self._mode.value} lasted {now - entered:.0f} s"
                self._switch(target, "recovered", explanation, (), now, out)
            else:
                explanation = (
                    f"stepping down from {self._mode.value}; still held by "
                    f"{driver.finding.rule}: {driver.finding.explanation}"
                )
                self._switch(
                    target, driver.finding.rule, explanation, driver.finding.figures, now, out
                )
            return True
        return False

    def _external_step(
        self, now: float, rules_target: StoreMode, driver: _Held | None, out: list[Decision]
    ) -> bool | None:
        """Expire holds; apply an exact override. None: no override, the caller decides."""
        for name in [n for n, e in self._external.items() if e.until_t is not None]:
            until = self._external[name].until_t
            if until is not None and now >= until:
                _LOGGER.info("hold %s expired", name)
                del self._external[name]
        exact = [(n, e) for n, e in self._external.items() if e.exact]
        if not exact:
            return None
        name, ext = exact[0]
        target, rule, explanation = ext.mode, name, ext.explanation
        figures: tuple[tuple[str, float | str | bool | None], ...] = ()
        floors = [e.mode for e in self._external.values() if not e.exact]
        for floor in floors:  # a fire alarm is not overridden by an operator
            target = target.worse(floor)
        safety = driver is not None and rules_target.severity >= SAFETY_FLOOR.severity
        if safety and driver is not None and rules_target.severity > target.severity:
            target, rule = rules_target, driver.finding.rule
            explanation = f"{driver.finding.explanation} (overrides {name})"
            figures = driver.finding.figures
        if target is self._mode:
            return False
        self._switch(target, rule, explanation, figures, now, out)
        return True

    def _switch(
        self,
        mode: StoreMode,
        rule: str,
        explanation: str,
        figures: tuple[tuple[str, float | str | bool | None], ...],
        now: float,
        out: list[Decision],
    ) -> None:
        previous = self._mode
        self._mode, self._entered_t = mode, now
        _LOGGER.warning("store mode %s -> %s (%s): %s", previous, mode, rule, explanation)
        out.append(
            ModeChanged(
                source=self._source,
                t_mono=now,
                previous=previous,
                mode=mode,
                rule=rule,
                explanation=explanation,
                figures=figures,
                active=tuple(sorted(self._held)),
            )
        )
        actions = self._policy.actions[mode]
        reason = f"{mode.value}: {rule}"
        src, t = self._source, now
        out.append(
            SetEntry(source=src, t_mono=t, mode=mode, reason=reason, locked=actions.entry_locked)
        )
        out.append(
            SetCameras(source=src, t_mono=t, mode=mode, reason=reason, profile=actions.cameras)
        )
        out.append(
            SetScreens(source=src, t_mono=t, mode=mode, reason=reason, screens=actions.screens)
        )
        if actions.flush_ledger:
            out.append(FlushLedger(source=src, t_mono=t, mode=mode, reason=reason))
        if actions.shutdown_after_s is not None:
            after = actions.shutdown_after_s
            out.append(ShutdownHost(source=src, t_mono=t, mode=mode, reason=reason, after_s=after))

    # --- GPU caps -----------------------------------------------------------------------

    def _caps(self, mode: StoreMode) -> dict[str, float]:
        """Per GPU: the lower of the mode's cap and the thermal loop's, to 0.1 W."""
        frac = self._policy.actions[mode].gpu_cap_frac
        thermal = self._thermal.caps()
        caps: dict[str, float] = {}
        for source, thermal_cap in thermal.items():
            bounds = self._thermal.bounds(source)
            if bounds is None:
                continue
            floor, ceiling = bounds
            mode_cap = floor + frac * (ceiling - floor)
            caps[source] = round(min(mode_cap, thermal_cap), 1)
        return caps

    def _caps_moved(self, caps: dict[str, float]) -> bool:
        step = self._policy.thermal.min_change_w
        if set(caps) != set(self._caps_sent):
            return True
        return any(abs(caps[s] - self._caps_sent[s]) >= step for s in caps)

    def _cap_reason(self, mode_changed: bool) -> str:
        if mode_changed:
            return f"caps for {self._mode.value}"
        hot = [
            f"{s} setpoint {sp:.1f} degC"
            for s in sorted(self._caps_sent)
            if (sp := self._thermal.setpoint_c(s)) is not None
        ]
        return "thermal loop: " + ", ".join(hot)
