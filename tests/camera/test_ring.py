"""Frame ring and archive.

The full-disk case is simulated: there is no small filesystem to fill here
(no tmpfs mount, and as root a read-only directory is still writable), so
``os.replace`` is patched to fail with ENOSPC, as it does on a full disk
when the directory entry cannot be written.
"""

import errno
import os
import re

import cv2
import numpy as np
import pytest

from devices.camera.frame import Frame
from devices.camera.mjpeg import MjpegSource
from devices.camera.ring import (
    ArchiveFullError,
    ArchiveStoppedError,
    FrameArchive,
    FrameRecorder,
    FrameRing,
    Retention,
)

from .camtools import wait_until

NAME = re.compile(r"^c1_\d{19}_(\d+)\.jpg$")


def _frame(seq: int, camera: str = "c1", t: float | None = None, noise: int = 0) -> Frame:
    rng = np.random.default_rng(seq)
    image = np.full((60, 80, 3), seq % 256, np.uint8)
    if noise:
        image = rng.integers(0, noise, (60, 80, 3), dtype=np.uint8)
    return Frame(camera, image, float(seq) if t is None else t, seq)


class FakeWallClock:
    def __init__(self) -> None:
        self.ns = 1_767_225_600_000_000_000

    def __call__(self) -> int:
        self.ns += 1_000_000  # 1 ms per call keeps names distinct
        return self.ns


def _seqs(archive: FrameArchive) -> list[int]:
    return [int(NAME.match(p.name).group(1)) for p in archive.files()]


def test_ring_keeps_the_newest_frames():
    ring = FrameRing(3)
    for seq in range(5):
        ring.push(_frame(seq, "c1" if seq % 2 else "c2"))
    assert [f.seq for f in ring.frames()] == [2, 3, 4]
    assert ring.latest().seq == 4
    assert ring.latest("c1").seq == 3
    assert [f.seq for f in ring.between(2.5, 10)] == [3, 4]
    assert [f.seq for f in ring.frames("c2")] == [2, 4]
    with pytest.raises(ValueError, match="capacity"):
        FrameRing(0)


async def test_archive_keeps_the_newest_files_within_the_count(tmp_path):
    async with FrameArchive(tmp_path / "a", Retention(max_files=3, max_bytes=None)) as archive:
        paths = [await archive.write(_frame(seq)) for seq in range(5)]
        assert _seqs(archive) == [2, 3, 4]
        assert archive.stats.removed == 2
    names = sorted(os.listdir(tmp_path / "a"))
    assert len(names) == 3
    assert not any(n.endswith(".tmp") for n in names)
    assert not paths[0].exists()
    assert paths[4].exists()
    image = cv2.imread(str(paths[4]))
    assert image.shape == (60, 80, 3)
    assert abs(int(image.mean()) - 4) <= 2


async def test_archive_stays_within_the_byte_limit_oldest_first(tmp_path):
    directory = tmp_path / "b"
    async with FrameArchive(directory, Retention(max_files=None, max_bytes=10**9)) as archive:
        first = await archive.write(_frame(0, noise=255))
    size = first.stat().st_size
    limit = int(size * 2.5)
    async with FrameArchive(directory, Retention(max_files=None, max_bytes=limit)) as archive:
        for seq in range(1, 6):
            await archive.write(_frame(seq, noise=255))
            on_disk = sum(p.stat().st_size for p in directory.iterdir())
            assert on_disk <= limit
        assert _seqs(archive) == [4, 5]
        assert archive.total_bytes == sum(p.stat().st_size for p in archive.files())


async def test_archive_removes_files_older_than_the_age_limit(tmp_path):
    clock = FakeWallClock()
    retention = Retention(max_files=None, max_bytes=None, max_age_s=60.0)
    async with FrameArchive(tmp_path / "c", retention, wall_clock_ns=clock) as archive:
        await archive.write(_frame(0))
        await archive.write(_frame(1))
        clock.ns += 61 * 10**9
        await archive.write(_frame(2))
        assert _seqs(archive) == [2]


async def test_archive_indexes_existing_files_and_never_touches_foreign_ones(tmp_path):
    directory = tmp_path / "d"
    directory.mkdir()
    (directory / "notes.txt").write_text("operator notes")
    (directory / "c1_123.jpg").write_bytes(b"not ours")
    async with FrameArchive(directory, Retention(max_files=10)) as archive:
        for seq in range(4):
            await archive.write(_frame(seq))
    async with FrameArchive(directory, Retention(max_files=2)) as archive:
        assert _seqs(archive) == [2, 3]  # pruned on open
    assert (directory / "notes.txt").read_text() == "operator notes"
    assert (directory / "c1_123.jpg").read_bytes() == b"not ours"


async def test_a_full_disk_stops_the_archive_with_a_clear_error(tmp_path, monkeypatch):
    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    directory = tmp_path / "e"
    async with FrameArchive(directory, Retention(max_files=10)) as archive:
        await archive.write(_frame(0))
        monkeypatch.setattr(os, "replace", disk_full)
        with pytest.raises(ArchiveFullError, match=r"disk full writing .*No space left on device"):
            await archive.write(_frame(1))
        assert archive.stopped is not None
        assert "disk full" in archive.stopped
        with pytest.raises(ArchiveStoppedError, match=r"archive stopped: .*disk full"):
            await archive.write(_frame(2))
        assert archive.stats.failed == 1
        assert archive.stats.refused == 1
        assert sorted(os.listdir(directory)) == [archive.files()[0].name]  # no temp file left
        monkeypatch.undo()
        archive.resume()
        await archive.write(_frame(3))
        assert _seqs(archive) == [0, 3]


async def test_a_full_disk_does_not_disturb_the_frame_source(camera_sim, tmp_path, monkeypatch):
    archive = FrameArchive(tmp_path / "f", Retention(max_files=100))
    await archive.open()
    recorder = FrameRecorder(archive, every_s=0.0)
    try:
        async with MjpegSource("c1", camera_sim.server.url, taps=[recorder]) as source:
            await wait_until(lambda: recorder.saved >= 2, what="frames saved")

            def disk_full(src, dst):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(os, "replace", disk_full)
            await wait_until(lambda: recorder.failed >= 1, what="a failed write")
            frames_then = source.stats.frames
            await wait_until(lambda: source.stats.frames >= frames_then + 10, what="more frames")
            assert archive.stopped is not None
            assert recorder.failed == 1  # stopped: no further attempts
            assert source.stats.tap_errors == 0
            assert source.health.state.value == "online"
    finally:
        await recorder.aclose()
        await archive.close()


def test_retention_needs_a_limit():
    with pytest.raises(ValueError, match="at least one limit"):
        Retention(max_files=None, max_bytes=None, max_age_s=None)
    with pytest.raises(ValueError, match="max_files"):
        Retention(max_files=0)
