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
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from peers.mosquitto import Mosquitto, running_broker

from devices.bus import Bus, Message, Subscription
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


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    extra: Callable[[DrillStore], list[tuple[str, Callable[[], Any]]]] | None = None,
) -> AsyncIterator[DrillStore]:
    """Start the simulators, the runtime and the facility services; stop them all after."""
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


__all__ = ["DrillStore", "Recorder", "dataclasses", "drill_policy", "drill_store"]
