"""The ``walkout`` command: installer commissioning, diagnostics and the bench."""

from __future__ import annotations

import logging

import typer

from walkout.cli import (
    alerts_cmd,
    bench_cmd,
    camera_cmd,
    crac_cmd,
    devices_cmd,
    gate_cmd,
    gpu_cmd,
    plan_cmd,
    run_cmd,
    scale_cmd,
    scan_cmd,
    snmp_cmd,
    tags_cmd,
    ups_cmd,
    validate_cmd,
)

app = typer.Typer(
    name="walkout",
    help="Edge software of a grab-and-go store: commission devices, run the store, run the bench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("validate")(validate_cmd.validate)
scan_cmd.app.command("snmp")(snmp_cmd.scan_snmp)
app.add_typer(scan_cmd.app, name="scan")
app.command("probe")(devices_cmd.probe)
app.command("dump")(devices_cmd.dump)
app.add_typer(scale_cmd.app, name="scale")
app.add_typer(gpu_cmd.app, name="gpu")
app.add_typer(crac_cmd.app, name="crac")
app.add_typer(tags_cmd.app, name="tags")
app.add_typer(ups_cmd.app, name="ups")
app.add_typer(gate_cmd.app, name="gate")
app.add_typer(camera_cmd.app, name="camera")
app.add_typer(snmp_cmd.app, name="snmp")
app.add_typer(alerts_cmd.app, name="alerts")
app.command("bench")(bench_cmd.bench)
app.command("run")(run_cmd.run)
app.command("plan")(plan_cmd.plan_cmd)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="log at DEBUG")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> None:
    """Console-script entry point."""
    app()
