"""Capture sources: video files, and the RTSP code path.

There is no RTSP server on this machine: the live-stream path that RTSP
cameras take (``CaptureSource``: FFmpeg open/read timeouts, reconnect when
the stream ends) is exercised with a ``file://`` URL and with the MJPEG
simulator's HTTP URL read through FFmpeg instead.
"""

import pytest

from devices.camera.capture import CaptureSource, FileSource
from devices.camera.config import CameraConfig, CameraRole
from devices.camera.factory import open_source
from devices.camera.mjpeg import MjpegSource
from devices.camera.source import EndOfStream
from devices.errors import DeviceConnectionError
from sim_devices.camera.simulator import CameraSimulator

from .camtools import read_number, vtest_path, wait_until, write_numbered_clip

CLIP_FRAMES = 40
CLIP_FPS = 25.0


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "numbered.avi"
    write_numbered_clip(path, CLIP_FRAMES, CLIP_FPS)
    return path


async def test_a_file_read_as_fast_as_possible_delivers_every_frame_in_order(clip):
    async with FileSource("f1", clip, realtime=False) as source:
        frames = [frame async for frame in source]
        assert source.ended
        with pytest.raises(EndOfStream, match="end of stream"):
            await source.read()
    assert [read_number(f.image) for f in frames] == list(range(CLIP_FRAMES))
    assert [f.seq for f in frames] == list(range(CLIP_FRAMES))
    assert all(f.image.shape == (120, 160, 3) for f in frames)
    # The source timestamp is the video's own clock: frame i at i / 25 s.
    assert frames[10].source_ts == pytest.approx(10 / CLIP_FPS, abs=1e-3)
    assert source.native_fps == pytest.approx(CLIP_FPS)
    assert source.stats.dropped_queue == 0


async def test_a_looping_file_starts_again(clip):
    async with FileSource("f1", clip, realtime=False, loop=True) as source:
        frames = [await source.read() for _ in range(2 * CLIP_FRAMES + 5)]
    assert [read_number(f.image) for f in frames] == [
        i % CLIP_FRAMES for i in range(2 * CLIP_FRAMES + 5)
    ]
    assert source.loops == 2
    assert source.stats.reconnects == 0  # a loop is not a reconnect


async def test_a_file_in_real_time_plays_at_its_own_rate(clip):
    async with FileSource("f1", clip, realtime=True, queue_size=64) as source:
        frames = [frame async for frame in source]
    assert [read_number(f.image) for f in frames] == list(range(CLIP_FRAMES))
    fps = (len(frames) - 1) / (frames[-1].t_mono - frames[0].t_mono)
    assert CLIP_FPS * 0.7 < fps < CLIP_FPS * 1.3, fps


async def test_fps_cap_on_a_file_drops_before_retrieve_and_counts(clip):
    async with FileSource("f1", clip, realtime=True, fps_cap=10.0, queue_size=64) as source:
        frames = [frame async for frame in source]
    assert source.stats.dropped_fps_cap + len(frames) == CLIP_FRAMES
    assert 13 <= len(frames) <= 19, len(frames)  # 1.6 s at 10 fps
    numbers = [read_number(f.image) for f in frames]
    assert numbers == sorted(numbers)


async def test_a_missing_file_fails_to_connect_and_leaves_nothing(tmp_path):
    source = FileSource("f1", tmp_path / "nope.avi")
    with pytest.raises(DeviceConnectionError, match="no such video file"):
        await source.connect()
    await source.close()


async def test_the_live_path_reopens_a_stream_that_ends(clip):
    # The RTSP code path (FFmpeg with open/read timeouts) on a file:// URL.
    async with CaptureSource("r1", f"file://{clip}", queue_size=128) as source:
        await wait_until(lambda: source.stats.reconnects >= 1, what="reopened after the end")
        frames = [await source.read() for _ in range(CLIP_FRAMES + 5)]
    numbers = [read_number(f.image) for f in frames]
    assert numbers[:CLIP_FRAMES] == list(range(CLIP_FRAMES))
    assert numbers[CLIP_FRAMES:] == list(range(5))
    assert "stream ended" in source.stats.last_error


async def test_the_live_path_reads_the_mjpeg_simulator_through_ffmpeg_and_reconnects():
    sim = CameraSimulator(fps=20, width=320, height=240)
    async with sim, CaptureSource("r2", sim.server.url, frame_timeout_s=2.0) as source:
        frame = await source.read()
        assert frame.image.shape == (240, 320, 3)
        sim.set_fault("restart", down_s=0.3)
        await wait_until(lambda: source.stats.reconnects >= 1, what="reconnected")
        await source.read()


async def test_a_live_path_that_cannot_open_reports_it(free_tcp_port):
    url = f"http://127.0.0.1:{free_tcp_port}/stream.mjpg"
    async with CaptureSource("r3", url, open_timeout_s=1.0) as source:
        await wait_until(lambda: source.stats.last_error, what="an error")
        assert "FFmpeg cannot open the stream" in source.stats.last_error
        assert source.stats.connects == 0


@pytest.mark.slow
async def test_vtest_pedestrian_clip():
    path = vtest_path()
    if path is None:
        pytest.skip("vtest.avi not found (set WALKOUT_VTEST or put it in data/)")
    async with FileSource("vtest", path, realtime=False) as source:
        frames = [await source.read() for _ in range(50)]
    assert all(f.image.shape == (576, 768, 3) for f in frames)
    assert source.native_fps == pytest.approx(10.0)


@pytest.mark.slow
async def test_simulator_serving_vtest_over_mjpeg():
    path = vtest_path()
    if path is None:
        pytest.skip("vtest.avi not found (set WALKOUT_VTEST or put it in data/)")
    sim = CameraSimulator(video=path, fps=20)
    async with sim, MjpegSource("vtest", sim.server.url) as source:
        frames = [await source.read() for _ in range(10)]
    assert all(f.image.shape == (576, 768, 3) for f in frames)


def test_factory_picks_the_source_by_url(clip):
    def make(url):
        return open_source(CameraConfig("c1", CameraRole.CEILING, url, fps_cap=7.0))

    mjpeg = make("http://10.0.0.5/video.mjpg")
    assert isinstance(mjpeg, MjpegSource)
    assert mjpeg.gate.fps_cap == 7.0
    assert type(make("rtsp://user:pw@10.0.0.5/s1")) is CaptureSource
    assert make("rtsp://user:pw@10.0.0.5/s1").address == "rtsp://user:***@10.0.0.5/s1"
    from_url = make(f"file://{clip}")
    assert isinstance(from_url, FileSource)
    assert from_url.path == clip
    assert isinstance(make(str(clip)), FileSource)
    with pytest.raises(ValueError, match="sends detections"):
        make("mqtt://10.0.0.2:1883")
