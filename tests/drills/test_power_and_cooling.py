"""Drills: grid loss while shoppers are inside, and a CRAC compressor failure.

Expected figures come from the simulators' own models, worked out by hand
below (the UPS: a 900 Wh battery behind an inverter of 90 % efficiency,
runtime reported in whole minutes rounded up; the T4: 60-70 W settable
limit, software slowdown from 85 degC, hardware slowdown at 93 degC).
Facility physics runs ``SPEED`` times faster than the wall clock, the
supervisor's dwell, recovery and the shoppers' visit times are wall seconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from devices.crac.messages import CracReading
from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import Exited, Refused
from devices.gpu.reading import GpuReading
from devices.ups.state import UpsReading
from facility.actuation.outcome import ActionOutcome
from facility.supervisor import ModeChanged, Policy, RuntimeBudgetRule, StoreMode
from facility.supervisor.budget import StoreOccupancy
from facility.supervisor.decisions import CapGpus, ShutdownHost
from sim_devices.crac.model import CracModel
from sim_devices.fake_nvml import T4
from sim_devices.fake_nvml.physics import REASON_HW_SLOWDOWN, REASON_HW_THERMAL, REASON_SW_THERMAL

from .store import (
    CREDENTIAL,
    GPUS,
    SPEED,
    DrillStore,
    admit,
    drill_policy,
    drill_store,
    wait_until,
    walk_out,
)

# --- grid loss: the figures ---------------------------------------------------------------------
SHOPPERS = 3
LOAD_W = 1800.0
"""Rack load: 1800 W of 2700 W / 3000 VA (pf 0.9) is 67 % load, 2000 W off the battery."""
CHARGE_PCT = 61.1
"""549.9 Wh / 2000 W = 16.50 min exact: the UPS reports 17 min (1020 s)."""
REPORTED_RUNTIME_S = 1020.0
BUDGET_MARGIN_S = 300.0
NEED_S = 600.0 + 10.0 + 300.0 + BUDGET_MARGIN_S
"""A shopper walking in now (600 s visit + 10 s settlement) + 300 s shutdown reserve + margin.

The budget closes when 0.85 x predicted - 300 <= 910, i.e. predicted <= 1423 s. The
prediction at the closing load can only exceed the 1020 s reported by the share of
load closing sheds: at most 1020 x 67 / ((67 - 5.1) x 0.8) = 1380 s (all non-GPU load
cut to 80 %, GPUs at 5.1 % of load). Either way the first on-battery poll closes the store.
"""
FLOOR_AFTER_CUT_S = (549.9 - 2000.0 * 5 / 60) * 3600 / 2000.0 / SPEED
"""The floor (reported runtime <= 300 s, i.e. 5 min exact = 166.7 Wh left) comes
383.2 Wh x 1.8 s/Wh = 690 model s = 23.0 wall s after the cut; 10 % charge (94.5 Wh)
and the UPS's own low battery (2 min) come later."""

# --- CRAC failure -----------------------------------------------------------------------------
HOT_SUPPLY_C = 30.0
"""Room heating with no compressor: ~1 K per model minute, 0.5 K per wall second; the
supply air passes 30 degC about 13 s after the failure."""
WARM_C = 55.0
THERMAL_BITS = REASON_SW_THERMAL | REASON_HW_THERMAL | REASON_HW_SLOWDOWN
DEGRADED_CAP_W = T4.min_limit_w + 0.25 * (T4.max_limit_w - T4.min_limit_w)
"""Degraded caps each GPU at a quarter of its settable range: 60 + 0.25 x 10 = 62.5 W."""


def budget_policy() -> Policy:
    """The drill policy with the runtime budget's margin raised to 300 s."""
    base = drill_policy()
    rules = tuple(
        RuntimeBudgetRule(recover_s=2.0, margin_s=BUDGET_MARGIN_S)
        if isinstance(rule, RuntimeBudgetRule)
        else rule
        for rule in base.rules
    )
    return dataclasses.replace(base, rules=rules)


async def refused_at_entry(store: DrillStore) -> Refused:
    shown = time.monotonic()
    await store.runtime.bus.publish(
        CredentialPresented(
            source="entry", t_mono=shown, kind=CredentialKind.QR, credential=CREDENTIAL
        )
    )
    _, refused = await store.recorder.wait_for(Refused, after=shown)
    return refused


async def press_exit(store: DrillStore) -> float:
    """Press the (relocked) exit button with nobody walking: it must open; the latency."""
    exit_door = store.dio.door("exit")
    await wait_until("exit relocked", lambda: exit_door.locked, timeout_s=4.0)
    pressed = time.monotonic()
    store.dio.press("exit")
    opened = await wait_until("exit open", lambda: not exit_door.locked)
    return opened - pressed


