"""The store simulator's run through the checkout in real time, shelves and gates in the loop.

Accelerated replay (:mod:`walkout.store_replay`) feeds the simulator's own
weight records to the checkout. Here the weights come the way they come in a
store: the shelf simulator runs as its own process, serving one Modbus TCP
unit per shelf with the stock already on the boards; the store simulator's
takes and put-backs are sent to it as grams at their place, at their scenario
times (:mod:`sim_devices.store_sim.hil`); the real runtime polls the units
and publishes :class:`ShelfWeights`, which go through the same
:class:`StoreReplay` adapter (:meth:`StoreReplay.feed_weights`) as in replay.
The gates run over their real protocol too (:mod:`walkout.store_hil_gates`):
the digital-I/O simulator is another process, serving one Modbus TCP module
whose two doors are the store's entry and exit, and the runtime drives them
with its own gate wiring (``DioGate`` drivers, the ``GateMachine``, an
allow-list check of the run's credentials, all from the store config). An
admit record presents its credential on the runtime's bus as the store app
would (a DIO gate has no reader); the machine checks it and unlocks the
entry over Modbus. An enter record walks one person through the entry door
on the simulator's control port, so the beam breaks and the driver and the
machine publish ``Entered``; an exit record presses the exit button
(:data:`~walkout.store_hil_gates.EXIT_BUTTON_LEAD_S` earlier) and walks
through the exit once it opens, and the machine publishes ``Exited``. The
machine's ``Admitted``, ``Entered`` and ``Exited`` go to the checkout
through :meth:`StoreReplay.feed_gate_message`.

What differs from replay is therefore the whole weight path (load-cell
settling and noise of the shelf simulator, the Modbus poll and its timing,
the runtime's calibration) and the whole gate path (the credential check,
door commands and their read-back, beam and button polling and debounce),
and the event loop's scheduling of all of it.

Tracks stay records unless ``cameras`` is asked for, when a grid of
overlapping smart-camera simulators, with detection noise and misses, and
the runtime's vision path with its fusion across cameras give them
(:mod:`walkout.store_hil_cameras`); the track sessions' exit slack is then
widened to one camera frame plus clock skew, as a store with cameras would
set it. Records are fed at their real times, shifted onto the monotonic
clock the runtime stamps readings and gate events with (``t0`` = the clock
at the start; a record at scenario time ``t`` is fed as at ``t0 + t`` once
the clock has got there). Outputs are shifted back by ``t0`` before
scoring, so scores compare with replay's.

After the last record and shelf action the weights run on for
``settle_s`` of real time (the last change must settle and be read), then
polling stops and the replay's drain (:meth:`StoreReplay.finish`) lets
store time run on at once: receipts still waiting on the exit binding delay
settle at the store times they would have in a store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from devices.bus import Message, Subscription
from devices.camera.config import FloorHomography
from devices.camera.metadata import MetadataSource
from devices.gate.machine import (
    AdmissionExpired,
    Admitted,
    Entered,
    Exited,
    GateFault,
    Refused,
    Tailgating,
)
from devices.scale import ShelfWeights
from sim_devices.camera.script import play as play_camera
from sim_devices.control import ControlClient
from sim_devices.process import SimulatorProcess
from sim_devices.scenario import Scenario, TcpServerSpec, UnitSpec
from sim_devices.store_sim import (
    GateRecord,
    Record,
    SimulationResult,
    StoreScenario,
    TrackRecord,
    WeightRecord,
)
from sim_devices.store_sim.hil import (
    HilAction,
    Requester,
    ShelfAddress,
    app_credential,
    drive,
    hil_actions,
    shelf_sim_scenario,
)
from sim_devices.store_sim.playback import Clock, play_realtime
from walkout.config import StoreConfig, parse_config
from walkout.runtime import Runtime, open_runtime
from walkout.store_hil_cameras import (
    CameraPlacement,
    CameraSetup,
    CameraTracks,
    People,
    camera_layout,
    camera_process,
    camera_script,
    mosquitto,
    run_extent,
    store_homography,
)
from walkout.store_hil_gates import (
    DIO_BUS,
    EXIT_BUTTON_LEAD_S,
    AppReader,
    admissions,
    dio_process,
    gates_config,
    write_allow_list,
)
from walkout.store_replay import (
    EngineCheckout,
    ReplayOutcome,
    ReplaySettings,
    ScenarioResult,
    StoreReplay,
    score_outcome,
)

_LOGGER = logging.getLogger(__name__)

SETTLE_S = 2.0
"""Real seconds of polling after the last action: a board settles in ~1 s (settle_tau_s
0.35 s, a few time constants) and the detector wants a stable stretch after it."""

WARMUP_TIMEOUT_S = 15.0
"""How long every shelf may take to deliver its first reading (process start is not in it)."""

GATE_EVENTS: tuple[type[Message], ...] = (
    Admitted,
    Entered,
    Exited,
    Refused,
    Tailgating,
    AdmissionExpired,
    GateFault,
)
"""The gate machine's messages a run counts; the first three feed the checkout."""

