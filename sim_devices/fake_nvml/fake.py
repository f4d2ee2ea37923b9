"""A stand-in for the ``pynvml`` module, backed by a physical model of each GPU.

``FakeNvml`` has the pynvml functions a GPU driver calls, with the same
names, parameters, units (mW, mJ, degC, bytes) and the *same exception
classes*: errors are raised as ``pynvml.NVMLError(code)``, which pynvml
turns into its generated subclasses (``NVMLError_NotSupported``,
``NVMLError_NoPermission``, ``NVMLError_GpuIsLost`` ...), so a driver's
``except pynvml.NVMLError_NotSupported`` behaves the same against both.
Importing pynvml needs no NVIDIA library; only ``nvmlInit`` looks for it.

The model runs on an injectable clock (``time.monotonic`` by default, a
``ManualClock`` in tests, an ``AcceleratedClock`` for demos); every call
first brings every board's state up to the clock's present.

What can be made to fail, at construction or at run time:

- ``init_error``: ``nvmlInit`` raises that NVML error code
  (``NVML_ERROR_LIBRARY_NOT_FOUND`` for a host without the driver);
- ``unsupported``: per GPU, functions that raise ``NotSupported`` (boards
  without a fan report no fan speed by default, as passively cooled data
  centre boards do);
- ``missing_functions``: functions the "installed driver" is too old for
  (``NVMLError_FunctionNotFound``, like an old libnvidia-ml);
- ``inject_error``: any NVML error code from one function of one GPU;
- ``lose`` / overheating past the shutdown threshold: the GPU is lost
  (``NVMLError_GpuIsLost`` from everything on it) until ``reset``;
- ``root=False``: setting a power limit raises ``NVMLError_NoPermission``;
- ``hold_calls``: every NVML call blocks until ``release_calls`` (a wedged driver).

Thread-safe: a driver calls it from a worker thread while a test or a bench
changes the load from another.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pynvml

from sim_devices.fake_nvml.models import GpuModel
from sim_devices.fake_nvml.physics import GpuPhysics

# NVML constants (ABI values, nvml.h) used by the calls below.
TEMPERATURE_GPU = 0
THRESHOLD_SHUTDOWN = 0
THRESHOLD_SLOWDOWN = 1
THRESHOLD_GPU_MAX = 3
CLOCK_GRAPHICS = 0
CLOCK_SM = 1
CLOCK_MEM = 2
CLOCK_VIDEO = 3

MEMORY_CLOCK_MHZ = 5001
FAN_IDLE_PCT = 30.0
FAN_SLOPE_PCT_PER_K = 2.0
IDLE_MEMORY_MIB = 300

_UUID_NAMESPACE = uuid.UUID("6f0c7f5e-9b1e-4a4e-9c71-6a7b9d0e2f10")


def nvml_error(code: int) -> Exception:
    """The exception pynvml raises for ``code`` (an instance of its generated subclass)."""
    error: Exception = pynvml.NVMLError(code)
    return error


@dataclass(frozen=True, slots=True)
class FakeHandle:
    """What ``nvmlDeviceGetHandleByIndex`` returns: opaque to the caller."""

    owner: int
    index: int


@dataclass(frozen=True, slots=True)
class FakeUtilization:
    """Shaped like pynvml's ``c_nvmlUtilization_t`` (percent of the sample period)."""

    gpu: int
    memory: int


@dataclass(frozen=True, slots=True)
class FakeMemory:
    """Shaped like pynvml's ``c_nvmlMemory_t`` (bytes)."""

    total: int
    free: int
    used: int


@dataclass(frozen=True, slots=True)
class BoardState:
    """A snapshot of one board for tests and the control API (floats, not NVML's integers)."""

    index: int
    name: str
    uuid: str
    temperature_c: float
    power_w: float
    uncapped_w: float
    limit_w: float
    management_limit_w: float
    inlet_c: float
    utilisation: float
    energy_j: float
    sm_clock_mhz: int
    reasons: int
    lost: bool


@dataclass
class _Board:
    index: int
    model: GpuModel
    physics: GpuPhysics
    uuid: str
    unsupported: set[str]
    errors: dict[str, int] = field(default_factory=dict)
    management_limit_w: float = 0.0
    external_limit_w: float | None = None
    mem_util_pct: float = 0.0
    memory_used_mib: float = IDLE_MEMORY_MIB

    def apply_limits(self) -> None:
        limits = [self.management_limit_w]
        if self.external_limit_w is not None:
            limits.append(self.external_limit_w)
        self.physics.limit_w = min(limits)


