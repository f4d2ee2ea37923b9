"""Command line: ``python -m sim_devices.ups serve|control ...``.

``serve`` prints exactly one JSON line on stdout once the agent and the
control server listen::

    {"ready": true, "snmp": {"host": "127.0.0.1", "port": 40123},
     "control_port": 40125, "communities": {"read": "public", "write": "private"},
     "traps": ["127.0.0.1:16200/v2c/public"], "phases": 1, "accel": 1.0}

so a parent process can read its ports; logs go to stderr. SIGTERM, SIGINT
or a ``quit`` control command stop it cleanly (exit 0).
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

from sim_devices.clock import ManualClock
from sim_devices.control import ControlClient, ControlError
from sim_devices.ups.config import (
    DEFAULT_SCENARIO,
    TrapTarget,
    UpsConfig,
    UpsConfigError,
    load_config,
    parse_config,
)
from sim_devices.ups.control import UpsControlServer
from sim_devices.ups.faults import FAULT_MODES
from sim_devices.ups.simulator import UpsSimulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.ups", description=__doc__.split("\n")[0]
    )
    actions = parser.add_subparsers(dest="action", required=True)

    serve = actions.add_parser("serve", help="run the UPS until SIGTERM/SIGINT or quit")
    serve.add_argument(
        "--config", type=Path, default=DEFAULT_SCENARIO, help="UPS YAML (default: rack-3kva)"
    )
    serve.add_argument("--host", help="SNMP address (default from the config: 127.0.0.1)")
    serve.add_argument("--port", type=int, help="SNMP UDP port; 0 picks a free one")
    serve.add_argument("--community", help="read community (default public)")
    serve.add_argument("--write-community", help="write community (default private)")
    serve.add_argument(
        "--trap",
        action="append",
        default=[],
        metavar="HOST:PORT[/v1|v2c[/COMMUNITY]]",
        help="trap target; repeat for several",
    )
    serve.add_argument("--accel", type=float, default=1.0, help="model seconds per real second")
    serve.add_argument(
        "--manual-clock", action="store_true", help="time moves only on the 'advance' command"
    )
    serve.add_argument("--three-phase", action="store_true", help="3 input and output lines")
    serve.add_argument("--load", type=float, help="initial load in W")
    serve.add_argument("--control-port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--control-host", default="127.0.0.1")
    serve.add_argument(
        "--ready-file", type=Path, help="also write the ready line to this file (atomically)"
    )
    serve.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )

    control = actions.add_parser("control", help="send one command to a running simulator")
    control.add_argument("--port", type=int, required=True, help="the control port")
    control.add_argument("--host", default="127.0.0.1")
    commands = control.add_subparsers(dest="command", required=True)
    commands.add_parser("grid-off", help="cut the mains")
    commands.add_parser("grid-on", help="restore the mains")
    set_input = commands.add_parser("set-input", help="mains voltage / frequency (sag, swell)")
    set_input.add_argument("--voltage", type=float)
    set_input.add_argument("--frequency", type=float)
    set_load = commands.add_parser("set-load", help="load in W")
    set_load.add_argument("watts", type=float)
    set_charge = commands.add_parser("set-charge", help="battery charge in %%")
    set_charge.add_argument("percent", type=float)
    set_ambient = commands.add_parser("set-ambient", help="battery room temperature in C")
    set_ambient.add_argument("celsius", type=float)
    fault = commands.add_parser("fault", help="wire or device fault")
    fault.add_argument("mode", choices=FAULT_MODES)
    fault.add_argument("--delay", type=float, help="seconds, for 'slow'")
    fault.add_argument("--off", action="store_true", help="clear a device fault")
    trap_add = commands.add_parser("trap-add", help="add a trap target")
    trap_add.add_argument("target", metavar="HOST:PORT[/v1|v2c[/COMMUNITY]]")
    trap_remove = commands.add_parser("trap-remove", help="remove a trap target")
    trap_remove.add_argument("target", metavar="HOST:PORT[/v1|v2c[/COMMUNITY]]")
    advance = commands.add_parser("advance", help="move a --manual-clock simulator forward")
    advance.add_argument("seconds", type=float)
    commands.add_parser("state", help="the whole model state")
    commands.add_parser("stats", help="agent counters")
    commands.add_parser("quit", help="stop the simulator")
    return parser


def _write_ready_file(path: Path, line: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(line + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _config(args: argparse.Namespace) -> UpsConfig:
    config = load_config(args.config)
    ups: dict[str, Any] = {}
    agent: dict[str, Any] = {}
    if args.three_phase:
        ups["phases"] = 3
    if args.load is not None:
        ups["load_w"] = args.load
    if args.host is not None:
        agent["host"] = args.host
    if args.port is not None:
        agent["port"] = args.port
    communities = config.agent.communities.model_dump()
    if args.community is not None:
        communities["read"] = args.community
    if args.write_community is not None:
        communities["write"] = args.write_community
    agent["communities"] = communities
    for text in args.trap:
        TrapTarget.parse(text)  # a clear error before anything starts
    agent["traps"] = (*config.agent.traps, *args.trap)
    data = config.model_dump()
    data["ups"].update(ups)
    data["agent"].update(agent)
    return parse_config(data, f"{args.config} with the command line options")


async def _serve(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except UpsConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.accel <= 0:
        print("error: --accel must be positive", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = ManualClock() if args.manual_clock else None
    try:
        async with UpsSimulator(config, clock=clock, accel=args.accel) as sim:
            control = UpsControlServer(
                sim, args.control_host, args.control_port, clock=clock, on_quit=stop.set
            )
            await control.start()
            try:
                communities = config.agent.communities
                line = json.dumps(
                    {
                        "ready": True,
                        "snmp": {"host": sim.host, "port": sim.port},
                        "control_port": control.port,
                        "communities": {"read": communities.read, "write": communities.write},
                        "traps": [str(t) for t in sim.agent.trap_targets],
                        "phases": config.ups.phases,
                        "accel": args.accel,
                        "manual_clock": clock is not None,
                    }
                )
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


def _request(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    command = args.command
    if command == "grid-off":
        return "grid_off", {}
    if command == "grid-on":
        return "grid_on", {}
    if command == "set-input":
        return "set_input", {"voltage_v": args.voltage, "frequency_hz": args.frequency}
    if command == "set-load":
        return "set_load", {"load_w": args.watts}
    if command == "set-charge":
        return "set_charge", {"charge_pct": args.percent}
    if command == "set-ambient":
        return "set_ambient", {"temp_c": args.celsius}
    if command == "fault":
        return "fault", {"mode": args.mode, "delay_s": args.delay, "on": not args.off}
    if command == "trap-add":
        return "trap_add", {"target": args.target}
    if command == "trap-remove":
        return "trap_remove", {"target": args.target}
    if command == "advance":
        return "advance", {"seconds": args.seconds}
    return command, {}


async def _control(args: argparse.Namespace) -> int:
    command, fields = _request(args)
    try:
        async with ControlClient(args.port, args.host) as client:
            answer = await client.request(command, **fields)
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