PROFILE = "mc10"
"""The scale profile of every unit: the shelf simulator's default model."""


@dataclass
class HilResult(ScenarioResult):
    """A scored hardware-in-the-loop run, with what came over Modbus.

    ``outcome.cpu_s`` is the checkout path's CPU (the adapter's calls, on the
    loop's thread), comparable with replay's; ``process_cpu_s`` adds the
    runtime's polling and decoding (the simulator's process is not in it).
    """

    samples: dict[str, int] = field(default_factory=dict)
    """``ShelfWeights`` received per shelf."""
    dropped: int = 0
    """Readings the subscription dropped because the adapter fell behind."""
    process_cpu_s: float = 0.0
    gate_messages: dict[str, int] = field(default_factory=dict)
    """The gate machine's messages received, by type (``Entered``, ``Refused``, ...)."""
    passages: list[tuple[str, str, float]] = field(default_factory=list)
    """(gate, ``Entered``/``Exited``, scenario time) of every passage the machine reported."""
    doors: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The DIO simulator's doors at the end (passages, forced, presses, locked), by name."""
    module: dict[str, Any] = field(default_factory=dict)
    """The DIO simulator's module counters at the end (requests, coil writes, pulses)."""
    camera: dict[str, int] = field(default_factory=dict)
    """With cameras: the vision path's counters (``messages``, ``observations``, ``samples``,
    ``tracks_started``, ``merges``, ``merged_shoppers``...)."""
    camera_messages: dict[str, int] = field(default_factory=dict)
    """With cameras: metadata messages received per camera id."""
    camera_sims: dict[str, dict[str, int]] = field(default_factory=dict)
    """With cameras: each simulator's metadata counters at the end (``published``,
    ``people``, ``misses``...), by camera id."""
    cameras: list[CameraPlacement] = field(default_factory=list)
    """With cameras: the grid that covered the floor."""
    camera_people: int = 0
    """With cameras: the people they were shown (one per shopper): the tracks to find."""
    track_records: int = 0
    """Track records fed to the checkout (none with cameras: tracks come from the camera)."""


class _CpuMeter:
    """Thread CPU summed over measured blocks: the engine's share of a loop shared with polling."""

    def __init__(self) -> None:
        self.cpu_s = 0.0

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        start = time.thread_time()
        try:
            yield
        finally:
            self.cpu_s += time.thread_time() - start


