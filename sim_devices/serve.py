"""What every simulator's command line shares: ``serve`` until told to stop, ``control`` once.

``serve`` prints exactly one JSON line on stdout once everything listens,
``{"ready": true, ...}`` with its ports and paths, so a parent process can
read them; with ``--ready-file`` the same line also goes to a file, written
atomically so a reader never sees half of it. Logs go to stderr. SIGTERM,
SIGINT or a ``quit`` control command stop it cleanly (exit 0); a server that
cannot start exits 1.

``control`` sends one request to a running simulator's control port and
prints the JSON answer; an ``ok: false`` answer or a simulator that cannot be
reached exits 1 with the error on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from sim_devices.jsonlines import JsonLinesClient, JsonLinesServer

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

SimT = TypeVar("SimT")


def add_serve_options(
    serve: argparse.ArgumentParser, *, control_host: bool = True, ready_file: bool = True
) -> None:
    """The ``serve`` options every simulator has: control port, ready file, log level."""
    serve.add_argument("--control-port", type=int, default=0, help="0 picks a free port")
    if control_host:
        serve.add_argument("--control-host", default="127.0.0.1")
    if ready_file:
        serve.add_argument(
            "--ready-file", type=Path, help="also write the ready line to this file (atomically)"
        )
    serve.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)


def add_control_parser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    text: str = "send one command to a running simulator",
) -> argparse.ArgumentParser:
    """The ``control`` subcommand with ``--port`` (the control port) and ``--host``."""
    control = actions.add_parser("control", help=text)
    control.add_argument("--port", type=int, required=True, help="the control port")
    control.add_argument("--host", default="127.0.0.1")
    return control


def run_action(
    args: argparse.Namespace,
    serve: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
    request: Callable[[argparse.Namespace], Mapping[str, Any]],
) -> int:
    """Run ``serve`` (logging to stderr at ``--log-level``) or send ``request(args)``.

    ``request`` raises ValueError for arguments that make no request (exit 2).
    """
    if args.action == "serve":
        logging.basicConfig(level=args.log_level, stream=sys.stderr, format=LOG_FORMAT)
        return asyncio.run(serve(args))
    try:
        message = request(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(send_request(args.host, args.port, message))


async def serve_until_stopped(
    build: Callable[[], AbstractAsyncContextManager[SimT]],
    control: Callable[[SimT, Callable[[], None]], JsonLinesServer],
    ready: Callable[[SimT, int], Mapping[str, Any]],
    *,
    ready_file: Path | None = None,
    bad_arguments: tuple[type[Exception], ...] = (),
    errors: tuple[type[Exception], ...] = (OSError,),
) -> int:
    """Build a simulator, run it and its control server until SIGTERM, SIGINT or ``quit``.

    ``build()`` makes the simulator (an async context manager that starts
    and stops it); ``control(sim, on_quit)`` makes the control server;
    ``ready(sim, control_port)`` gives the ready line's fields after
    ``"ready": true``. The exit status is 0 after a clean stop, 2 when
    ``build`` raises one of ``bad_arguments``, 1 when starting or serving
    raises one of ``errors``; the error goes to stderr as ``error: ...``.
    """
    try:
        simulator = build()
    except bad_arguments as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    try:
        async with simulator as sim:
            server = control(sim, stop.set)
            await server.start()
            try:
                line = json.dumps({"ready": True, **ready(sim, server.port)})
                print(line, flush=True)
                if ready_file is not None:
                    _write_ready_file(ready_file, line)
                await stop.wait()
            finally:
                await server.stop()
    except errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    return 0


def _write_ready_file(path: Path, line: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(line + "\n", encoding="utf-8")
    os.replace(tmp, path)


async def send_request(host: str, port: int, request: Mapping[str, Any]) -> int:
    """Send one control request, print the answer; the exit status (1 on any error)."""
    try:
        async with JsonLinesClient(port, host) as client:
            answer = await client.raw(request)
    except (OSError, TimeoutError) as exc:
        print(f"error: cannot reach the simulator on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    if not answer.get("ok"):
        print(f"error: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


def key_value_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request ``args.command`` with ``args.fields``, ``key=value`` strings.

    A value is JSON where it parses (``value=true``, ``n=2``), else a
    string; ValueError names an argument that is not ``key=value``.
    """
    fields: dict[str, Any] = {}
    for pair in args.fields:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"field {pair!r}: expected key=value")
        try:
            fields[key] = json.loads(text)
        except json.JSONDecodeError:
            fields[key] = text
    return {**fields, "cmd": args.command}


def json_request(args: argparse.Namespace) -> dict[str, Any]:
    """The request ``args.request``: one JSON object; ValueError says what it is not."""
    try:
        request = json.loads(args.request)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the request is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ValueError("the request must be a JSON object")
    return request
