"""Command line: ``python -m sim_devices.esl serve|control ...``.

``serve`` starts an OpenEPaperLink-compatible access point with simulated
tags (unless ``--no-ap``) and, with ``--mqtt-port``, tags on walkout's MQTT
schema connected to that broker; then it prints exactly one JSON line::

    {"ready": true, "ap": {"url": "http://127.0.0.1:40123", "port": 40123,
      "tags": ["0000021EDE000000", ...]},
     "mqtt": {"host": "127.0.0.1", "port": 15883, "store": "store1",
      "prefix": "walkout/esl/store1", "tags": ["esl0000", ...]},
     "control_port": 40125}

Logs go to stderr. SIGTERM, SIGINT or a ``quit`` control command stop it
(exit 0); a broker that cannot be reached exits 1.

``control --port P CMD [key=value ...]`` sends one control command (values
are parsed as JSON when they can be, else taken as strings) and prints the
answer line.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sim_devices.esl.ap import SimAccessPoint, make_tags
from sim_devices.esl.control import EslControlServer
from sim_devices.esl.mqtt_tags import MqttTagEmulator
from sim_devices.serve import (
    add_control_parser,
    add_serve_options,
    key_value_request,
    run_action,
    serve_until_stopped,
)


def _hw_types(text: str) -> list[int]:
    try:
        return [int(part, 0) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"hw types must be integers like 1,0,2 or 0x01: {text!r}"
        ) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sim_devices.esl", description="Electronic shelf label simulators"
    )
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="run until SIGTERM/SIGINT or quit")
    serve.add_argument("--ap-host", default="127.0.0.1")
    serve.add_argument("--ap-port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--no-ap", action="store_true", help="no access point, MQTT tags only")
    serve.add_argument("--mqtt-host", default="127.0.0.1")
    serve.add_argument("--mqtt-port", type=int, help="the broker; without it, no MQTT tags")
    serve.add_argument("--store", default="store1", help="MQTT topic level of the store")
    serve.add_argument(
        "--mqtt-timeout-s",
        type=float,
        default=10.0,
        help="how long to wait for the broker at start",
    )
    serve.add_argument("--tags", type=int, default=20, help="tags per simulator")
    serve.add_argument("--ap-tags", type=int, help="AP tags (default: --tags)")
    serve.add_argument("--mqtt-tags", type=int, help="MQTT tags (default: --tags)")
    serve.add_argument("--checkin-s", type=float, default=1.0, help="AP tags' check-in interval")
    serve.add_argument(
        "--hw-types",
        type=_hw_types,
        default=[1, 0, 2],
        help="AP tag panels, cycled (OpenEPaperLink hwType)",
    )
    serve.add_argument("--seed", type=int, default=0)
    add_serve_options(serve, ready_file=False)
    control = add_control_parser(actions)
    control.add_argument("command", help="state, stats, tag, fault, miss_fraction, ... quit")
    control.add_argument("fields", nargs="*", metavar="key=value")
    return parser


@contextlib.asynccontextmanager
async def _simulators(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[SimAccessPoint | None, MqttTagEmulator | None]]:
    """The AP and the MQTT tags asked for, started, and stopped again (MQTT tags first)."""
    async with contextlib.AsyncExitStack() as stack:
        ap: SimAccessPoint | None = None
        mqtt: MqttTagEmulator | None = None
        if not args.no_ap:
            count = args.tags if args.ap_tags is None else args.ap_tags
            ap = SimAccessPoint(
                make_tags(count, args.hw_types),
                host=args.ap_host,
                port=args.ap_port,
                checkin_s=args.checkin_s,
            )
            stack.push_async_callback(ap.stop)
            await ap.start()
        if args.mqtt_port is not None:
            count = args.tags if args.mqtt_tags is None else args.mqtt_tags
            mqtt = MqttTagEmulator(
                args.mqtt_host,
                args.mqtt_port,
                args.store,
                [f"esl{n:04d}" for n in range(count)],
                seed=args.seed,
            )
            stack.push_async_callback(mqtt.stop)
            try:
                await mqtt.start(args.mqtt_timeout_s)
            except TimeoutError:
                raise OSError(f"broker {args.mqtt_host}:{args.mqtt_port} not reachable") from None
        yield ap, mqtt


def _ready(ap: SimAccessPoint | None, mqtt: MqttTagEmulator | None) -> dict[str, Any]:
    return {
        "ap": None if ap is None else {"url": ap.url, "port": ap.port, "tags": list(ap.tags)},
        "mqtt": None
        if mqtt is None
        else {
            "host": mqtt.host,
            "port": mqtt.port,
            "store": mqtt.store,
            "prefix": mqtt.prefix,
            "tags": list(mqtt.tags),
        },
    }


async def _serve(args: argparse.Namespace) -> int:
    return await serve_until_stopped(
        lambda: _simulators(args),
        lambda sims, on_quit: EslControlServer(
            *sims, args.control_host, args.control_port, on_quit=on_quit
        ),
        lambda sims, port: {**_ready(*sims), "control_port": port},
        errors=(OSError, ValueError),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return run_action(_parser().parse_args(argv), _serve, key_value_request)
