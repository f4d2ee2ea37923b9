"""``walkout scale tare|zero`` as child processes against a simulator process.

What the commands did is checked through the simulator's control port: the weights its
units report after a tare or zero. Calibration is in test_cli_calibrate.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sim_devices.control import ControlClient

from .clitools import (
    StartSim,
    store_yaml,
    unit_state,
    walkout,
    walkout_all,
)


@pytest.mark.parametrize("command", ["tare", "zero"])
async def test_tare_and_zero_act_on_the_device(
    start_sim: StartSim, tmp_path: Path, command: str
) -> None:
    sim = start_sim()
    store = store_yaml(tmp_path / "store.yaml", tcp_port=sim.tcp_port(0))
    before = await unit_state(sim, server=0, unit=1)
    # the jar (500 g at 0.3 m) on cells 0 and 1, offsets on cells 0, 1 and 3
    assert [abs(w) > 4 for w in before["weights_g"]] == [True, True, False, True]
    result = await walkout("scale", command, "A1", "-c", str(store), cwd=tmp_path)
    after = await unit_state(sim, server=0, unit=1)
    assert result.code == 0, result
    assert f"{command} done on shelf A1" in result.stdout
    assert after["weights_g"] == pytest.approx([0.0] * 4, abs=0.01)
    assert after["true_loads_g"] == before["true_loads_g"]  # only the device's zero moved
    assert [i["label"] for i in after["items"]] == ["jar"]


async def test_zero_refused_by_the_transmitter_exits_3(start_sim: StartSim, tmp_path: Path) -> None:
    sim = start_sim()
    store = store_yaml(tmp_path / "store.yaml", tcp_port=sim.tcp_port(0), pty=sim.pty(1))
    async with ControlClient(sim.control_port) as control:
        # 15 kg: far beyond the +-20 % of 20 kg a tx1 accepts as zero
        await control.put(2, 15000.0, 0.0, "pallet", server=1)
    result = await walkout("scale", "zero", "C1", "-c", str(store), cwd=tmp_path)
    after = await unit_state(sim, server=1, unit=2)
    assert result.code == 3, result
    assert "zero refused" in result.stderr
    assert "tx-02" in result.stderr
    assert after["weights_g"][0] > 10000  # the zero point did not move


async def test_unknown_shelf_or_cell_exits_2(tmp_path: Path, free_tcp_port: int) -> None:
    store = store_yaml(tmp_path / "store.yaml", tcp_port=free_tcp_port, pty="/dev/ttyUSB0")
    shelf, cell = await walkout_all(
        ("scale", "tare", "NOPE", "-c", str(store)),
        ("scale", "calibrate", "A1", "--known-g", "1000", "--cell", "7", "-c", str(store)),
        cwd=tmp_path,
    )
    assert shelf.code == 2, shelf
    assert "NOPE" in shelf.stderr
    assert "A1" in shelf.stderr  # the known shelves
    assert "C1" in shelf.stderr
    assert cell.code == 2, cell
    assert "cells [7] are not on shelf A1" in cell.stderr
    for result in (shelf, cell):
        assert "Traceback" not in result.stderr, result
