"""Simulated precision air conditioning (CRAC): a unit and its room, over Modbus TCP/RTU.

``CracSimulator`` serves one unit through a vendor register map (``pcw1``,
``irc2``) on the hand-written Modbus servers of ``sim_devices``; its
``crac`` attribute is the thermal model the bench couples to the GPUs'
power draw (``it_load_w`` / ``gpu_load_w`` in, ``room_air_c`` /
``supply_air_c`` out). ``python -m sim_devices.crac serve`` runs it as a
process with a JSON-lines control port.
"""

from sim_devices.crac.control import CracControlServer
from sim_devices.crac.model import (
    CommandRefused,
    Controller,
    ControlMode,
    CracModel,
    CracParams,
    FaultError,
    Refusal,
    RoomParams,
)
from sim_devices.crac.registers import (
    IRC2_BITS,
    IRC2_REGISTERS,
    MODELS,
    PCW1_BITS,
    PCW1_REGISTERS,
    Irc2Registers,
    Pcw1Registers,
    Reg,
    RegisterFace,
)
from sim_devices.crac.simulator import DEFAULT_PARAMS, CracSimError, CracSimulator

__all__ = [
    "DEFAULT_PARAMS",
    "IRC2_BITS",
    "IRC2_REGISTERS",
    "MODELS",
    "PCW1_BITS",
    "PCW1_REGISTERS",
    "CommandRefused",
    "ControlMode",
    "Controller",
    "CracControlServer",
    "CracModel",
    "CracParams",
    "CracSimError",
    "CracSimulator",
    "FaultError",
    "Irc2Registers",
    "Pcw1Registers",
    "Refusal",
    "Reg",
    "RegisterFace",
    "RoomParams",
]