def _plain(value: Any) -> Any:
    """Tuples as lists and ``None`` fields left out: the YAML the shelf simulator parses."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """``scenario`` as the YAML document ``sim_devices shelf serve --scenario`` reads.

    Only modelled units on TCP servers, which is what :func:`shelf_sim_scenario` builds.
    """
    servers = []
    for index, server in enumerate(scenario.servers):
        if not isinstance(server, TcpServerSpec):
            raise ValueError(f"servers[{index}]: only TCP servers can be written")
        units = []
        for unit in server.units:
            if not isinstance(unit, UnitSpec):
                raise ValueError(f"servers[{index}]: unit {unit.unit_id} is not a modelled unit")
            units.append(_plain(asdict(unit)))
        servers.append({"kind": "tcp", "host": server.host, "port": server.port, "units": units})
    return {"name": scenario.name, "servers": servers}


def hil_config(
    store: StoreScenario,
    addresses: dict[str, ShelfAddress],
    port: int,
    workdir: Path,
    *,
    dio_port: int | None = None,
    allow_list: Path | None = None,
) -> StoreConfig:
    """A store config with one Modbus TCP bus to the shelf simulator and one unit per shelf.

    With ``dio_port`` (and the ``allow_list`` file) also a bus to the
    digital-I/O simulator and the floor's entry and exit gates on it.
    """
    units, shelves = [], []
    for shelf in store.floor.shelves:
        unit = f"u-{shelf.shelf_id}"
        units.append(
            {
                "id": unit,
                "bus": "shelf-sim",
                "unit_id": addresses[shelf.shelf_id].unit,
                "profile": PROFILE,
            }
        )
        shelves.append(
            {
                "id": shelf.shelf_id,
                "unit": unit,
                "cells": list(range(shelf.cells)),
                "length_m": shelf.length_m,
                "rate_hz": store.sensors.scale.rate_hz,
            }
        )
    buses = [{"id": "shelf-sim", "type": "tcp", "host": "127.0.0.1", "port": port}]
    data: dict[str, Any] = {
        "store": {"id": "hil"},
        "modbus": {"buses": buses, "units": units},
        "shelves": shelves,
        "facility": {"gpus": {"enabled": False}},
    }
    if dio_port is not None:
        if allow_list is None:
            raise ValueError("gates on the DIO simulator need an allow_list file")
        buses.append({"id": DIO_BUS, "type": "tcp", "host": "127.0.0.1", "port": dio_port})
        data["gates"] = gates_config(store, allow_list)
    return parse_config(data, "hardware-in-the-loop store", workdir)


def _anchored(t0: float) -> Clock:
    """The monotonic clock, except that its first reading is ``t0``.

    :func:`play_realtime` takes scenario time 0 as its clock's first reading;
    this pins that to the ``t0`` every task shares, not to when each task
    happened to start.
    """
    first = True

    def clock() -> float:
        nonlocal first
        if first:
            first = False
            return t0
        return time.monotonic()

    return clock


@dataclass
class _Loop:
    """One run's moving parts on the event loop, and what they counted."""

    adapter: StoreReplay
    shelves: frozenset[str]
    reader: AppReader | None = None
    tracks: CameraTracks | None = None
    """With cameras: detections to shopper samples; else tracks are records."""
    camera_seen: asyncio.Event = field(default_factory=asyncio.Event)
    meter: _CpuMeter = field(default_factory=_CpuMeter)
    samples: Counter[str] = field(default_factory=Counter)
    gate_messages: Counter[str] = field(default_factory=Counter)
    passages: list[tuple[str, str, float]] = field(default_factory=list)
    """(gate, message type, ``t_mono``) of every ``Entered`` and ``Exited``."""
    fed: int = 0
    dropped: int = 0
    wall_s: float = 0.0
    """Real time from ``t0`` until the drain is done (start-up and shutdown not in it)."""
    process_cpu_s: float = 0.0
    """The whole process's CPU over the same span: polling, decoding and the checkout."""
    warm: asyncio.Event = field(default_factory=asyncio.Event)

    async def consume(self, subscription: Subscription) -> None:
        """Readings and gate events of the runtime to the adapter, in the bus's order.

        ``warm`` once every shelf has read.
        """
        async for message in subscription:
            if isinstance(message, ShelfWeights):
                self.samples[message.shelf_id] += 1
                with self.meter.measure():
                    self.adapter.feed_weights(message)
                if not self.warm.is_set() and self.shelves <= self.samples.keys():
                    self.warm.set()
            elif isinstance(message, GATE_EVENTS):
                self.gate_messages[type(message).__name__] += 1
                self._on_gate(message)

    async def watch(self, source: MetadataSource) -> None:
        """The camera's detections through the vision path to the adapter's track sessions.

        ``camera_seen`` once every camera's first message came (they publish every frame).
        """
        tracks = self.tracks
        assert tracks is not None
        cameras = tracks.shoppers.projector.cameras.keys()
        async for message in source:
            with self.meter.measure():
                for track_id, sample, appearance in tracks.feed(message):
                    self.adapter.feed_track_sample(track_id, sample, appearance)
            if not self.camera_seen.is_set() and cameras <= tracks.messages.keys():
                self.camera_seen.set()

    def _on_gate(self, message: Message) -> None:
        if isinstance(message, Admitted):
            ref = self.reader.session_ref(message) if self.reader is not None else None
            if ref is None:
                _LOGGER.warning("hil: %s admitted a credential nobody presented", message.source)
            with self.meter.measure():
                self.adapter.feed_gate_message(message, ref)
        elif isinstance(message, Entered | Exited):
            self.passages.append((message.source, type(message).__name__, message.t_mono))
            with self.meter.measure():
                self.adapter.feed_gate_message(message)
        else:
            _LOGGER.warning("hil: gate %s: %s", message.source, message)

    async def play(self, records: Sequence[Record], t0: float) -> None:
        """Track records at their real times, on the monotonic clock."""

        async def feed(record: Record) -> None:
            with self.meter.measure():
                self.adapter.feed(replace(record, t=t0 + record.t))
            self.fed += 1

        await play_realtime(records, feed, clock=_anchored(t0))


