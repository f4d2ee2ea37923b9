"""A small test-owned world for the supervisor: a UPS battery, shoppers, GPUs and a CRAC.

The physics here is written independently of the supervisor's own models
(the battery drains by charge, not by the supervisor's runtime formula), so
the scenarios check the supervisor's decisions against a truth it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from devices.crac.messages import CracReading
from devices.gpu.reading import GpuReading, decode_reasons
from devices.ups.state import UpsReading, UpsStatus
from facility.supervisor import (
    CapGpus,
    Decision,
    OpenSession,
    SetEntry,
    StoreOccupancy,
)
from sim_devices.fake_nvml import GpuPhysics


@dataclass
class Battery:
    """Full-charge runtime ``k / load_pct**a``; charge drains at 1/R_full(load) per second."""

    k: float
    a: float
    rated_w: float
    soc: float = 1.0

    def full_runtime_s(self, load_pct: float) -> float:
        return float(self.k / load_pct**self.a)

    def runtime_s(self, load_pct: float) -> float:
        return self.soc * self.full_runtime_s(load_pct)

    def drain(self, load_pct: float, dt_s: float) -> None:
        self.soc = max(0.0, self.soc - dt_s / self.full_runtime_s(load_pct))


def ups_reading(
    t: float, battery: Battery, load_w: float, on_battery: bool, source: str = "ups-1"
) -> UpsReading:
    load_pct = 100.0 * load_w / battery.rated_w
    return UpsReading(
        source=source,
        t_mono=t,
        status=UpsStatus.ON_BATTERY if on_battery else UpsStatus.ON_LINE,
        runtime_s=round(battery.runtime_s(load_pct)),
        charge_pct=round(100.0 * battery.soc, 1),
        load_pct=round(load_pct, 1),
        output_power_w=round(load_w),
        input_v=0.0 if on_battery else 230.0,
    )


@dataclass
class Shopper:
    session_id: str
    leaves_at: float


@dataclass
class Store:
    """Shoppers arrive every ``arrival_s`` while the entry is open and stay ``visit_s``."""

    visit_s: float = 540.0
    arrival_s: float = 20.0
    settlement_s: float = 10.0
    entry_locked: bool = False
    inside: list[Shopper] = field(default_factory=list)
    next_arrival: float = 0.0
    last_leave_t: float = 0.0
    count: int = 0

    def step(self, t: float) -> None:
        while not self.entry_locked and t >= self.next_arrival:
            self.count += 1
            self.inside.append(Shopper(f"s{self.count}", self.next_arrival + self.visit_s))
            self.next_arrival += self.arrival_s
        gone = [s for s in self.inside if s.leaves_at <= t]
        for s in gone:
            self.last_leave_t = max(self.last_leave_t, s.leaves_at)
        self.inside = [s for s in self.inside if s.leaves_at > t]

    def occupancy(self, t: float) -> StoreOccupancy:
        sessions = tuple(OpenSession(s.session_id, s.leaves_at - t) for s in self.inside)
        return StoreOccupancy(
            source="checkout",
            t_mono=t,
            sessions=sessions,
            settlement_s=self.settlement_s,
            typical_visit_s=self.visit_s,
        )


def gpu_reading(t: float, index: int, p: GpuPhysics) -> GpuReading:
    m = p.model
    return GpuReading(
        source=f"gpu-{index}",
        t_mono=t,
        index=index,
        power_w=round(p.power_w(), 1),
        power_limit_w=p.limit_w,
        limit_min_w=m.min_limit_w,
        limit_max_w=m.max_limit_w,
        default_limit_w=m.default_limit_w,
        temperature_c=round(p.temperature_c),  # NVML reports whole degrees
        max_operating_c=m.max_operating_c,
        slowdown_c=m.slowdown_c,
        shutdown_c=m.shutdown_c,
        throttle_reasons=decode_reasons(p.reasons()),
    )


def crac_reading(t: float, supply_c: float, alarms: tuple[str, ...]) -> CracReading:
    return CracReading(
        source="crac-1",
        t_mono=t,
        supply_air_c=round(supply_c, 1),
        return_air_c=round(supply_c + 10.0, 1),
        compressors_on=(not alarms, True),
        alarms=alarms,
    )


def apply(decisions: list[Decision], gpus: list[GpuPhysics], store: Store | None) -> None:
    """The actuation the lead will wire, reduced to what the world model feels."""
    for d in decisions:
        if isinstance(d, CapGpus):
            for source, watts in d.targets:
                gpus[int(source.removeprefix("gpu-"))].limit_w = watts
        elif isinstance(d, SetEntry) and store is not None:
            store.entry_locked = d.locked
