"""An operator-supplied ONNX person detector on ONNX Runtime.

Model contract (what the model must look like; checked at load where the graph says):

- one image input, float32 (or float16), layout ``[batch, 3, height, width]``, RGB,
  values 0..1 (pixel / 255). Frames are resized to ``input_width`` x ``input_height``
  without letterboxing, so boxes scale back per axis. The batch dimension may be
  symbolic (frames of several cameras in one run, up to ``batch_size``) or a fixed
  number (short batches are padded with black images, whose rows are ignored).
- the first output holds detections after the model's own NMS, ``[batch, K, 6]``
  (or ``[K, 6]`` for a batch of one), each row ``x1, y1, x2, y2, score, class`` in
  model-input pixels; rows with score 0 are padding. This is the "end-to-end" export
  of current YOLO detectors (e.g. YOLOv10, or YOLOv8 exported with NMS). Models without
  built-in NMS can set ``nms_iou``.

Execution providers: the configured list, else TensorRT, CUDA and CPU in that order,
keeping those present in this ONNX Runtime build (the CPU-only wheel has only CPU).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from devices.camera.detection import Detection
from devices.camera.frame import Frame
from vision_core.perception.backend import check_batch, person_in_frame
from vision_core.perception.config import OnnxConfig
from vision_core.perception.errors import BackendError, ModelFileError
from vision_core.perception.models import verify_file

_LOGGER = logging.getLogger(__name__)

PREFERRED_PROVIDERS = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "CPUExecutionProvider",
)
ROW_WIDTH = 6
FloatArray = npt.NDArray[np.float32]


def choose_providers(available: Sequence[str], wanted: Sequence[str] | None = None) -> list[str]:
    """Execution providers to open a session with, best first.

    With ``wanted`` every named provider must be present (a configured GPU that is
    missing is an error, not a silent fall back to CPU). Without it: TensorRT, CUDA,
    CPU, those available.
    """
    if wanted is not None:
        missing = [p for p in wanted if p not in available]
        if missing or not wanted:
            raise BackendError(
                f"onnx: execution providers {missing or list(wanted)} are not available; "
                f"this ONNX Runtime has {list(available)}"
            )
        return list(wanted)
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    if not chosen:
        raise BackendError(
            f"onnx: none of {list(PREFERRED_PROVIDERS)} is available; "
            f"this ONNX Runtime has {list(available)}"
        )
    return chosen


def decode_rows(
    output: npt.NDArray[np.floating], batch: int, *, person_class: int, min_score: float
) -> list[FloatArray]:
    """Person rows ``x1, y1, x2, y2, score`` (model-input pixels) per image of the batch.

    ``output`` is ``[batch, K, 6]``, or ``[K, 6]`` when ``batch`` is 1. Rows of another
    class, under ``min_score`` or with non-finite values are dropped.
    """
    array = np.asarray(output, dtype=np.float32)
    if array.ndim == 2 and batch == 1:
        array = array[np.newaxis]
    if array.ndim != 3 or array.shape[2] != ROW_WIDTH or array.shape[0] < batch:
        raise BackendError(
            f"onnx: output of shape {list(array.shape)}, expected [{batch}, K, {ROW_WIDTH}] "
            "rows of x1, y1, x2, y2, score, class"
        )
    out = []
    for rows in array[:batch]:
        keep = (
            np.isfinite(rows).all(axis=1)
            & (np.rint(rows[:, 5]) == person_class)
            & (rows[:, 4] >= min_score)
            & (rows[:, 4] > 0)
        )
        out.append(rows[keep, :5])
    return out


def non_max_suppression(rows: FloatArray, iou: float) -> FloatArray:
    """Rows kept by greedy NMS at ``iou`` (cv2.dnn.NMSBoxes on x, y, w, h boxes)."""
    if len(rows) < 2:
        return rows
    boxes = [[float(r[0]), float(r[1]), float(r[2] - r[0]), float(r[3] - r[1])] for r in rows]
    keep = cv2.dnn.NMSBoxes(boxes, rows[:, 4].tolist(), 0.0, iou)
    return rows[np.asarray(keep, dtype=np.int64).reshape(-1)]


class OnnxDetector:
    """People in frames from an ONNX model; one session, fed from one thread."""

    name = "onnx"

    def __init__(self, config: OnnxConfig) -> None:
        import onnxruntime as ort

        self.config = config
        path = config.model_path
        if config.sha256 is not None:
            verify_file(path, config.sha256)
        elif not path.is_file():
            raise ModelFileError(f"model file {path} does not exist")
        self.providers = choose_providers(ort.get_available_providers(), config.providers)
        options = ort.SessionOptions()
        options.intra_op_num_threads = config.intra_op_threads
        try:
            session = ort.InferenceSession(str(path), options, providers=self.providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BackendError(f"onnx: cannot load {path}: {exc}") from exc
        inputs = session.get_inputs()
        chosen = [i for i in inputs if config.input_name in (None, i.name)]
        if not chosen:
            names = [i.name for i in inputs]
            raise BackendError(f"onnx: {path} has no input {config.input_name!r}; has {names}")
        model_input = chosen[0]
        self._input_name: str = model_input.name
        self._dtype = self._input_dtype(model_input.type)
        self._fixed_batch, self._max_batch = self._batch_limits(model_input.shape)
        self._check_size(model_input.shape)
        self._session: object | None = session
        _LOGGER.info(
            "onnx detector %s on %s (batch up to %d)", path, self.providers, self._max_batch
        )

    def _input_dtype(self, onnx_type: str) -> type[np.floating]:
        types: dict[str, type[np.floating]] = {
            "tensor(float)": np.float32,
            "tensor(float16)": np.float16,
        }
        if onnx_type not in types:
            raise BackendError(f"onnx: input {self._input_name!r} is {onnx_type}, expected float")
        return types[onnx_type]

    def _batch_limits(self, shape: Sequence[object]) -> tuple[int | None, int]:
        if len(shape) != 4:
            raise BackendError(f"onnx: input has shape {list(shape)}, expected [batch, 3, H, W]")
        batch = shape[0]
        if isinstance(batch, int) and batch > 0:
            return batch, batch
        return None, self.config.batch_size

    def _check_size(self, shape: Sequence[object]) -> None:
        want = (3, self.config.input_height, self.config.input_width)
        for axis, (have, need) in enumerate(zip(shape[1:], want, strict=True), start=1):
            if isinstance(have, int) and have != need:
                raise BackendError(
                    f"onnx: input dimension {axis} is {have} in the model but {need} is "
                    f"configured (input [batch, 3, H, W] = {list(shape)})"
                )

    @property
    def max_batch(self) -> int:
        """Frames per run: the model's fixed batch, else ``batch_size``."""
        return self._max_batch

    def preprocess(self, frames: Sequence[Frame]) -> FloatArray:
        """The input tensor ``[batch, 3, H, W]``, RGB 0..1, padded to a fixed batch."""
        w, h = self.config.input_width, self.config.input_height
        batch = self._fixed_batch or len(frames)
        tensor = np.zeros((batch, 3, h, w), dtype=self._dtype)
        for i, frame in enumerate(frames):
            resized = cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_LINEAR)
            rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
            tensor[i] = (rgb.transpose(2, 0, 1).astype(np.float32) / 255.0).astype(self._dtype)
        return tensor

    def detect(self, frames: Sequence[Frame]) -> list[tuple[Detection, ...]]:
        """People with score >= ``min_score`` in each frame."""
        session = self._session
        if session is None:
            raise BackendError("onnx: detector is closed")
        check_batch(frames, self.max_batch, self.name)
        feed = {self._input_name: self.preprocess(frames)}
        output = session.run(None, feed)[0]  # type: ignore[attr-defined]
        per_image = decode_rows(
            output,
            len(frames),
            person_class=self.config.person_class,
            min_score=self.config.min_score,
        )
        results = []
        for frame, rows in zip(frames, per_image, strict=True):
            if self.config.nms_iou is not None:
                rows = non_max_suppression(rows, self.config.nms_iou)
            sx = frame.width / self.config.input_width
            sy = frame.height / self.config.input_height
            people = []
            for x1, y1, x2, y2, score in rows.tolist():
                detection = person_in_frame(frame, x1 * sx, y1 * sy, x2 * sx, y2 * sy, score)
                if detection is not None:
                    people.append(detection)
            results.append(tuple(sorted(people, key=lambda d: -d.score)))
        return results

    def close(self) -> None:
        """Drop the session."""
        self._session = None