@dataclass(frozen=True)
class _Cameras:
    """The camera path of a run: the metadata source, and each simulator's control and script."""

    source: MetadataSource
    scripts: list[tuple[ControlClient, list[Any]]]
    tracks: CameraTracks


async def _start_cameras(
    stack: contextlib.AsyncExitStack,
    workdir: Path,
    records: Sequence[Record],
    people: People,
    grid: Sequence[CameraPlacement],
    setup: CameraSetup,
) -> _Cameras:
    """The broker, one simulator per camera of ``grid`` and the runtime's subscription to all.

    The simulators start side by side (each takes a second or two to
    import its picture libraries); every one is stopped with ``stack``.
    """
    broker = await stack.enter_async_context(mosquitto(workdir))
    processes = [camera_process(broker, placement, setup, i) for i, placement in enumerate(grid)]
    for process in processes:
        stack.push_async_callback(process.stop)  # safe on one that never started
    async with asyncio.TaskGroup() as group:
        for process, placement in zip(processes, grid, strict=True):
            group.create_task(process.start(), name=f"hil-camera-start-{placement.camera_id}")
    source = MetadataSource(
        "hil-cameras",
        "127.0.0.1",
        broker,
        cameras=[p.camera_id for p in grid],
        queue_size=10_000,
    )
    await stack.enter_async_context(source)
    await source.wait_connected(WARMUP_TIMEOUT_S)
    scripts: list[tuple[ControlClient, list[Any]]] = []
    homographies: dict[str, FloorHomography] = {}
    for process, placement in zip(processes, grid, strict=True):
        control = await stack.enter_async_context(ControlClient(process.ready["control_port"]))
        script = camera_script(records, placement.origin_m, people, linger_s=setup.frame_s)
        scripts.append((control, script))
        homographies[placement.camera_id] = store_homography(
            process.ready["image_to_floor"], placement.origin_m
        )
    return _Cameras(source, scripts, CameraTracks.for_cameras(homographies))


