"""Device simulators that speak the devices' real protocols.

Nothing in here imports the drivers (``devices``) or the application: a
simulator that shares code with its driver would hide the protocol bugs it is
meant to expose. The shelf-scale simulator serves Modbus TCP and RTU from a
hand-written server (not pymodbus) for the same reason.
"""

from sim_devices.control import ControlClient, ControlError, ControlServer
from sim_devices.faults import Fault, FaultMode
from sim_devices.loadcell import Item, ShelfLoadModel, ShelfParams, ShelfReading
from sim_devices.scenario import (
    FixtureUnitSpec,
    ItemSpec,
    RtuServerSpec,
    Scenario,
    ScenarioError,
    TcpServerSpec,
    UnitSpec,
    load_scenario,
)
from sim_devices.simulator import ShelfSimulator, SimulatorError

__all__ = [
    "ControlClient",
    "ControlError",
    "ControlServer",
    "Fault",
    "FaultMode",
    "FixtureUnitSpec",
    "Item",
    "ItemSpec",
    "RtuServerSpec",
    "Scenario",
    "ScenarioError",
    "ShelfLoadModel",
    "ShelfParams",
    "ShelfReading",
    "ShelfSimulator",
    "SimulatorError",
    "TcpServerSpec",
    "UnitSpec",
    "load_scenario",
]
