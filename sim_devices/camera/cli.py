"""Command line: ``python -m sim_devices.camera serve|control ...``.

``serve`` prints exactly one JSON line on stdout once the camera serves::

    {"ready": true, "camera_id": "cam1", "url": "http://127.0.0.1:40123/stream.mjpg",
     "port": 40123, "width": 640, "height": 480, "fps": 15.0, "view": "oblique",
     "floor_m": [8.0, 6.0], "floor_points": [[0, 0], ...],
     "image_points": [[19.2, 465.6], ...],
     "floor_to_image": [[...], [...], [...]], "image_to_floor": [[...], [...], [...]],
     "mqtt": {"host": ..., "port": ..., "topic": "walkout/cameras/cam1/detections", ...},
     "control_port": 40125}

``--noise`` is the picture's sensor noise (grey levels); it never reaches
the detection metadata, whose errors are ``--box-noise-px``,
``--miss-rate`` and ``--id-switch-rate``. A person whose floor point is
outside the picture is not detected at all (its truth says ``visible:
false``), so a camera over part of a store (``--floor-width-m``,
``--floor-depth-m``) reports only the people in its view.

Logs go to stderr. SIGTERM, SIGINT or a ``quit`` control command stop it
cleanly (exit 0). ``control`` sends one JSON request and prints the answer
(an ``ok: false`` answer goes to stderr as ``error: ...`` and exits 1)::

    python -m sim_devices.camera control --port 40125 '{"cmd": "fault", "mode": "freeze"}'
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from sim_devices.camera.control import CameraControlServer
from sim_devices.camera.metadata import METADATA_MODES, MetadataSettings
from sim_devices.camera.scene import DEFAULT_FLOOR_M
from sim_devices.camera.simulator import CameraSimError, CameraSimulator
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    json_request,
    run_action,
    serve_until_stopped,
)

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
    serve.add_argument(
        "--floor-width-m",
        type=float,
        default=DEFAULT_FLOOR_M[0],
        help="width of the floor the camera sees, metres (default %(default)s)",
    )
    serve.add_argument(
        "--floor-depth-m",
        type=float,
        default=DEFAULT_FLOOR_M[1],
        help="depth of the floor the camera sees, metres (default %(default)s)",
    )
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
    serve.add_argument(
        "--box-noise-px",
        type=float,
        default=0.0,
        help="Gaussian jitter of each box edge and keypoint, pixels (default 0)",
    )
    serve.add_argument(
        "--miss-rate",
        type=float,
        default=0.0,
        help="chance that a visible person is left out of a frame, 0..1 (drawn from --seed)",
    )
    serve.add_argument("--id-switch-rate", type=float, default=0.0)
    serve.add_argument("--metadata-mode", choices=METADATA_MODES, default="normal")
    serve.add_argument(
        "--embedding-dim",
        type=int,
        default=0,
        metavar="N",
        help="publish metadata schema v2 with an N-float re-identification vector per person"
        " (8..512; default 0: schema v1, no vectors)",
    )
    serve.add_argument(
        "--embedding-noise",
        type=float,
        default=0.1,
        help="per-frame Gaussian noise added to each dimension of a person's unit vector"
        " before normalising (default 0.1; one person's frames then agree to a cosine of"
        " about 1 / (1 + dim * noise^2): lower it for long vectors)",
    )
    add_serve_options(serve)

    control = add_control_parser(actions, "send one JSON request to a running simulator")
    control.add_argument("request", help='a JSON object, e.g. \'{"cmd": "state"}\'')
    return parser


def _build(args: argparse.Namespace) -> CameraSimulator:
    metadata = MetadataSettings(
        box_noise_px=args.box_noise_px,
        miss_rate=args.miss_rate,
        id_switch_rate=args.id_switch_rate,
        mode=args.metadata_mode,
        embedding_dim=args.embedding_dim,
        embedding_noise=args.embedding_noise,
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
        floor_m=(args.floor_width_m, args.floor_depth_m),
    )
    if args.fault != "none":
        sim.set_fault(args.fault)
    return sim


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: _build(args),
        lambda sim, on_quit: CameraControlServer(
            sim, args.control_host, args.control_port, on_quit=on_quit
        ),
        lambda sim, port: {**sim.ready(), "control_port": port},
        ready_file=args.ready_file,
        bad_arguments=(CameraSimError, ValueError),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return run_action(_parser().parse_args(argv), _serve, json_request)