async def _play_store(
    loop: _Loop,
    runtime: Runtime,
    clients: dict[str, Requester],
    records: Sequence[Record],
    actions: Sequence[HilAction],
    settle_s: float,
    cameras: _Cameras | None = None,
) -> float:
    """Poll, play and drive until the run is over, then drain; returns ``t0``."""
    subscription = runtime.bus.subscribe(ShelfWeights, *GATE_EVENTS, maxsize=100_000, name="hil")
    try:
        async with asyncio.TaskGroup() as group:
            poller = group.create_task(runtime.run(), name="hil-runtime")
            consumer = group.create_task(loop.consume(subscription), name="hil-weights")
            watcher = None
            if cameras is not None:
                watcher = group.create_task(loop.watch(cameras.source), name="hil-camera")
            async with asyncio.timeout(WARMUP_TIMEOUT_S):
                await loop.warm.wait()
                if cameras is not None:
                    await loop.camera_seen.wait()
            t0, cpu0 = time.monotonic(), time.process_time()
            player = group.create_task(loop.play(records, t0), name="hil-records")
            driver = group.create_task(
                drive(actions, clients, clock=_anchored(t0)), name="hil-actions"
            )
            if cameras is not None:
                for index, (control, script) in enumerate(cameras.scripts):
                    group.create_task(
                        play_camera(control, script, clock=_anchored(t0)),
                        name=f"hil-camera-script-{index}",
                    )
            await player
            sent = await driver
            await asyncio.sleep(settle_s)
            if watcher is not None:
                watcher.cancel()
            poller.cancel()
            subscription.close()
            await consumer
    finally:
        subscription.close()
        runtime.bus.unsubscribe(subscription)
    _LOGGER.info(
        "hil run over: %d records, %d shelf and gate actions, readings %s, gate messages %s",
        loop.fed,
        sent,
        dict(loop.samples),
        dict(loop.gate_messages),
    )
    loop.dropped = subscription.dropped
    with loop.meter.measure():
        loop.adapter.finish()
    loop.wall_s = time.monotonic() - t0
    loop.process_cpu_s = time.process_time() - cpu0
    return t0


def _shifted(outcome: ReplayOutcome, t0: float) -> ReplayOutcome:
    """``outcome`` with its times back on scenario time."""
    receipts = {
        ref: r if r.settled_t is None else replace(r, settled_t=r.settled_t - t0)
        for ref, r in outcome.receipts.items()
    }
    events = [replace(e, t=e.t - t0) for e in outcome.events]
    return replace(outcome, receipts=receipts, events=events)


@dataclass(frozen=True)
class _Prepared:
    """The files a run needs, written before anything starts."""

    scenario_file: Path
    addresses: dict[str, ShelfAddress]
    allow_list: Path
    credentials: dict[str, tuple[str | None, int]]
    """Credential -> (the simulator's session, group size)."""


