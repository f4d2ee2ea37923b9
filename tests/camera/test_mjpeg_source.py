import asyncio
import threading
import time

import pytest

from devices.bus import Bus
from devices.camera.mjpeg import MjpegSource
from devices.camera.quality import CameraProblem, CameraStatus, QualityLimits
from devices.camera.ring import FrameRing
from devices.camera.source import EndOfStream
from devices.errors import DeviceTimeoutError
from devices.health import HealthChanged, HealthState

from .camtools import wait_status, wait_until
from .conftest import SIM_FPS

LIMITS = QualityLimits(
    stall_after_s=1.0,
    min_fps=10.0,
    fps_window_s=2.0,
    black_after_s=0.5,
    frozen_after_s=1.0,
)


def _source(sim, bus=None, **kwargs):
    kwargs.setdefault("limits", LIMITS)
    return MjpegSource("c1", sim.server.url, bus=bus, **kwargs)


async def _frames(source, count):
    return [await source.read() for _ in range(count)]


async def test_reads_the_simulator_at_its_rate_and_resolution(camera_sim):
    async with _source(camera_sim, queue_size=64) as source:
        frames = await _frames(source, 41)
        # JPEG decoding runs on the source's own thread, not on the event loop's.
        assert any(t.name == "camera-decode-c1" for t in threading.enumerate())
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert [f.seq for f in frames] == list(range(41))
    assert all(f.camera_id == "c1" and f.probe is not None for f in frames)
    # Rate from the frames' own arrival times (not a wall-clock assertion on the test).
    fps = 40 / (frames[-1].t_mono - frames[0].t_mono)
    assert SIM_FPS * 0.6 < fps < SIM_FPS * 1.4, fps
    stamps = [f.source_ts for f in frames]
    assert all(s is not None for s in stamps)
    assert stamps == sorted(stamps)
    assert abs(stamps[-1] - time.time()) < 30  # the camera's wall clock
    assert source.stats.connects == 1
    assert source.stats.decode_errors == 0
    assert source.stats.frames >= 41


async def test_survives_a_server_restart_and_counts_the_reconnect(camera_sim):
    bus = Bus()
    sub = bus.subscribe(CameraStatus, HealthChanged)
    async with _source(camera_sim, bus) as source:
        await _frames(source, 5)
        await wait_status(sub, lambda s: s.problems == (), what="online")
        camera_sim.set_fault("restart", down_s=0.5)
        down = await wait_status(
            sub, lambda s: CameraProblem.DISCONNECTED in s.problems, what="disconnected"
        )
        assert down.health.state is HealthState.OFFLINE
        await camera_sim.server.up.wait()
        up_at = time.monotonic()
        await wait_until(lambda: source.stats.reconnects >= 1, what="reconnected")
        seq_before = source.stats.frames
        frame = await source.read()
        while frame.seq < seq_before:
            frame = await source.read()
        print(f"reconnect: first frame {frame.t_mono - up_at:.3f} s after the server was back")
        await wait_status(sub, lambda s: s.problems == (), what="online again")
    assert source.stats.reconnects == 1
    assert source.stats.disconnects == 1
    assert camera_sim.server.stats.restarts == 1
    assert "stream lost" in source.stats.last_error or "connect" in source.stats.last_error


async def test_a_frozen_stream_is_reported_and_clears(camera_sim):
    bus = Bus()
    sub = bus.subscribe(CameraStatus)
    async with _source(camera_sim, bus) as source:
        await wait_status(sub, lambda s: s.problems == (), what="online")
        camera_sim.set_fault("freeze")
        status = await wait_status(sub, lambda s: CameraProblem.FROZEN in s.problems)
        assert status.health.state is HealthState.DEGRADED
        assert "unchanged" in status.health.reason
        assert source.health.state is HealthState.DEGRADED
        camera_sim.set_fault("none")
        await wait_status(sub, lambda s: s.problems == (), what="unfrozen")
        assert source.stats.connects == 1  # frames kept coming all along


async def test_a_black_stream_is_reported(camera_sim):
    bus = Bus()
    sub = bus.subscribe(CameraStatus)
    async with _source(camera_sim, bus) as source:
        await wait_status(sub, lambda s: s.problems == (), what="online")
        camera_sim.set_fault("black")
        status = await wait_status(sub, lambda s: CameraProblem.BLACK in s.problems)
        assert status.mean_luma is not None
        assert status.mean_luma < 12
        assert CameraProblem.FROZEN not in status.problems  # sensor noise still moves
        frame = await source.read()
        assert frame.image.mean() < 12


async def test_a_stalled_stream_is_offline_and_recovers_on_the_same_connection(camera_sim):
    bus = Bus()
    sub = bus.subscribe(CameraStatus, HealthChanged)
    async with _source(camera_sim, bus, frame_timeout_s=30.0) as source:
        await wait_status(sub, lambda s: s.problems == (), what="online")
        camera_sim.set_fault("stall")
        status = await wait_status(sub, lambda s: CameraProblem.STALLED in s.problems)
        assert status.health.state is HealthState.OFFLINE
        assert camera_sim.server.stats.active == 1  # the connection is still open
        camera_sim.set_fault("none")
        await wait_status(sub, lambda s: CameraProblem.STALLED not in s.problems, what="flowing")
    assert source.stats.connects == 1


