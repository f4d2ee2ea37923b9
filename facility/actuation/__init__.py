"""Actuation: the supervisor's action requests carried out on the equipment, and checked.

``Actuator`` turns each ``ActionRequest`` into commands on its port (GPU
caps, gates, screens, cameras, ledger, host shutdown) and publishes an
``ActionOutcome``; ``ExitFailsafe`` opens every gate when the supervisor
stops. The ports are protocols (``ports``); ``adapters`` has them for
walkout's own drivers.
"""

from facility.actuation.actuator import Actuator
from facility.actuation.failsafe import ExitFailsafe, SupervisorAlive
from facility.actuation.outcome import ActionOutcome, action_kind
from facility.actuation.ports import (
    CameraControl,
    EntryControl,
    GpuCapper,
    LedgerControl,
    ScreenControl,
    ScreenResult,
)
from facility.actuation.shutdown import HostShutdownRunner, ShutdownResult

__all__ = [
    "ActionOutcome",
    "Actuator",
    "CameraControl",
    "EntryControl",
    "ExitFailsafe",
    "GpuCapper",
    "HostShutdownRunner",
    "LedgerControl",
    "ScreenControl",
    "ScreenResult",
    "ShutdownResult",
    "SupervisorAlive",
    "action_kind",
]
