"""Any simulator's serve command runs as a child process through one class."""

from __future__ import annotations

import pytest

from sim_devices.process import SimulatorProcess, SimulatorProcessError


async def test_the_dio_simulator_starts_answers_its_ready_line_and_is_reaped() -> None:
    process = SimulatorProcess(command=("sim_devices.dio", "serve"), ready_timeout_s=30.0)
    async with process:
        assert process.ready["ready"] is True
        assert process.ready["kind"] == "dio"
        assert process.ready["control_port"] > 0
        assert process.pid > 0
    with pytest.raises(SimulatorProcessError, match="not running"):
        _ = process.pid


async def test_a_command_that_prints_no_ready_line_is_an_error() -> None:
    # argparse refuses the unknown sub-command: the process exits without a ready line
    process = SimulatorProcess(command=("sim_devices.dio", "no-such-command"), ready_timeout_s=30.0)
    with pytest.raises(SimulatorProcessError, match="no ready line"):
        await process.start()
    with pytest.raises(SimulatorProcessError, match="not running"):
        _ = process.pid
