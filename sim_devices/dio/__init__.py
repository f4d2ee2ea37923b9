"""Digital-I/O gate simulator: a Modbus TCP 8DI/8DO module with doors on its relays.

Imports nothing from the drivers: the module speaks Modbus through the
simulators' own hand-written server (``sim_devices.tcp_server``).
"""

from sim_devices.dio.door import Door, DoorSpec
from sim_devices.dio.module import IoModule, ModuleSpec
from sim_devices.dio.simulator import DioSimSpec, DioSimulator, DioSimulatorError

__all__ = [
    "DioSimSpec",
    "DioSimulator",
    "DioSimulatorError",
    "Door",
    "DoorSpec",
    "IoModule",
    "ModuleSpec",
]
