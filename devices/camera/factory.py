"""The right frame source for a camera's configuration."""

from __future__ import annotations

import urllib.parse
from typing import Any

from devices.camera.capture import CaptureSource, FileSource
from devices.camera.config import CameraConfig, CameraConfigError
from devices.camera.mjpeg import MjpegSource
from devices.camera.source import FrameSource


def open_source(config: CameraConfig, **kwargs: Any) -> FrameSource:
    """A (not yet connected) frame source for ``config``; ``kwargs`` go to the source.

    Smart cameras (``mqtt://``) send detections, not frames: they are read
    with :class:`~devices.camera.metadata.MetadataSource`, one per broker.
    """
    kind = config.source_kind
    kwargs.setdefault("fps_cap", config.fps_cap)
    if kind == "mjpeg":
        return MjpegSource(config.id, config.url, **kwargs)
    if kind == "rtsp":
        return CaptureSource(config.id, config.url, **kwargs)
    if kind == "file":
        parts = urllib.parse.urlsplit(config.url)
        path = urllib.parse.unquote(parts.path) if parts.scheme == "file" else config.url
        return FileSource(config.id, path, **kwargs)
    if kind == "metadata":
        raise CameraConfigError(
            f"camera {config.id}: {config.url} sends detections, not frames "
            "(read it with MetadataSource)"
        )
    raise CameraConfigError(f"camera {config.id}: unsupported URL scheme in {config.url!r}")
