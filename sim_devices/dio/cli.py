"""Command line: ``python -m sim_devices.dio serve|control``.

``serve`` prints exactly one JSON line on stdout once the module listens::

    {"ready": true, "kind": "dio", "host": "127.0.0.1", "port": 40123, "unit": 1,
     "doors": [...], "control_port": 40124}

Logs go to stderr. SIGTERM, SIGINT or a ``quit`` control command stop it
cleanly (exit 0). ``control`` sends one command, fields as ``key=value``
(values parsed as JSON where they parse)::

    python -m sim_devices.dio control --port 40124 walk_through door=entry
    python -m sim_devices.dio control --port 40124 fault mode=stuck_input input=0 value=true
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from sim_devices.dio.control import COMMANDS, DioControlServer
from sim_devices.dio.door import DoorSpec
from sim_devices.dio.module import ModuleSpec
from sim_devices.dio.simulator import DioSimSpec, DioSimulator, default_doors
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    key_value_request,
    run_action,
    serve_until_stopped,
)


def _door(text: str) -> DoorSpec:
    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(p.isdigit() for p in parts[1:]):
        raise argparse.ArgumentTypeError(
            f"door {text!r}: expected NAME:COIL:PASSAGE_INPUT[:BUTTON_INPUT] (0-based numbers)"
        )
    button = int(parts[3]) if len(parts) == 4 else None
    return DoorSpec(
        parts[0], lock_coil=int(parts[1]), passage_input=int(parts[2]), button_input=button
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.dio", description="digital-I/O gate module simulator"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="serve until SIGTERM/SIGINT or quit")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="Modbus TCP port, 0 picks a free one")
    serve.add_argument("--unit", type=int, default=1, help="Modbus unit id")
    serve.add_argument(
        "--watchdog-s", type=float, default=0.0, help="power-up watchdog (0 = off until set)"
    )
    serve.add_argument(
        "--no-pulse", action="store_true", help="a module without timed-output registers"
    )
    serve.add_argument(
        "--door",
        type=_door,
        action="append",
        help="NAME:COIL:PASSAGE_INPUT[:BUTTON_INPUT], repeatable "
        "(default: entry:0:0 and exit:1:1:2)",
    )
    add_serve_options(serve, control_host=False)
    control = add_control_parser(actions)
    control.add_argument("command", choices=COMMANDS)
    control.add_argument("fields", nargs="*", help="key=value (JSON values)")
    return parser


def _build(args: argparse.Namespace) -> DioSimulator:
    spec = DioSimSpec(
        unit_id=args.unit,
        module=ModuleSpec(pulse_registers=not args.no_pulse, watchdog_s=args.watchdog_s),
        doors=tuple(args.door) if args.door else default_doors(),
        host=args.host,
        port=args.port,
    )
    return DioSimulator(spec)


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: _build(args),
        lambda sim, on_quit: DioControlServer(sim, args.host, args.control_port, on_quit=on_quit),
        lambda sim, port: {**sim.ready_info(), "control_port": port},
        ready_file=args.ready_file,
        bad_arguments=(ValueError,),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return run_action(_parser().parse_args(argv), _serve, key_value_request)
