"""``walkout scale calibrate``, driven through its prompts, against a simulator process.

The scenario gives cell 0 of the mc10 a +3 % gain error and a 20 g offset; the stored
calibration must undo exactly those. The reference weight is put on the shelf through
the simulator's control port while the command waits at its prompt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim_devices.control import ControlClient
from walkout.config import load_calibration

from .clitools import (
    MC10_GAIN_ERRORS,
    MC10_OFFSETS_G,
    OutputReader,
    Result,
    SimProcess,
    StartSim,
    finish,
    shop_scenario,
    start_walkout,
    store_yaml,
    unit_state,
)


async def calibrate_cell_0(
    sim: SimProcess, tmp_path: Path, *, put_reference: bool
) -> tuple[Result, str]:
    """Drive ``walkout scale calibrate A1 --cell 0``: answer both prompts with Enter.

    Between the prompts the 1000 g reference goes on cell 0 (through the simulator's
    control port) if ``put_reference``. Returns the result and all of stdout.
    """
    store = store_yaml(tmp_path / "store.yaml", tcp_port=sim.tcp_port(0))
    args = ("scale", "calibrate", "A1", "--known-g", "1000", "--cell", "0", "-c", str(store))
    proc = await start_walkout(*args, cwd=tmp_path, stdin=True)
    assert proc.stdin is not None
    assert proc.stdout is not None
    out = OutputReader(proc.stdout)
    try:
        await out.expect("Empty cell 0 of shelf A1")
        proc.stdin.write(b"\n")
        await proc.stdin.drain()
        await out.expect("Put 1000 g right above cell 0")
        if put_reference:
            async with ControlClient(sim.control_port) as control:
                await control.put(1, 1000.0, 0.0, "reference", server=0)  # cell 0 is at 0.0 m
        proc.stdin.write(b"\n")
        await proc.stdin.drain()
        result = await finish(proc, args)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    return result, out.text + result.stdout


# An empty shelf whose board stops ringing quickly, so that sampling does not wait long.
CALIBRATION_SHOP = shop_scenario(items=[], settle_tau_s=0.1, motion_band_g=0.5)


async def test_calibrate_a_cell_interactively(start_sim: StartSim, tmp_path: Path) -> None:
    """Two prompts on stdout, Enter on stdin, the reference weight put through the sim."""
    sim = start_sim(CALIBRATION_SHOP)
    result, stdout = await calibrate_cell_0(sim, tmp_path, put_reference=True)
    state = await unit_state(sim, server=0, unit=1)
    assert result.code == 0, f"{stdout}\n{result}"
    assert state["true_loads_g"][0] == pytest.approx(1000.0)

    calibration = tmp_path / "calibration.yaml"  # default: next to the store.yaml
    assert f"saved {calibration}" in " ".join(stdout.split())
    data = yaml.safe_load(calibration.read_text(encoding="utf-8"))
    assert list(data["units"]) == ["sc-01"]
    cells = data["units"]["sc-01"]
    assert [int(c) for c in cells] == [0]  # only the cell asked for (keys written as '0')
    (entry,) = cells.values()
    # raw = true * (1 + gain_error) + offset: the calibration must undo both
    assert entry["gain"] == pytest.approx(1 / (1 + MC10_GAIN_ERRORS[0]), rel=0.002)
    assert entry["zero_raw_g"] == pytest.approx(MC10_OFFSETS_G[0], abs=0.5)
    assert entry["known_g"] == 1000
    assert "calibrated_at" in entry
    assert not calibration.with_name("calibration.yaml.tmp").exists()
    # and the store process can use it: it reads back as the same correction
    stored = load_calibration(calibration).for_unit("sc-01")
    assert stored[0].gain == pytest.approx(entry["gain"])
    assert stored[0].zero_raw_g == pytest.approx(entry["zero_raw_g"])


async def test_calibrate_without_the_reference_weight_saves_nothing(
    start_sim: StartSim, tmp_path: Path
) -> None:
    sim = start_sim(CALIBRATION_SHOP)
    result, stdout = await calibrate_cell_0(sim, tmp_path, put_reference=False)
    assert result.code == 2, f"{stdout}\n{result}"
    assert "cell 0" in result.stderr
    assert "is the weight on this cell?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "calibration.yaml").exists()
