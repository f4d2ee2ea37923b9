"""GPU board models for the fake NVML that tests share."""

from __future__ import annotations

from sim_devices.fake_nvml import GpuModel

# A board with round numbers, so expected values can be worked out by hand:
# P = 20 + 80 * u, capped at the limit; T_ss = T_air + 0.5 K/W * P; tau = 40 s.
ROUND = GpuModel(
    name="Round Test Board",
    idle_w=20.0,
    full_load_w=100.0,
    default_limit_w=90.0,
    min_limit_w=50.0,
    max_limit_w=90.0,
    r_th_k_per_w=0.5,
    tau_s=40.0,
    max_operating_c=80.0,
    slowdown_c=90.0,
    shutdown_c=95.0,
    memory_total_mib=16384,
    max_sm_clock_mhz=1500,
    idle_sm_clock_mhz=300,
    has_fan=True,
)
