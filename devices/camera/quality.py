"""Is a camera's picture usable? Stalled, low fps, black and frozen checks.

A camera that is connected can still be useless to checkout: a decoder that
froze keeps sending the same picture (the shopper seems to stand still), a
covered lens sends black, a saturated uplink sends 3 fps. Each check turns
into a :class:`CameraProblem`; the set of problems becomes the camera's
:class:`~devices.health.Health`:

- ``disconnected`` or ``stalled`` (no frame for ``stall_after_s``): OFFLINE,
  there is no current picture at all;
- ``low_fps``, ``black``, ``frozen``: DEGRADED, there are frames but they
  cannot be trusted; ``stale_since`` says from when.

A :class:`CameraStatus` message is published whenever the set of problems
or the health state changes (durable: alerting and the supervisor's camera
decisions are built on it), never per frame.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from devices.bus import Message
from devices.camera.decode import mean_luma, probe_difference
from devices.camera.frame import Image
from devices.health import Health, HealthState

_LOGGER = logging.getLogger(__name__)


class CameraProblem(StrEnum):
    """One reason a camera's frames cannot be used as they are."""

    DISCONNECTED = "disconnected"
    STALLED = "stalled"
    LOW_FPS = "low_fps"
    BLACK = "black"
    FROZEN = "frozen"


_OFFLINE = frozenset({CameraProblem.DISCONNECTED, CameraProblem.STALLED})


