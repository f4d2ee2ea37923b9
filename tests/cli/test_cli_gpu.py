"""``walkout gpu check`` as a child process: against the fake NVML, and on this GPU-less host.

Expected limits are the T4's published figures (60-70 W, default 70 W), not walkout's output.
"""

from __future__ import annotations

from pathlib import Path

from .clitools import table_rows, walkout


async def test_gpu_check_lists_every_fake_board(tmp_path: Path) -> None:
    result = await walkout("gpu", "check", "--fake", "t4x2", cwd=tmp_path)
    assert result.code == 0, result.stderr
    rows = [row for row in table_rows(result.stdout) if row and row[0] in {"0", "1"}]
    assert [row[0] for row in rows] == ["0", "1"]
    for row in rows:
        assert row[1] == "Tesla T4"
        assert row[3] == "70 W"  # the enforced limit: the board's default
        assert row[4] == "60 W .. 70 W"
        assert row[-1] == "yes"


async def test_gpu_check_without_driver_says_why(tmp_path: Path) -> None:
    result = await walkout("gpu", "check", cwd=tmp_path)
    assert result.code == 3
    assert "no GPUs to check" in result.stderr
    assert "Traceback" not in result.stderr


async def test_gpu_check_unknown_fake_model(tmp_path: Path) -> None:
    result = await walkout("gpu", "check", "--fake", "h900", cwd=tmp_path)
    assert result.code == 2
    assert "unknown GPU model 'h900'" in result.stderr
