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
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim_devices.control import ControlClient, ControlError
from sim_devices.dio.control import COMMANDS, DioControlServer
from sim_devices.dio.door import DoorSpec
from sim_devices.dio.module import ModuleSpec
from sim_devices.dio.simulator import DioSimSpec, DioSimulator, default_doors


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
    serve.add_argument("--control-port", type=int, default=0, help="0 picks a free port")
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
    serve.add_argument("--ready-file", type=Path, help="also write the ready line to this file")
    serve.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    control = actions.add_parser("control", help="send one command to a running simulator")
    control.add_argument("--port", type=int, required=True, help="the control port")
    control.add_argument("--host", default="127.0.0.1")
    control.add_argument("command", choices=COMMANDS)
    control.add_argument("fields", nargs="*", help="key=value (JSON values)")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    try:
        spec = DioSimSpec(
            unit_id=args.unit,
            module=ModuleSpec(pulse_registers=not args.no_pulse, watchdog_s=args.watchdog_s),
            doors=tuple(args.door) if args.door else default_doors(),
            host=args.host,
            port=args.port,
        )
        sim = DioSimulator(spec)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with sim:
            control = DioControlServer(sim, args.host, args.control_port, on_quit=stop.set)
            await control.start()
            try:
                line = json.dumps({"ready": True, **sim.ready_info(), "control_port": control.port})
                print(line, flush=True)
                if args.ready_file is not None:
                    tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
                    tmp.write_text(line + "\n", encoding="utf-8")
                    os.replace(tmp, args.ready_file)
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


def _fields(pairs: Sequence[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"field {pair!r}: expected key=value")
        try:
            fields[key] = json.loads(text)
        except json.JSONDecodeError:
            fields[key] = text
    return fields


async def _control(args: argparse.Namespace) -> int:
    try:
        fields = _fields(args.fields)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        async with ControlClient(args.port, args.host) as client:
            answer = await client.request(args.command, **fields)
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(
            f"error: cannot reach the simulator on {args.host}:{args.port}: {exc}", file=sys.stderr
        )
        return 1
    print(json.dumps(answer))
    return 0


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
