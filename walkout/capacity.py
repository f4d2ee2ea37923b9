"""Capacity planning: GPUs, electrical power and cooling for a store's vision pipeline.

Three GPU stages, each sized from the load it must carry and what one GPU does:

- detection: every camera frame, ``cameras x fps`` images/s;
- identification: every shopper in every analysed frame, ``shoppers x shopper_fps`` events/s;
- action recognition: the same shopper events as identification.

One GPU's work in a stage is given either as a latency per item (the GPU is taken to
handle one item at a time, so it is busy ``latency`` seconds per item) or as a
throughput per GPU (items/s, e.g. measured with batching by a benchmark). The load of a
stage in GPU-seconds per second is then ``demand x latency`` or ``demand / throughput``,
and the stage needs the ceiling of that many GPUs.

Rounding: each stage is rounded up on its own (a fraction of a GPU is a whole GPU, and a
stage's GPUs are not shared with another stage); the headroom is applied to the sum of
those per-stage counts and the result rounded up once. The per-stage counts with
headroom are shown too, for information; they may add up to more than the total.

Defaults are the worked example of a 100 m² store: 30 cameras (0.3 per m²) at 30 fps,
100 shoppers, NVIDIA T4 (75 W), detection 70 ms/image, identification 50 events/s per
GPU. Action recognition is quoted only as "~20 GPUs" for 100 shoppers at 30 fps, i.e.
3000 events/s; its default of 150 events/s per GPU is the assumption that reproduces it.
Headroom 30 %. So 63 + 60 + 20 = 143 GPUs, x 1.3 = 185.9, rounded up to 186 GPUs, and
186 x 75 W = 13.95 kW. The source of the example quotes 167 GPUs and 12.5 kW "with 30 %
headroom"; 167 x 75 W is 12.5 kW, but 167 does not follow from its own stages, so the
plan gives 186 GPUs and 13.95 kW.

Power: GPU board power only unless a host overhead per server is given (default 0 W,
which reproduces the 13.95 kW of the example). Servers are ``ceil(GPUs / GPUs per
server)``. Cooling: all electrical power ends up as heat in the room, so the cooling
load in kW equals the electrical load; 1 kW = 3412.14 BTU/h.

The arithmetic is exact (``fractions.Fraction``): inputs are taken as the decimals they
print as, so 900 x 0.070 is exactly 63 and 100 x 1.3 exactly 130 (in binary floating
point they come out a hair above and would be rounded up to 64 and 131).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import Any

BTU_PER_H_PER_KW = Fraction("3412.14")
"""1 kW of heat in BTU/h (the rounded figure HVAC datasheets use)."""

DEFAULT_SOURCE = "default (worked example)"


class Stage(StrEnum):
    """The GPU stages of the vision pipeline, in pipeline order."""

    DETECTION = "detection"
    IDENTIFICATION = "identification"
    ACTION = "action"


class PlanError(ValueError):
    """An input is out of range; the message names the input and the value given."""


@dataclass(frozen=True)
class GpuCapacity:
    """What one GPU does in one stage: exactly one of a latency per item or a throughput.

    ``latency_ms`` assumes one item at a time per GPU (no batching); ``per_gpu_per_s`` is
    items per second per GPU, batching included if the measurement used it. ``source``
    says where the figure came from (shown next to the stage in the plan).
    """

    per_gpu_per_s: float | None = None
    latency_ms: float | None = None
    source: str = DEFAULT_SOURCE

    def describe(self) -> str:
        """``70 ms/item`` or ``50/s per GPU``."""
        if self.latency_ms is not None:
            return f"{_fmt(_exact(self.latency_ms))} ms/item"
        assert self.per_gpu_per_s is not None  # checked by _check_capacity
        return f"{_fmt(_exact(self.per_gpu_per_s))}/s per GPU"


DEFAULT_CAPACITY: dict[Stage, GpuCapacity] = {
    Stage.DETECTION: GpuCapacity(latency_ms=70.0),
    Stage.IDENTIFICATION: GpuCapacity(per_gpu_per_s=50.0),
    Stage.ACTION: GpuCapacity(
        per_gpu_per_s=150.0, source="default (assumed: the example's ~20 GPUs per 100 shoppers)"
    ),
}


@dataclass(frozen=True)
class PlanInputs:
    """What the plan is computed from; every default is the worked example's.

    ``cameras`` of None means ``ceil(area_m2 x cameras_per_m2)``. ``shopper_fps`` of None
    means the camera ``fps``: each shopper is identified and their actions analysed in
    every frame. ``headroom_pct`` is added on top of the summed stages.
    """

    cameras: int | None = None
    area_m2: float = 100.0
    cameras_per_m2: float = 0.3
    fps: float = 30.0
    shoppers: int = 100
    shopper_fps: float | None = None
    detection: GpuCapacity = DEFAULT_CAPACITY[Stage.DETECTION]
    identification: GpuCapacity = DEFAULT_CAPACITY[Stage.IDENTIFICATION]
    action: GpuCapacity = DEFAULT_CAPACITY[Stage.ACTION]
    headroom_pct: float = 30.0
    gpu_power_w: float = 75.0
    gpus_per_server: int = 4
    host_power_w_per_server: float = 0.0

    def capacity(self, stage: Stage) -> GpuCapacity:
        """The capacity given for ``stage``."""
        capacity: GpuCapacity = getattr(self, stage.value)
        return capacity


@dataclass(frozen=True)
class StageLine:
    """One stage of the plan: demand, per-GPU capacity, load and GPUs."""

    stage: Stage
    demand_per_s: float
    demand_unit: str
    capacity: GpuCapacity
    load_gpu_s_per_s: float
    gpus: int
    gpus_with_headroom: int


@dataclass(frozen=True)
class Plan:
    """The capacity plan; ``steps`` is its arithmetic, one line per step, for people."""

    inputs: PlanInputs
    cameras: int
    shopper_fps: float
    stages: tuple[StageLine, ...]
    gpus_before_headroom: int
    gpus_total: int
    servers: int
    gpu_power_kw: float
    host_power_kw: float
    total_power_kw: float
    cooling_kw: float
    cooling_btu_per_h: float
    steps: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: inputs, per-stage lines, totals and steps."""
        return {
            "inputs": {
                "cameras": self.cameras,
                "area_m2": self.inputs.area_m2,
                "cameras_per_m2": self.inputs.cameras_per_m2,
                "cameras_from_area": self.inputs.cameras is None,
                "fps": self.inputs.fps,
                "shoppers": self.inputs.shoppers,
                "shopper_fps": self.shopper_fps,
                "headroom_pct": self.inputs.headroom_pct,
                "gpu_power_w": self.inputs.gpu_power_w,
                "gpus_per_server": self.inputs.gpus_per_server,
                "host_power_w_per_server": self.inputs.host_power_w_per_server,
            },
            "stages": {
                line.stage.value: {
                    "demand_per_s": line.demand_per_s,
                    "demand_unit": line.demand_unit,
                    "per_gpu_per_s": line.capacity.per_gpu_per_s,
                    "latency_ms": line.capacity.latency_ms,
                    "source": line.capacity.source,
                    "load_gpu_s_per_s": line.load_gpu_s_per_s,
                    "gpus": line.gpus,
                    "gpus_with_headroom": line.gpus_with_headroom,
                }
                for line in self.stages
            },
            "gpus_before_headroom": self.gpus_before_headroom,
            "gpus_total": self.gpus_total,
            "servers": self.servers,
            "gpu_power_kw": self.gpu_power_kw,
            "host_power_kw": self.host_power_kw,
            "total_power_kw": self.total_power_kw,
            "cooling_kw": self.cooling_kw,
            "cooling_btu_per_h": self.cooling_btu_per_h,
            "steps": list(self.steps),
        }


