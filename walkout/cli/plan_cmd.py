"""``walkout plan``: GPUs, power and cooling for a store, with the arithmetic shown.

Per-stage figures measured by a benchmark come in as JSON files (``--stage-figures``)::

    {"source": "bench_detectors",
     "stages": {"detection": {"per_gpu_per_s": 19.2, "device": "cpu"}}}

A stage's figure may come from one place only: a file, ``--<stage>-ms`` or
``--<stage>-per-gpu``; giving it twice is refused rather than silently picking one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import Field, ValidationError
from rich.table import Table as RichTable

from walkout.capacity import (
    DEFAULT_CAPACITY,
    GpuCapacity,
    Plan,
    PlanError,
    PlanInputs,
    Stage,
    plan,
)
from walkout.cli.common import EXIT_CONFIG, console, fail
from walkout.config.errors import ConfigError, Strict, key_path


class StageFigure(Strict):
    """One stage's measured throughput: items per second on one GPU (or device)."""

    per_gpu_per_s: float = Field(gt=0, allow_inf_nan=False)
    device: str | None = None


class StageFigures(Strict):
    """A file of measured per-stage figures, as a benchmark writes it."""

    source: str = Field(min_length=1)
    stages: dict[Stage, StageFigure] = Field(min_length=1)


def load_stage_figures(path: Path) -> StageFigures:
    """Read and validate one figures file; ConfigError names the file and the bad key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [("(file)", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            str(path), [(f"line {exc.lineno} column {exc.colno}", f"not JSON: {exc.msg}")]
        ) from None
    try:
        return StageFigures.model_validate(data)
    except ValidationError as exc:
        problems = [(key_path(e["loc"], data), e["msg"]) for e in exc.errors()]
        raise ConfigError(str(path), problems) from None


def _measured(paths: list[Path]) -> dict[Stage, GpuCapacity]:
    """Per stage, the capacity from the files; a stage in two files is an error."""
    found: dict[Stage, tuple[Path, GpuCapacity]] = {}
    for path in paths:
        figures = load_stage_figures(path)
        for stage, figure in figures.stages.items():
            if stage in found:
                raise ConfigError(
                    str(path),
                    [(f"stages.{stage.value}", f"already given by {found[stage][0]}")],
                )
            device = f", {figure.device}" if figure.device else ""
            source = f"measured: {figures.source}{device} ({path.name})"
            found[stage] = (path, GpuCapacity(per_gpu_per_s=figure.per_gpu_per_s, source=source))
    return {stage: capacity for stage, (_, capacity) in found.items()}


def _capacity(
    stage: Stage,
    latency_ms: float | None,
    per_gpu_per_s: float | None,
    measured: dict[Stage, GpuCapacity],
    default: GpuCapacity,
) -> GpuCapacity:
    """The one figure given for ``stage`` (option or file), else the default."""
    given: list[tuple[str, GpuCapacity]] = []
    if latency_ms is not None:
        given.append(
            (
                f"--{stage.value}-ms",
                GpuCapacity(latency_ms=latency_ms, source=f"--{stage.value}-ms"),
            )
        )
    if per_gpu_per_s is not None:
        option = f"--{stage.value}-per-gpu"
        given.append((option, GpuCapacity(per_gpu_per_s=per_gpu_per_s, source=option)))
    if stage in measured:
        given.append((measured[stage].source, measured[stage]))
    if len(given) > 1:
        names = " and ".join(name for name, _ in given)
        raise fail(f"{stage.value}: per-GPU figure given twice ({names}); give one", EXIT_CONFIG)
    return given[0][1] if given else default


def _num(value: float, decimals: int = 2) -> str:
    """Thousands separators, and no trailing zeros after the point."""
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _show(result: Plan) -> None:
    table = RichTable(
        "stage",
        "demand",
        "per GPU",
        "load GPU-s/s",
        "GPUs",
        f"GPUs +{_num(result.inputs.headroom_pct)} %",
        "source",
        title=(
            f"{result.cameras} cameras at {_num(result.inputs.fps)} fps, "
            f"{result.inputs.shoppers} shoppers at {_num(result.shopper_fps)} fps"
        ),
    )
    for line in result.stages:
        table.add_row(
            line.stage.value,
            f"{_num(line.demand_per_s)} {line.demand_unit}",
            line.capacity.describe(),
            _num(line.load_gpu_s_per_s, 3),
            str(line.gpus),
            str(line.gpus_with_headroom),
            line.capacity.source,
        )
    table.add_section()
    table.add_row("subtotal", "", "", "", str(result.gpus_before_headroom), "", "")
    table.add_row("total", "", "", "", "", str(result.gpus_total), "headroom on the sum")
    console.print(table)
    console.print("[bold]arithmetic[/]", highlight=False)
    for step in result.steps:
        console.print(f"  {step}", highlight=False, markup=False)
    console.print(
        f"[bold]{result.gpus_total} GPUs[/] in {result.servers} servers; "
        f"electrical {_num(result.total_power_kw)} kW "
        f"(GPUs {_num(result.gpu_power_kw)} kW + hosts {_num(result.host_power_kw)} kW); "
        f"cooling {_num(result.cooling_kw)} kW = {_num(result.cooling_btu_per_h, 0)} BTU/h",
        highlight=False,
    )


def plan_cmd(
    cameras: Annotated[
        int | None, typer.Option(help="cameras (default: area x cameras per m²)")
    ] = None,
    area_m2: Annotated[float, typer.Option(help="sales floor area, m²")] = 100.0,
    cameras_per_m2: Annotated[
        float, typer.Option(help="camera density when --cameras is not given")
    ] = 0.3,
    fps: Annotated[float, typer.Option(help="frames per second per camera")] = 30.0,
    shoppers: Annotated[int, typer.Option(help="shoppers in the store at once")] = 100,
    shopper_fps: Annotated[
        float | None,
        typer.Option(help="frames per second analysed per shopper (default: --fps)"),
    ] = None,
    detection_ms: Annotated[
        float | None, typer.Option(help="detection latency per image on one GPU (default: 70)")
    ] = None,
    detection_per_gpu: Annotated[
        float | None, typer.Option(help="detection images/s per GPU (instead of --detection-ms)")
    ] = None,
    identification_ms: Annotated[
        float | None, typer.Option(help="identification latency per shopper event on one GPU")
    ] = None,
    identification_per_gpu: Annotated[
        float | None, typer.Option(help="identification events/s per GPU (default: 50)")
    ] = None,
    action_ms: Annotated[
        float | None, typer.Option(help="action recognition latency per shopper event")
    ] = None,
    action_per_gpu: Annotated[
        float | None, typer.Option(help="action recognition events/s per GPU (default: 150)")
    ] = None,
    headroom_pct: Annotated[
        float, typer.Option(help="spare capacity added to the summed stages, %")
    ] = 30.0,
    gpu_power_w: Annotated[float, typer.Option(help="board power of one GPU, W (T4: 75)")] = 75.0,
    gpus_per_server: Annotated[int, typer.Option(help="GPUs per server")] = 4,
    host_power_w_per_server: Annotated[
        float, typer.Option(help="host power per server besides its GPUs, W")
    ] = 0.0,
    stage_figures: Annotated[
        list[Path] | None,
        typer.Option(help="JSON of measured per-stage figures from a benchmark (repeatable)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the plan as JSON")] = False,
) -> None:
    """GPUs per stage and in total, kW and cooling (kW, BTU/h), showing the arithmetic.

    Defaults are the worked example (100 m², 30 cameras at 30 fps, 100 shoppers, T4 75 W,
    detection 70 ms, identification 50/s, action 150/s per GPU, 30 % headroom):
    63 + 60 + 20 = 143 GPUs, x 1.3 -> 186 GPUs, 13.95 kW.
    """
    try:
        measured = _measured(stage_figures or [])
    except ConfigError as exc:
        raise fail(str(exc), EXIT_CONFIG) from None
    options = {
        Stage.DETECTION: (detection_ms, detection_per_gpu),
        Stage.IDENTIFICATION: (identification_ms, identification_per_gpu),
        Stage.ACTION: (action_ms, action_per_gpu),
    }
    capacity = {
        stage: _capacity(stage, ms, per_gpu, measured, DEFAULT_CAPACITY[stage])
        for stage, (ms, per_gpu) in options.items()
    }
    inputs = PlanInputs(
        cameras=cameras,
        area_m2=area_m2,
        cameras_per_m2=cameras_per_m2,
        fps=fps,
        shoppers=shoppers,
        shopper_fps=shopper_fps,
        detection=capacity[Stage.DETECTION],
        identification=capacity[Stage.IDENTIFICATION],
        action=capacity[Stage.ACTION],
        headroom_pct=headroom_pct,
        gpu_power_w=gpu_power_w,
        gpus_per_server=gpus_per_server,
        host_power_w_per_server=host_power_w_per_server,
    )
    try:
        result = plan(inputs)
    except PlanError as exc:
        raise fail(f"invalid input: {exc}", EXIT_CONFIG) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        _show(result)
