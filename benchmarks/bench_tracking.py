"""Per-camera tracking quality and speed on MOT ground truth that ships with motmetrics.

    .venv/bin/python benchmarks/bench_tracking.py [--seeds 3] [--json FILE]

Data: the TUD-Campus and TUD-Stadtmitte ground-truth boxes in motmetrics'
``data`` folder (MOT15, 640x480, 25 fps; pedestrians crossing and occluding
each other). There are no images, so detections are made from the ground
truth with seeded noise, printed below: every box is missed with
probability ``miss``; the kept ones get their centre and size jittered by a
Gaussian of ``jitter`` times the box size, and a score uniform in
``score_hi``, or, with probability ``occluded``, a low score uniform in
``score_lo`` (a half-hidden person, what ByteTrack's second stage is for);
each frame adds Poisson(``fp_per_frame``) false positives of pedestrian
size with scores uniform in ``score_fp``.

Trackers, on the same noisy detections:

1. ``bytetrack``: walkout's ``CameraTracker`` (ByteTrack from ``trackers``),
   the one the vision core uses;
2. ``sort``: ``trackers``' SORT with the same activation score, lost-track
   buffer, IoU gate and confirmation as (1), fed the detections above the same high
   score (SORT has no low-score stage);
3. ``iou-greedy``: a naive baseline written here: each detection above the
   high score takes the id of the previous frame's box it overlaps most
   (IoU >= 0.3, greedy by IoU), otherwise a new id; no motion model, no memory.

Scored with motmetrics (IoU >= 0.5 to count as a match): MOTA, IDF1, ID
switches, misses, false positives; and tracker updates per second (frames
through the tracker per second of its own time, this machine, one thread).
Figures are printed (and written as JSON with ``--json``), never asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

if not hasattr(np, "asfarray"):  # removed in numpy 2; motmetrics 1.4 still calls it
    np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]

import motmetrics as mm
import supervision as sv
from trackers import SORTTracker

from devices.camera.detection import Detection, PersonDetections
from vision_core.tracking.camera_tracker import CameraTracker, TrackerSettings

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
FPS = 25.0
WIDTH, HEIGHT = 640, 480
HIGH_SCORE = 0.5
MIN_IOU = 0.3


@dataclass(frozen=True)
class Noise:
    miss: float = 0.15
    jitter: float = 0.05
    occluded: float = 0.15
    score_hi: tuple[float, float] = (0.55, 0.95)
    score_lo: tuple[float, float] = (0.15, 0.45)
    fp_per_frame: float = 0.5
    score_fp: tuple[float, float] = (0.1, 0.7)


Box = tuple[float, float, float, float]
Frame = list[tuple[Box, float]]
Tracked = list[tuple[int, Box]]


def load_truth(name: str) -> dict[int, list[tuple[int, Box]]]:
    path = Path(mm.__file__).parent / "data" / name / "gt.txt"
    table = mm.io.loadtxt(str(path), fmt="mot15-2D")
    frames: dict[int, list[tuple[int, Box]]] = {}
    for (frame_id, obj_id), row in table.iterrows():
        x, y, w, h = float(row.X), float(row.Y), float(row.Width), float(row.Height)
        frames.setdefault(int(frame_id), []).append((int(obj_id), (x, y, x + w, y + h)))
    last = max(frames)
    return {f: frames.get(f, []) for f in range(1, last + 1)}


def noisy(truth: dict[int, list[tuple[int, Box]]], noise: Noise, seed: int) -> dict[int, Frame]:
    rng = np.random.default_rng(seed)
    sizes = np.array([(b[2] - b[0], b[3] - b[1]) for objs in truth.values() for _, b in objs])
    out: dict[int, Frame] = {}
    for frame_id, objs in truth.items():
        dets: Frame = []
        for _, (x1, y1, x2, y2) in objs:
            if rng.random() < noise.miss:
                continue
            w, h = x2 - x1, y2 - y1
            cx = (x1 + x2) / 2 + rng.normal(0, noise.jitter * w)
            cy = (y1 + y2) / 2 + rng.normal(0, noise.jitter * h)
            w *= 1 + rng.normal(0, noise.jitter)
            h *= 1 + rng.normal(0, noise.jitter)
            band = noise.score_lo if rng.random() < noise.occluded else noise.score_hi
            dets.append(((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), rng.uniform(*band)))
        for _ in range(rng.poisson(noise.fp_per_frame)):
            w, h = sizes[rng.integers(len(sizes))]
            x, y = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
            dets.append(((x, y, x + w, y + h), rng.uniform(*noise.score_fp)))
        out[frame_id] = [(b, s) for b, s in dets if b[2] > b[0] and b[3] > b[1]]
    return out


def run_bytetrack(frames: dict[int, Frame]) -> Iterator[Tracked]:
    tracker = CameraTracker(
        "tud",
        TrackerSettings(
            frame_rate=FPS, lost_track_s=1.0, activation_score=HIGH_SCORE, high_score=HIGH_SCORE
        ),
    )
    for frame_id, dets in frames.items():
        t = frame_id / FPS
        message = PersonDetections(
            source="tud",
            t_mono=t,
            camera_id="tud",
            detections=tuple(Detection("tud", t, box, min(score, 1.0)) for box, score in dets),
        )
        yield [(d.track_id or 0, d.box) for d in tracker.update(message)]


def run_sort(frames: dict[int, Frame]) -> Iterator[Tracked]:
    tracker = SORTTracker(
        lost_track_buffer=30,
        frame_rate=FPS,
        track_activation_threshold=HIGH_SCORE,
        minimum_consecutive_frames=2,
        minimum_iou_threshold=MIN_IOU,
    )
    for dets in frames.values():
        kept = [(b, s) for b, s in dets if s >= HIGH_SCORE]
        xyxy = np.array([b for b, _ in kept], dtype=np.float64).reshape(-1, 4)
        scores = np.array([s for _, s in kept], dtype=np.float64)
        result = tracker.update(sv.Detections(xyxy=xyxy, confidence=scores))
        if len(result) == 0 or result.tracker_id is None:
            yield []
            continue
        yield [
            (int(i), tuple(float(v) for v in box))  # type: ignore[misc]
            for i, box in zip(result.tracker_id, result.xyxy, strict=True)
            if i >= 0
        ]


def _iou(a: Box, b: Box) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def run_iou_greedy(frames: dict[int, Frame]) -> Iterator[Tracked]:
    previous: Tracked = []
    next_id = 1
    for dets in frames.values():
        boxes = [b for b, s in dets if s >= HIGH_SCORE]
        pairs = sorted(
            (
                (_iou(p, d), pi, di)
                for pi, (_, p) in enumerate(previous)
                for di, d in enumerate(boxes)
            ),
            reverse=True,
        )
        ids: dict[int, int] = {}
        used: set[int] = set()
        for overlap, pi, di in pairs:
            if overlap < 0.3:
                break
            if di in ids or pi in used:
                continue
            ids[di] = previous[pi][0]
            used.add(pi)
        current: Tracked = []
        for di, box in enumerate(boxes):
            if di not in ids:
                ids[di] = next_id
                next_id += 1
            current.append((ids[di], box))
        previous = current
        yield current


TRACKERS: dict[str, Callable[[dict[int, Frame]], Iterator[Tracked]]] = {
    "bytetrack": run_bytetrack,
    "sort": run_sort,
    "iou-greedy": run_iou_greedy,
}


def score(
    truth: dict[int, list[tuple[int, Box]]], frames: dict[int, Frame], run: Callable[..., Any]
) -> tuple[mm.MOTAccumulator, float]:
    acc = mm.MOTAccumulator(auto_id=True)
    tracker_s = 0.0
    outputs = run(frames)
    for frame_id in frames:
        start = time.perf_counter()
        hyps: Tracked = next(outputs)
        tracker_s += time.perf_counter() - start
        gt = truth[frame_id]

        def xywh(boxes: list[Box]) -> np.ndarray[Any, np.dtype[np.float64]]:
            return np.array([(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes]).reshape(-1, 4)

        distances = mm.distances.iou_matrix(
            xywh([b for _, b in gt]), xywh([b for _, b in hyps]), max_iou=0.5
        )
        acc.update([i for i, _ in gt], [i for i, _ in hyps], distances)
    return acc, tracker_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="noise seeds per sequence")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    noise = Noise()
    print("noise:", ", ".join(f"{k}={v}" for k, v in asdict(noise).items()))
    print(
        f"high/activation score {HIGH_SCORE}, tracker IoU gate {MIN_IOU}; "
        f"match at IoU >= 0.5; seeds 0..{args.seeds - 1}"
    )
    host = mm.metrics.create()
    metrics = ["mota", "idf1", "num_switches", "num_misses", "num_false_positives"]
    results: dict[str, dict[str, Any]] = {}
    for sequence in SEQUENCES:
        truth = load_truth(sequence)
        n_frames = len(truth)
        n_boxes = sum(len(v) for v in truth.values())
        print(f"\n{sequence}: {n_frames} frames, {n_boxes} ground-truth boxes")
        print(
            f"{'tracker':<12}{'MOTA':>8}{'IDF1':>8}{'IDsw':>7}{'miss':>7}{'FP':>7}{'updates/s':>12}"
        )
        for name, run in TRACKERS.items():
            accs, seconds = [], 0.0
            for seed in range(args.seeds):
                frames = noisy(truth, noise, seed)
                acc, tracker_s = score(truth, frames, run)
                accs.append(acc)
                seconds += tracker_s
            summary = host.compute_many(
                accs,
                metrics=metrics,
                names=[str(s) for s in range(args.seeds)],
                generate_overall=True,
            )
            overall = summary.loc["OVERALL"]
            row = {
                "mota": float(overall["mota"]),
                "idf1": float(overall["idf1"]),
                "id_switches": int(overall["num_switches"]),
                "misses": int(overall["num_misses"]),
                "false_positives": int(overall["num_false_positives"]),
                "updates_per_s": n_frames * args.seeds / seconds,
            }
            results.setdefault(sequence, {})[name] = row
            print(
                f"{name:<12}{row['mota']:>8.3f}{row['idf1']:>8.3f}{row['id_switches']:>7d}"
                f"{row['misses']:>7d}{row['false_positives']:>7d}{row['updates_per_s']:>12.0f}"
            )
        base = results[sequence]["iou-greedy"]
        bt = results[sequence]["bytetrack"]
        print(
            f"bytetrack vs iou-greedy: MOTA {bt['mota'] - base['mota']:+.3f}, "
            f"IDF1 {bt['idf1'] - base['idf1']:+.3f}, ID switches "
            f"{bt['id_switches']} vs {base['id_switches']}, speed x"
            f"{bt['updates_per_s'] / base['updates_per_s']:.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"noise": asdict(noise), "results": results}, indent=2))


if __name__ == "__main__":
    main()
