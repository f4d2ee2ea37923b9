"""NVML error codes, and what each one means for a reading or a command.

The codes are NVML's ABI (nvml.h ``NVML_ERROR_*``); pynvml raises them as
generated subclasses of ``pynvml.NVMLError`` carrying ``.value``. Matching
on the code rather than on the class works for pynvml and for anything that
raises pynvml's classes (the fake NVML does).
"""

from __future__ import annotations

from devices.errors import DeviceConnectionError, DeviceError, DeviceTimeoutError

NO_PERMISSION = 4
NOT_SUPPORTED = 3
INVALID_ARGUMENT = 2
UNINITIALIZED = 1
DRIVER_NOT_LOADED = 9
TIMEOUT = 10
LIBRARY_NOT_FOUND = 12
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
RESET_REQUIRED = 16
LIB_RM_VERSION_MISMATCH = 18
NO_DATA = 21
NOT_READY = 27
UNKNOWN = 999

FIELD_UNSUPPORTED = frozenset({NOT_SUPPORTED, FUNCTION_NOT_FOUND, NO_PERMISSION})
"""A field failing with these will fail the same way every time: stop asking."""

FIELD_NO_SAMPLE = frozenset({NO_DATA, NOT_READY})
"""No value this time (e.g. right after driver load); ask again next poll."""

_LINK_LOST = frozenset(
    {UNINITIALIZED, DRIVER_NOT_LOADED, LIBRARY_NOT_FOUND, RESET_REQUIRED, LIB_RM_VERSION_MISMATCH}
)

INIT_REASONS = {
    LIBRARY_NOT_FOUND: "NVML library not found: no NVIDIA driver on this host",
    DRIVER_NOT_LOADED: (
        "NVIDIA kernel driver not loaded (the NVML library is installed, the nvidia module is not)"
    ),
    NO_PERMISSION: "no permission to open the NVIDIA devices (/dev/nvidia*)",
    LIB_RM_VERSION_MISMATCH: (
        "NVML library and NVIDIA kernel driver versions differ: reload the driver or reboot"
    ),
}

SET_LIMIT_PERMISSION = (
    "setting a GPU power limit needs root: NVML refuses it to other users, "
    "as 'nvidia-smi -pl' does; run walkout's service as root"
)


def error_code(exc: BaseException) -> int | None:
    """The NVML code of a pynvml error (None for anything else)."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


def describe(exc: BaseException) -> str:
    """``message (NVML error N)``; pynvml's own text for the code, when it has one."""
    code = error_code(exc)
    try:
        message = str(exc)
    except Exception:  # pynvml may need the library to spell an unknown code
        message = "NVML error"
    return f"{message} (NVML error {code})" if code is not None else message


def device_error(exc: BaseException, doing: str, *, device: str, address: str) -> DeviceError:
    """The driver error for an NVML failure while ``doing`` something."""
    code = error_code(exc)
    if code == GPU_IS_LOST:
        return DeviceConnectionError(
            f"{doing}: the GPU is lost (fell off the bus); it needs a reset or a reboot",
            device=device,
            address=address,
        )
    if code == TIMEOUT:
        return DeviceTimeoutError(f"{doing}: {describe(exc)}", device=device, address=address)
    if code in _LINK_LOST:
        return DeviceConnectionError(f"{doing}: {describe(exc)}", device=device, address=address)
    return DeviceError(f"{doing}: {describe(exc)}", device=device, address=address)