async def test_a_stall_longer_than_the_frame_timeout_reconnects(camera_sim):
    async with _source(camera_sim, frame_timeout_s=0.5) as source:
        await source.read()
        camera_sim.set_fault("stall")
        await wait_until(lambda: source.stats.disconnects >= 1, what="timed out")
        assert "no complete frame for 0.5 s" in source.stats.last_error
        camera_sim.set_fault("none")
        await wait_until(lambda: source.stats.reconnects >= 1, what="reconnected")


async def test_low_fps_is_reported(camera_sim):
    bus = Bus()
    sub = bus.subscribe(CameraStatus)
    async with _source(camera_sim, bus) as source:
        await wait_status(sub, lambda s: s.problems == (), what="online")
        camera_sim.set_fault("slow", fps=3)
        status = await wait_status(sub, lambda s: CameraProblem.LOW_FPS in s.problems)
        assert status.fps is not None
        assert status.fps < 10
        assert source.stats.connects == 1


async def test_fps_cap_drops_frames_before_decoding_and_counts_them(camera_sim):
    async with _source(camera_sim, fps_cap=5.0, queue_size=64) as source:
        frames = await _frames(source, 11)
        decoded = source.stats.frames
        dropped = source.stats.dropped_fps_cap
    fps = 10 / (frames[-1].t_mono - frames[0].t_mono)
    assert fps < 5.0 * 1.25, fps
    # 20 fps in, 5 out: about three of four parts are dropped, none of them decoded.
    assert dropped >= 2 * decoded, (dropped, decoded)
    assert source.stats.dropped_decode == 0


async def test_the_fps_cap_can_change_while_streaming(camera_sim):
    async with _source(camera_sim, queue_size=64) as source:
        await _frames(source, 3)
        source.set_fps_cap(2.0)
        await source.read()  # may still be one admitted under the old cap
        frames = await _frames(source, 4)
        assert source.stats.dropped_fps_cap > 0
        source.set_fps_cap(None)
        fast = await _frames(source, 11)
    assert 3 / (frames[-1].t_mono - frames[0].t_mono) < 2.0 * 1.25
    assert 10 / (fast[-1].t_mono - fast[0].t_mono) > 10


async def test_corrupt_parts_are_counted_and_do_not_end_the_stream(camera_sim):
    async with _source(camera_sim) as source:
        await source.read()
        camera_sim.set_fault("corrupt")
        await wait_until(lambda: source.stats.decode_errors >= 5, what="decode errors")
        camera_sim.set_fault("none")
        frames_before = source.stats.frames
        await wait_until(lambda: source.stats.frames > frames_before + 3, what="frames again")
        assert source.stats.connects == 1


async def test_a_slow_consumer_gets_the_newest_frame_and_drops_are_counted(camera_sim):
    async with _source(camera_sim, queue_size=2) as source:
        await source.read()
        await wait_until(lambda: source.stats.dropped_queue >= 5, what="queue drops")
        frame = await source.read()
        assert source.stats.frames - frame.seq <= 3  # one of the newest, not the oldest
        assert source.queued <= 2


async def test_dropped_connection_is_reconnected(camera_sim):
    async with _source(camera_sim) as source:
        await source.read()
        assert camera_sim.set_fault("drop")["dropped"] == 1
        await wait_until(lambda: source.stats.reconnects == 1, what="reconnected")
        await source.read()


async def test_taps_see_every_delivered_frame(camera_sim):
    ring = FrameRing(5)

    def broken_tap(frame):
        raise RuntimeError("tap bug")

    async with _source(camera_sim, taps=[ring.push, broken_tap]) as source:
        frames = await _frames(source, 8)
    assert len(ring) == 5
    latest = ring.latest("c1")
    assert latest is not None
    assert latest.seq >= frames[-1].seq
    assert source.stats.tap_errors >= 8  # counted, never raised into the source


async def test_an_unreachable_camera_times_out_with_the_reason(free_tcp_port):
    source = MjpegSource(
        "c9", f"http://127.0.0.1:{free_tcp_port}/stream.mjpg", read_timeout_s=0.6, limits=LIMITS
    )
    async with source:
        with pytest.raises(DeviceTimeoutError, match=r"no frame within 0\.6 s.*cannot connect"):
            await source.read()
        assert source.health.state is HealthState.OFFLINE
        assert source.stats.connects == 0
    with pytest.raises(EndOfStream, match="closed"):
        await source.read()


async def test_a_url_that_is_not_a_multipart_stream_is_a_protocol_error(camera_sim):
    await camera_sim.first_frame.wait()
    url = f"http://127.0.0.1:{camera_sim.server.port}/snapshot.jpg"
    async with MjpegSource("c1", url, limits=LIMITS) as source:
        await wait_until(lambda: source.stats.last_error, what="an error")
        assert "not a multipart stream" in source.stats.last_error
        assert "expected multipart/x-mixed-replace" in source.stats.last_error


async def test_reduced_decoding_halves_the_resolution(camera_sim):
    async with _source(camera_sim, reduce=2) as source:
        frame = await source.read()
    assert frame.image.shape == (120, 160, 3)


async def test_close_while_iterating_ends_the_iteration(camera_sim):
    source = _source(camera_sim)
    got = []

    async def consume():
        async for frame in source:
            got.append(frame)

    async with source:
        task = asyncio.create_task(consume())
        await wait_until(lambda: len(got) >= 3, what="frames")
    await asyncio.wait_for(task, 5)
    assert len(got) >= 3
