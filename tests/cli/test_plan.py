"""``walkout plan``: the worked example, overrides, measured figures files and bad input.

Expected figures are worked by hand (see tests/unit/test_capacity.py for the example's
arithmetic): 63 + 60 + 20 = 143 GPUs, x 1.3 -> 186, x 75 W = 13.95 kW = 47,599 BTU/h.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from walkout.cli import app

from .clitools import table_rows, walkout

EXIT_CONFIG = 2


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["plan", *args])
    return result.exit_code, result.stdout, result.stderr


def run_json(*args: str) -> dict[str, Any]:
    code, out, err = run(*args, "--json")
    assert code == 0, out + err
    data: dict[str, Any] = json.loads(out)
    return data


def stage_gpus(data: dict[str, Any]) -> dict[str, int]:
    return {name: line["gpus"] for name, line in data["stages"].items()}


def figures(tmp_path: Path, content: Any, name: str = "figures.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), "utf-8")
    return path


def test_worked_example_by_default() -> None:
    data = run_json()
    assert stage_gpus(data) == {"detection": 63, "identification": 60, "action": 20}
    assert data["gpus_before_headroom"] == 143
    assert data["gpus_total"] == 186
    assert data["gpu_power_kw"] == pytest.approx(13.95)
    assert data["total_power_kw"] == pytest.approx(13.95)
    assert data["cooling_kw"] == pytest.approx(13.95)
    assert data["cooling_btu_per_h"] == pytest.approx(47_599.353, abs=1e-6)
    assert data["inputs"]["cameras"] == 30


def test_issue_example_command_line_gives_the_same() -> None:
    data = run_json("--cameras", "30", "--fps", "30", "--shoppers", "100")
    assert data["gpus_total"] == 186
    assert data["inputs"]["cameras_from_area"] is False


def test_text_output_shows_the_arithmetic_and_totals() -> None:
    code, out, err = run()
    assert code == 0, out + err
    assert "63 + 60 + 20 = 143 GPUs" in out
    assert "143 x 1.3 = 185.9 -> 186 GPUs" in out
    assert "186 GPUs x 75 W = 13.95 kW" in out
    assert "cooling 13.95 kW = 47,599 BTU/h" in out


def test_overrides() -> None:
    data = run_json(
        "--cameras",
        "12",
        "--fps",
        "15",
        "--shoppers",
        "40",
        "--shopper-fps",
        "10",
        "--detection-per-gpu",
        "45",
        "--identification-ms",
        "25",
        "--action-per-gpu",
        "100",
        "--headroom-pct",
        "50",
        "--gpu-power-w",
        "300",
        "--gpus-per-server",
        "8",
        "--host-power-w-per-server",
        "500",
    )
    # 180 images/s / 45 = 4; 400 events/s x 0.025 s = 10; 400 / 100 = 4; 18 x 1.5 = 27
    assert stage_gpus(data) == {"detection": 4, "identification": 10, "action": 4}
    assert data["gpus_total"] == 27
    # 27 x 300 W = 8.1 kW + 4 servers x 500 W = 2 kW -> 10.1 kW = 34,462.614 BTU/h
    assert data["servers"] == 4
    assert data["total_power_kw"] == pytest.approx(10.1)
    assert data["cooling_btu_per_h"] == pytest.approx(34_462.614, abs=1e-6)
    assert data["stages"]["identification"]["source"] == "--identification-ms"


def test_area_sets_cameras() -> None:
    # 200 m² x 0.3 = 60 cameras x 30 fps = 1800 images/s x 0.07 s = 126 GPUs
    data = run_json("--area-m2", "200")
    assert data["inputs"]["cameras"] == 60
    assert data["stages"]["detection"]["gpus"] == 126


def test_measured_figures_replace_the_default_and_say_where_from(tmp_path: Path) -> None:
    path = figures(
        tmp_path,
        {
            "source": "bench_detectors",
            "stages": {"detection": {"per_gpu_per_s": 19.2, "device": "cpu"}},
        },
    )
    data = run_json("--stage-figures", str(path))
    # 900 / 19.2 = 46.875 -> 47; 47 + 60 + 20 = 127; x 1.3 = 165.1 -> 166; x 75 W = 12.45 kW
    assert stage_gpus(data) == {"detection": 47, "identification": 60, "action": 20}
    assert data["gpus_total"] == 166
    assert data["gpu_power_kw"] == pytest.approx(12.45)
    assert data["stages"]["detection"]["source"] == "measured: bench_detectors, cpu (figures.json)"
    assert data["stages"]["identification"]["source"].startswith("default")


def test_several_figures_files(tmp_path: Path) -> None:
    det = figures(
        tmp_path, {"source": "a", "stages": {"detection": {"per_gpu_per_s": 90}}}, "a.json"
    )
    ids = figures(
        tmp_path,
        {
            "source": "b",
            "stages": {"identification": {"per_gpu_per_s": 300}, "action": {"per_gpu_per_s": 600}},
        },
        "b.json",
    )
    data = run_json("--stage-figures", str(det), "--stage-figures", str(ids))
    # 900 / 90 = 10; 3000 / 300 = 10; 3000 / 600 = 5; 25 x 1.3 = 32.5 -> 33
    assert stage_gpus(data) == {"detection": 10, "identification": 10, "action": 5}
    assert data["gpus_total"] == 33


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"source": "x", "stages": {', "line 1 column"),
        ("", "not JSON"),
        (
            {"source": "x", "stages": {"detection": {"per_gpu_per_s": 0}}},
            "stages.detection.per_gpu_per_s: Input should be greater than 0",
        ),
        (
            {"source": "x", "stages": {"detection": {"per_gpu_per_s": "fast"}}},
            "stages.detection.per_gpu_per_s",
        ),
        ({"source": "x", "stages": {"tracking": {"per_gpu_per_s": 5}}}, "stages.tracking"),
        (
            {"source": "x", "stages": {"detection": {"per_gpu_per_s": 5, "fps": 3}}},
            "stages.detection.fps: Extra inputs are not permitted",
        ),
        ({"stages": {"detection": {"per_gpu_per_s": 5}}}, "source: Field required"),
        ({"source": "x", "stages": {}}, "stages: "),
        ([1, 2], "(top level)"),
    ],
)
def test_bad_figures_file_names_file_and_key(tmp_path: Path, content: Any, expected: str) -> None:
    path = figures(tmp_path, content)
    code, out, err = run("--stage-figures", str(path))
    assert code == EXIT_CONFIG, out + err
    assert str(path) in err
    assert expected in err
    assert "GPUs" not in out


def test_missing_figures_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    code, _, err = run("--stage-figures", str(path))
    assert code == EXIT_CONFIG
    assert f"{path}: 1 problem(s)" in err
    assert "cannot read" in err


def test_a_stage_given_twice_is_refused(tmp_path: Path) -> None:
    path = figures(tmp_path, {"source": "b", "stages": {"detection": {"per_gpu_per_s": 20}}})
    code, _, err = run("--stage-figures", str(path), "--detection-ms", "50")
    assert code == EXIT_CONFIG
    assert "detection: per-GPU figure given twice (--detection-ms and measured: b" in err
    code, _, err = run("--action-ms", "5", "--action-per-gpu", "100")
    assert code == EXIT_CONFIG
    assert "--action-ms and --action-per-gpu" in err
    other = figures(
        tmp_path, {"source": "c", "stages": {"detection": {"per_gpu_per_s": 30}}}, "c.json"
    )
    code, _, err = run("--stage-figures", str(path), "--stage-figures", str(other))
    assert code == EXIT_CONFIG
    assert f"stages.detection: already given by {path}" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--fps", "-5"), "invalid input: fps must be > 0, got -5.0"),
        (("--fps", "0"), "fps must be > 0"),
        (("--cameras", "-2"), "cameras must be >= 0, got -2"),
        (("--shoppers", "-1"), "shoppers must be >= 0"),
        (("--detection-per-gpu", "0"), "detection: per_gpu_per_s must be > 0, got 0.0"),
        (("--identification-ms", "-3"), "identification: latency_ms must be > 0"),
        (("--headroom-pct", "-1"), "headroom_pct must be >= 0"),
        (("--gpu-power-w", "0"), "gpu_power_w must be > 0"),
        (("--gpus-per-server", "0"), "gpus_per_server must be >= 1"),
    ],
)
def test_bad_inputs_exit_non_zero_with_the_input_named(
    args: tuple[str, ...], expected: str
) -> None:
    code, out, err = run(*args)
    assert code == EXIT_CONFIG, out + err
    assert expected in err
    assert out == ""


def test_not_a_number_is_refused_by_the_parser() -> None:
    code, _, err = run("--fps", "fast")
    assert code == EXIT_CONFIG
    assert "--fps" in err


async def test_installed_command_prints_the_table(tmp_path: Path) -> None:
    result = await walkout("plan", cwd=tmp_path)
    assert result.code == 0, str(result)
    rows = {row[0]: row for row in table_rows(result.stdout)}
    # columns: stage, demand, per GPU, load, GPUs, GPUs + headroom, source
    assert rows["detection"][1:6] == ["900 images/s", "70 ms/item", "63", "63", "82"]
    assert rows["identification"][1:6] == ["3,000 events/s", "50/s per GPU", "60", "60", "78"]
    assert rows["action"][1:6] == ["3,000 events/s", "150/s per GPU", "20", "20", "26"]
    assert rows["subtotal"][4] == "143"
    assert rows["total"][5] == "186"
    assert "electrical 13.95 kW" in result.stdout
