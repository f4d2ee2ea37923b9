from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from devices.bus import Bus, Subscription
from devices.camera.detection import Detection, PersonDetections
from devices.camera.frame import Frame
from vision_core.perception.config import PerceptionConfig
from vision_core.perception.pipeline import FramePipeline, build_pipeline
from vision_core.perception.runner import DetectorRunner

WAIT_S = 10.0


class FakeDetector:
    """One person per frame whose box encodes the frame's seq; can be held to force batching."""

    name = "fake"

    def __init__(self, max_batch: int = 4) -> None:
        self.max_batch = max_batch
        self.batches: list[list[tuple[str, int]]] = []
        self.threads: set[int] = set()
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.fail_on: int | None = None
        self.closed = False

    def detect(self, frames: Sequence[Frame]) -> list[tuple[Detection, ...]]:
        self.threads.add(threading.get_ident())
        self.entered.set()
        assert self.hold.wait(WAIT_S)
        self.batches.append([(f.camera_id, f.seq) for f in frames])
        if self.fail_on is not None and any(f.seq == self.fail_on for f in frames):
            raise RuntimeError("model exploded")
        return [
            (Detection(f.camera_id, f.t_mono, (f.seq, 0.0, f.seq + 1.0, 2.0), 0.9),) for f in frames
        ]

    def close(self) -> None:
        self.closed = True


def _frame(camera: str, seq: int) -> Frame:
    return Frame(camera, np.zeros((4, 4, 3), dtype=np.uint8), t_mono=float(seq), seq=seq)


async def _received(sub: Subscription, count: int) -> list[PersonDetections]:
    out = []
    async with asyncio.timeout(WAIT_S):
        for _ in range(count):
            message = await sub.get()
            assert isinstance(message, PersonDetections)
            out.append(message)
    return out


async def test_every_nth_frame_per_camera_detected_off_the_loop() -> None:
    bus = Bus()
    sub = bus.subscribe(PersonDetections)
    fake = FakeDetector()
    async with DetectorRunner(FramePipeline(fake), bus, detect_every_n=3, queue_size=64) as run:
        kept = [run.submit(_frame(cam, seq)) for seq in range(7) for cam in ("a", "b")]
        await run.wait_idle(WAIT_S)
        messages = await _received(sub, 6)
    # per camera: frames 0, 3, 6 of 0..6
    assert kept.count(True) == 6
    assert sorted((m.camera_id, m.frame) for m in messages) == [
        (c, s) for c in ("a", "b") for s in (0, 3, 6)
    ]
    for message in messages:
        [person] = message.detections
        assert person.box[0] == message.frame
        assert message.t_mono == float(message.frame or 0)
    assert run.stats.skipped == 8
    assert run.stats.processed == 6
    assert fake.threads
    assert threading.get_ident() not in fake.threads
    assert fake.closed


async def test_queued_frames_go_in_one_batch_and_the_oldest_are_dropped() -> None:
    bus = Bus()
    sub = bus.subscribe(PersonDetections)
    fake = FakeDetector(max_batch=3)
    fake.hold.clear()
    async with DetectorRunner(FramePipeline(fake), bus, queue_size=4) as run:
        run.submit(_frame("a", 0))
        assert await asyncio.to_thread(fake.entered.wait, WAIT_S)  # worker busy on frame 0
        for seq in range(1, 7):
            run.submit(_frame("a", seq))  # queue of 4 keeps 3..6
        fake.hold.set()
        await run.wait_idle(WAIT_S)
        messages = await _received(sub, 5)
        assert sub.get_nowait() is None
    assert fake.batches == [[("a", 0)], [("a", 3), ("a", 4), ("a", 5)], [("a", 6)]]
    assert [m.frame for m in messages] == [0, 3, 4, 5, 6]
    assert run.stats.dropped == 2
    assert run.stats.batches == 3


async def test_a_failing_batch_is_counted_and_the_runner_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = Bus()
    sub = bus.subscribe(PersonDetections)
    fake = FakeDetector(max_batch=1)
    fake.fail_on = 1
    async with DetectorRunner(FramePipeline(fake), bus) as run:
        for seq in range(3):
            run.submit(_frame("a", seq))
        await run.wait_idle(WAIT_S)
        messages = await _received(sub, 2)
    assert [m.frame for m in messages] == [0, 2]
    assert run.stats.errors == 1
    assert "model exploded" in run.stats.last_error
    assert "detection failed" in caplog.text


async def test_submit_needs_a_running_runner() -> None:
    run = DetectorRunner(FramePipeline(FakeDetector()), Bus())
    with pytest.raises(RuntimeError, match="not running"):
        run.submit(_frame("a", 0))
    await run.close()
    with pytest.raises(ValueError, match="detect_every_n"):
        DetectorRunner(FramePipeline(FakeDetector()), Bus(), detect_every_n=0)


async def test_real_models_built_on_the_worker(vtest_frames: list[Frame]) -> None:
    bus = Bus()
    sub = bus.subscribe(PersonDetections)
    config = PerceptionConfig()
    async with DetectorRunner(lambda: build_pipeline(config), bus) as run:
        run.submit(vtest_frames[0])
        await run.wait_idle(30.0)
        [message] = await _received(sub, 1)
    assert message.frame == 0
    assert any(d.score > 0.5 for d in message.detections)
    assert any(d.keypoints is not None for d in message.detections)
