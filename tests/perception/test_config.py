from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from vision_core.perception.config import (
    DETECTOR_CONFIG,
    MetadataConfig,
    OnnxConfig,
    PerceptionConfig,
    SsdMobilenetConfig,
)
from vision_core.perception.pipeline import build_pipeline


def test_default_is_the_offline_ssd_with_pose() -> None:
    config = PerceptionConfig()
    assert isinstance(config.detector, SsdMobilenetConfig)
    assert config.pose.enabled
    assert config.detect_every_n == 1


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"type": "ssd_mobilenet", "min_score": 0.4}, SsdMobilenetConfig),
        ({"type": "onnx", "model_path": "/models/yolo.onnx", "person_class": 0}, OnnxConfig),
        ({"type": "metadata", "cameras": ["c1"]}, MetadataConfig),
    ],
)
def test_type_selects_the_backend(data: dict[str, object], kind: type) -> None:
    assert isinstance(DETECTOR_CONFIG.validate_python(data), kind)


def test_onnx_fields_are_parsed() -> None:
    config = PerceptionConfig.model_validate(
        {
            "detector": {
                "type": "onnx",
                "model_path": "m.onnx",
                "input_width": 320,
                "input_height": 256,
                "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
            },
            "detect_every_n": 3,
        }
    )
    assert isinstance(config.detector, OnnxConfig)
    assert config.detector.model_path == Path("m.onnx")
    assert config.detector.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert config.detect_every_n == 3


def test_unknown_type_is_refused_with_the_allowed_tags() -> None:
    with pytest.raises(ValidationError) as info:
        DETECTOR_CONFIG.validate_python({"type": "yolo"})
    text = str(info.value)
    assert "ssd_mobilenet" in text
    assert "onnx" in text


def test_unknown_key_is_refused_with_its_path() -> None:
    with pytest.raises(ValidationError) as info:
        PerceptionConfig.model_validate({"detector": {"type": "ssd_mobilenet", "min_scor": 0.3}})
    assert info.value.errors()[0]["loc"] == ("detector", "ssd_mobilenet", "min_scor")


@pytest.mark.parametrize(
    "data",
    [
        {"detector": {"type": "onnx"}},  # model_path required
        {"detector": {"type": "onnx", "model_path": "m", "sha256": "abc"}},
        {"detector": {"type": "ssd_mobilenet", "min_score": 1.5}},
        {"detect_every_n": 0},
    ],
)
def test_bad_values_are_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PerceptionConfig.model_validate(data)


def test_metadata_backend_builds_no_frame_pipeline() -> None:
    config = PerceptionConfig(detector=MetadataConfig())
    with pytest.raises(ValueError, match="MetadataPassthrough"):
        build_pipeline(config)
