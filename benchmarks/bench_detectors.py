"""Person detector throughput on the real pedestrian clip vtest.avi (no ground truth).

    .venv/bin/python benchmarks/bench_detectors.py [--frames 80] [--out out/]
        [--json FILE] [--stage-figures FILE]

On the first ``--frames`` frames of data/vtest.avi (768x576), decoded once into memory:

1. baseline: decoding the same frames with cv2.VideoCapture (what any camera costs).
2. ssd: SSD-MobileNet-v2 (cv2.dnn) alone, one frame per call.
3. ssd+movenet: SSD plus top-down MoveNet keypoints per person.
4. runner n=1 / n=3: the full chain through DetectorRunner (worker thread, bus),
   detecting on every frame / every third frame (the tracker bridges the others;
   its own cost, about 1 ms per frame, is not included here).

5. chain n=1 / n=3 hold / n=3 empty / n=3 predict: the full detector chain of one
   camera (:class:`~vision_core.perception.chain.DetectionChain`): SSD, then ByteTrack
   (``CameraTracker``), then MoveNet on the *tracked* people, then floor projection.
   With n=3 the detector runs on every third frame. ``hold`` repeats the last tracked
   people on skipped frames (boxes up to 0.2 s stale); ``empty`` feeds the tracker an
   empty update, which drops every not-yet-confirmed track: shown to measure that
   effect; ``predict`` (the chain's default) moves the last tracked people by their
   tracks' Kalman velocity (``CameraTracker.predict``).

Figures: frames/s, ms per frame, ratio against the decode baseline measured in this
run; people per frame and keypoint coverage; an annotated PNG of the frame with the
most people in ``--out``. For the chain modes, ms per frame per stage (averaged over
all frames, skipped ones included), and track figures: distinct ids, tracks alive per
frame, track length as the span in video frames from first to last frame an id is
reported (tracks cut by the clip's end count as they are), and tracks shorter than 5
frames (a fragmentation indicator; there is no ground truth on vtest). An annotated
PNG of the chain (ids, colour per id, foot trails, wrists) goes to ``--out`` too.

The floor homography is made up (a plausible plaza seen from above: the image bottom
10 m wide at 0 m, the row y=60 px 30 m wide at 25 m): the floor stage's cost is real,
its metres are illustrative only.

``--stage-figures`` writes the measured SSD images/s in the capacity planner's
format. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from devices.bus import Bus
from devices.camera.config import FloorHomography
from devices.camera.detection import PersonDetections
from devices.camera.frame import Frame
from vision_core.perception.chain import ChainResult, DetectionChain, SkippedFrames
from vision_core.perception.config import PoseConfig, SsdMobilenetConfig
from vision_core.perception.movenet import MoveNetPose
from vision_core.perception.pipeline import FramePipeline
from vision_core.perception.runner import DetectorRunner
from vision_core.perception.ssd import SsdMobilenetDetector
from vision_core.tracking.camera_tracker import CameraTracker, TrackerSettings
from vision_core.tracking.floor import CameraGeometry, FloorProjector

ROOT = Path(__file__).resolve().parents[1]
VTEST = ROOT / "data" / "vtest.avi"
VTEST_FPS = 10.0
SHORT_TRACK_FRAMES = 5
ILLUSTRATIVE_FLOOR = FloorHomography.from_points(
    [(0.0, 576.0), (768.0, 576.0), (768.0, 60.0), (0.0, 60.0)],
    [(0.0, 0.0), (10.0, 0.0), (20.0, 25.0), (-10.0, 25.0)],
)
"""Made up for vtest.avi (no calibration exists): metres on it are illustrative."""
CHAIN_MODES: tuple[tuple[str, int, SkippedFrames], ...] = (
    ("chain n=1", 1, "hold"),
    ("chain n=3 hold", 3, "hold"),
    ("chain n=3 empty", 3, "empty"),
    ("chain n=3 predict", 3, "predict"),
)


def decode(path: Path, count: int) -> tuple[list[Frame], float]:
    """The first ``count`` frames and the seconds decoding took."""
    capture = cv2.VideoCapture(str(path))
    frames: list[Frame] = []
    started = time.perf_counter()
    try:
        for seq in range(count):
            ok, image = capture.read()
            if not ok:
                break
            frames.append(
                Frame("vtest", np.asarray(image, np.uint8), t_mono=seq / VTEST_FPS, seq=seq)
            )
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


def run_chain(
    detector: SsdMobilenetDetector,
    pose: MoveNetPose,
    frames: list[Frame],
    every: int,
    on_skipped: SkippedFrames,
) -> tuple[list[ChainResult], float]:
    """Results of one camera's chain on ``frames`` and the wall seconds it took."""
    chain = DetectionChain(
        detector,
        CameraTracker("vtest", TrackerSettings(frame_rate=VTEST_FPS)),
        pose,
        FloorProjector({"vtest": CameraGeometry(ILLUSTRATIVE_FLOOR)}),
        detect_every_n=every,
        on_skipped=on_skipped,
    )
    started = time.perf_counter()
    results = [chain.process(frame) for frame in frames]
    return results, time.perf_counter() - started


