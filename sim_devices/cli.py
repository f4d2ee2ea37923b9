"""Command line: ``python -m sim_devices shelf serve|control ...``.

``serve`` prints exactly one JSON line on stdout once every server listens::

    {"ready": true, "servers": [{"index": 0, "kind": "tcp", "host": "127.0.0.1",
      "port": 40123, "units": [1]}, {"index": 2, "kind": "rtu", "path": "/dev/pts/7",
      "link": null, "baudrate": 19200, "parity": "N", "stopbits": 1, "units": [1, 2]}],
     "control_port": 40125}

so a parent process can read its ports and pty paths; logs go to stderr.
SIGTERM, SIGINT or a ``quit`` control command stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim_devices.control import ControlServer
from sim_devices.faults import FaultMode
from sim_devices.scenario import ScenarioError, load_scenario
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    run_action,
    serve_until_stopped,
)
from sim_devices.simulator import ShelfSimulator

DEMO_SCENARIO = Path(__file__).with_name("scenarios") / "demo.yaml"

OTHER_DEVICES = {
    "ups": ("sim_devices.ups.cli", "a UPS SNMP agent with a battery and grid model"),
    "crac": ("sim_devices.crac.cli", "a precision air-conditioning unit over Modbus"),
    "dio": ("sim_devices.dio.cli", "a digital-I/O module driving a gate over Modbus TCP"),
    "osdp": ("sim_devices.osdp_pd.cli", "an OSDP reader/controller (PD) on a pty"),
    "esl": ("sim_devices.esl.cli", "price-tag screens: an OpenEPaperLink AP and MQTT tags"),
    "camera": ("sim_devices.camera.cli", "a camera: MJPEG over HTTP and detections over MQTT"),
    "shelf_camera": (
        "sim_devices.shelf_camera.cli",
        "a shelf camera's product recogniser: sightings over MQTT",
    ),
    "store": ("sim_devices.store_sim.cli", "shoppers with ground truth: stream + truth JSONL"),
}
"""Simulators with a command line of their own: ``python -m sim_devices KIND ...`` hands over."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices", description=__doc__.split("\n")[0]
    )
    devices = parser.add_subparsers(dest="device", required=True)
    for name, (_, text) in OTHER_DEVICES.items():
        devices.add_parser(name, help=f"{text} (python -m sim_devices {name} --help)")
    shelf = devices.add_parser("shelf", help="shelf-scale controllers over Modbus TCP/RTU")
    actions = shelf.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="run a scenario until SIGTERM/SIGINT or quit")
    serve.add_argument(
        "--scenario",
        type=Path,
        default=DEMO_SCENARIO,
        help="scenario YAML (default: the packaged demo)",
    )
    add_serve_options(serve)

    commands = add_control_parser(actions).add_subparsers(dest="command", required=True)

    def unit_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--unit", type=int, required=True)
        p.add_argument("--server", type=int, default=0, help="server index in the scenario")

    put = commands.add_parser("put", help="put an item on a shelf")
    unit_args(put)
    put.add_argument("--grams", type=float, required=True)
    put.add_argument("--position", type=float, default=0.0, help="metres from the left end")
    put.add_argument("--label")

    take = commands.add_parser("take", help="take an item by id, label or weight+position")
    unit_args(take)
    which = take.add_mutually_exclusive_group(required=True)
    which.add_argument("--item", type=int)
    which.add_argument("--label")
    which.add_argument("--grams", type=float)
    take.add_argument("--position", type=float, default=0.0)

    take_g = commands.add_parser("take-g", help="remove grams at a position (no item match)")
    unit_args(take_g)
    take_g.add_argument("--grams", type=float, required=True)
    take_g.add_argument("--position", type=float, default=0.0)

    fault = commands.add_parser("fault", help="set a unit's fault")
    unit_args(fault)
    fault.add_argument("--mode", required=True, choices=[m.value for m in FaultMode])
    fault.add_argument("--delay", type=float, help="seconds, for --mode late")

    state = commands.add_parser("state", help="items, loads and readings")
    state.add_argument("--unit", type=int)
    state.add_argument("--server", type=int)
    commands.add_parser("stats", help="per-server counters")
    commands.add_parser("quit", help="stop the simulator")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: ShelfSimulator(load_scenario(args.scenario)),
        lambda sim, on_quit: ControlServer(
            sim, args.control_host, args.control_port, on_quit=on_quit
        ),
        lambda sim, port: {"servers": sim.servers, "control_port": port},
        ready_file=args.ready_file,
        bad_arguments=(ScenarioError,),
    )


def _request(args: argparse.Namespace) -> dict[str, Any]:
    command = args.command.replace("-", "_")
    fields: dict[str, Any] = {"cmd": command}
    if command in ("put", "take", "take_g", "fault"):
        fields.update(unit=args.unit, server=args.server)
    if command == "put":
        fields.update(weight_g=args.grams, position_m=args.position, label=args.label)
    elif command == "take":
        fields.update(item=args.item, label=args.label)
        if args.grams is not None:
            fields.update(weight_g=args.grams, position_m=args.position)
    elif command == "take_g":
        fields.update(weight_g=args.grams, position_m=args.position)
    elif command == "fault":
        fields.update(mode=args.mode, delay_s=args.delay)
    elif command == "state":
        fields.update(unit=args.unit, server=args.server)
    return fields


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OTHER_DEVICES:
        module = importlib.import_module(OTHER_DEVICES[argv[0]][0])
        status: int = module.main(argv[1:])
        return status
    return run_action(_parser().parse_args(argv), _serve, _request)
