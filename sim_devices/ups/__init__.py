"""Simulated UPS: an RFC 1628 (UPS-MIB) SNMP v1/v2c agent over a battery and grid model.

The SNMP codec is hand-written (no pysnmp/pyasn1) so that the walkout
driver, which uses pysnmp, is tested against an independent implementation;
net-snmp's tools and NUT's ``snmp-ups`` are the peers that keep this one honest.

In process::

    async with UpsSimulator() as ups:
        ups.cut_grid()

As a process: ``python -m sim_devices.ups serve --port 0 --control-port 0``.
"""

from sim_devices.clock import AcceleratedClock
from sim_devices.ups.agent import SnmpAgent
from sim_devices.ups.config import (
    DEFAULT_SCENARIO,
    AgentConfig,
    TrapTarget,
    UpsConfig,
    UpsConfigError,
    UpsParams,
    load_config,
    parse_config,
)
from sim_devices.ups.faults import DeviceFault, WireFault
from sim_devices.ups.model import (
    Alarm,
    BatteryStatus,
    EventKind,
    ModelError,
    OutputSource,
    SelfTestKind,
    SelfTestResult,
    UpsEvent,
    UpsModel,
)
from sim_devices.ups.simulator import UpsSimulator, UpsSimulatorError

__all__ = [
    "DEFAULT_SCENARIO",
    "AcceleratedClock",
    "AgentConfig",
    "Alarm",
    "BatteryStatus",
    "DeviceFault",
    "EventKind",
    "ModelError",
    "OutputSource",
    "SelfTestKind",
    "SelfTestResult",
    "SnmpAgent",
    "TrapTarget",
    "UpsConfig",
    "UpsConfigError",
    "UpsEvent",
    "UpsModel",
    "UpsParams",
    "UpsSimulator",
    "UpsSimulatorError",
    "WireFault",
    "load_config",
    "parse_config",
]
