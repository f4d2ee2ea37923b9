"""store.yaml: the one configuration file of a store, validated at the edge.

Everything inside walkout works on the plain, validated data these models
give. A bad file is refused with the path of every bad key and what was
expected there, e.g. ``modbus.units[2] (id=sc-03).bus: no bus named 'rs485-x'``.

One module per concern: ``modbus`` (buses, units), ``store`` (the root, shelves),
``facility`` (UPS, cooling, GPUs), ``secrets`` (references to keys and
passwords), ``calibration`` (the file ``walkout scale calibrate`` writes),
``loading`` (parse and cross-check).
"""

from walkout.config.calibration import (
    CalibrationEntry,
    CalibrationFile,
    load_calibration,
    save_calibration,
)
from walkout.config.cameras import Camera
from walkout.config.errors import ConfigError
from walkout.config.esl import EslSection, MqttBackend, OeplBackend
from walkout.config.facility import (
    Crac,
    FacilitySection,
    Gpus,
    GridBands,
    NutUps,
    SnmpAgent,
    SnmpUps,
    SnmpV3,
    TrapListener,
)
from walkout.config.gates import (
    AllowListCheckConfig,
    DioController,
    Gate,
    GatesSection,
    HttpCheckConfig,
    OsdpController,
    OsdpLine,
)
from walkout.config.loading import load_config, parse_config
from walkout.config.modbus import ModbusSection, ModbusUnit, RtuBus, TcpBus
from walkout.config.secrets import SecretError, SecretRef
from walkout.config.services import (
    AlertsSection,
    CheckoutSection,
    HostShutdown,
    MqttSection,
    SupervisorSection,
    TelemetrySection,
)
from walkout.config.store import Location, Shelf, StoreConfig, StoreInfo
from walkout.config.vision import FloorPoint, VisionSection

__all__ = [
    "AlertsSection",
    "AllowListCheckConfig",
    "CalibrationEntry",
    "CalibrationFile",
    "Camera",
    "CheckoutSection",
    "ConfigError",
    "Crac",
    "DioController",
    "EslSection",
    "FacilitySection",
    "FloorPoint",
    "Gate",
    "GatesSection",
    "Gpus",
    "GridBands",
    "HostShutdown",
    "HttpCheckConfig",
    "Location",
    "ModbusSection",
    "ModbusUnit",
    "MqttBackend",
    "MqttSection",
    "NutUps",
    "OeplBackend",
    "OsdpController",
    "OsdpLine",
    "RtuBus",
    "SecretError",
    "SecretRef",
    "Shelf",
    "SnmpAgent",
    "SnmpUps",
    "SnmpV3",
    "StoreConfig",
    "StoreInfo",
    "SupervisorSection",
    "TcpBus",
    "TelemetrySection",
    "TrapListener",
    "VisionSection",
    "load_calibration",
    "load_config",
    "parse_config",
    "save_calibration",
]
