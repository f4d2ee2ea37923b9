"""Grid loss during a busy period: conserve at once, close in time, shut down before the end."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from devices.bus import Message
from facility.supervisor import (
    CapGpus,
    Decision,
    FlushLedger,
    ModeChanged,
    SetEntry,
    ShutdownHost,
    StoreMode,
    Supervisor,
    default_policy,
)
from sim_devices.fake_nvml import A100_PCIE_40GB, GpuPhysics

from .world import Battery, Store, apply, gpu_reading, ups_reading

RATED_W = 10_000.0
BASE_W = 3_500.0
# What the non-GPU load really does per mode (deliberately less saving than the policy assumes).
TRUE_LOAD_FACTOR = {
    StoreMode.NORMAL: 1.0,
    StoreMode.CONSERVE: 0.95,
    StoreMode.DEGRADED: 0.9,
    StoreMode.CLOSING: 0.9,
    StoreMode.SHUTDOWN: 0.8,
}
GRID_LOSS_T = 1800.0
POLL_S = 5.0
HOST_SHUTDOWN_S = 120.0


@dataclass
class Run:
    decisions: list[Decision] = field(default_factory=list)
    inputs: list[Message] = field(default_factory=list)
    mode_at: dict[StoreMode, float] = field(default_factory=dict)
    true_runtime_at_closing_s: float = 0.0
    true_runtime_at_shutdown_s: float = 0.0
    time_to_empty_at_closing_s: float = 0.0
    store_settled_t: float = 0.0
    shoppers_at_closing: int = 0


def run_grid_loss(k_a: tuple[float, float] = (1800.0 * 50.0**1.15, 1.15)) -> Run:
    battery = Battery(k=k_a[0], a=k_a[1], rated_w=RATED_W)
    store = Store()
    gpus = [GpuPhysics(A100_PCIE_40GB, inlet_c=25.0) for _ in range(8)]
    sup = Supervisor(default_policy())
    run = Run()
    mode = StoreMode.NORMAL
    t = 0.0
    while t < 7200.0:
        on_battery = t >= GRID_LOSS_T
        busy = 0.75 + 0.25 * math.sin(2 * math.pi * t / 600.0)
        for g in gpus:
            g.utilisation = busy
            if t % POLL_S == 0:
                g.advance(POLL_S)
        store.step(t)
        load_w = BASE_W * TRUE_LOAD_FACTOR[mode] + sum(g.power_w() for g in gpus)
        if on_battery:
            battery.drain(100.0 * load_w / RATED_W, 1.0)
            assert battery.soc > 0, "the battery ran out before the store shut down"
        if t % POLL_S == 0:
            messages: list[Message] = [
                ups_reading(t, battery, load_w, on_battery),
                store.occupancy(t),
                *(gpu_reading(t, i, g) for i, g in enumerate(gpus)),
            ]
            for message in messages:
                run.inputs.append(message)
                out = sup.feed(message)
                run.decisions.extend(out)
                apply(out, gpus, store)
                for d in out:
                    if isinstance(d, ModeChanged):
                        mode = d.mode
                        run.mode_at[d.mode] = t
                        load_pct = 100.0 * load_w / RATED_W
                        if d.mode is StoreMode.CLOSING:
                            run.shoppers_at_closing = len(store.inside)
                            run.time_to_empty_at_closing_s = store.occupancy(t).time_to_empty_s
                        if d.mode is StoreMode.SHUTDOWN:
                            run.true_runtime_at_shutdown_s = battery.runtime_s(load_pct)
                            run.store_settled_t = store.last_leave_t + store.settlement_s
                            return run
        if mode is StoreMode.CLOSING and run.true_runtime_at_closing_s == 0.0 and t % POLL_S == 1:
            # The runtime the battery really has at the load closing left, a second later.
            run.true_runtime_at_closing_s = battery.runtime_s(100.0 * load_w / RATED_W)
        t += 1.0
    raise AssertionError("the store never shut down")


def test_grid_loss_goes_conserve_closing_shutdown_in_time() -> None:
    run = run_grid_loss()
    changes = [d for d in run.decisions if isinstance(d, ModeChanged)]
    assert [c.mode for c in changes] == [StoreMode.CONSERVE, StoreMode.CLOSING, StoreMode.SHUTDOWN]
    assert run.mode_at[StoreMode.CONSERVE] == GRID_LOSS_T  # the first on-battery poll
    assert changes[0].rule == "on_battery"
    closing = changes[1]
    assert closing.rule == "runtime_budget"
    assert run.shoppers_at_closing > 0
    # Closing came early enough: the battery (truth, not the supervisor's model) covers
    # emptying the store, settling and the shutdown reserve with time to spare.
    assert run.true_runtime_at_closing_s > run.time_to_empty_at_closing_s + 300.0
    # Every shopper has left and been settled before the store shuts down.
    assert run.store_settled_t <= run.mode_at[StoreMode.SHUTDOWN]
    # Shutdown is signalled while the host still has time to shut down cleanly.
    assert run.true_runtime_at_shutdown_s >= HOST_SHUTDOWN_S
    shutdown = changes[2]
    # the store was empty and settled: it shuts down then rather than drain the battery
    assert shutdown.rule == "empty_shutdown"
    conserve_s = run.mode_at[StoreMode.CONSERVE] - GRID_LOSS_T
    print(
        f"\ngrid loss at {GRID_LOSS_T:.0f} s: conserve +{conserve_s:.0f} s, "
        f"closing +{run.mode_at[StoreMode.CLOSING] - GRID_LOSS_T:.0f} s with "
        f"{run.shoppers_at_closing} inside, {run.time_to_empty_at_closing_s:.0f} s to empty, "
        f"true runtime then {run.true_runtime_at_closing_s:.0f} s; settled at "
        f"+{run.store_settled_t - GRID_LOSS_T:.0f} s; shutdown "
        f"+{run.mode_at[StoreMode.SHUTDOWN] - GRID_LOSS_T:.0f} s with "
        f"{run.true_runtime_at_shutdown_s:.0f} s of battery left"
    )


def test_grid_loss_actions_follow_the_modes() -> None:
    run = run_grid_loss()
    entry = [d for d in run.decisions if isinstance(d, SetEntry)]
    assert [e.locked for e in entry] == [False, True, True]
    assert [e.mode for e in entry] == [StoreMode.CONSERVE, StoreMode.CLOSING, StoreMode.SHUTDOWN]
    flushes = [d for d in run.decisions if isinstance(d, FlushLedger)]
    assert [f.mode for f in flushes] == [StoreMode.CLOSING, StoreMode.SHUTDOWN]
    shutdowns = [d for d in run.decisions if isinstance(d, ShutdownHost)]
    assert len(shutdowns) == 1
    assert shutdowns[0].after_s == 0.0
    caps = [d for d in run.decisions if isinstance(d, CapGpus)]
    by_mode = {c.mode: dict(c.targets) for c in caps}
    # A100: settable 150..250 W; conserve caps at half the range, closing at the floor.
    assert set(by_mode[StoreMode.CONSERVE].values()) == {200.0}
    assert set(by_mode[StoreMode.CLOSING].values()) == {150.0}
    # Nothing capped the GPUs before the grid went.
    assert all(c.t_mono < GRID_LOSS_T or c.mode is not StoreMode.NORMAL for c in caps)
    first_caps = [c for c in caps if c.t_mono < GRID_LOSS_T]
    assert all(set(dict(c.targets).values()) == {250.0} for c in first_caps)


def test_closing_explanation_carries_rule_and_figures() -> None:
    run = run_grid_loss()
    closing = next(
        d for d in run.decisions if isinstance(d, ModeChanged) and d.mode is StoreMode.CLOSING
    )
    predicted = closing.figure("predicted_runtime_s")
    empty = closing.figure("time_to_empty_s")
    assert isinstance(predicted, float)
    assert isinstance(empty, float)
    assert closing.figure("fitted") is True  # the busy morning gave the fit its load spread
    exponent = closing.figure("exponent")
    assert isinstance(exponent, float)
    assert abs(exponent - 1.15) < 0.05
    assert f"{predicted:.0f} s" in closing.explanation
    assert f"inside: {empty:.0f} s" in closing.explanation
    assert closing.figure("new_visit_s") == 540.0 + 10.0
    assert "on_battery" in closing.active
    assert "runtime_budget" in closing.active


def test_replay_gives_identical_decisions() -> None:
    first = run_grid_loss()
    second = run_grid_loss()
    assert first.decisions == second.decisions
    # Replaying the recorded inputs through a fresh supervisor decides the same, at once.
    replay = Supervisor(default_policy())
    decisions: list[Decision] = []
    for message in first.inputs:
        decisions.extend(replay.feed(message))
    assert decisions == first.decisions
