import random
from dataclasses import replace

import cv2
import numpy as np
import pytest

from devices.camera.decode import decode_jpeg, make_probe
from devices.camera.quality import CameraMonitor, CameraProblem, QualityLimits
from devices.camera.source import FpsGate, redact_url
from devices.health import HealthState
from sim_devices.clock import ManualClock

LIMITS = QualityLimits(
    stall_after_s=2.0,
    min_fps=8.0,
    fps_window_s=2.0,
    black_luma=12.0,
    black_after_s=1.0,
    frozen_diff=0.1,
    frozen_after_s=1.5,
)


def _noisy(rng: np.random.Generator, level: int = 120) -> np.ndarray:
    image = np.full((120, 160), level, np.int16) + rng.normal(0, 2, (120, 160)).round()
    return np.clip(image, 0, 255).astype(np.uint8)


def _run(monitor: CameraMonitor, clock: ManualClock, probes, fps: float):
    statuses = []
    for probe in probes:
        clock.advance(1 / fps)
        status = monitor.frame(clock(), probe)
        if status is not None:
            statuses.append(status)
    return statuses


@pytest.fixture
def clock():
    return ManualClock()


def test_first_status_is_offline_until_connected_then_online_with_frames(clock):
    monitor = CameraMonitor("c1", LIMITS, clock=clock)
    assert monitor.status.health.state is HealthState.OFFLINE
    assert monitor.status.problems == (CameraProblem.DISCONNECTED,)
    status = monitor.connected()
    assert status is not None
    assert status.problems == ()
    assert status.health.state is HealthState.ONLINE
    rng = np.random.default_rng(0)
    assert _run(monitor, clock, [_noisy(rng) for _ in range(10)], 10) == []  # no change, no news


def test_black_frames_degrade_after_the_delay_and_recover(clock):
    monitor = CameraMonitor("c1", LIMITS, clock=clock)
    monitor.connected()
    rng = np.random.default_rng(1)
    statuses = _run(monitor, clock, [_noisy(rng, 3) for _ in range(9)], 10)
    assert statuses == []  # 0.9 s of black: not yet
    (status,) = _run(monitor, clock, [_noisy(rng, 3) for _ in range(3)], 10)
    assert status.problems == (CameraProblem.BLACK,)
    assert status.health.state is HealthState.DEGRADED
    assert status.mean_luma is not None
    assert status.mean_luma < 12
    (back,) = _run(monitor, clock, [_noisy(rng, 100)], 10)
    assert back.problems == ()


def test_identical_frames_are_frozen_and_noisy_still_frames_are_not(clock):
    monitor = CameraMonitor("c1", LIMITS, clock=clock)
    monitor.connected()
    rng = np.random.default_rng(2)
    assert _run(monitor, clock, [_noisy(rng) for _ in range(40)], 10) == []
    still = _noisy(rng)
    statuses = _run(monitor, clock, [still.copy() for _ in range(20)], 10)
    assert [s.problems for s in statuses] == [(CameraProblem.FROZEN,)]
    frozen = statuses[0]
    # The picture stopped changing at the first repeated frame's predecessor.
    assert frozen.health.stale_since is not None
    assert frozen.t_mono - frozen.health.stale_since == pytest.approx(1.5, abs=0.11)
    (back,) = _run(monitor, clock, [_noisy(rng)], 10)
    assert back.problems == ()


def test_no_frames_while_connected_is_a_stall_and_offline(clock):
    monitor = CameraMonitor("c1", replace(LIMITS, min_fps=None), clock=clock)
    monitor.connected()
    rng = np.random.default_rng(3)
    _run(monitor, clock, [_noisy(rng) for _ in range(30)], 10)
    clock.advance(1.9)
    assert monitor.evaluate() is None
    clock.advance(0.2)
    status = monitor.evaluate()
    assert status is not None
    assert CameraProblem.STALLED in status.problems
    assert status.health.state is HealthState.OFFLINE
    assert "no frame for 2.1 s" in status.health.reason
    (back,) = _run(monitor, clock, [_noisy(rng)], 10)
    assert back.health.state is HealthState.ONLINE


def test_low_fps_is_judged_over_a_full_window_only(clock):
    monitor = CameraMonitor("c1", LIMITS, clock=clock)
    monitor.connected()
    rng = np.random.default_rng(4)
    early = _run(monitor, clock, [_noisy(rng) for _ in range(9)], 5)  # 1.8 s at 5 fps
    assert early == []
    late = _run(monitor, clock, [_noisy(rng) for _ in range(4)], 5)
    assert [s.problems for s in late] == [(CameraProblem.LOW_FPS,)]
    assert late[0].fps == pytest.approx(5.0, abs=0.6)
    back = _run(monitor, clock, [_noisy(rng) for _ in range(30)], 15)
    assert back[-1].problems == ()


def test_disconnect_is_offline_with_the_reason_and_reconnect_restarts_the_clocks(clock):
    monitor = CameraMonitor("c1", LIMITS, clock=clock)
    monitor.connected()
    status = monitor.disconnected("HTTP 503 Service Unavailable")
    assert status is not None
    assert status.problems == (CameraProblem.DISCONNECTED,)
    assert status.health.reason == "HTTP 503 Service Unavailable"
    clock.advance(30)
    again = monitor.connected()
    assert again is not None
    assert again.problems == ()


def test_image_checks_are_off_without_probes(clock):
    monitor = CameraMonitor("c1", QualityLimits(stall_after_s=1.0), clock=clock)
    monitor.connected()
    for _ in range(50):
        clock.advance(0.1)
        assert monitor.frame(clock(), None) is None


def test_fps_gate_caps_a_jittery_stream_on_average():
    gate = FpsGate(10.0)
    rng = random.Random(5)
    admitted = 0
    for n in range(300):  # 10 s of a 30 fps stream with +-5 ms jitter
        if gate.admit(n / 30 + rng.uniform(-0.005, 0.005)):
            admitted += 1
    assert 98 <= admitted <= 101
    gate.reset()
    assert gate.admit(1000.0)
    assert FpsGate(None).admit(0.0)
    with pytest.raises(ValueError, match="fps_cap"):
        FpsGate(0)


def test_fps_gate_after_a_gap_does_not_burst():
    gate = FpsGate(5.0)
    assert gate.admit(0.0)
    assert gate.admit(10.0)
    assert not gate.admit(10.05)  # a burst after the gap is still capped


def test_decode_and_probe():
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 32:] = 200
    ok, jpeg = cv2.imencode(".jpg", image)
    assert ok
    decoded = decode_jpeg(jpeg.tobytes())
    assert decoded is not None
    full, probe = decoded
    assert full.shape == (48, 64, 3)
    assert probe.shape == (120, 160)
    assert probe[:, :70].mean() < 10
    assert probe[:, 90:].mean() > 190
    half = decode_jpeg(jpeg.tobytes(), reduce=2)
    assert half is not None
    assert half[0].shape == (24, 32, 3)
    assert decode_jpeg(b"\xff\xd8 not really a jpeg") is None
    assert decode_jpeg(b"GIF89a") is None
    assert make_probe(np.zeros((10, 20), np.uint8)).shape == (80, 160)


def test_redact_url():
    assert redact_url("rtsp://admin:secret@10.0.0.5:554/s1") == "rtsp://admin:***@10.0.0.5:554/s1"
    assert redact_url("http://10.0.0.5/mjpg") == "http://10.0.0.5/mjpg"
