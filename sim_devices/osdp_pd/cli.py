"""Command line: ``python -m sim_devices.osdp_pd serve|control ...``.

``serve`` prints exactly one JSON line on stdout once the pty and the control
port are ready::

    {"ready": true, "path": "/dev/pts/7", "baudrate": 115200,
     "pds": [{"address": 0, "secure": true, ...}], "control_port": 40125}

and then serves until SIGTERM, SIGINT or a ``quit`` control command (exit 0).
Logs go to stderr. The SCBK file holds 32 hex digits (or 16 raw bytes).
"""

from __future__ import annotations

import argparse
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim_devices.osdp_pd.control import OsdpControlServer
from sim_devices.osdp_pd.device import FaultMode, OsdpPdSimulator, PdSpec, SimError
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    run_action,
    serve_until_stopped,
)


def read_scbk(path: Path) -> bytes:
    """A key file: 32 hex digits (whitespace ignored) or 16 raw bytes."""
    data = path.read_bytes()
    text = b"".join(data.split())
    if len(text) == 32 and all(chr(c) in string.hexdigits for c in text):
        return bytes.fromhex(text.decode())
    if len(data) == 16:
        return data
    raise SimError(f"{path}: expected 32 hex digits or 16 raw bytes")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.osdp_pd", description="Simulated OSDP door controllers"
    )
    actions = parser.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="simulate PDs on a pty until SIGTERM or quit")
    serve.add_argument("--address", type=int, action="append", help="PD address (repeatable)")
    serve.add_argument(
        "--scbk-file", type=Path, action="append", help="one for all PDs or one per --address"
    )
    serve.add_argument(
        "--install-mode", action="store_true", help="PDs without SCBK (default key only)"
    )
    serve.add_argument("--outputs", type=int, default=2)
    serve.add_argument("--inputs", type=int, default=2)
    serve.add_argument("--leds", type=int, default=1)
    serve.add_argument("--no-reader", action="store_true")
    serve.add_argument("--no-buzzer", action="store_true")
    serve.add_argument("--relay-output", type=int, default=0)
    serve.add_argument("--relay-energised", choices=["locked", "open"], default="locked")
    serve.add_argument("--passage-input", type=int, default=0)
    serve.add_argument(
        "--watchdog-s", type=float, default=2.0, help="fail-safe after this silence (0: never)"
    )
    serve.add_argument("--baudrate", type=int, default=115200)
    serve.add_argument("--seed", type=int, default=0)
    add_serve_options(serve)

    control = add_control_parser(actions)
    control.add_argument("--address", type=int, help="PD address (default: the first)")
    commands = control.add_subparsers(dest="command", required=True)
    card = commands.add_parser("card", help="present a card (raw bits as hex, bit count)")
    card.add_argument("hex")
    card.add_argument("bits", type=int)
    card.add_argument("--wiegand", action="store_true")
    keypad = commands.add_parser("keypad", help="type keys (digits, * clears, # enters)")
    keypad.add_argument("keys")
    walk = commands.add_parser("walk_through", help="people pass the passage sensor")
    walk.add_argument("n", type=int, nargs="?", default=1)
    walk.add_argument("--interval-s", type=float, default=0.6)
    inp = commands.add_parser("input", help="set an input")
    inp.add_argument("input", type=int)
    inp.add_argument("level", choices=["on", "off"])
    tamper = commands.add_parser("tamper", help="tamper switch")
    tamper.add_argument("level", choices=["on", "off"])
    fault = commands.add_parser("fault", help="set a fault")
    fault.add_argument("mode", choices=[m.value for m in FaultMode])
    fault.add_argument("--rate", type=float)
    commands.add_parser("state", help="relay, inputs, last command, link")
    commands.add_parser("quit", help="stop the simulator")
    return parser


def _specs(args: argparse.Namespace) -> list[PdSpec]:
    addresses: list[int] = args.address or [0]
    files: list[Path] = args.scbk_file or []
    if args.install_mode:
        keys: list[bytes | None] = [None] * len(addresses)
    elif len(files) == 1:
        keys = [read_scbk(files[0])] * len(addresses)
    elif len(files) == len(addresses):
        keys = [read_scbk(f) for f in files]
    else:
        raise SimError("give one --scbk-file, one per --address, or --install-mode")
    return [
        PdSpec(
            address=address,
            scbk=key,
            secure=not args.install_mode,
            outputs=args.outputs,
            inputs=args.inputs,
            reader=not args.no_reader,
            leds=args.leds,
            buzzer=not args.no_buzzer,
            relay_output=args.relay_output,
            relay_energised=args.relay_energised,
            passage_input=args.passage_input,
            watchdog_s=args.watchdog_s if args.watchdog_s > 0 else None,
        )
        for address, key in zip(addresses, keys, strict=True)
    ]


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: OsdpPdSimulator(_specs(args), baudrate=args.baudrate, seed=args.seed),
        lambda sim, on_quit: OsdpControlServer(
            sim, args.control_host, args.control_port, on_quit=on_quit
        ),
        lambda sim, port: {**sim.info(), "control_port": port},
        ready_file=args.ready_file,
        bad_arguments=(SimError, OSError),
    )


def _request(args: argparse.Namespace) -> dict[str, Any]:
    command: str = args.command
    fields: dict[str, Any] = {"cmd": command, "address": args.address}
    if command == "card":
        fields.update(hex=args.hex, bits=args.bits, wiegand=args.wiegand)
    elif command == "keypad":
        fields.update(keys=args.keys)
    elif command == "walk_through":
        fields.update(n=args.n, interval_s=args.interval_s)
    elif command == "input":
        fields.update(input=args.input, active=args.level == "on")
    elif command == "tamper":
        fields.update(on=args.level == "on")
    elif command == "fault":
        fields.update(mode=args.mode, rate=args.rate)
    return fields


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return run_action(_parser().parse_args(argv), _serve, _request)
