"""Person detector throughput on the real pedestrian clip vtest.avi (no ground truth).

    .venv/bin/python benchmarks/bench_detectors.py [--frames 40] [--out out/]
        [--json FILE] [--stage-figures FILE]

On the first ``--frames`` frames of data/vtest.avi (768x576), decoded once into memory:

1. baseline: decoding the same frames with cv2.VideoCapture (what any camera costs).
2. ssd: SSD-MobileNet-v2 (cv2.dnn) alone, one frame per call.
3. ssd+movenet: SSD plus top-down MoveNet keypoints per person.
4. runner n=1 / n=3: the full chain through DetectorRunner (worker thread, bus),
   detecting on every frame / every third frame (the tracker bridges the others;
   its own cost, about 1 ms per frame, is not included here).

Figures: frames/s, ms per frame, ratio against the decode baseline measured in this
run; people per frame and keypoint coverage; an annotated PNG of the frame with the
most people in ``--out``. ``--stage-figures`` writes the measured SSD images/s in the
capacity planner's format. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.bus import Bus
from devices.camera.detection import PersonDetections
from devices.camera.frame import Frame
from vision_core.perception.config import PoseConfig, SsdMobilenetConfig
from vision_core.perception.movenet import MoveNetPose
from vision_core.perception.pipeline import FramePipeline
from vision_core.perception.runner import DetectorRunner
from vision_core.perception.ssd import SsdMobilenetDetector

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"


def decode(path: Path, count: int) -> tuple[list[Frame], float]:
    """The first ``count`` frames and the seconds decoding took."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    started = time.perf_counter()
    try:
        for seq in range(count):
            ok, image = capture.read()
            if not ok:
                break
            frames.append(Frame("vtest", np.asarray(image, np.uint8), t_mono=seq / 10.0, seq=seq))
    finally:
        capture.release()
    return frames, time.perf_counter() - started


def timed(pipeline: FramePipeline, frames: list[Frame]) -> tuple[list[PersonDetections], float]:
    pipeline.process(frames[:1])  # warm-up: first inference allocates
    started = time.perf_counter()
    messages = [pipeline.process([frame])[0] for frame in frames]
    return messages, time.perf_counter() - started


async def through_runner(pipeline: FramePipeline, frames: list[Frame], n: int) -> float:
    bus = Bus()
    sub = bus.subscribe(PersonDetections, maxsize=len(frames))
    runner = DetectorRunner(
        pipeline, bus, detect_every_n=n, queue_size=len(frames), close_pipeline=False
    )
    await runner.start()
    try:
        started = time.perf_counter()
        for frame in frames:
            runner.submit(frame)
        await runner.wait_idle(600.0)
        elapsed = time.perf_counter() - started
    finally:
        await runner.close()
        sub.close()
    return elapsed


def annotate(frame: Frame, message: PersonDetections, path: Path) -> None:
    image = frame.image.copy()
    for det in message.detections:
        x1, y1, x2, y2 = (round(v) for v in det.box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 200, 0), 2)
        cv2.putText(
            image, f"{det.score:.2f}", (x1, max(y1 - 4, 10)), 0, 0.45, (0, 200, 0), 1, cv2.LINE_AA
        )
        for i, (x, y, s) in enumerate(det.keypoints or ()):
            if s < 0.3:
                continue
            wrist = i in (9, 10)
            colour = (0, 0, 255) if wrist else (255, 160, 0)
            cv2.circle(image, (int(x), int(y)), 5 if wrist else 2, colour, -1, cv2.LINE_AA)
    label = f"frame {frame.seq}: {len(message.detections)} people (red: wrists)"
    cv2.putText(image, label, (8, 20), 0, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--stage-figures", type=Path)
    args = parser.parse_args()
    if not VTEST.is_file():
        print(f"{VTEST} is missing: run scripts/setup.sh (fetches it from opencv-doc)")
        return 2

    frames, decode_s = decode(VTEST, args.frames)
    n = len(frames)
    ssd = SsdMobilenetDetector(SsdMobilenetConfig())
    pose = MoveNetPose(PoseConfig())
    figures: dict[str, Any] = {"frames": n, "size": f"{frames[0].width}x{frames[0].height}"}
    rows: list[tuple[str, float]] = [("decode only (baseline)", decode_s)]

    _, ssd_s = timed(FramePipeline(ssd), frames)
    rows.append(("ssd", ssd_s))
    messages, chain_s = timed(FramePipeline(ssd, pose), frames)
    rows.append(("ssd+movenet", chain_s))
    for every in (1, 3):
        elapsed = asyncio.run(through_runner(FramePipeline(ssd, pose), frames, every))
        rows.append((f"runner ssd+movenet n={every}", elapsed))

    print(f"vtest.avi, {n} frames of {figures['size']}")
    print(f"{'stage':<28} {'frames/s':>9} {'ms/frame':>9} {'x decode':>9}")
    base_fps = n / decode_s
    for name, seconds in rows:
        fps = n / seconds
        print(f"{name:<28} {fps:9.1f} {1000 * seconds / n:9.1f} {fps / base_fps:9.3f}")
        figures[name] = {
            "frames_per_s": round(fps, 2),
            "ms_per_frame": round(1000 * seconds / n, 2),
        }

    people = [len(m.detections) for m in messages]
    posed = [d for m in messages for d in m.detections if d.keypoints is not None]
    wrists = [d for d in posed if any(w is not None for w in d.wrists())]
    stats = {
        "people_per_frame_mean": round(statistics.fmean(people), 2),
        "people_per_frame_min": min(people),
        "people_per_frame_max": max(people),
        "detections": sum(people),
        "with_keypoints": len(posed),
        "with_a_wrist": len(wrists),
        "movenet_ms_per_person": round(1000 * (chain_s - ssd_s) / max(len(posed), 1), 1),
    }
    figures["people"] = stats
    print(
        "people per frame: mean {people_per_frame_mean}, min {people_per_frame_min}, "
        "max {people_per_frame_max}; {with_keypoints} of {detections} detections got "
        "keypoints, {with_a_wrist} with a wrist; MoveNet {movenet_ms_per_person} ms "
        "per person".format(**stats)
    )

    busiest = int(np.argmax(people))
    image_path = args.out / "bench_detectors_frame.png"
    annotate(frames[busiest], messages[busiest], image_path)
    print(f"annotated frame: {image_path}")

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if args.stage_figures:
        stage = {
            "source": "bench_detectors",
            "stages": {"detection": {"per_gpu_per_s": round(n / ssd_s, 2), "device": "cpu"}},
        }
        args.stage_figures.parent.mkdir(parents=True, exist_ok=True)
        args.stage_figures.write_text(json.dumps(stage, indent=2) + "\n")
        print(f"stage figures: {args.stage_figures}")
    ssd.close()
    pose.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
