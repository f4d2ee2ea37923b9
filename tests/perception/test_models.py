from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from vision_core.perception.config import SsdMobilenetConfig
from vision_core.perception.errors import ModelChecksumError, ModelFileError
from vision_core.perception.models import (
    MOVENET_LIGHTNING,
    SSD_MOBILENET_CONFIG,
    SSD_MOBILENET_GRAPH,
    bundled_model_dir,
    locate,
    verify_file,
)
from vision_core.perception.ssd import SsdMobilenetDetector


def test_bundled_files_match_their_pinned_digests() -> None:
    folder = bundled_model_dir()
    for model in (SSD_MOBILENET_GRAPH, SSD_MOBILENET_CONFIG, MOVENET_LIGHTNING):
        path = locate(model)
        assert path == folder / model.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == model.sha256


def test_altered_copy_is_refused_naming_file_and_both_digests(tmp_path: Path) -> None:
    original = bundled_model_dir() / SSD_MOBILENET_CONFIG.name
    copy = tmp_path / SSD_MOBILENET_CONFIG.name
    shutil.copyfile(original, copy)
    data = bytearray(copy.read_bytes())
    data[100] ^= 0x01  # one flipped bit
    copy.write_bytes(bytes(data))
    actual = hashlib.sha256(bytes(data)).hexdigest()

    with pytest.raises(ModelChecksumError) as info:
        locate(SSD_MOBILENET_CONFIG, tmp_path)

    err = info.value
    assert err.path == copy
    assert err.expected == SSD_MOBILENET_CONFIG.sha256
    assert err.actual == actual
    assert str(copy) in str(err)
    assert SSD_MOBILENET_CONFIG.sha256 in str(err)
    assert actual in str(err)


def test_detector_refuses_to_load_a_tampered_model_dir(tmp_path: Path) -> None:
    folder = bundled_model_dir()
    (tmp_path / SSD_MOBILENET_GRAPH.name).symlink_to(folder / SSD_MOBILENET_GRAPH.name)
    (tmp_path / SSD_MOBILENET_CONFIG.name).write_text("node { name: 'swapped' }\n")

    with pytest.raises(ModelChecksumError, match=SSD_MOBILENET_CONFIG.name):
        SsdMobilenetDetector(SsdMobilenetConfig(model_dir=tmp_path))


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist") as info:
        locate(MOVENET_LIGHTNING, tmp_path)
    assert str(tmp_path / MOVENET_LIGHTNING.name) in str(info.value)


def test_digest_comparison_ignores_hex_case(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"walkout")
    digest = hashlib.sha256(b"walkout").hexdigest()
    assert verify_file(path, digest.upper()) == path
