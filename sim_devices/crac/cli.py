"""Command line: ``python -m sim_devices.crac serve|control ...``.

``serve`` prints exactly one JSON line on stdout once every server listens::

    {"ready": true, "model": "pcw1", "unit_id": 1,
     "servers": [{"kind": "tcp", "host": "127.0.0.1", "port": 40123, "units": [1]},
                 {"kind": "rtu", "path": "/dev/pts/7", "link": null, "baudrate": 19200,
                  "parity": "N", "stopbits": 1, "units": [1]}],
     "control_port": 40125}

Logs go to stderr. SIGTERM, SIGINT or a ``quit`` control command stop it
cleanly (exit 0). ``control`` sends one command and prints the JSON answer.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sim_devices.crac.control import CracControlServer
from sim_devices.crac.model import ControlMode, RoomParams
from sim_devices.crac.registers import MODELS
from sim_devices.crac.simulator import DEFAULT_PARAMS, CracSimError, CracSimulator
from sim_devices.faults import FaultMode
from sim_devices.serial_line import LineSettings
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    run_action,
    serve_until_stopped,
)


def _range(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH, got {text!r}") from None
    return low, high


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.crac", description=__doc__.split("\n")[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="run one simulated CRAC until SIGTERM/SIGINT or quit")
    serve.add_argument("--model", choices=sorted(MODELS), default="pcw1")
    serve.add_argument("--unit-id", type=int, default=1)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="Modbus TCP port (0: any free one)")
    serve.add_argument("--no-tcp", action="store_true", help="serve the RTU line only")
    serve.add_argument("--rtu", action="store_true", help="also serve Modbus RTU on a pty")
    serve.add_argument("--rtu-link", type=Path, help="symlink to make to the pty")
    serve.add_argument("--rtu-device", type=Path, help="serve on this serial device instead")
    serve.add_argument("--baudrate", type=int, default=19200)
    serve.add_argument("--parity", choices=["N", "E", "O"], default="N")
    serve.add_argument("--stopbits", type=int, choices=[1, 2], default=1)
    serve.add_argument("--it-load-w", type=float, default=6000.0)
    serve.add_argument("--outdoor-c", type=float, default=30.0)
    serve.add_argument("--room-c", type=float, default=24.0, help="initial room temperature")
    serve.add_argument(
        "--heat-capacity", type=float, default=400_000.0, help="room heat capacity, J/K"
    )
    serve.add_argument("--setpoint-range", type=_range, help="LOW,HIGH the unit's panel allows")
    serve.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    serve.add_argument("--seed", type=int, default=0)
    add_serve_options(serve)

    commands = add_control_parser(actions).add_subparsers(dest="command", required=True)
    load = commands.add_parser("set-it-load", help="IT heat load other than GPUs, W")
    load.add_argument("watts", type=float)
    gpu = commands.add_parser("set-gpu-load", help="GPU heat load, W")
    gpu.add_argument("watts", type=float)
    outdoor = commands.add_parser("set-outdoor", help="outdoor temperature, °C")
    outdoor.add_argument("celsius", type=float)
    fault = commands.add_parser("fault", help="start (or --clear) a unit fault; 'none' ends all")
    fault.add_argument("name", help="compressor, compressor_N, fan, filter, water_leak, power, ...")
    fault.add_argument("--clear", action="store_true")
    lock = commands.add_parser("local-lock", help="lock the unit to its panel")
    lock.add_argument("state", choices=["on", "off"])
    lock.add_argument("--refusal", choices=["exception", "ignore"])
    unit = commands.add_parser("unit", help="switch the unit at its panel")
    unit.add_argument("state", choices=["on", "off"])
    setpoint = commands.add_parser("setpoint", help="change a setpoint at the panel")
    setpoint.add_argument("celsius", type=float)
    setpoint.add_argument("--which", choices=["return", "supply"], default="return")
    link = commands.add_parser("link-fault", help="misbehave on the wire")
    link.add_argument("mode", choices=[m.value for m in FaultMode])
    link.add_argument("--delay", type=float, help="seconds, for late")
    advance = commands.add_parser("advance", help="jump simulated time forward")
    advance.add_argument("seconds", type=float)
    speed = commands.add_parser("speed", help="time acceleration")
    speed.add_argument("factor", type=float)
    commands.add_parser("state", help="model state and raw registers")
    commands.add_parser("stats", help="counters")
    commands.add_parser("quit", help="stop the simulator")
    return parser


def _build(args: argparse.Namespace) -> CracSimulator:
    params = DEFAULT_PARAMS[args.model]
    if args.setpoint_range is not None:
        if params.control_mode is ControlMode.SUPPLY:
            params = replace(params, supply_setpoint_range_c=args.setpoint_range)
        else:
            params = replace(params, return_setpoint_range_c=args.setpoint_range)
    room = RoomParams(
        heat_capacity_j_per_k=args.heat_capacity,
        outdoor_c=args.outdoor_c,
        initial_c=args.room_c,
        seed=args.seed,
    )
    return CracSimulator(
        args.model,
        unit_id=args.unit_id,
        tcp=not args.no_tcp,
        host=args.host,
        port=args.port,
        rtu=args.rtu or args.rtu_device is not None,
        line=LineSettings(args.baudrate, args.parity, args.stopbits),
        rtu_link=args.rtu_link,
        rtu_device=args.rtu_device,
        params=params,
        room=room,
        speed=args.speed,
        it_load_w=args.it_load_w,
    )


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: _build(args),
        lambda sim, on_quit: CracControlServer(
            sim, args.control_host, args.control_port, on_quit=on_quit
        ),
        lambda sim, port: {
            "model": sim.model,
            "unit_id": sim.unit_id,
            "servers": sim.servers,
            "control_port": port,
        },
        ready_file=args.ready_file,
        bad_arguments=(CracSimError, ValueError),
    )


def _request(args: argparse.Namespace) -> dict[str, Any]:
    """The control command and its fields for the ``control`` subcommand's arguments."""
    command: str = args.command
    if command == "set-it-load":
        return {"cmd": "set_it_load_w", "w": args.watts}
    if command == "set-gpu-load":
        return {"cmd": "set_gpu_load_w", "w": args.watts}
    if command == "set-outdoor":
        return {"cmd": "set_outdoor_c", "c": args.celsius}
    if command == "fault":
        return {"cmd": "fault", "name": args.name, "active": not args.clear}
    if command == "local-lock":
        return {"cmd": "local_lock", "on": args.state == "on", "refusal": args.refusal}
    if command == "unit":
        return {"cmd": "unit_on", "on": args.state == "on"}
    if command == "setpoint":
        return {"cmd": "setpoint", "c": args.celsius, "which": args.which}
    if command == "link-fault":
        return {"cmd": "link_fault", "mode": args.mode, "delay_s": args.delay}
    if command == "advance":
        return {"cmd": "advance", "s": args.seconds}
    if command == "speed":
        return {"cmd": "speed", "x": args.factor}
    return {"cmd": command}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return run_action(_parser().parse_args(argv), _serve, _request)
