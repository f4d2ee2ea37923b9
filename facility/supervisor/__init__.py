"""Store modes from power, cooling and GPU readings: a pure, replayable decision core.

Nothing here reads a clock or does I/O: every decision is a function of the
messages fed in and their ``t_mono``, so a recorded day replays to the same
decisions. Actuation (GPU caps, cameras, gates, host shutdown) is done by
whoever consumes the ``ActionRequest`` messages.
"""

from facility.supervisor.budget import (
    BudgetEstimate,
    OpenSession,
    RuntimeFit,
    RuntimeModel,
    StoreOccupancy,
    fit_runtime_curve,
)
from facility.supervisor.decisions import (
    ActionRequest,
    CapGpus,
    Decision,
    FlushLedger,
    ModeChanged,
    SetCameras,
    SetEntry,
    SetScreens,
    ShutdownHost,
)
from facility.supervisor.modes import StoreMode
from facility.supervisor.policy import ModeActions, Policy, default_policy
from facility.supervisor.rules import (
    BatteryFloorRule,
    CracRule,
    Finding,
    GpuMarginRule,
    OnBatteryRule,
    RuntimeBudgetRule,
    StaleInputRule,
)
from facility.supervisor.supervisor import Supervisor
from facility.supervisor.thermal import ThermalConfig, ThermalController

__all__ = [
    "ActionRequest",
    "BatteryFloorRule",
    "BudgetEstimate",
    "CapGpus",
    "CracRule",
    "Decision",
    "Finding",
    "FlushLedger",
    "GpuMarginRule",
    "ModeActions",
    "ModeChanged",
    "OnBatteryRule",
    "OpenSession",
    "Policy",
    "RuntimeBudgetRule",
    "RuntimeFit",
    "RuntimeModel",
    "SetCameras",
    "SetEntry",
    "SetScreens",
    "ShutdownHost",
    "StaleInputRule",
    "StoreMode",
    "StoreOccupancy",
    "Supervisor",
    "ThermalConfig",
    "ThermalController",
    "default_policy",
    "fit_runtime_curve",
]
