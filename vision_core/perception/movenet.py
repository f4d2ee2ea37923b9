"""Top-down MoveNet keypoints for each detected person: where the hands are.

MoveNet SinglePose Lightning sees one person per 192x192 crop. Each person's box is
grown by ``CROP_MARGIN`` (arms reach outside a detector's box), made square around
its centre (MoveNet was trained on square crops; stretching distorts limbs), cut out
with black padding where it leaves the image, and resized. The model answers 17 COCO
points as ``(y, x, score)`` fractions of the crop; they are mapped back to frame
pixels. About 6-30 ms per person on a CPU, so small people (far away, keypoints
unreliable anyway) and people beyond ``max_people`` per frame are skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from devices.camera.detection import COCO_KEYPOINTS, Detection, Keypoint
from devices.camera.frame import Frame
from vision_core.perception.config import PoseConfig
from vision_core.perception.errors import BackendError
from vision_core.perception.models import MOVENET_LIGHTNING, locate

INPUT_SIZE = 192
CROP_MARGIN = 0.2
"""Fraction of the box's longer side added around it before the crop."""


def square_crop(
    image: npt.NDArray[np.uint8], box: tuple[float, float, float, float], margin: float
) -> tuple[npt.NDArray[np.uint8], float, float, float]:
    """A square BGR crop around ``box`` (zero padded) and its ``(left, top, side)`` in pixels."""
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * (1.0 + margin)
    left = (x1 + x2) / 2 - side / 2
    top = (y1 + y2) / 2 - side / 2
    n = max(round(side), 1)
    ix, iy = round(left), round(top)
    h, w = image.shape[:2]
    crop = np.zeros((n, n, 3), dtype=np.uint8)
    sx1, sy1 = max(ix, 0), max(iy, 0)
    sx2, sy2 = min(ix + n, w), min(iy + n, h)
    if sx2 > sx1 and sy2 > sy1:
        crop[sy1 - iy : sy2 - iy, sx1 - ix : sx2 - ix] = image[sy1:sy2, sx1:sx2]
    return crop, float(ix), float(iy), float(n)


class MoveNetPose:
    """Adds COCO keypoints to person detections; one interpreter, one thread at a time."""

    def __init__(self, config: PoseConfig | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.config = config or PoseConfig()
        path = locate(MOVENET_LIGHTNING, self.config.model_dir)
        try:
            interpreter = Interpreter(model_path=str(path), num_threads=self.config.num_threads)
            interpreter.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f"LiteRT cannot load {path}: {exc}") from exc
        inputs = interpreter.get_input_details()
        outputs = interpreter.get_output_details()
        want_in = [1, INPUT_SIZE, INPUT_SIZE, 3]
        want_out = [1, 1, len(COCO_KEYPOINTS), 3]
        if list(inputs[0]["shape"]) != want_in or list(outputs[0]["shape"]) != want_out:
            raise BackendError(
                f"{path}: input {list(inputs[0]['shape'])} / output "
                f"{list(outputs[0]['shape'])}, expected {want_in} / {want_out}"
            )
        self._input_index = int(inputs[0]["index"])
        self._input_dtype = inputs[0]["dtype"]
        self._output_index = int(outputs[0]["index"])
        self._interpreter: object | None = interpreter

    def keypoints(
        self, image: npt.NDArray[np.uint8], box: tuple[float, float, float, float]
    ) -> tuple[Keypoint, ...]:
        """The 17 COCO keypoints of the one person in ``box``, in image pixels."""
        interpreter = self._interpreter
        if interpreter is None:
            raise BackendError("movenet: pose estimator is closed")
        crop, left, top, side = square_crop(image, box, CROP_MARGIN)
        resized = cv2.resize(crop, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)[np.newaxis].astype(self._input_dtype)
        interpreter.set_tensor(self._input_index, rgb)  # type: ignore[attr-defined]
        interpreter.invoke()  # type: ignore[attr-defined]
        out = interpreter.get_tensor(self._output_index)  # type: ignore[attr-defined]
        points = np.asarray(out, dtype=np.float64).reshape(len(COCO_KEYPOINTS), 3)
        return tuple(
            (left + x * side, top + y * side, min(max(score, 0.0), 1.0))
            for y, x, score in points.tolist()
        )

    def add_keypoints(self, frame: Frame, people: Sequence[Detection]) -> tuple[Detection, ...]:
        """``people`` in the same order, keypoints added to those large enough.

        The ``max_people`` largest boxes (by height) of at least ``min_box_height_px``
        get keypoints; the others are returned unchanged.
        """
        eligible = [
            i for i, d in enumerate(people) if d.box[3] - d.box[1] >= self.config.min_box_height_px
        ]
        eligible.sort(key=lambda i: people[i].box[1] - people[i].box[3])
        chosen = set(eligible[: self.config.max_people])
        return tuple(
            dataclasses.replace(d, keypoints=self.keypoints(frame.image, d.box))
            if i in chosen
            else d
            for i, d in enumerate(people)
        )

    def close(self) -> None:
        """Drop the interpreter."""
        self._interpreter = None