def _exact(value: float) -> Fraction:
    """The decimal a float prints as (``0.07`` -> 7/100), not its binary approximation."""
    return Fraction(repr(value))


def _fmt(value: Fraction) -> str:
    """An integer as such, otherwise up to 3 decimals without trailing zeros."""
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.3f}".rstrip("0").rstrip(".")
    return text


def _check_capacity(stage: Stage, capacity: GpuCapacity) -> None:
    given = [
        name
        for name, value in (
            ("latency_ms", capacity.latency_ms),
            ("per_gpu_per_s", capacity.per_gpu_per_s),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise PlanError(
            f"{stage.value}: give exactly one of latency_ms and per_gpu_per_s, "
            f"got {', '.join(given) or 'neither'}"
        )
    value = capacity.latency_ms if capacity.latency_ms is not None else capacity.per_gpu_per_s
    assert value is not None
    if not math.isfinite(value) or value <= 0:
        raise PlanError(
            f"{stage.value}: {given[0]} must be > 0, got {value} (from {capacity.source})"
        )


def _check(inputs: PlanInputs) -> None:
    """Every input in range, or PlanError naming the first one that is not."""

    def positive(name: str, value: float | None) -> None:
        if value is not None and (not math.isfinite(value) or value <= 0):
            raise PlanError(f"{name} must be > 0, got {value}")

    def not_negative(name: str, value: float) -> None:
        if not math.isfinite(value) or value < 0:
            raise PlanError(f"{name} must be >= 0, got {value}")

    if inputs.cameras is not None:
        not_negative("cameras", inputs.cameras)
    positive("area_m2", inputs.area_m2)
    positive("cameras_per_m2", inputs.cameras_per_m2)
    positive("fps", inputs.fps)
    not_negative("shoppers", inputs.shoppers)
    positive("shopper_fps", inputs.shopper_fps)
    not_negative("headroom_pct", inputs.headroom_pct)
    positive("gpu_power_w", inputs.gpu_power_w)
    if inputs.gpus_per_server < 1:
        raise PlanError(f"gpus_per_server must be >= 1, got {inputs.gpus_per_server}")
    not_negative("host_power_w_per_server", inputs.host_power_w_per_server)
    for stage in Stage:
        _check_capacity(stage, inputs.capacity(stage))


def _stage(
    stage: Stage,
    demand: Fraction,
    unit: str,
    capacity: GpuCapacity,
    headroom: Fraction,
    steps: list[str],
    demand_text: str,
) -> StageLine:
    if capacity.latency_ms is not None:
        latency_s = _exact(capacity.latency_ms) / 1000
        load = demand * latency_s
        load_text = f"{_fmt(demand)} {unit} x {_fmt(latency_s)} s ({_fmt(latency_s * 1000)} ms)"
    else:
        assert capacity.per_gpu_per_s is not None
        per_gpu = _exact(capacity.per_gpu_per_s)
        load = demand / per_gpu
        load_text = f"{_fmt(demand)} {unit} / {_fmt(per_gpu)} per GPU"
    gpus = math.ceil(load)
    with_headroom = math.ceil(gpus * headroom)
    steps.append(
        f"{stage.value}: {demand_text} = {_fmt(demand)} {unit}; {load_text} "
        f"= {_fmt(load)} GPU-s/s -> {gpus} GPUs (source: {capacity.source})"
    )
    return StageLine(
        stage=stage,
        demand_per_s=float(demand),
        demand_unit=unit,
        capacity=capacity,
        load_gpu_s_per_s=float(load),
        gpus=gpus,
        gpus_with_headroom=with_headroom,
    )


def plan(inputs: PlanInputs) -> Plan:
    """GPUs per stage and in total, power and cooling, with every step of the arithmetic.

    Raises PlanError when an input is out of range (negative, zero where a rate or power
    is needed, not finite, or a stage with both or neither of latency and throughput).
    """
    _check(inputs)
    steps: list[str] = []
    fps = _exact(inputs.fps)
    if inputs.cameras is None:
        area = _exact(inputs.area_m2)
        density = _exact(inputs.cameras_per_m2)
        cameras = math.ceil(area * density)
        steps.append(
            f"cameras: {_fmt(area)} m² x {_fmt(density)} cameras/m² = {_fmt(area * density)} "
            f"-> {cameras} cameras"
        )
    else:
        cameras = inputs.cameras
    shopper_fps = fps if inputs.shopper_fps is None else _exact(inputs.shopper_fps)
    headroom = 1 + _exact(inputs.headroom_pct) / 100
    images = cameras * fps
    events = inputs.shoppers * shopper_fps
    shopper_text = f"{inputs.shoppers} shoppers x {_fmt(shopper_fps)} fps"
    lines = (
        _stage(
            Stage.DETECTION,
            images,
            "images/s",
            inputs.detection,
            headroom,
            steps,
            f"{cameras} cameras x {_fmt(fps)} fps",
        ),
        _stage(
            Stage.IDENTIFICATION,
            events,
            "events/s",
            inputs.identification,
            headroom,
            steps,
            shopper_text,
        ),
        _stage(Stage.ACTION, events, "events/s", inputs.action, headroom, steps, shopper_text),
    )
    subtotal = sum(line.gpus for line in lines)
    steps.append(f"subtotal: {' + '.join(str(line.gpus) for line in lines)} = {subtotal} GPUs")
    with_headroom = subtotal * headroom
    total = math.ceil(with_headroom)
    steps.append(
        f"headroom {_fmt(_exact(inputs.headroom_pct))} %: {subtotal} x {_fmt(headroom)} "
        f"= {_fmt(with_headroom)} -> {total} GPUs (rounded up once, on the sum)"
    )
    gpu_w = _exact(inputs.gpu_power_w)
    gpu_kw = total * gpu_w / 1000
    steps.append(f"GPU power: {total} GPUs x {_fmt(gpu_w)} W = {_fmt(gpu_kw)} kW")
    servers = -(-total // inputs.gpus_per_server)
    host_w = _exact(inputs.host_power_w_per_server)
    host_kw = servers * host_w / 1000
    steps.append(
        f"servers: {total} GPUs / {inputs.gpus_per_server} per server -> {servers}; "
        f"host overhead {servers} x {_fmt(host_w)} W = {_fmt(host_kw)} kW"
    )
    total_kw = gpu_kw + host_kw
    steps.append(f"electrical: {_fmt(gpu_kw)} + {_fmt(host_kw)} = {_fmt(total_kw)} kW")
    btu = total_kw * BTU_PER_H_PER_KW
    steps.append(
        f"cooling: all {_fmt(total_kw)} kW becomes heat; {_fmt(total_kw)} kW x "
        f"{_fmt(BTU_PER_H_PER_KW)} BTU/h per kW = {_fmt(btu)} BTU/h"
    )
    return Plan(
        inputs=inputs,
        cameras=cameras,
        shopper_fps=float(shopper_fps),
        stages=lines,
        gpus_before_headroom=subtotal,
        gpus_total=total,
        servers=servers,
        gpu_power_kw=float(gpu_kw),
        host_power_kw=float(host_kw),
        total_power_kw=float(total_kw),
        cooling_kw=float(total_kw),
        cooling_btu_per_h=float(btu),
        steps=tuple(steps),
    )
