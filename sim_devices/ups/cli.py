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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim_devices.clock import ManualClock
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    run_action,
    serve_until_stopped,
)
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
    add_serve_options(serve)

    commands = add_control_parser(actions).add_subparsers(dest="command", required=True)
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


def _build(args: argparse.Namespace, clock: ManualClock | None) -> UpsSimulator:
    config = _config(args)
    if args.accel <= 0:
        raise UpsConfigError("--accel must be positive")
    return UpsSimulator(config, clock=clock, accel=args.accel)


def _ready(sim: UpsSimulator, control_port: int, clock: ManualClock | None) -> dict[str, Any]:
    communities = sim.config.agent.communities
    return {
        "snmp": {"host": sim.host, "port": sim.port},
        "control_port": control_port,
        "communities": {"read": communities.read, "write": communities.write},
        "traps": [str(t) for t in sim.agent.trap_targets],
        "phases": sim.config.ups.phases,
        "accel": sim.accel,
        "manual_clock": clock is not None,
    }


async def _serve(args: argparse.Namespace) -> int:
    clock = ManualClock() if args.manual_clock else None
    return await serve_until_stopped(
        lambda: _build(args, clock),
        lambda sim, on_quit: UpsControlServer(
            sim, args.control_host, args.control_port, clock=clock, on_quit=on_quit
        ),
        lambda sim, port: _ready(sim, port, clock),
        ready_file=args.ready_file,
        bad_arguments=(UpsConfigError,),
    )


def _request(args: argparse.Namespace) -> dict[str, Any]:
    command = args.command
    if command == "grid-off":
        return {"cmd": "grid_off"}
    if command == "grid-on":
        return {"cmd": "grid_on"}
    if command == "set-input":
        return {"cmd": "set_input", "voltage_v": args.voltage, "frequency_hz": args.frequency}
    if command == "set-load":
        return {"cmd": "set_load", "load_w": args.watts}
    if command == "set-charge":
        return {"cmd": "set_charge", "charge_pct": args.percent}
    if command == "set-ambient":
        return {"cmd": "set_ambient", "temp_c": args.celsius}
    if command == "fault":
        return {"cmd": "fault", "mode": args.mode, "delay_s": args.delay, "on": not args.off}
    if command == "trap-add":
        return {"cmd": "trap_add", "target": args.target}
    if command == "trap-remove":
        return {"cmd": "trap_remove", "target": args.target}
    if command == "advance":
        return {"cmd": "advance", "seconds": args.seconds}
    return {"cmd": command}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return run_action(_parser().parse_args(argv), _serve, _request)
