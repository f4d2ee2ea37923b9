"""One camera's frames through detector, tracker, pose and floor projection, in that order.

Pose runs on the *tracked* people only (after the tracker): MoveNet costs 6-30 ms a
person on a CPU, and an unconfirmed box (a one-frame false positive) has no track to
attribute a hand to. Floor projection, when a projector is given, puts the tracked
feet and wrists on the floor plan.

With ``detect_every_n`` > 1 the detector runs on every n-th frame of the camera only,
and ``on_skipped`` says what the frames in between get:

- ``"predict"`` (default): :meth:`CameraTracker.predict` moves the people of the last
  detected frame to the skipped frame's time by their tracks' Kalman velocity, their
  keypoints carried along with the box (pose does not run), and floor projection
  runs on those. The tracker's tracks are not touched, so a person first seen on one
  detected frame is still confirmed on the next.
- ``"hold"``: the last tracked people as they were (boxes, keypoints and ``t_mono`` of
  the last detected frame; a walker's box lags up to n-1 frames).
- ``"empty"``: an empty tracker update (what ByteTrack's own contract asks for: every
  image, also empty ones). It drops every track not yet confirmed, so with
  ``minimum_consecutive_frames`` >= 2 no new person would ever get an id; it exists to
  measure that fragmentation, not for use.

Skipped frames are flagged ``detected=False`` with the age of the evidence.

Blocking and single-threaded, like the models it calls.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from devices.camera.detection import Detection, PersonDetections
from devices.camera.frame import Frame
from vision_core.perception.backend import FrameDetector
from vision_core.perception.movenet import MoveNetPose
from vision_core.tracking.camera_tracker import CameraTracker
from vision_core.tracking.floor import FloorObservation, FloorProjector

SkippedFrames = Literal["predict", "hold", "empty"]
"""What a frame without detection gets: the tracked people moved to its time by their
Kalman velocity, the last tracked people as they were, or an empty tracker update."""

_SKIPPED_MODES: tuple[SkippedFrames, ...] = ("predict", "hold", "empty")


class ChainError(ValueError):
    """A frame the chain refuses: another camera's."""


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds spent in each stage for one frame (0 for a stage that did not run)."""

    detect_s: float = 0.0
    track_s: float = 0.0
    pose_s: float = 0.0
    floor_s: float = 0.0

    @property
    def total_s(self) -> float:
        """All stages together."""
        return self.detect_s + self.track_s + self.pose_s + self.floor_s


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The tracked people of one frame.

    ``detected`` is False on a frame the detector skipped; ``people`` are then the last
    detected frame's moved to this frame's time (``"predict"``) or as they were
    (``"hold"``), ``age_s`` seconds after that frame, or what an empty tracker update
    gives (``"empty"``, ``age_s`` 0).
    ``floor`` holds the projections of ``people`` that have a floor position (empty
    without a projector).
    """

    camera_id: str
    seq: int
    t_mono: float
    detected: bool
    people: tuple[Detection, ...]
    floor: tuple[FloorObservation, ...]
    age_s: float
    times: StageTimes


class DetectionChain:
    """Detector -> :class:`CameraTracker` -> MoveNet -> floor, for one camera's frames.

    The chain does not own the detector, pose estimator or projector (one detector
    may serve several cameras' chains); the caller closes them.
    """

    def __init__(
        self,
        detector: FrameDetector,
        tracker: CameraTracker,
        pose: MoveNetPose | None = None,
        projector: FloorProjector | None = None,
        *,
        detect_every_n: int = 1,
        on_skipped: SkippedFrames = "predict",
    ) -> None:
        if detect_every_n < 1:
            raise ValueError(f"detect_every_n must be >= 1, got {detect_every_n}")
        if on_skipped not in _SKIPPED_MODES:
            modes = ", ".join(repr(m) for m in _SKIPPED_MODES)
            raise ValueError(f"on_skipped must be one of {modes}, got {on_skipped!r}")
        self.detector = detector
        self.tracker = tracker
        self.pose = pose
        self.projector = projector
        self.detect_every_n = detect_every_n
        self.on_skipped: SkippedFrames = on_skipped
        self._count = 0
        self._last: tuple[Detection, ...] = ()
        self._last_floor: tuple[FloorObservation, ...] = ()
        self._last_mono: float | None = None

    @property
    def camera_id(self) -> str:
        """The camera this chain tracks (its tracker's)."""
        return self.tracker.camera_id

    def process(self, frame: Frame) -> ChainResult:
        """The tracked people in ``frame``; frames must come in time order."""
        if frame.camera_id != self.camera_id:
            raise ChainError(
                f"chain of camera {self.camera_id!r} got frame {frame.seq} "
                f"of camera {frame.camera_id!r}"
            )
        count, self._count = self._count, self._count + 1
        if count % self.detect_every_n:
            return self._skipped(frame)
        started = time.perf_counter()
        [found] = self.detector.detect([frame])
        detected_at = time.perf_counter()
        tracked = self.tracker.update(self._message(frame, found))
        tracked_at = time.perf_counter()
        if self.pose is not None and tracked:
            tracked = self.pose.add_keypoints(frame, tracked)
        posed_at = time.perf_counter()
        floor = self.projector.project_all(tracked) if self.projector is not None else ()
        done = time.perf_counter()
        self._last, self._last_floor, self._last_mono = tracked, floor, frame.t_mono
        return ChainResult(
            camera_id=frame.camera_id,
            seq=frame.seq,
            t_mono=frame.t_mono,
            detected=True,
            people=tracked,
            floor=floor,
            age_s=0.0,
            times=StageTimes(
                detect_s=detected_at - started,
                track_s=tracked_at - detected_at,
                pose_s=posed_at - tracked_at,
                floor_s=done - posed_at,
            ),
        )

    def _skipped(self, frame: Frame) -> ChainResult:
        if self.on_skipped == "empty":
            started = time.perf_counter()
            people = self.tracker.update(self._message(frame, ()))
            times = StageTimes(track_s=time.perf_counter() - started)
            return ChainResult(
                camera_id=frame.camera_id,
                seq=frame.seq,
                t_mono=frame.t_mono,
                detected=False,
                people=people,
                floor=(),
                age_s=0.0,
                times=times,
            )
        age_s = frame.t_mono - self._last_mono if self._last_mono is not None else 0.0
        if self.on_skipped == "predict":
            started = time.perf_counter()
            people = self.tracker.predict(frame.t_mono, self._last)
            predicted_at = time.perf_counter()
            floor = self.projector.project_all(people) if self.projector is not None else ()
            times = StageTimes(
                track_s=predicted_at - started, floor_s=time.perf_counter() - predicted_at
            )
            return ChainResult(
                camera_id=frame.camera_id,
                seq=frame.seq,
                t_mono=frame.t_mono,
                detected=False,
                people=people,
                floor=floor,
                age_s=age_s,
                times=times,
            )
        return ChainResult(
            camera_id=frame.camera_id,
            seq=frame.seq,
            t_mono=frame.t_mono,
            detected=False,
            people=self._last,
            floor=self._last_floor,
            age_s=age_s,
            times=StageTimes(),
        )

    @staticmethod
    def _message(frame: Frame, people: tuple[Detection, ...]) -> PersonDetections:
        return PersonDetections(
            source=frame.camera_id,
            t_mono=frame.t_mono,
            camera_id=frame.camera_id,
            detections=people,
            frame=frame.seq,
            source_ts=frame.source_ts,
            width=frame.width,
            height=frame.height,
        )
