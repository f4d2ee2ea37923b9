"""A whole store on loopback for the supervisor drills.

Simulators speak their real protocols: the UPS over SNMP with traps, the
CRAC over Modbus TCP, both gates on a digital-I/O module over Modbus TCP,
the GPUs through a fake NVML with a power/thermal model, and a Mosquitto of
the drill's own. The GPUs' heat goes into the CRAC's room model and its
supply air is their inlet air. Facility physics (battery drain, room and
GPU thermals) run ``SPEED`` times faster than the wall clock; the
supervisor's own rules and dwell times are real seconds, so a drill uses a
policy with short recovery and dwell times (``drill_policy``).

``Recorder`` keeps every bus message with its arrival time and lets a drill
wait for a condition on them (no sleeps as synchronisation).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from peers.mosquitto import Mosquitto, running_broker
from peers.snmpsim import free_udp_port

from devices.bus import Bus, Message, Subscription
from devices.gate.io import CredentialKind, CredentialPresented
from devices.gate.machine import Admitted, Entered, Exited
from facility.supervisor import (
    BatteryFloorRule,
    CracRule,
    GpuMarginRule,
    OnBatteryRule,
    Policy,
    RuntimeBudgetRule,
    StaleInputRule,
    StoreMode,
)
from facility.supervisor.policy import DEFAULT_ACTIONS
from sim_devices.clock import AcceleratedClock
from sim_devices.crac import CracSimulator
from sim_devices.dio.simulator import DioSimSpec, DioSimulator
from sim_devices.fake_nvml import T4, FakeNvml
from sim_devices.ups import UpsSimulator
from walkout.config import StoreConfig, parse_config
from walkout.facility_wiring import FacilityServices, open_facility
from walkout.runtime import Runtime, open_runtime

SPEED = 30.0
GPUS = 2
CREDENTIAL = "QR-DRILL"
M = TypeVar("M", bound=Message)


def drill_policy(**dwell: float) -> Policy:
    """The shipped rules and actions with recovery and dwell times a drill can wait out."""
    rules = (
        OnBatteryRule(recover_s=2.0),
        RuntimeBudgetRule(recover_s=2.0),
        BatteryFloorRule(recover_s=2.0),
        CracRule(recover_s=2.0),
        GpuMarginRule(recover_s=2.0),
        StaleInputRule(recover_s=2.0, stale_s=5.0),
    )
    min_dwell = {mode: 0.0 for mode in StoreMode}
    min_dwell.update({StoreMode(name): s for name, s in dwell.items()})
    return Policy(
        rules=rules,
        min_dwell_s=MappingProxyType(min_dwell),
        actions=DEFAULT_ACTIONS,
        ups_ids=("ups-1",),
        gpu_stale_s=5.0,
        crac_stale_s=5.0,
    )


def store_yaml(
    workdir: Path,
    *,
    ups_port: int,
    trap_port: int,
    crac_port: int,
    dio_port: int,
    mqtt_port: int | None,
    telemetry_url: str | None = None,
    shutdown_delay_s: float | None = None,
) -> dict[str, Any]:
    """store.yaml of a drill store: UPS, CRAC, GPUs, two gates, supervisor, alerts, MQTT."""
    allow = workdir / "allow.yaml"
    allow.write_text(f"credentials:\n  - {{credential: {CREDENTIAL}, group_size: 1}}\n")
    data: dict[str, Any] = {
        "store": {"id": "drill"},
        "modbus": {
            "buses": [
                {"id": "bms", "type": "tcp", "host": "127.0.0.1", "port": crac_port},
                {"id": "io", "type": "tcp", "host": "127.0.0.1", "port": dio_port},
            ]
        },
        "facility": {
            "ups": [
                {
                    "id": "ups-1",
                    "type": "snmp",
                    "agent": {"host": "127.0.0.1", "port": ups_port, "timeout_s": 0.5},
                    "rate_hz": 5.0,
                }
            ],
            "traps": {"host": "127.0.0.1", "port": trap_port, "communities": ["public"]},
            "crac": [
                {"id": "crac-1", "profile": "pcw1", "bus": "bms", "unit_id": 1, "rate_hz": 5.0}
            ],
            "gpus": {"enabled": True, "rate_hz": 5.0},
        },
        "gates": {
            "check": {"type": "allow_list", "path": str(allow)},
            "gates": [
                {
                    "id": "entry",
                    "role": "entry",
                    "controller": {
                        "type": "dio",
                        "bus": "io",
                        "wiring": {"lock_coil": 0, "passage_input": 0},
                    },
                },
                {
                    "id": "exit",
                    "role": "exit",
                    "controller": {
                        "type": "dio",
                        "bus": "io",
                        "wiring": {"lock_coil": 1, "passage_input": 1, "exit_request_input": 2},
                    },
                },
            ],
        },
        "supervisor": {"tick_s": 0.2, "shutdown": {"command": ["true"], "dry_run": True}},
        "alerts": {"db": str(workdir / "alerts.db"), "tick_s": 0.2},
    }
    if shutdown_delay_s is not None:
        data["supervisor"]["shutdown"]["delay_s"] = shutdown_delay_s
    if mqtt_port is not None:
        data["mqtt"] = {"port": mqtt_port, "senders": {"fire-panel": ["fire_alarm"]}}
    if telemetry_url is not None:
        data["telemetry"] = {
            "url": telemetry_url,
            "buffer_dir": str(workdir / "telemetry-buffer"),
            "flush_interval_s": 0.2,
        }
    return data


class Recorder:
    """Every bus message with its monotonic arrival time; drills wait on conditions."""

    def __init__(self, bus: Bus) -> None:
        self.messages: list[tuple[float, Message]] = []
        self._sub: Subscription = bus.subscribe(maxsize=100_000, name="drill-recorder")
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._consume(), name="drill-recorder")

    async def _consume(self) -> None:
        async for message in self._sub:
            async with self._changed:
                self.messages.append((time.monotonic(), message))
                self._changed.notify_all()

    async def close(self) -> None:
        self._sub.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def of(self, kind: type[M], after: float = 0.0) -> list[tuple[float, M]]:
        return [(t, m) for t, m in self.messages if t >= after and isinstance(m, kind)]

    async def wait_for(
        self,
        kind: type[M],
        test: Callable[[M], bool] = lambda m: True,
        *,
        after: float = 0.0,
        timeout_s: float = 10.0,
    ) -> tuple[float, M]:
        """The first message of ``kind`` passing ``test`` that arrived after ``after``."""

        def found() -> tuple[float, M] | None:
            return next(((t, m) for t, m in self.of(kind, after) if test(m)), None)

        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        hit = found()
        assert hit is not None
        return hit


@dataclass
class DrillStore:
    """Everything a drill drives and watches."""

    config: StoreConfig
    runtime: Runtime
    facility: FacilityServices
    recorder: Recorder
    ups: UpsSimulator
    crac: CracSimulator
    gpus: FakeNvml
    dio: DioSimulator
    broker: Mosquitto | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


async def _couple(crac: CracSimulator, gpus: FakeNvml) -> None:
    while True:
        crac.crac.gpu_load_w = sum(gpus.state(i).power_w for i in range(gpus.count))
        gpus.set_inlet_air(crac.crac.supply_air_c)
        await asyncio.sleep(0.1)  # the room model's coupling period, not synchronisation


@contextlib.asynccontextmanager
async def drill_store(
    workdir: Path,
    mqtt_port: int | None,
    *,
    policy: Policy | None = None,
    telemetry_url: str | None = None,
    shutdown_delay_s: float | None = None,
    extra: Callable[[DrillStore], list[tuple[str, Callable[[], Any]]]] | None = None,
) -> AsyncIterator[DrillStore]:
    """Start the simulators, the runtime and the facility services; stop them all after.

    ``shutdown_delay_s`` replaces the host shutdown's final grace (30 s by default, in
    wall seconds: longer than the accelerated battery lasts past the floor).
    """
    clock = AcceleratedClock(SPEED)
    trap_port = free_udp_port()
    gpus = FakeNvml([T4] * GPUS, clock=clock)
    for index in range(GPUS):
        gpus.set_load(index, 85.0)
    broker_cm = (
        running_broker(mqtt_port, workdir) if mqtt_port is not None else contextlib.nullcontext()
    )
    with broker_cm as broker:
        async with (
            UpsSimulator(port=0, traps=[f"127.0.0.1:{trap_port}/v2c/public"], accel=SPEED) as ups,
            CracSimulator("pcw1", clock=clock) as crac,
            DioSimulator(DioSimSpec()) as dio,
        ):
            data = store_yaml(
                workdir,
                ups_port=ups.port,
                trap_port=trap_port,
                crac_port=crac.tcp_port,
                dio_port=dio.port,
                mqtt_port=mqtt_port,
                telemetry_url=telemetry_url,
                shutdown_delay_s=shutdown_delay_s,
            )
            config = parse_config(data, "drill store", workdir)
            async with open_runtime(config, nvml=gpus) as runtime:
                recorder = Recorder(runtime.bus)
                recorder.start()
                try:
                    async with open_facility(
                        config, runtime, policy=policy or drill_policy()
                    ) as facility:
                        store = DrillStore(
                            config, runtime, facility, recorder, ups, crac, gpus, dio, broker
                        )
                        if extra is not None:
                            facility.extra.extend(extra(store))
                        store.tasks = [
                            asyncio.create_task(runtime.run(), name="drill-runtime"),
                            asyncio.create_task(facility.run(), name="drill-facility"),
                            asyncio.create_task(_couple(crac, gpus), name="drill-room"),
                        ]
                        try:
                            assert facility.supervisor is not None
                            async with asyncio.timeout(10):
                                await facility.supervisor.ready.wait()
                            yield store
                        finally:
                            for task in store.tasks:
                                task.cancel()
                            for task in store.tasks:
                                with contextlib.suppress(asyncio.CancelledError):
                                    await task
                finally:
                    await recorder.close()


async def wait_until(what: str, check: Callable[[], bool], *, timeout_s: float = 5.0) -> float:
    """Poll simulator state that has no bus event (a door's relay); monotonic time it held.

    Polled every 10 ms: the DIO module applies coil writes at once, so this
    only bounds how late the hold is noticed, not whether.
    """
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(0.01)  # polling interval of simulator state, not synchronisation
    return time.monotonic()


async def admit(store: DrillStore) -> str:
    """One shopper shows the drill credential and walks in; their session id."""
    shown = time.monotonic()
    await store.runtime.bus.publish(
        CredentialPresented(
            source="entry", t_mono=shown, kind=CredentialKind.QR, credential=CREDENTIAL
        )
    )
    _, admitted = await store.recorder.wait_for(Admitted, after=shown)
    walked = store.dio.walk_through("entry")
    assert walked["passed"], f"the entry did not let an admitted shopper in: {walked}"
    await store.recorder.wait_for(Entered, lambda m: m.session_id == admitted.session_id)
    return admitted.session_id


@dataclass(frozen=True)
class WalkOut:
    """One shopper's way out: button pressed, exit unlocked, beam broken (monotonic s)."""

    pressed_t: float
    opened_t: float
    exited_t: float

    @property
    def open_latency_s(self) -> float:
        """From the exit button to the exit's lock letting go."""
        return self.opened_t - self.pressed_t


async def walk_out(store: DrillStore, *, timeout_s: float = 5.0) -> WalkOut:
    """One shopper presses the exit button and walks out once the exit opens."""
    pressed = time.monotonic()
    store.dio.press("exit")
    exit_door = store.dio.door("exit")
    opened = await wait_until("exit open", lambda: not exit_door.locked, timeout_s=timeout_s)
    walked = store.dio.walk_through("exit")
    assert walked["passed"], f"the exit did not let a shopper out: {walked}"
    t_exit, _ = await store.recorder.wait_for(Exited, after=opened, timeout_s=timeout_s)
    return WalkOut(pressed, opened, t_exit)


__all__ = [
    "DrillStore",
    "Recorder",
    "WalkOut",
    "admit",
    "dataclasses",
    "drill_policy",
    "drill_store",
    "wait_until",
    "walk_out",
]