@dataclass(frozen=True, slots=True)
class QualityLimits:
    """Thresholds of the checks; a check with its threshold None is off.

    ``stall_after_s``: no frame for this long while connected. ``min_fps``:
    frames per second counted over the last ``fps_window_s`` (judged only
    once a full window has passed since the first frame after a connect).
    ``black_luma``: mean grey level (0..255) under which a frame is black,
    for ``black_after_s`` in a row. ``frozen_diff``: mean absolute grey
    difference between consecutive probes under which they count as the same
    picture, for ``frozen_after_s`` in a row (a live sensor's noise alone
    gives about 1-2 grey levels; a repeated JPEG gives 0).
    """

    stall_after_s: float | None = 2.0
    min_fps: float | None = None
    fps_window_s: float = 5.0
    black_luma: float | None = 12.0
    black_after_s: float = 1.0
    frozen_diff: float | None = 0.1
    frozen_after_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("stall_after_s", "min_fps", "black_luma", "frozen_diff"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0 or None, got {value!r}")
        for name in ("fps_window_s", "black_after_s", "frozen_after_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CameraStatus(Message):
    """A camera's health and the problems behind it, published on change.

    ``fps`` is the rate measured over the fps window (None before a full
    window), ``mean_luma`` the last frame's mean grey level (None without
    image checks).
    """

    durable: ClassVar[bool] = True
    camera_id: str
    health: Health
    problems: tuple[CameraProblem, ...]
    fps: float | None
    mean_luma: float | None


class CameraMonitor:
    """Turns frame arrivals and connection events into :class:`CameraStatus` changes.

    Feed it with :meth:`connected`, :meth:`disconnected` and :meth:`frame`;
    call :meth:`evaluate` now and then (a stall is the absence of frames, so
    something must look at the clock). Each method returns the new status
    when it changed, else None. The first evaluation always reports.
    """

    def __init__(
        self,
        camera_id: str,
        limits: QualityLimits | None = None,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.camera_id = camera_id
        self.limits = limits or QualityLimits()
        self._clock = clock
        self._connected = False
        self._error = "not connected yet"
        self._since = clock()
        self._last_frame: float | None = None
        self._times: deque[float] = deque()
        self._window_from: float | None = None
        self._luma: float | None = None
        self._black_since: float | None = None
        self._frozen_since: float | None = None
        self._prev_probe: Image | None = None
        self._last_distinct = 0.0
        self._problems: tuple[CameraProblem, ...] = ()
        self._status: CameraStatus | None = None
        self._logged_down = False

    @property
    def status(self) -> CameraStatus:
        """The last evaluated status (evaluates once if there is none yet)."""
        if self._status is None:
            self.evaluate()
        assert self._status is not None
        return self._status

    @property
    def health(self) -> Health:
        """The health part of :attr:`status`."""
        return self.status.health

    def connected(self) -> CameraStatus | None:
        """The stream is (re)connected: the stall and fps clocks start again."""
        now = self._clock()
        self._connected = True
        self._error = ""
        self._since = now
        self._times.clear()
        self._window_from = None
        return self.evaluate(now)

    def disconnected(self, reason: str) -> CameraStatus | None:
        """The stream is down for ``reason``."""
        self._connected = False
        self._error = reason or "disconnected"
        self._times.clear()
        self._window_from = None
        self._prev_probe = None
        self._frozen_since = None
        self._black_since = None
        return self.evaluate()

    def frame(self, t_mono: float, probe: Image | None) -> CameraStatus | None:
        """A frame arrived at ``t_mono`` (``probe`` for the image checks, or None)."""
        limits = self.limits
        self._last_frame = t_mono
        self._times.append(t_mono)
        if self._window_from is None:
            self._window_from = t_mono
        if probe is not None:
            if limits.black_luma is not None:
                self._luma = mean_luma(probe)
                if self._luma < limits.black_luma:
                    if self._black_since is None:
                        self._black_since = t_mono
                else:
                    self._black_since = None
            if limits.frozen_diff is not None:
                prev = self._prev_probe
                if prev is None or probe_difference(prev, probe) > limits.frozen_diff:
                    self._last_distinct = t_mono
                    self._frozen_since = None
                elif self._frozen_since is None:
                    self._frozen_since = self._last_distinct
                self._prev_probe = probe
        return self.evaluate(t_mono)

    def fps(self, now: float | None = None) -> float | None:
        """Frames per second over the last window; None until a full window has passed."""
        now = self._clock() if now is None else now
        window = self.limits.fps_window_s
        times = self._times
        while times and times[0] <= now - window:
            times.popleft()
        if self._window_from is None or now - self._window_from < window:
            return None
        return len(times) / window

    def evaluate(self, now: float | None = None) -> CameraStatus | None:
        """Re-check every condition at ``now``; the new status if it changed."""
        now = self._clock() if now is None else now
        limits = self.limits
        problems: list[CameraProblem] = []
        details: list[str] = []
        stale_since: float | None = self._last_frame
        fps = self.fps(now)
        if not self._connected:
            problems.append(CameraProblem.DISCONNECTED)
            details.append(self._error)
        else:
            last = self._last_frame if self._last_frame is not None else self._since
            last = max(last, self._since)
            if limits.stall_after_s is not None and now - last >= limits.stall_after_s:
                problems.append(CameraProblem.STALLED)
                details.append(f"no frame for {now - last:.1f} s")
            if limits.min_fps is not None and fps is not None and fps < limits.min_fps:
                problems.append(CameraProblem.LOW_FPS)
                details.append(f"{fps:.1f} fps < {limits.min_fps:g}")
            black = self._black_since
            if black is not None and now - black >= limits.black_after_s:
                problems.append(CameraProblem.BLACK)
                details.append(f"black (mean luma {self._luma:.1f}) for {now - black:.1f} s")
                stale_since = black
            frozen = self._frozen_since
            if frozen is not None and now - frozen >= limits.frozen_after_s:
                problems.append(CameraProblem.FROZEN)
                details.append(f"picture unchanged for {now - frozen:.1f} s")
                stale_since = frozen if stale_since is None else min(stale_since, frozen)
        return self._update(tuple(problems), "; ".join(details), stale_since, fps, now)

    def _update(
        self,
        problems: tuple[CameraProblem, ...],
        reason: str,
        stale_since: float | None,
        fps: float | None,
        now: float,
    ) -> CameraStatus | None:
        if self._status is not None and problems == self._problems:
            return None
        if any(p in _OFFLINE for p in problems):
            state = HealthState.OFFLINE
        elif problems:
            state = HealthState.DEGRADED
        else:
            state = HealthState.ONLINE
        if self._status is not None:  # "not connected yet" at start is not news
            self._log(state, reason)
        self._problems = problems
        health = Health(
            self.camera_id,
            state,
            reason,
            None if state is HealthState.ONLINE else (stale_since if stale_since else now),
        )
        self._status = CameraStatus(
            source=self.camera_id,
            t_mono=now,
            camera_id=self.camera_id,
            health=health,
            problems=problems,
            fps=fps,
            mean_luma=self._luma,
        )
        return self._status

    def _log(self, state: HealthState, reason: str) -> None:
        if state is HealthState.OFFLINE:
            if not self._logged_down:
                _LOGGER.error("camera %s is offline: %s", self.camera_id, reason)
                self._logged_down = True
            return
        if self._logged_down:
            _LOGGER.info("camera %s is back", self.camera_id)
            self._logged_down = False
        if state is HealthState.DEGRADED:
            _LOGGER.warning("camera %s is degraded: %s", self.camera_id, reason)