def chain_figures(results: Sequence[ChainResult]) -> dict[str, Any]:
    """Stage costs and track figures of one chain run (see the module docstring)."""
    n = len(results)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for result in results:
        for person in result.people:
            assert person.track_id is not None
            first.setdefault(person.track_id, result.seq)
            last[person.track_id] = result.seq
    spans = [last[i] - first[i] + 1 for i in first]
    alive = [len(r.people) for r in results]
    people = [p for r in results for p in r.people]
    stage_ms = {
        stage: round(1000 * sum(getattr(r.times, f"{stage}_s") for r in results) / n, 2)
        for stage in ("detect", "track", "pose", "floor")
    }
    return {
        "stage_ms_per_frame": stage_ms,
        "detected_frames": sum(r.detected for r in results),
        "distinct_ids": len(first),
        "alive_per_frame_mean": round(statistics.fmean(alive), 2),
        "alive_per_frame_max": max(alive),
        "track_span_frames_mean": round(statistics.fmean(spans), 1) if spans else 0.0,
        "tracks_under_5_frames": sum(s < SHORT_TRACK_FRAMES for s in spans),
        "tracked_with_a_wrist": sum(any(w is not None for w in p.wrists()) for p in people),
        "tracked_people": len(people),
        "floor_observations": sum(len(r.floor) for r in results),
        "floor_with_hands": sum(bool(o.hands_m) for r in results for o in r.floor),
    }


def id_colour(track_id: int) -> tuple[int, int, int]:
    """A distinct, saturated BGR colour per id (hues spaced by the golden angle)."""
    hue = int((track_id * 0.618034 % 1.0) * 180)
    hsv = np.array([[[hue, 220, 255]]], dtype=np.uint8)
    b, g, r = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].tolist()
    return int(b), int(g), int(r)


def annotate_chain(frame: Frame, results: Sequence[ChainResult], label: str, path: Path) -> None:
    """``frame`` with its tracked people (colour per id), their foot trails and wrists."""
    image = frame.image.copy()
    trails: dict[int, list[tuple[int, int]]] = {}
    for result in results:
        if result.seq > frame.seq:
            break
        for person in result.people:
            assert person.track_id is not None
            x, y = person.foot_point
            trails.setdefault(person.track_id, []).append((round(x), round(y)))
    current = next(r for r in results if r.seq == frame.seq)
    for track_id, trail in trails.items():
        if len(trail) > 1:
            points = np.array(trail, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(image, [points], False, id_colour(track_id), 1, cv2.LINE_AA)
    for person in current.people:
        assert person.track_id is not None
        colour = id_colour(person.track_id)
        x1, y1, x2, y2 = (round(v) for v in person.box)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(
            image, f"#{person.track_id}", (x1, max(y1 - 4, 10)), 0, 0.5, colour, 2, cv2.LINE_AA
        )
        for wrist in person.wrists():
            if wrist is not None:
                centre = (round(wrist[0]), round(wrist[1]))
                cv2.circle(image, centre, 6, (255, 255, 255), -1, cv2.LINE_AA)
                cv2.circle(image, centre, 4, colour, -1, cv2.LINE_AA)
    text = f"{label}, frame {frame.seq}: {len(current.people)} tracked (dots: wrists)"
    cv2.putText(image, text, (8, 20), 0, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80)
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
    chains: dict[str, list[ChainResult]] = {}
    for name, every, on_skipped in CHAIN_MODES:
        chains[name], elapsed = run_chain(ssd, pose, frames, every, on_skipped)
        rows.append((name, elapsed))

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

    print()
    print(
        "chain (ms/frame per stage, over all frames; span = frames from an id's first to "
        f"last report; short = span < {SHORT_TRACK_FRAMES})"
    )
    print(
        f"{'mode':<16} {'detect':>7} {'track':>6} {'pose':>6} {'floor':>6} {'ids':>4} "
        f"{'alive':>9} {'span':>5} {'short':>5} {'wrist':>9}"
    )
    for name, results in chains.items():
        c = chain_figures(results)
        figures[name].update(c)
        ms = c["stage_ms_per_frame"]
        alive = f"{c['alive_per_frame_mean']:.1f}/{c['alive_per_frame_max']}"
        wrist = f"{c['tracked_with_a_wrist']}/{c['tracked_people']}"
        print(
            f"{name:<16} {ms['detect']:7.1f} {ms['track']:6.2f} {ms['pose']:6.1f} "
            f"{ms['floor']:6.2f} {c['distinct_ids']:4d} {alive:>9} "
            f"{c['track_span_frames_mean']:5.1f} {c['tracks_under_5_frames']:5d} {wrist:>9}"
        )
    print(
        "alive = tracks reported per frame, mean/max; wrist = tracked people with a wrist "
        "/ tracked people over all frames; floor metres come from a made-up homography"
    )

    busiest = int(np.argmax(people))
    image_path = args.out / "bench_detectors_frame.png"
    annotate(frames[busiest], messages[busiest], image_path)
    print(f"annotated frame: {image_path}")
    tracked = chains["chain n=1"]
    fullest = max(range(n), key=lambda i: (len(tracked[i].people), i))
    chain_path = args.out / "bench_chain_frame.png"
    annotate_chain(frames[fullest], tracked, "chain n=1", chain_path)
    print(f"annotated chain frame: {chain_path}")

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