class FakeNvml:
    """Fake NVML over ``models`` (one board per entry, index = position)."""

    def __init__(
        self,
        models: Sequence[GpuModel],
        *,
        clock: Callable[[], float] = time.monotonic,
        inlet_c: float = 25.0,
        root: bool = True,
        init_error: int | None = None,
        unsupported: Mapping[int, Iterable[str]] | None = None,
        missing_functions: Iterable[str] = (),
        driver_version: str = "fake-550.54.15",
        seed: str = "walkout",
    ) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._released = threading.Event()
        self._released.set()
        self._refcount = 0
        self._last_s = clock()
        self.root = root
        self.init_error = init_error
        self.missing_functions: set[str] = set(missing_functions)
        self.driver_version = driver_version
        self.waiting = 0
        """Calls blocked by ``hold_calls`` right now."""
        self.calls: Counter[str] = Counter()
        """Calls per NVML function name (counted once a held call proceeds, before any error)."""
        self._boards: list[_Board] = []
        for index, model in enumerate(models):
            extra = set((unsupported or {}).get(index, ()))
            if not model.has_fan:
                extra.add("nvmlDeviceGetFanSpeed")
            if not model.has_energy_counter:
                extra.add("nvmlDeviceGetTotalEnergyConsumption")
            board = _Board(
                index=index,
                model=model,
                physics=GpuPhysics(model, inlet_c=inlet_c),
                uuid=f"GPU-{uuid.uuid5(_UUID_NAMESPACE, f'{seed}/{index}/{model.name}')}",
                unsupported=extra,
                management_limit_w=model.default_limit_w,
            )
            board.apply_limits()
            self._boards.append(board)

    # --- plumbing ---------------------------------------------------------------------------

    def _advance(self) -> None:
        now = self._clock()
        dt = now - self._last_s
        self._last_s = now
        for board in self._boards:
            board.physics.advance(dt)

    @contextlib.contextmanager
    def _call(self, function: str) -> Iterator[None]:
        """Count, honour a hold, then check the library state; the lock is held inside."""
        if not self._released.is_set():
            with self._lock:
                self.waiting += 1
            self._released.wait()
            with self._lock:
                self.waiting -= 1
        with self._lock:
            self.calls[function] += 1
            if function in self.missing_functions:
                raise nvml_error(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
            if function not in ("nvmlInit", "nvmlShutdown") and self._refcount == 0:
                raise nvml_error(pynvml.NVML_ERROR_UNINITIALIZED)
            self._advance()
            yield

    @contextlib.contextmanager
    def _device(self, function: str, handle: object) -> Iterator[_Board]:
        with self._call(function):
            if not isinstance(handle, FakeHandle) or handle.owner != id(self):
                raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            board = self._boards[handle.index]
            if board.physics.lost:
                raise nvml_error(pynvml.NVML_ERROR_GPU_IS_LOST)
            code = board.errors.get(function)
            if code is not None:
                raise nvml_error(code)
            if function in board.unsupported:
                raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
            yield board

    def _board(self, index: int) -> _Board:
        if not 0 <= index < len(self._boards):
            raise IndexError(f"no GPU {index} (the fake has {len(self._boards)})")
        return self._boards[index]

    # --- the pynvml API ---------------------------------------------------------------------

    def nvmlInit(self) -> None:
        """Open the library; raises ``init_error`` when one is set."""
        with self._call("nvmlInit"):
            if self.init_error is not None:
                raise nvml_error(self.init_error)
            self._refcount += 1

    def nvmlShutdown(self) -> None:
        """Close one reference to the library (NVML counts inits)."""
        with self._call("nvmlShutdown"):
            if self._refcount == 0:
                raise nvml_error(pynvml.NVML_ERROR_UNINITIALIZED)
            self._refcount -= 1

    def nvmlSystemGetDriverVersion(self) -> str:
        """The "driver" version string."""
        with self._call("nvmlSystemGetDriverVersion"):
            return self.driver_version

    def nvmlDeviceGetCount(self) -> int:
        """Number of boards, lost ones included (NVML still counts them)."""
        with self._call("nvmlDeviceGetCount"):
            return len(self._boards)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        """A handle; a lost board refuses with ``GpuIsLost``."""
        with self._call("nvmlDeviceGetHandleByIndex"):
            if not isinstance(index, int) or not 0 <= index < len(self._boards):
                raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            if self._boards[index].physics.lost:
                raise nvml_error(pynvml.NVML_ERROR_GPU_IS_LOST)
            return FakeHandle(id(self), index)

    def nvmlDeviceGetName(self, handle: object) -> str:
        """Product name, as NVML spells it."""
        with self._device("nvmlDeviceGetName", handle) as board:
            return board.model.name

    def nvmlDeviceGetUUID(self, handle: object) -> str:
        """``GPU-<uuid>``, stable for a given seed, index and model."""
        with self._device("nvmlDeviceGetUUID", handle) as board:
            return board.uuid

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        """Draw in mW."""
        with self._device("nvmlDeviceGetPowerUsage", handle) as board:
            return round(board.physics.power_w() * 1000)

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: object) -> int:
        """The limit in force (the lowest of all limits) in mW."""
        with self._device("nvmlDeviceGetEnforcedPowerLimit", handle) as board:
            return round(board.physics.limit_w * 1000)

    def nvmlDeviceGetPowerManagementLimit(self, handle: object) -> int:
        """The limit set through NVML / ``nvidia-smi -pl``, in mW."""
        with self._device("nvmlDeviceGetPowerManagementLimit", handle) as board:
            return round(board.management_limit_w * 1000)

    def nvmlDeviceGetPowerManagementLimitConstraints(self, handle: object) -> list[int]:
        """``[min, max]`` settable limit in mW."""
        with self._device("nvmlDeviceGetPowerManagementLimitConstraints", handle) as board:
            return [round(board.model.min_limit_w * 1000), round(board.model.max_limit_w * 1000)]

    def nvmlDeviceGetPowerManagementDefaultLimit(self, handle: object) -> int:
        """The limit after a reset, in mW."""
        with self._device("nvmlDeviceGetPowerManagementDefaultLimit", handle) as board:
            return round(board.model.default_limit_w * 1000)

    def nvmlDeviceSetPowerManagementLimit(self, handle: object, limit: int) -> None:
        """Set the limit (mW); root only, inside the constraints."""
        with self._device("nvmlDeviceSetPowerManagementLimit", handle) as board:
            if not self.root:
                raise nvml_error(pynvml.NVML_ERROR_NO_PERMISSION)
            lo = round(board.model.min_limit_w * 1000)
            hi = round(board.model.max_limit_w * 1000)
            if not isinstance(limit, int) or not lo <= limit <= hi:
                raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            board.management_limit_w = limit / 1000
            board.apply_limits()

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        """Die temperature in whole degC (NVML has no fractions)."""
        with self._device("nvmlDeviceGetTemperature", handle) as board:
            if sensor != TEMPERATURE_GPU:
                raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            return round(board.physics.temperature_c)

    def nvmlDeviceGetTemperatureThreshold(self, handle: object, threshold: int) -> int:
        """Shutdown, slowdown and max-operating thresholds; others are not supported."""
        with self._device("nvmlDeviceGetTemperatureThreshold", handle) as board:
            model = board.model
            values = {
                THRESHOLD_SHUTDOWN: model.shutdown_c,
                THRESHOLD_SLOWDOWN: model.slowdown_c,
                THRESHOLD_GPU_MAX: model.max_operating_c,
            }
            if not isinstance(threshold, int) or not 0 <= threshold < 8:
                raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)
            if threshold not in values:
                raise nvml_error(pynvml.NVML_ERROR_NOT_SUPPORTED)
            return round(values[threshold])

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> FakeUtilization:
        """Percent of time busy (the load set by the caller), GPU and memory."""
        with self._device("nvmlDeviceGetUtilizationRates", handle) as board:
            return FakeUtilization(
                gpu=round(board.physics.utilisation * 100), memory=round(board.mem_util_pct)
            )

    def nvmlDeviceGetMemoryInfo(self, handle: object, version: int | None = None) -> FakeMemory:
        """Framebuffer memory in bytes."""
        with self._device("nvmlDeviceGetMemoryInfo", handle) as board:
            total = board.model.memory_total_mib * 2**20
            used = min(total, round(board.memory_used_mib * 2**20))
            return FakeMemory(total=total, free=total - used, used=used)

    def nvmlDeviceGetFanSpeed(self, handle: object) -> int:
        """Fan speed in percent, following temperature (boards with a fan only)."""
        with self._device("nvmlDeviceGetFanSpeed", handle) as board:
            pct = FAN_IDLE_PCT + FAN_SLOPE_PCT_PER_K * (board.physics.temperature_c - 40.0)
            return round(min(100.0, max(FAN_IDLE_PCT, pct)))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        """Energy since the "driver" loaded, in mJ."""
        with self._device("nvmlDeviceGetTotalEnergyConsumption", handle) as board:
            return int(board.physics.energy_j * 1000)

    def nvmlDeviceGetClockInfo(self, handle: object, type: int) -> int:
        """Current clock in MHz."""
        with self._device("nvmlDeviceGetClockInfo", handle) as board:
            if type in (CLOCK_GRAPHICS, CLOCK_SM, CLOCK_VIDEO):
                return board.physics.sm_clock_mhz()
            if type == CLOCK_MEM:
                return MEMORY_CLOCK_MHZ
            raise nvml_error(pynvml.NVML_ERROR_INVALID_ARGUMENT)

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: object) -> int:
        """Why clocks are below boost, as NVML's bitmask."""
        with self._device("nvmlDeviceGetCurrentClocksEventReasons", handle) as board:
            return board.physics.reasons()

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: object) -> int:
        """The pre-535 name of ``nvmlDeviceGetCurrentClocksEventReasons``."""
        with self._device("nvmlDeviceGetCurrentClocksThrottleReasons", handle) as board:
            return board.physics.reasons()

    # --- control (not part of NVML) ------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of boards."""
        return len(self._boards)

    def set_load(
        self,
        index: int,
        util_pct: float,
        *,
        mem_util_pct: float | None = None,
        memory_used_mib: float | None = None,
    ) -> None:
        """Set a board's utilisation (the workload) from now on."""
        if not 0 <= util_pct <= 100:
            raise ValueError("util_pct must be within 0..100")
        with self._lock:
            self._advance()
            board = self._board(index)
            board.physics.utilisation = util_pct / 100
            board.mem_util_pct = util_pct / 2 if mem_util_pct is None else mem_util_pct
            if memory_used_mib is not None:
                board.memory_used_mib = memory_used_mib

    def set_inlet_air(self, temp_c: float, index: int | None = None) -> None:
        """Set the inlet air temperature of one board, or of all."""
        with self._lock:
            self._advance()
            boards = self._boards if index is None else [self._board(index)]
            for board in boards:
                board.physics.inlet_c = temp_c

    def set_root(self, root: bool) -> None:
        """Whether callers may set power limits."""
        with self._lock:
            self.root = root

    def set_supported(self, index: int, function: str, supported: bool) -> None:
        """Make ``function`` raise ``NotSupported`` on one board (or stop doing so)."""
        if not hasattr(self, function) or not function.startswith("nvmlDevice"):
            raise ValueError(f"{function!r} is not a per-device NVML function of the fake")
        with self._lock:
            board = self._board(index)
            if supported:
                board.unsupported.discard(function)
            else:
                board.unsupported.add(function)

    def inject_error(self, index: int, function: str, code: int | None) -> None:
        """Make ``function`` on one board raise NVML error ``code`` (None clears it)."""
        with self._lock:
            board = self._board(index)
            if code is None:
                board.errors.pop(function, None)
            else:
                board.errors[function] = code

    def set_external_limit(self, index: int, watts: float | None) -> None:
        """A limit imposed outside NVML's settable one (e.g. by the chassis); None lifts it."""
        with self._lock:
            self._advance()
            board = self._board(index)
            board.external_limit_w = watts
            board.apply_limits()

    def lose(self, index: int) -> None:
        """Make a board fall off the bus now."""
        with self._lock:
            self._advance()
            self._board(index).physics.lost = True

    def reset(self, index: int) -> None:
        """Bring a lost board back (a GPU reset): limits back to default."""
        with self._lock:
            self._advance()
            board = self._board(index)
            board.physics.lost = False
            board.physics.hw_slowdown = False
            board.management_limit_w = board.model.default_limit_w
            board.apply_limits()

    def hold_calls(self) -> None:
        """Block every NVML call from now on until ``release_calls`` (a wedged driver)."""
        self._released.clear()

    def release_calls(self) -> None:
        """Let held and later calls proceed."""
        self._released.set()

    def state(self, index: int) -> BoardState:
        """Where one board stands now (for tests and the bench, not through NVML)."""
        with self._lock:
            self._advance()
            board = self._board(index)
            p = board.physics
            return BoardState(
                index=index,
                name=board.model.name,
                uuid=board.uuid,
                temperature_c=p.temperature_c,
                power_w=p.power_w(),
                uncapped_w=p.uncapped_w(),
                limit_w=p.limit_w,
                management_limit_w=board.management_limit_w,
                inlet_c=p.inlet_c,
                utilisation=p.utilisation,
                energy_j=p.energy_j,
                sm_clock_mhz=p.sm_clock_mhz(),
                reasons=p.reasons(),
                lost=p.lost,
            )
