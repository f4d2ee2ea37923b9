"""Command line: ``python -m sim_devices.camera serve|control ...``.

``serve`` prints exactly one JSON line on stdout once the camera serves::

    {"ready": true, "camera_id": "cam1", "url": "http://127.0.0.1:40123/stream.mjpg",
     "port": 40123, "width": 640, "height": 480, "fps": 15.0, "view": "oblique",
     "floor_points": [[0, 0], ...], "image_points": [[19.2, 465.6], ...],
     "floor_to_image": [[...], [...], [...]], "image_to_floor": [[...], [...], [...]],
     "mqtt": {"host": ..., "port": ..., "topic": "walkout/cameras/cam1/detections", ...},
     "control_port": 40125}

Logs go to stderr. SIGTERM, SIGINT or a ``quit`` control command stop it
cleanly (exit 0). ``control`` sends one JSON request and prints the answer::

    python -m sim_devices.camera control --port 40125 '{"cmd": "fault", "mode": "freeze"}'
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from sim_devices.camera.control import CameraControlServer
from sim_devices.camera.metadata import METADATA_MODES, MetadataSettings
from sim_devices.camera.simulator import CameraSimError, CameraSimulator
from sim_devices.control import ControlClient

VTEST_ENV = "WALKOUT_VTEST"
"""Environment variable naming the pedestrian clip (Debian opencv-doc's vtest.avi)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.camera", description=__doc__.split("\n")[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="run one simulated camera until SIGTERM or quit")
    serve.add_argument("--camera-id", default="cam1")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="HTTP port (0: any free one)")
    serve.add_argument("--fps", type=float, help="frames per second (default 15, or the video's)")
    serve.add_argument("--width", type=int, default=640)
    serve.add_argument("--height", type=int, default=480)
    serve.add_argument("--quality", type=int, default=80, help="JPEG quality 1..100")
    serve.add_argument("--view", choices=["oblique", "topdown"], default="oblique")
    serve.add_argument("--walkers", type=int, default=3, help="people walking at start")
    serve.add_argument("--noise", type=float, default=2.0, help="sensor noise, grey levels")
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument(
        "--video", type=Path, help=f"serve this video file's frames (e.g. ${VTEST_ENV})"
    )
    serve.add_argument("--fault", default="none", help="picture fault to start with")
    serve.add_argument(
        "--loop-frames", type=int, default=0, help="pre-render N frames and serve them in a loop"
    )
    serve.add_argument("--mqtt-host", help="publish detection metadata to this broker")
    serve.add_argument("--mqtt-port", type=int, default=1883)
    serve.add_argument("--metadata-fps", type=float, help="metadata rate (default: every frame)")
    serve.add_argument("--box-noise-px", type=float, default=0.0)
    serve.add_argument("--miss-rate", type=float, default=0.0)
    serve.add_argument("--id-switch-rate", type=float, default=0.0)
    serve.add_argument("--metadata-mode", choices=METADATA_MODES, default="normal")
    serve.add_argument("--control-host", default="127.0.0.1")
    serve.add_argument("--control-port", type=int, default=0)
    serve.add_argument("--ready-file", type=Path, help="also write the ready line here")
    serve.add_argument("--log-level", default="INFO")

    control = actions.add_parser("control", help="send one JSON request to a running simulator")
    control.add_argument("--port", type=int, required=True, help="its control port")
    control.add_argument("--host", default="127.0.0.1")
    control.add_argument("request", help='a JSON object, e.g. \'{"cmd": "state"}\'')
    return parser


def _build(args: argparse.Namespace) -> CameraSimulator:
    metadata = MetadataSettings(
        box_noise_px=args.box_noise_px,
        miss_rate=args.miss_rate,
        id_switch_rate=args.id_switch_rate,
        mode=args.metadata_mode,
    )
    metadata.validate()
    sim = CameraSimulator(
        camera_id=args.camera_id,
        host=args.host,
        port=args.port,
        fps=args.fps,
        width=args.width,
        height=args.height,
        quality=args.quality,
        view=args.view,
        walkers=args.walkers,
        seed=args.seed,
        noise=args.noise,
        video=args.video,
        mqtt_host=args.mqtt_host,
        mqtt_port=args.mqtt_port,
        metadata_fps=args.metadata_fps,
        metadata=metadata,
        loop_frames=args.loop_frames,
    )
    if args.fault != "none":
        sim.set_fault(args.fault)
    return sim


def _write_ready_file(path: Path, line: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(line + "\n", encoding="utf-8")
    os.replace(tmp, path)


async def _serve(args: argparse.Namespace) -> int:
    try:
        sim = _build(args)
    except (CameraSimError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with sim:
            control = CameraControlServer(
                sim, args.control_host, args.control_port, on_quit=stop.set
            )
            await control.start()
            try:
                line = json.dumps({"ready": True, **sim.ready(), "control_port": control.port})
                print(line, flush=True)
                if args.ready_file is not None:
                    _write_ready_file(args.ready_file, line)
                await stop.wait()
            finally:
                await control.stop()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


async def _control(args: argparse.Namespace) -> int:
    try:
        request = json.loads(args.request)
    except json.JSONDecodeError as exc:
        print(f"error: the request is not JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(request, dict):
        print("error: the request must be a JSON object", file=sys.stderr)
        return 2
    try:
        async with ControlClient(args.port, args.host) as client:
            answer = await client.raw(request)
    except (OSError, TimeoutError) as exc:
        print(f"error: cannot reach {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0 if answer.get("ok") else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    if args.action == "serve":
        logging.basicConfig(
            level=args.log_level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return asyncio.run(_serve(args))
    return asyncio.run(_control(args))
