"""Health of one device: online, degraded or offline, with reason and staleness.

The tracker logs ERROR once when a device goes down and INFO when it comes
back (the Home Assistant coordinator convention), so a dead shelf controller
polled ten times a second does not flood the log.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import ClassVar

from devices.bus import Message

_LOGGER = logging.getLogger(__name__)


class HealthState(enum.StrEnum):
    """How much of a device's data can be trusted right now."""

    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Health:
    """A device's health at one moment.

    ``stale_since`` is the monotonic time of the last good reading when the
    device is not online (None while online): consumers use it to mark data
    stale instead of serving it as fresh.
    """

    device_id: str
    state: HealthState
    reason: str = ""
    stale_since: float | None = None
    consecutive_failures: int = 0


class HealthTracker:
    """Turns a stream of successes and failures into health state changes.

    A device starts offline ("not polled yet"); its first result is always
    reported, so a device that never answers is announced as offline too.

    ``degraded_after`` failures in a row make the device degraded (one lost
    frame on RS-485 is normal), ``offline_after`` make it offline.
    """

    def __init__(
        self,
        device_id: str,
        *,
        degraded_after: int = 1,
        offline_after: int = 3,
    ) -> None:
        if not 0 < degraded_after <= offline_after:
            raise ValueError("need 0 < degraded_after <= offline_after")
        self._degraded_after = degraded_after
        self._offline_after = offline_after
        self._last_good_s: float | None = None
        self._health = Health(device_id, HealthState.OFFLINE, "not polled yet")
        self._logged_down = False
        self._reported = False

    @property
    def health(self) -> Health:
        """The current health."""
        return self._health

    def record_success(self, now_s: float) -> Health | None:
        """Note a good transaction at monotonic time ``now_s``; the new health if it changed."""
        self._last_good_s = now_s
        if self._health.state is HealthState.ONLINE and self._reported:
            return None
        self._reported = True
        if self._logged_down:
            _LOGGER.info("%s is back online", self._health.device_id)
            self._logged_down = False
        self._health = Health(self._health.device_id, HealthState.ONLINE)
        return self._health

    def record_failure(self, reason: str, now_s: float) -> Health | None:
        """Note a failed transaction; the new health if the state changed."""
        failures = self._health.consecutive_failures + 1
        if failures >= self._offline_after:
            state = HealthState.OFFLINE
        elif failures >= self._degraded_after and self._last_good_s is not None:
            state = HealthState.DEGRADED
        else:
            state = self._health.state
        stale_since = self._last_good_s if self._last_good_s is not None else now_s
        if state is HealthState.OFFLINE and not self._logged_down:
            _LOGGER.error("%s is offline: %s", self._health.device_id, reason)
            self._logged_down = True
        changed = state is not self._health.state or not self._reported
        self._reported = True
        self._health = Health(self._health.device_id, state, reason, stale_since, failures)
        return self._health if changed else None


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthChanged(Message):
    """A device's health state changed; durable, because alerting is built on it."""

    durable: ClassVar[bool] = True
    health: Health