async def test_grid_loss_with_shoppers_inside_closes_empties_settles_then_shuts_down(
    tmp_path: Path,
) -> None:
    """Three shoppers inside when the grid goes with 17 min of battery at 67 % load.

    The budget closes the store at once (entry refuses, exits open on request),
    the shoppers leave, and only the battery floor, 23 s later, asks for the
    host shutdown: after the last exit plus the receipts' settlement time.
    """
    async with drill_store(tmp_path, None, policy=budget_policy(), shutdown_delay_s=0.0) as store:
        rec = store.recorder
        store.ups.set_load_w(LOAD_W)
        await rec.wait_for(UpsReading, lambda r: r.load_pct is not None and r.load_pct >= 66)
        sessions = [await admit(store) for _ in range(SHOPPERS)]
        assert len(set(sessions)) == SHOPPERS
        _, occupancy = await rec.wait_for(StoreOccupancy, lambda o: len(o.sessions) == SHOPPERS)
        settlement_s = occupancy.settlement_s

        store.ups.set_charge(CHARGE_PCT)
        store.ups.cut_grid()
        cut = time.monotonic()
        t_closing, closing = await rec.wait_for(
            ModeChanged, lambda m: m.mode is StoreMode.CLOSING, after=cut
        )
        assert closing.rule == "runtime_budget"
        assert closing.figure("runtime_s") == REPORTED_RUNTIME_S
        assert closing.figure("need_s") == NEED_S
        predicted = closing.figure("predicted_runtime_s")
        assert isinstance(predicted, float)
        assert REPORTED_RUNTIME_S <= predicted <= 1380.0
        # Entry: relocks once the last admission's pulse ends, and admits nobody now.
        entry = store.dio.door("entry")
        exit_door = store.dio.door("exit")
        refused = await refused_at_entry(store)
        assert refused.reason == "store closing"
        relocked = await wait_until("entry relocked", lambda: entry.locked, timeout_s=4.0)
        assert not store.dio.walk_through("entry")["passed"]

        walks = []
        for _ in range(SHOPPERS):
            assert store.facility.supervisor is not None
            assert store.facility.supervisor.mode is StoreMode.CLOSING
            # Each shopper finds the exit locked and opens it with the button.
            await wait_until("exit relocked", lambda: exit_door.locked, timeout_s=4.0)
            walks.append(await walk_out(store))
            assert entry.locked
        last_exit = walks[-1].exited_t
        t_empty, _ = await rec.wait_for(StoreOccupancy, lambda o: not o.sessions, after=cut)
        assert t_empty >= last_exit - 0.01

        t_shutdown, shutdown = await rec.wait_for(ShutdownHost, after=cut, timeout_s=35.0)
        _, mode = await rec.wait_for(
            ModeChanged, lambda m: m.mode is StoreMode.SHUTDOWN, after=cut, timeout_s=1.0
        )
        _, done = await rec.wait_for(
            ActionOutcome, lambda o: o.kind == "shutdown_host", after=t_shutdown
        )
        # Exits still open on request with the host going down.
        final = await press_exit(store)

    assert mode.rule == "battery_floor"
    assert done.ok, done.detail
    assert "dry run" in done.detail
    # Every session was out and settled before the shutdown was asked for.
    assert t_shutdown >= last_exit + settlement_s, (
        f"shutdown {t_shutdown - last_exit:.1f} s after the last exit, "
        f"settlement needs {settlement_s} s"
    )
    # The floor came when the battery model says (poll period and trap latency aside).
    assert abs((t_shutdown - cut) - FLOOR_AFTER_CUT_S) < 1.5, t_shutdown - cut
    assert shutdown.after_s == 0.0
    exited = [m for _, m in rec.of(Exited, cut)]
    assert len(exited) == SHOPPERS
    assert exit_door.forced == 0  # nobody ever had to push through a locked exit
    assert entry.forced == 1  # the one who tried to walk in after closing
    print(
        f"grid loss: closing {t_closing - cut:.2f} s after the cut "
        f"(predicted {predicted:.0f} s vs need {NEED_S:.0f} s), entry relocked "
        f"{relocked - t_closing:.2f} s after closing; exit opened in "
        + ", ".join(f"{w.open_latency_s:.2f}" for w in walks)
        + f" s; last exit {last_exit - cut:.1f} s, shutdown {t_shutdown - cut:.1f} s after "
        f"the cut (model: {FLOOR_AFTER_CUT_S:.1f} s), {t_shutdown - last_exit:.1f} s after "
        f"the last exit; exit after shutdown opened in {final:.2f} s"
    )


