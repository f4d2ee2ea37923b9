"""``walkout camera check``: does a camera stream, how fast, and where is its floor.

Reads the camera for a few seconds: frames/s against its cap, resolution,
the image checks (black, frozen), and saves one snapshot with the 1 m floor
grid of its homography drawn on it, so an installer sees at a glance whether
the calibration points were right. Exit status 1 when no frame came or an
image check failed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import cv2
import typer

from devices.camera.factory import open_source
from devices.camera.floor import draw_floor_grid
from devices.camera.frame import Frame
from devices.camera.quality import CameraStatus
from walkout.cli.common import CONFIG_OPTION, EXIT_CONFIG, console, fail, load, run_device_call

app = typer.Typer(help="Cameras.", no_args_is_help=True)

EXIT_NOT_OK = 1


@app.command("check")
def check(
    camera: Annotated[str, typer.Argument(help="camera id from store.yaml")],
    seconds: Annotated[float, typer.Option(help="how long to read the stream")] = 3.0,
    snapshot: Annotated[
        Path | None, typer.Option(help="where to save the snapshot (default CAMERA-check.jpg)")
    ] = None,
    config: Path = CONFIG_OPTION,
) -> None:
    """Frames/s, resolution, image checks and a snapshot with the floor grid drawn on it."""
    cfg = load(config)
    try:
        entry = cfg.camera(camera)
    except KeyError as exc:
        raise fail(str(exc.args[0]), EXIT_CONFIG) from None
    camera_config = entry.driver_config()
    if camera_config.source_kind == "metadata":
        raise fail(f"{camera} sends detections, not frames: nothing to check here", EXIT_CONFIG)
    out = snapshot or Path(f"{camera}-check.jpg")

    async def go() -> tuple[list[Frame], float, CameraStatus]:
        frames: list[Frame] = []
        source = open_source(camera_config)
        async with source:
            start = time.monotonic()
            async for frame in source:
                frames.append(frame)
                if time.monotonic() - start >= seconds:
                    break
            status = source.status
        return frames, time.monotonic() - start, status

    frames, elapsed, status = run_device_call(go())
    if not frames:
        console.print(f"[bold red]{camera}: no frame in {elapsed:.1f} s[/]")
        raise typer.Exit(EXIT_NOT_OK)
    last = frames[-1]
    height, width = last.image.shape[:2]
    span = frames[-1].t_mono - frames[0].t_mono
    fps = (len(frames) - 1) / span if span > 0 else 0.0
    image = last.image.copy()
    segments = draw_floor_grid(image, camera_config.floor) if camera_config.floor else 0
    if not cv2.imwrite(str(out), image):
        raise fail(f"cannot write the snapshot to {out}", EXIT_CONFIG)
    cap = f" (cap {camera_config.fps_cap:g})" if camera_config.fps_cap else ""
    console.print(f"{camera}: {width}x{height}, {fps:.1f} frames/s{cap}, {len(frames)} frames")
    grid = f"floor grid: {segments} segments" if camera_config.floor else "no floor homography"
    console.print(f"snapshot: {out} ({grid})")
    problems = [str(p) for p in status.problems]
    if problems:
        console.print(f"[bold red]image checks: {', '.join(problems)}[/]")
        raise typer.Exit(EXIT_NOT_OK)
    console.print(f"image checks: ok ({status.health.state})")
