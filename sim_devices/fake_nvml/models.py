"""GPU models the fake NVML can impersonate: limits, thresholds and thermal constants.

Limits, memory sizes and clocks are those of the data sheets and what
``nvidia-smi -q`` reports on such boards; the thermal constants (``r_th_k_per_w``,
``tau_s``) and the full-load draw are model assumptions for a board in a
server's forced airflow, chosen so that a fully loaded board sits around
60-70 degC with 25 degC inlet air and runs into its default power cap, as
inference boards do in the field.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GpuModel:
    """One board type.

    ``full_load_w`` is what the board would draw at 100 % utilisation with
    no power cap; the enforced limit clips it (and raises ``SwPowerCap``).
    Thresholds follow NVML's order: ``max_operating_c`` (software thermal
    slowdown begins), ``slowdown_c`` (hardware slowdown, clocks halved),
    ``shutdown_c`` (the board drops off the bus).
    """

    name: str
    idle_w: float
    full_load_w: float
    default_limit_w: float
    min_limit_w: float
    max_limit_w: float
    r_th_k_per_w: float
    tau_s: float
    max_operating_c: float
    slowdown_c: float
    shutdown_c: float
    memory_total_mib: int
    max_sm_clock_mhz: int
    idle_sm_clock_mhz: int
    has_fan: bool = False
    has_energy_counter: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.idle_w < self.full_load_w:
            raise ValueError(f"{self.name}: need 0 <= idle_w < full_load_w")
        if not 0 < self.min_limit_w <= self.default_limit_w <= self.max_limit_w:
            raise ValueError(f"{self.name}: need 0 < min_limit_w <= default_limit_w <= max")
        if self.r_th_k_per_w <= 0 or self.tau_s <= 0:
            raise ValueError(f"{self.name}: r_th_k_per_w and tau_s must be > 0")
        if not self.max_operating_c < self.slowdown_c < self.shutdown_c:
            raise ValueError(f"{self.name}: need max_operating_c < slowdown_c < shutdown_c")


T4 = GpuModel(
    name="Tesla T4",
    idle_w=10.0,
    full_load_w=78.0,
    default_limit_w=70.0,
    min_limit_w=60.0,
    max_limit_w=70.0,
    r_th_k_per_w=0.6,
    tau_s=45.0,
    max_operating_c=85.0,
    slowdown_c=93.0,
    shutdown_c=96.0,
    memory_total_mib=15360,
    max_sm_clock_mhz=1590,
    idle_sm_clock_mhz=300,
)

L4 = GpuModel(
    name="NVIDIA L4",
    idle_w=16.0,
    full_load_w=80.0,
    default_limit_w=72.0,
    min_limit_w=40.0,
    max_limit_w=72.0,
    r_th_k_per_w=0.55,
    tau_s=40.0,
    max_operating_c=87.0,
    slowdown_c=92.0,
    shutdown_c=95.0,
    memory_total_mib=23034,
    max_sm_clock_mhz=2040,
    idle_sm_clock_mhz=210,
)

A100_PCIE_40GB = GpuModel(
    name="NVIDIA A100-PCIE-40GB",
    idle_w=35.0,
    full_load_w=270.0,
    default_limit_w=250.0,
    min_limit_w=150.0,
    max_limit_w=250.0,
    r_th_k_per_w=0.16,
    tau_s=60.0,
    max_operating_c=85.0,
    slowdown_c=89.0,
    shutdown_c=92.0,
    memory_total_mib=40960,
    max_sm_clock_mhz=1410,
    idle_sm_clock_mhz=210,
)

MODELS: dict[str, GpuModel] = {"t4": T4, "l4": L4, "a100-pcie-40gb": A100_PCIE_40GB}
"""Models by short name, for command lines and scenarios."""


def get_model(name: str) -> GpuModel:
    """A model by short name (``t4``, ``l4``, ``a100-pcie-40gb``) or by its full NVML name."""
    key = name.strip().lower()
    for short, model in MODELS.items():
        if key in (short, model.name.lower()):
            return model
    raise ValueError(f"unknown GPU model {name!r}; known: {', '.join(MODELS)}")