async def test_crac_compressor_failure_caps_gpus_before_slowdown_and_restores_after(
    tmp_path: Path,
) -> None:
    """Both compressors fail with the GPUs at 85 %; they are repaired once supply air hits 30 degC.

    Degraded caps the GPUs to 62.5 W within a second of the alarm, far below any
    slowdown; after the repair (and the alarm reset at the panel) the store
    steps back to normal and the caps return to the 70 W default.
    """
    # A 5 s supply-air trend window: the rule sees the rise, and the fall after repair, fast.
    policy = dataclasses.replace(drill_policy(), crac_window_s=5.0)
    async with drill_store(tmp_path, None, policy=policy) as store:
        rec = store.recorder

        def warm(index: int) -> Callable[[GpuReading], bool]:
            return lambda g: g.index == index and (g.temperature_c or 0.0) >= WARM_C

        for index in range(GPUS):  # loaded and warmed up: 85 % is 67.8 W, 40.7 K over inlet
            await rec.wait_for(GpuReading, warm(index))
        crac: CracModel = store.crac.crac
        fault = time.monotonic()
        crac.set_fault("compressor")

        t_mode, degraded = await rec.wait_for(
            ModeChanged, lambda m: m.mode is StoreMode.DEGRADED, after=fault
        )
        assert degraded.rule == "crac_cooling"
        t_cap, cap = await rec.wait_for(
            CapGpus, lambda c: c.mode is StoreMode.DEGRADED, after=fault
        )
        t_done, capped = await rec.wait_for(
            ActionOutcome, lambda o: o.kind == "cap_gpus", after=t_cap
        )
        at_cap = [store.gpus.state(i) for i in range(GPUS)]
        assert capped.ok, capped.detail
        assert capped.verified
        assert [w for _, w in cap.targets] == [DEGRADED_CAP_W] * GPUS
        for board in at_cap:
            assert board.management_limit_w == DEGRADED_CAP_W
            assert board.limit_w < T4.default_limit_w
            assert board.temperature_c < T4.max_operating_c < T4.slowdown_c
            assert board.reasons & THERMAL_BITS == 0
        # The room heats up with the caps on.
        await rec.wait_for(GpuReading, lambda g: g.power_limit_w == DEGRADED_CAP_W, after=t_done)
        t_hot, hot = await rec.wait_for(
            CracReading,
            lambda r: r.supply_air_c is not None and r.supply_air_c >= HOT_SUPPLY_C,
            after=fault,
            timeout_s=25.0,
        )
        hot_gpus = [store.gpus.state(i) for i in range(GPUS)]

        repair = time.monotonic()
        crac.set_fault("compressor", False)
        crac.reset_alarms()
        t_normal, normal = await rec.wait_for(
            ModeChanged, lambda m: m.mode is StoreMode.NORMAL, after=repair, timeout_s=15.0
        )
        _, uncap = await rec.wait_for(CapGpus, lambda c: c.mode is StoreMode.NORMAL, after=repair)
        t_restored, restored = await rec.wait_for(
            ActionOutcome, lambda o: o.kind == "cap_gpus", after=t_normal
        )
        after = [store.gpus.state(i) for i in range(GPUS)]
        readings = [g for _, g in rec.of(GpuReading)]

    assert restored.ok, restored.detail
    assert [w for _, w in uncap.targets] == [T4.default_limit_w] * GPUS
    for board in after:
        assert board.management_limit_w == T4.default_limit_w
    # No GPU ever slowed itself down, by its own account or by temperature.
    assert readings
    hottest = max(g.temperature_c or 0.0 for g in readings)
    assert hottest < T4.max_operating_c
    assert not any(g.thermal_slowdown for g in readings)
    assert all(g.throttle_reasons is not None for g in readings)
    print(
        f"CRAC failure: degraded {t_mode - fault:.2f} s after the fault, caps "
        f"{DEGRADED_CAP_W} W set {t_done - fault:.2f} s after it with GPUs at "
        + ", ".join(f"{b.temperature_c:.1f}" for b in at_cap)
        + f" degC (slowdown {T4.slowdown_c}, max operating {T4.max_operating_c}); "
        f"supply {hot.supply_air_c:.1f} degC {t_hot - fault:.1f} s after the fault, GPUs "
        + ", ".join(f"{b.temperature_c:.1f}" for b in hot_gpus)
        + f" degC; normal {t_normal - repair:.2f} s after repair ({normal.rule}), caps "
        f"back to {T4.default_limit_w} W {t_restored - repair:.2f} s after it; hottest GPU "
        f"reading {hottest:.1f} degC over {len(readings)} readings"
    )
