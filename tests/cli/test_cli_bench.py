"""``walkout bench`` end to end: the README's main job must pass on a fresh checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from .clitools import finish, start_walkout

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]


async def test_bench_passes_and_reports_every_act(tmp_path: Path) -> None:
    args = ("bench",)
    result = await finish(await start_walkout(*args, cwd=tmp_path), args, timeout_s=140)
    assert result.code == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "all scripted changes detected" in result.stdout
    assert "trap-triggered poll" in result.stdout
    assert "not seen" not in result.stdout
    assert "10 acked; not updated: tag03, tag07" in result.stdout
    assert "exit released" in result.stdout
    assert "bench passed: shelves, facility and store devices" in result.stdout
