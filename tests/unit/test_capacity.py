"""The capacity plan against arithmetic done by hand.

Worked example (DESIGN.md, "The store in numbers"): 30 cameras x 30 fps = 900 images/s,
x 0.070 s = 63 GPUs; 100 shoppers x 30 = 3000 events/s / 50 = 60 GPUs; 3000 / 150 = 20
GPUs; 63 + 60 + 20 = 143; 143 x 1.3 = 185.9 -> 186 GPUs; 186 x 75 W = 13,950 W;
13.95 kW x 3412.14 = 47,599.353 BTU/h.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from walkout.capacity import GpuCapacity, PlanError, PlanInputs, Stage, plan


def gpus(inputs: PlanInputs) -> dict[Stage, int]:
    return {line.stage: line.gpus for line in plan(inputs).stages}


def test_worked_example_gives_the_consistent_figures_not_the_quoted_ones() -> None:
    result = plan(PlanInputs())
    assert result.cameras == 30
    assert {line.stage: line.demand_per_s for line in result.stages} == {
        Stage.DETECTION: 900.0,
        Stage.IDENTIFICATION: 3000.0,
        Stage.ACTION: 3000.0,
    }
    assert gpus(PlanInputs()) == {Stage.DETECTION: 63, Stage.IDENTIFICATION: 60, Stage.ACTION: 20}
    assert result.gpus_before_headroom == 143
    assert result.gpus_total == 186
    assert result.gpus_total != 167  # the source's quoted total
    assert result.servers == 47  # ceil(186 / 4)
    assert result.gpu_power_kw == pytest.approx(13.95, abs=1e-12)
    assert result.host_power_kw == 0.0
    assert result.total_power_kw == pytest.approx(13.95, abs=1e-12)
    assert result.cooling_kw == pytest.approx(13.95, abs=1e-12)
    assert result.cooling_btu_per_h == pytest.approx(47_599.353, abs=1e-6)


def test_per_stage_headroom_is_shown_but_total_is_rounded_once_on_the_sum() -> None:
    result = plan(PlanInputs())
    # 63 x 1.3 = 81.9 -> 82; 60 x 1.3 = 78; 20 x 1.3 = 26
    assert [line.gpus_with_headroom for line in result.stages] == [82, 78, 26]
    # Where the two rules differ: stages of 1, 1, 1 GPU at 30 % give ceil(1.3) = 2 each
    # (6 in all) per stage, but ceil(3 x 1.3) = ceil(3.9) = 4 on the sum.
    tiny = PlanInputs(
        cameras=1,
        fps=1,
        shoppers=1,
        shopper_fps=1,
        detection=GpuCapacity(per_gpu_per_s=1),
        identification=GpuCapacity(per_gpu_per_s=1),
        action=GpuCapacity(per_gpu_per_s=1),
    )
    small = plan(tiny)
    assert [line.gpus_with_headroom for line in small.stages] == [2, 2, 2]
    assert small.gpus_total == 4


def test_steps_show_the_arithmetic() -> None:
    steps = plan(PlanInputs()).steps
    text = "\n".join(steps)
    assert "30 cameras x 30 fps = 900 images/s" in text
    assert "= 63 GPU-s/s -> 63 GPUs" in text
    assert "3000 events/s / 50 per GPU = 60" in text
    assert "3000 events/s / 150 per GPU = 20" in text
    assert "63 + 60 + 20 = 143 GPUs" in text
    assert "143 x 1.3 = 185.9 -> 186 GPUs" in text
    assert "186 GPUs x 75 W = 13.95 kW" in text
    assert "47599.353 BTU/h" in text


def test_exact_decimals_do_not_creep_over_an_integer() -> None:
    # In binary floating point 900 x 0.07 = 63.00000000000001 and 50 x (1 + 10/100) =
    # 55.00000000000001: both would be rounded up one GPU too many.
    assert 900 * 0.07 > 63  # the traps this test guards against
    assert 50 * (1 + 10 / 100) > 55
    assert plan(PlanInputs()).stages[0].gpus == 63
    fifty = PlanInputs(
        cameras=10,
        fps=5,
        shoppers=0,
        detection=GpuCapacity(per_gpu_per_s=1),
        headroom_pct=10,
    )
    result = plan(fifty)
    assert result.gpus_before_headroom == 50
    assert result.gpus_total == 55


def test_fractions_of_a_gpu_round_up() -> None:
    # 901 images/s x 0.07 s = 63.07 -> 64 GPUs
    assert gpus(PlanInputs(cameras=1, fps=901))[Stage.DETECTION] == 64


def test_cameras_follow_area_unless_given() -> None:
    # 200 m² x 0.3 = 60 cameras -> 1800 images/s x 0.07 = 126 GPUs
    assert plan(PlanInputs(area_m2=200)).cameras == 60
    assert gpus(PlanInputs(area_m2=200))[Stage.DETECTION] == 126
    # 55 m² x 0.3 = 16.5 -> 17 cameras
    assert plan(PlanInputs(area_m2=55)).cameras == 17
    # given cameras win over the area
    assert plan(PlanInputs(area_m2=200, cameras=12)).cameras == 12


def test_overrides() -> None:
    inputs = PlanInputs(
        cameras=12,
        fps=15,
        shoppers=40,
        shopper_fps=10,
        detection=GpuCapacity(per_gpu_per_s=45),
        identification=GpuCapacity(latency_ms=25),
        action=GpuCapacity(per_gpu_per_s=100),
        headroom_pct=50,
        gpu_power_w=300,
        gpus_per_server=8,
        host_power_w_per_server=500,
    )
    result = plan(inputs)
    # detection: 12 x 15 = 180 images/s / 45 = 4; identification: 40 x 10 = 400 events/s
    # x 0.025 s = 10; action: 400 / 100 = 4; 18 x 1.5 = 27 GPUs
    assert gpus(inputs) == {Stage.DETECTION: 4, Stage.IDENTIFICATION: 10, Stage.ACTION: 4}
    assert result.gpus_total == 27
    # 27 x 300 W = 8.1 kW; ceil(27 / 8) = 4 servers x 500 W = 2 kW; 10.1 kW
    assert result.servers == 4
    assert result.gpu_power_kw == pytest.approx(8.1)
    assert result.host_power_kw == pytest.approx(2.0)
    assert result.total_power_kw == pytest.approx(10.1)
    # 10.1 x 3412.14 = 34462.614
    assert result.cooling_btu_per_h == pytest.approx(34_462.614, abs=1e-6)


def test_shopper_fps_defaults_to_camera_fps() -> None:
    # fps 15: 100 x 15 = 1500 events/s -> 30 and 10 GPUs; detection 450 x 0.07 = 31.5 -> 32
    assert gpus(PlanInputs(fps=15)) == {
        Stage.DETECTION: 32,
        Stage.IDENTIFICATION: 30,
        Stage.ACTION: 10,
    }


def test_host_overhead_adds_to_power_and_cooling() -> None:
    result = plan(PlanInputs(host_power_w_per_server=300))
    # 47 servers x 300 W = 14.1 kW; 13.95 + 14.1 = 28.05 kW; x 3412.14 = 95710.527
    assert result.host_power_kw == pytest.approx(14.1)
    assert result.total_power_kw == pytest.approx(28.05)
    assert result.cooling_kw == pytest.approx(28.05)
    assert result.cooling_btu_per_h == pytest.approx(95_710.527, abs=1e-6)


def test_no_shoppers_needs_no_identification_or_action() -> None:
    assert gpus(PlanInputs(shoppers=0)) == {
        Stage.DETECTION: 63,
        Stage.IDENTIFICATION: 0,
        Stage.ACTION: 0,
    }


def test_as_dict_carries_sources_and_totals() -> None:
    data = plan(
        replace(PlanInputs(), detection=GpuCapacity(per_gpu_per_s=19.2, source="x"))
    ).as_dict()
    # 900 / 19.2 = 46.875 -> 47; 47 + 60 + 20 = 127 x 1.3 = 165.1 -> 166
    assert data["stages"]["detection"] == {
        "demand_per_s": 900.0,
        "demand_unit": "images/s",
        "per_gpu_per_s": 19.2,
        "latency_ms": None,
        "source": "x",
        "load_gpu_s_per_s": 46.875,
        "gpus": 47,
        "gpus_with_headroom": 62,  # 47 x 1.3 = 61.1 -> 62
    }
    assert data["gpus_total"] == 166
    assert data["gpu_power_kw"] == pytest.approx(12.45)  # 166 x 75 W
    assert data["inputs"]["cameras_from_area"] is True


@pytest.mark.parametrize(
    ("inputs", "named"),
    [
        (PlanInputs(fps=-5), "fps must be > 0, got -5"),
        (PlanInputs(fps=0), "fps must be > 0"),
        (PlanInputs(fps=float("nan")), "fps must be > 0"),
        (PlanInputs(cameras=-1), "cameras must be >= 0"),
        (PlanInputs(shoppers=-3), "shoppers must be >= 0"),
        (PlanInputs(area_m2=0), "area_m2 must be > 0"),
        (PlanInputs(shopper_fps=0), "shopper_fps must be > 0"),
        (PlanInputs(headroom_pct=-10), "headroom_pct must be >= 0"),
        (PlanInputs(gpu_power_w=0), "gpu_power_w must be > 0"),
        (PlanInputs(gpus_per_server=0), "gpus_per_server must be >= 1"),
        (PlanInputs(host_power_w_per_server=-1), "host_power_w_per_server must be >= 0"),
        (
            PlanInputs(identification=GpuCapacity(per_gpu_per_s=0)),
            "identification: per_gpu_per_s must be > 0, got 0",
        ),
        (
            PlanInputs(detection=GpuCapacity(latency_ms=-70)),
            "detection: latency_ms must be > 0",
        ),
        (
            PlanInputs(action=GpuCapacity(latency_ms=5, per_gpu_per_s=100)),
            "action: give exactly one of latency_ms and per_gpu_per_s, "
            "got latency_ms, per_gpu_per_s",
        ),
        (PlanInputs(action=GpuCapacity()), "got neither"),
    ],
)
def test_bad_inputs_are_refused_by_name(inputs: PlanInputs, named: str) -> None:
    with pytest.raises(PlanError, match=re.escape(named)):
        plan(inputs)
