"""Stable per-camera track ids for person detections, with ByteTrack.

ByteTrack (the ``trackers`` library's implementation) matches boxes by IoU
against Kalman predictions in two stages: confident boxes first, then the
low-score ones against the tracks still unmatched, which is what keeps a
half-occluded shopper on their id. Tracks survive ``lost_track_s`` without
a detection and come back with the same id.

The tracker runs on the detections' ``t_mono`` (not a fixed frame rate),
so dropped or late frames stretch the Kalman step instead of confusing it.
ByteTrack returns the input boxes (not its smoothed ones) in a new order;
an index carried in the detections' data maps each back to its input, so
keypoints, scores and appearance embeddings go through untouched, each with
the person it came with (never by output position: two people crossing keep
their own). Only confirmed tracks (seen in
``minimum_consecutive_frames`` frames in a row) come out: an id is never
handed out for a one-frame false positive.

:meth:`CameraTracker.predict` bridges images the detector skipped (detect
every n-th frame). ByteTrack itself cannot: an update with no detections
answers nothing, and it drops every unconfirmed track and restarts the
consecutive-frame count of the others, so a new person would never be
confirmed. ``predict`` leaves ByteTrack untouched (its next update stretches
the Kalman step over the gap, as for a dropped frame) and reads each
confirmed track's Kalman state instead: the library's ``XYXYStateEstimator``
keeps ``[x1, y1, x2, y2, vx1, vy1, vx2, vy2]`` with velocities in pixels per
nominal frame, and its constant-velocity transition over ``frame_step``
frames is ``box + frame_step * velocity``. That is applied to a copy, never
to the filter: the library's own ``predict`` would advance the tracks' miss
counters and covariance.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import supervision as sv
from numpy.typing import NDArray
from trackers import ByteTrackTracker
from trackers.utils.state_representations import XYXYStateEstimator

from devices.camera.detection import Detection, Keypoint, PersonDetections

_INDEX_KEY = "walkout_index"


class CameraTrackerError(ValueError):
    """Detections that a camera's tracker refuses: wrong camera, or out of time order."""


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    """ByteTrack parameters in walkout's units.

    ``frame_rate`` is the camera's nominal rate (scales the Kalman noise);
    ``lost_track_s`` how long a track with no detection keeps its id;
    ``activation_score`` the score a detection needs to start a track;
    ``high_score`` splits ByteTrack's two matching stages;
    ``min_iou`` the overlap a detection needs with a predicted box (0.3, as
    SORT's; the library's 0.1 let ByteTrack's low-score stage swap ids
    between passing people: on the MOT benchmark in ``benchmarks/``, 12
    against 6 id switches on TUD-Stadtmitte).
    """

    frame_rate: float = 15.0
    lost_track_s: float = 1.0
    activation_score: float = 0.5
    high_score: float = 0.5
    min_iou: float = 0.3
    minimum_consecutive_frames: int = 2

    def __post_init__(self) -> None:
        if not (math.isfinite(self.frame_rate) and self.frame_rate > 0):
            raise ValueError(f"frame_rate must be > 0, got {self.frame_rate}")
        if not (math.isfinite(self.lost_track_s) and self.lost_track_s >= 0):
            raise ValueError(f"lost_track_s must be >= 0, got {self.lost_track_s}")
        for name in ("activation_score", "high_score", "min_iou"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.minimum_consecutive_frames < 1:
            raise ValueError(
                f"minimum_consecutive_frames must be >= 1, got {self.minimum_consecutive_frames}"
            )


class CameraTracker:
    """One camera's tracker: ``PersonDetections`` in, detections with ``track_id`` out."""

    def __init__(self, camera_id: str, settings: TrackerSettings | None = None) -> None:
        self.camera_id = camera_id
        self.settings = settings or TrackerSettings()
        self._last_mono: float | None = None
        self._updated_mono: float | None = None
        self._last_out: dict[int, Detection] = {}
        self._tracker = self._new_tracker()

    def _new_tracker(self) -> ByteTrackTracker:
        s = self.settings
        # trackers counts the lost-track buffer in frames of a 30 fps video
        return ByteTrackTracker(
            lost_track_buffer=round(s.lost_track_s * 30.0),
            frame_rate=s.frame_rate,
            track_activation_threshold=s.activation_score,
            minimum_consecutive_frames=s.minimum_consecutive_frames,
            minimum_iou_threshold=s.min_iou,
            high_conf_det_threshold=s.high_score,
            state_estimator_class=XYXYStateEstimator,  # predict() reads its state layout
        )

    def reset(self) -> None:
        """Forget every track (the camera restarted or moved); ids start again at 0."""
        self._tracker = self._new_tracker()
        self._last_mono = None
        self._updated_mono = None
        self._last_out = {}

    def update(self, message: PersonDetections) -> tuple[Detection, ...]:
        """Track one image's detections; the confirmed ones, with their ``track_id`` set.

        Every image the detector ran on must be given, also those with no
        detections (they age the tracks); an image it skipped goes to
        :meth:`predict` instead (or nowhere). In time order: an image from
        another camera or not newer than the last one is refused.
        """
        if message.camera_id != self.camera_id:
            raise CameraTrackerError(
                f"tracker of camera {self.camera_id!r} got detections of {message.camera_id!r}"
            )
        self._check_time(message.t_mono)
        self._last_mono = self._updated_mono = message.t_mono
        detections = message.detections
        if detections:
            xyxy = np.array([d.box for d in detections], dtype=np.float64)
            scores = np.array([d.score for d in detections], dtype=np.float64)
        else:
            xyxy = np.empty((0, 4), dtype=np.float64)
            scores = np.empty((0,), dtype=np.float64)
        tracked = self._tracker.update(
            sv.Detections(
                xyxy=xyxy,
                confidence=scores,
                data={_INDEX_KEY: np.arange(len(detections))},
            ),
            timestamp=message.t_mono,
        )
        if len(tracked) == 0 or tracked.tracker_id is None:
            self._last_out = {}
            return ()
        out: list[Detection] = []
        for index, track_id in zip(tracked.data[_INDEX_KEY], tracked.tracker_id, strict=True):
            if track_id < 0:
                continue
            source = detections[int(index)]
            out.append(dataclasses.replace(source, track_id=int(track_id)))
        out.sort(key=lambda d: d.track_id if d.track_id is not None else -1)
        self._last_out = {d.track_id: d for d in out if d.track_id is not None}
        return tuple(out)

    def predict(
        self, t_mono: float, last_people: Iterable[Detection] = ()
    ) -> tuple[Detection, ...]:
        """The people of the last update, moved to ``t_mono`` by their Kalman velocity.

        For an image the detector skipped: the tracks confirmed and seen in
        the last update, each box the Kalman prediction at ``t_mono``, its
        keypoints those of the last real detection mapped from the old box
        onto the new one (so they move and scale with it), score and
        ``track_id`` unchanged, ``t_mono`` the new one, and no ``embedding``
        (nobody looked at that image: repeating the last vector would count
        one look as several in re-identification). ``last_people`` are
        the last update's people as the caller completed them (keypoints
        added after tracking): the one with a track's id replaces what
        :meth:`update` returned as the source of that track. Nothing about the
        tracks changes: unconfirmed tracks are neither dropped nor set back,
        no miss is counted. Once ``lost_track_s`` has passed since the last
        update it answers nothing (ByteTrack would drop those tracks). A
        prediction that gives a degenerate box (shrinking past zero size)
        keeps the last real box. Same time order as :meth:`update`.
        """
        self._check_time(t_mono)
        self._last_mono = t_mono
        if self._updated_mono is None or not self._last_out:
            return ()
        gap_s = t_mono - self._updated_mono
        if gap_s > self._tracker.maximum_time_without_update:
            return ()
        frame_step = gap_s * self.settings.frame_rate
        sources = dict(self._last_out)
        for person in last_people:
            if person.track_id in sources:
                sources[person.track_id] = person
        out: list[Detection] = []
        for track in self._tracker.tracks:
            last = sources.get(int(track.tracker_id))
            if last is None or track.time_since_update != 0:
                continue
            state = np.asarray(track.state_estimator.kf.state, dtype=np.float64).reshape(-1)
            moved = state[:4] + frame_step * state[4:8]
            box = _box_or_none(moved)
            if box is None:
                box = last.box
            out.append(
                dataclasses.replace(
                    last,
                    t_mono=t_mono,
                    box=box,
                    keypoints=_map_keypoints(last.keypoints, last.box, box),
                    embedding=(),
                )
            )
        out.sort(key=lambda d: d.track_id if d.track_id is not None else -1)
        return tuple(out)

    def _check_time(self, t_mono: float) -> None:
        if not math.isfinite(t_mono):
            raise CameraTrackerError(f"camera {self.camera_id!r}: t_mono {t_mono} is not finite")
        if self._last_mono is not None and t_mono <= self._last_mono:
            raise CameraTrackerError(
                f"camera {self.camera_id!r}: image at t_mono {t_mono} is not newer "
                f"than the last one at {self._last_mono}"
            )


def _box_or_none(xyxy: NDArray[np.float64]) -> tuple[float, float, float, float] | None:
    x1, y1, x2, y2 = (float(c) for c in xyxy)
    if not all(math.isfinite(c) for c in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def _map_keypoints(
    keypoints: tuple[Keypoint, ...] | None,
    old: tuple[float, float, float, float],
    new: tuple[float, float, float, float],
) -> tuple[Keypoint, ...] | None:
    """Keypoints at the same place relative to the box (per axis), scores unchanged."""
    if keypoints is None:
        return None
    sx = (new[2] - new[0]) / (old[2] - old[0])
    sy = (new[3] - new[1]) / (old[3] - old[1])
    return tuple(
        (new[0] + (x - old[0]) * sx, new[1] + (y - old[1]) * sy, score) for x, y, score in keypoints
    )
