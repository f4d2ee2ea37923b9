"""Command line: ``python -m sim_devices.shelf_camera serve|control ...``.

``serve`` prints exactly one JSON line on stdout once the camera publishes::

    {"ready": true, "camera_id": "shelfcam-1",
     "mqtt": {"host": "127.0.0.1", "port": 1883,
              "topic": "walkout/cameras/shelfcam-1/products"},
     "heartbeat_s": 5.0, "script_steps": 3, "control_port": 40125}

``--script`` plays a JSON-lines file of hand movements (see ``script.py``);
the control port's ``movement`` adds more. ``--accuracy``, ``--miss-rate``,
``--kind-rate``, ``--confidence-noise`` and ``--confuse-with`` set the
recogniser's error model (drawn from ``--seed``), ``--fault`` the link's.
Logs go to stderr. SIGTERM, SIGINT or a ``quit`` control command stop it
cleanly (exit 0). ``control`` sends one JSON request and prints the answer::

    python -m sim_devices.shelf_camera control --port 40125 '{"cmd": "fault", "mode": "silent"}'
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    json_request,
    run_action,
    serve_until_stopped,
)
from sim_devices.shelf_camera.control import ShelfCameraControlServer
from sim_devices.shelf_camera.publisher import MODES, RecogniserSettings, ShelfCameraSimError
from sim_devices.shelf_camera.script import load_script
from sim_devices.shelf_camera.simulator import ShelfCameraSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.shelf_camera", description=__doc__.split("\n")[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="run one simulated shelf camera until SIGTERM or quit")
    serve.add_argument("--camera-id", default="shelfcam-1")
    serve.add_argument("--mqtt-host", default="127.0.0.1")
    serve.add_argument("--mqtt-port", type=int, default=1883)
    serve.add_argument("--topic-root", default="walkout/cameras")
    serve.add_argument("--script", type=Path, help="JSON lines of {t, sku, kind} to play")
    serve.add_argument(
        "--heartbeat-s", type=float, default=5.0, help="empty message this often when idle"
    )
    serve.add_argument("--accuracy", type=float, default=0.95, help="chance the SKU is right")
    serve.add_argument("--miss-rate", type=float, default=0.0, help="chance a movement is missed")
    serve.add_argument(
        "--kind-rate", type=float, default=1.0, help="chance the direction is reported"
    )
    serve.add_argument("--confidence-noise", type=float, default=0.02)
    serve.add_argument(
        "--confuse-with",
        action="append",
        default=[],
        metavar="SKU",
        help="a SKU a wrong answer may name (repeat for each of the shelf's others)",
    )
    serve.add_argument("--fault", choices=MODES, default="normal", help="link fault to start with")
    serve.add_argument("--seed", type=int, default=0)
    add_serve_options(serve)

    control = add_control_parser(actions, "send one JSON request to a running simulator")
    control.add_argument("request", help='a JSON object, e.g. \'{"cmd": "stats"}\'')
    return parser


def _build(args: argparse.Namespace) -> ShelfCameraSimulator:
    settings = RecogniserSettings(
        accuracy=args.accuracy,
        miss_rate=args.miss_rate,
        kind_rate=args.kind_rate,
        confidence_noise=args.confidence_noise,
        confusions=tuple(args.confuse_with),
        mode=args.fault,
    )
    return ShelfCameraSimulator(
        args.camera_id,
        args.mqtt_host,
        args.mqtt_port,
        settings=settings,
        heartbeat_s=args.heartbeat_s,
        seed=args.seed,
        script=None if args.script is None else load_script(args.script),
        topic_root=args.topic_root,
    )


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: _build(args),
        lambda sim, on_quit: ShelfCameraControlServer(
            sim, args.control_host, args.control_port, on_quit=on_quit
        ),
        lambda sim, port: {**sim.ready(), "control_port": port},
        ready_file=args.ready_file,
        bad_arguments=(ShelfCameraSimError, ValueError),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return run_action(_parser().parse_args(argv), _serve, json_request)
