"""The ONNX backend against a real ONNX Runtime session on a model written in the test."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from devices.camera.frame import Frame
from vision_core.perception.config import OnnxConfig
from vision_core.perception.errors import BackendError, ModelChecksumError
from vision_core.perception.onnx_backend import (
    OnnxDetector,
    choose_providers,
    decode_rows,
    non_max_suppression,
)

from .onnx_proto import mean_scored_detector

SIZE = 64


def _frame(value: int, seq: int = 0, w: int = 128, h: int = 96, camera: str = "c") -> Frame:
    return Frame(camera, np.full((h, w, 3), value, dtype=np.uint8), t_mono=1.5 + seq, seq=seq)


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "mean.onnx"
    path.write_bytes(mean_scored_detector(SIZE))
    return path


def _config(path: Path, **kw: object) -> OnnxConfig:
    return OnnxConfig.model_validate(
        {"model_path": path, "input_width": SIZE, "input_height": SIZE, **kw}
    )


def test_batch_decoded_scaled_and_filtered(model_path: Path) -> None:
    detector = OnnxDetector(_config(model_path, batch_size=4, intra_op_threads=1))
    try:
        assert detector.max_batch == 4
        assert detector.providers == ["CPUExecutionProvider"]
        bright, dark = _frame(204, seq=0), _frame(51, seq=1)
        people_bright, people_dark = detector.detect([bright, dark])
    finally:
        detector.close()
    # the model's person row is (8, 4, 40, 60) in 64x64 input pixels, scored by the
    # image mean: 204/255 = 0.8 passes min_score 0.5, 51/255 = 0.2 does not; the
    # class-2 row never comes through. 128x96 frame: x * 2, y * 1.5.
    assert people_dark == ()
    [person] = people_bright
    assert person.box == pytest.approx((16.0, 6.0, 80.0, 90.0), abs=1e-3)
    assert person.score == pytest.approx(0.8, abs=1e-4)
    assert (person.camera_id, person.t_mono) == ("c", 1.5)


def test_fixed_batch_of_one_is_fed_frame_by_frame(tmp_path: Path) -> None:
    path = tmp_path / "one.onnx"
    path.write_bytes(mean_scored_detector(SIZE, batch=1))
    detector = OnnxDetector(_config(path, batch_size=8, min_score=0.1))
    try:
        assert detector.max_batch == 1
        [people] = detector.detect([_frame(51, w=64, h=64)])
        with pytest.raises(ValueError, match=r"batch of 2 frames, expected 1\.\.1"):
            detector.detect([_frame(51), _frame(51)])
    finally:
        detector.close()
    [person] = people
    assert person.box == pytest.approx((8.0, 4.0, 40.0, 60.0), abs=1e-3)
    assert person.score == pytest.approx(0.2, abs=1e-4)


def test_other_person_class(model_path: Path) -> None:
    detector = OnnxDetector(_config(model_path, person_class=2))
    try:
        [[thing]] = detector.detect([_frame(204)])
    finally:
        detector.close()
    assert thing.box == pytest.approx((0.0, 0.0, 64.0, 48.0), abs=1e-3)  # (0,0,32,32) scaled


def test_input_size_mismatch_is_refused(model_path: Path) -> None:
    config = OnnxConfig(model_path=model_path, input_width=SIZE, input_height=32)
    with pytest.raises(BackendError, match="dimension 2 is 64 in the model but 32 is configured"):
        OnnxDetector(config)


def test_pinned_digest_is_checked(model_path: Path) -> None:
    good = hashlib.sha256(model_path.read_bytes()).hexdigest()
    OnnxDetector(_config(model_path, sha256=good)).close()
    with pytest.raises(ModelChecksumError):
        OnnxDetector(_config(model_path, sha256="0" * 64))


def test_unreadable_model_is_a_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(BackendError, match=r"cannot load .*junk\.onnx"):
        OnnxDetector(_config(path))


def test_wanted_gpu_provider_missing_is_an_error(model_path: Path) -> None:
    with pytest.raises(BackendError, match="CUDAExecutionProvider"):
        OnnxDetector(_config(model_path, providers=["CUDAExecutionProvider"]))


@pytest.mark.parametrize(
    ("available", "wanted", "chosen"),
    [
        (
            ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"],
            None,
            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (
            ["AzureExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
            None,
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
        ),
        (["AzureExecutionProvider", "CPUExecutionProvider"], None, ["CPUExecutionProvider"]),
        (
            ["CUDAExecutionProvider", "CPUExecutionProvider"],
            ["CPUExecutionProvider"],
            ["CPUExecutionProvider"],
        ),
    ],
)
def test_provider_preference(
    available: list[str], wanted: list[str] | None, chosen: list[str]
) -> None:
    assert choose_providers(available, wanted) == chosen


def test_no_usable_provider() -> None:
    with pytest.raises(BackendError, match="AzureExecutionProvider"):
        choose_providers(["AzureExecutionProvider"])


def test_decode_rows_by_hand() -> None:
    output = np.array(
        [
            [
                [1, 2, 3, 4, 0.9, 0],
                [1, 2, 3, 4, 0.9, 1],  # other class
                [1, 2, 3, 4, 0.3, 0],  # under min_score
                [np.nan, 2, 3, 4, 0.9, 0],  # not finite
                [0, 0, 0, 0, 0.0, 0],  # padding
            ]
        ],
        dtype=np.float32,
    )
    [rows] = decode_rows(output, 1, person_class=0, min_score=0.0)
    assert np.allclose(rows, [[1, 2, 3, 4, 0.9], [1, 2, 3, 4, 0.3]])
    [rows] = decode_rows(output[0], 1, person_class=0, min_score=0.5)  # [K, 6] for batch 1
    assert np.allclose(rows, [[1, 2, 3, 4, 0.9]])


def test_decode_rows_refuses_other_layouts() -> None:
    with pytest.raises(BackendError, match=r"expected \[2, K, 6\]"):
        decode_rows(np.zeros((2, 84, 8400), dtype=np.float32), 2, person_class=0, min_score=0.5)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    rows = np.array(
        [
            [0, 0, 10, 10, 0.8],
            [1, 0, 11, 10, 0.9],  # IoU with the first = 90/110 = 0.82
            [50, 50, 60, 60, 0.7],  # apart
        ],
        dtype=np.float32,
    )
    kept = non_max_suppression(rows, 0.5)
    assert sorted(kept[:, 4].tolist()) == pytest.approx([0.7, 0.9])
    assert len(non_max_suppression(rows, 0.85)) == 3