def _prepare(run: SimulationResult, workdir: Path) -> _Prepared:
    """A fresh ledger place, the shelf simulator's scenario file and the allow list."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("ledger.sqlite*"):
        stale.unlink()
    sim_scenario, addresses = shelf_sim_scenario(run.scenario)
    scenario_file = workdir / "shelf-sim.yaml"
    scenario_file.write_text(
        yaml.safe_dump(scenario_document(sim_scenario), sort_keys=False), encoding="utf-8"
    )
    credentials = admissions(run.records)
    allow_list = workdir / "allow-list.yaml"
    write_allow_list(allow_list, credentials)
    return _Prepared(scenario_file, addresses, allow_list, credentials)


async def run_hil(
    run: SimulationResult,
    workdir: Path,
    *,
    settings: ReplaySettings | None = None,
    settle_s: float = SETTLE_S,
    cameras: bool = False,
    camera_setup: CameraSetup | None = None,
) -> HilResult:
    """Play ``run`` in real time against the shelf and gate simulators and the runtime; score it.

    Takes as long as the run's last record plus start-up and ``settle_s``.
    The ledger, the simulator's scenario, the allow list and the store config
    go in ``workdir``. With ``cameras`` the tracks come from smart-camera
    simulators through the runtime's vision path
    (:mod:`walkout.store_hil_cameras`), not from the track records: a grid
    as ``camera_setup`` says (default :class:`CameraSetup`), and the
    sessions' ``ended_slack_s`` at least what those cameras need.
    """
    settings = settings or ReplaySettings()
    setup = camera_setup or CameraSetup()
    if cameras:
        settings = replace(settings, ended_slack_s=max(settings.ended_slack_s, setup.ended_slack_s))
    prepared = _prepare(run, workdir)
    actions = hil_actions(
        run.truth,
        run.records,
        prepared.addresses,
        card_request=app_credential,
        exit_button_lead_s=EXIT_BUTTON_LEAD_S,
    )
    played: tuple[type[Record], ...] = (WeightRecord, GateRecord)
    grid: list[CameraPlacement] = []
    if cameras:
        played += (TrackRecord,)
        grid = camera_layout(run_extent(run.scenario, run.records), setup)
    people = People.of(run.records, run.truth.tracks)
    records = [r for r in run.records if not isinstance(r, played)]
    engine = EngineCheckout(run.scenario, workdir / "ledger.sqlite", settings.checkout)
    try:
        adapter = StoreReplay(run.scenario, engine, settings)
        loop = _Loop(adapter, frozenset(prepared.addresses))
        async with (
            SimulatorProcess(prepared.scenario_file) as simulator,
            dio_process() as dio,
            contextlib.AsyncExitStack() as stack,
        ):
            camera_path: _Cameras | None = None
            controls: dict[str, ControlClient] = {}
            if cameras:
                camera_path = await _start_cameras(stack, workdir, run.records, people, grid, setup)
                controls = {
                    p.camera_id: c for p, (c, _) in zip(grid, camera_path.scripts, strict=True)
                }
                loop.tracks = camera_path.tracks
            config = hil_config(
                run.scenario,
                prepared.addresses,
                simulator.ready["servers"][0]["port"],
                workdir,
                dio_port=dio.ready["port"],
                allow_list=prepared.allow_list,
            )
            async with (
                open_runtime(config) as runtime,
                ControlClient(simulator.ready["control_port"]) as shelves,
                ControlClient(dio.ready["control_port"]) as doors,
            ):
                loop.reader = AppReader(runtime.bus, prepared.credentials)
                clients: dict[str, Requester] = {
                    "shelves": shelves,
                    "reader": loop.reader,
                    "entry": doors,
                    "exit": doors,
                }
                t0 = await _play_store(
                    loop, runtime, clients, records, actions, settle_s, camera_path
                )
                dio_state = (await doors.request("state"))["state"]
            camera_sims = {
                camera_id: dict((await control.request("stats"))["stats"]["metadata"])
                for camera_id, control in controls.items()
            }
        produced = loop.adapter.outcome(
            records=loop.fed + sum(loop.samples.values()) + loop.gate_messages.total(),
            cpu_s=loop.meter.cpu_s,
            wall_s=loop.wall_s,
        )
    finally:
        engine.close()
    outcome = _shifted(produced, t0)
    scores, breakdown = score_outcome(run, outcome)
    return HilResult(
        run.scenario.name,
        scores,
        outcome,
        breakdown,
        scores.sessions / loop.wall_s if loop.wall_s > 0 else 0.0,
        0.0,
        samples=dict(loop.samples),
        dropped=loop.dropped,
        process_cpu_s=loop.process_cpu_s,
        gate_messages=dict(loop.gate_messages),
        passages=[(gate, kind, t - t0) for gate, kind, t in loop.passages],
        doors={door["name"]: door for door in dio_state["doors"]},
        module=dict(dio_state["module"]["stats"]),
        camera={} if loop.tracks is None else dict(loop.tracks.counts),
        camera_messages={} if loop.tracks is None else dict(loop.tracks.messages),
        camera_sims=camera_sims,
        cameras=grid,
        camera_people=len(people.ids) if cameras else 0,
        track_records=sum(isinstance(r, TrackRecord) for r in records),
    )
