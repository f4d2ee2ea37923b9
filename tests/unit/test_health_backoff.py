import logging
import random

from devices.backoff import Backoff
from devices.health import HealthState, HealthTracker


def test_backoff_doubles_to_cap_with_bounded_jitter():
    backoff = Backoff(initial_s=0.1, cap_s=1.0, jitter=0.2, rng=random.Random(1))
    delays = [backoff.next_delay_s() for _ in range(8)]
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for delay, base in zip(delays, bases, strict=True):
        assert base * 0.8 <= delay <= base * 1.2
    backoff.reset()
    assert backoff.next_delay_s() <= 0.12


def test_backoff_jitter_spreads_simultaneous_retries():
    delays = {round(Backoff(rng=random.Random(seed)).next_delay_s(), 6) for seed in range(20)}
    assert len(delays) > 15


def test_health_goes_degraded_then_offline_and_logs_once(caplog):
    tracker = HealthTracker("sc-01", degraded_after=1, offline_after=3)
    assert tracker.record_success(1.0).state is HealthState.ONLINE
    caplog.set_level(logging.INFO)
    changes = [tracker.record_failure("timeout", t) for t in (2.0, 3.0, 4.0, 5.0, 6.0)]
    states = [c.state for c in changes if c is not None]
    assert states == [HealthState.DEGRADED, HealthState.OFFLINE]
    assert tracker.health.stale_since == 1.0
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "sc-01" in errors[0].getMessage()
    back = tracker.record_success(7.0)
    assert back is not None
    assert back.state is HealthState.ONLINE
    assert back.stale_since is None
    assert any(
        r.levelno == logging.INFO and "back online" in r.getMessage() for r in caplog.records
    )


def test_single_failure_is_degraded_not_offline():
    tracker = HealthTracker("u", degraded_after=1, offline_after=3)
    tracker.record_success(0.0)
    tracker.record_failure("crc", 1.0)
    tracker.record_success(2.0)
    tracker.record_failure("crc", 3.0)
    assert tracker.health.state is HealthState.DEGRADED
