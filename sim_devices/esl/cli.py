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
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from sim_devices.control import ControlClient, ControlError
from sim_devices.esl.ap import SimAccessPoint, make_tags
from sim_devices.esl.control import EslControl, EslControlServer
from sim_devices.esl.mqtt_tags import MqttTagEmulator


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
    serve.add_argument("--control-host", default="127.0.0.1")
    serve.add_argument("--control-port", type=int, default=0, help="0 picks a free port")
    serve.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    control = actions.add_parser("control", help="send one command to a running simulator")
    control.add_argument("--port", type=int, required=True)
    control.add_argument("--host", default="127.0.0.1")
    control.add_argument("command", help="state, stats, tag, fault, miss_fraction, ... quit")
    control.add_argument("fields", nargs="*", metavar="key=value")
    return parser


async def _serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ap: SimAccessPoint | None = None
    mqtt: MqttTagEmulator | None = None
    control: EslControlServer | None = None
    try:
        if not args.no_ap:
            count = args.tags if args.ap_tags is None else args.ap_tags
            ap = SimAccessPoint(
                make_tags(count, args.hw_types),
                host=args.ap_host,
                port=args.ap_port,
                checkin_s=args.checkin_s,
            )
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
            try:
                await mqtt.start(args.mqtt_timeout_s)
            except TimeoutError:
                print(
                    f"error: broker {args.mqtt_host}:{args.mqtt_port} not reachable",
                    file=sys.stderr,
                )
                return 1
        control = EslControlServer(
            EslControl(ap, mqtt), args.control_host, args.control_port, on_quit=stop.set
        )
        await control.start()
        ready: dict[str, Any] = {
            "ready": True,
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
            "control_port": control.port,
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
        return 0
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if control is not None:
            await control.stop()
        if mqtt is not None:
            await mqtt.stop()
        if ap is not None:
            await ap.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


async def _control(args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {}
    for item in args.fields:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"error: {item!r} is not key=value", file=sys.stderr)
            return 2
        fields[key] = _value(value)
    try:
        async with ControlClient(args.port, args.host) as client:
            answer = await client.request(args.command, **fields)
    except ControlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError) as exc:
        print(f"error: cannot reach {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.action == "serve":
        logging.basicConfig(
            level=args.log_level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        return asyncio.run(_serve(args))
    return asyncio.run(_control(args))
