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
keypoints and scores go through untouched. Only confirmed tracks (seen in
``minimum_consecutive_frames`` frames in a row) come out: an id is never
handed out for a one-frame false positive.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from devices.camera.detection import Detection, PersonDetections

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
        )

    def reset(self) -> None:
        """Forget every track (the camera restarted or moved); ids start again at 0."""
        self._tracker = self._new_tracker()
        self._last_mono = None

    def update(self, message: PersonDetections) -> tuple[Detection, ...]:
        """Track one image's detections; the confirmed ones, with their ``track_id`` set.

        Every image must be given, also those with no detections (they age
        the tracks), in time order; an image from another camera or not
        newer than the last one is refused.
        """
        if message.camera_id != self.camera_id:
            raise CameraTrackerError(
                f"tracker of camera {self.camera_id!r} got detections of {message.camera_id!r}"
            )
        if not math.isfinite(message.t_mono):
            raise CameraTrackerError(
                f"camera {self.camera_id!r}: t_mono {message.t_mono} is not finite"
            )
        if self._last_mono is not None and message.t_mono <= self._last_mono:
            raise CameraTrackerError(
                f"camera {self.camera_id!r}: image at t_mono {message.t_mono} is not newer "
                f"than the last one at {self._last_mono}"
            )
        self._last_mono = message.t_mono
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
            return ()
        out: list[Detection] = []
        for index, track_id in zip(tracked.data[_INDEX_KEY], tracked.tracker_id, strict=True):
            if track_id < 0:
                continue
            source = detections[int(index)]
            out.append(dataclasses.replace(source, track_id=int(track_id)))
        out.sort(key=lambda d: d.track_id if d.track_id is not None else -1)
        return tuple(out)
