"""``python -m walkout.cli.snmp_main scan|dump``: the SNMP commands on their own.

The same callables are registered in the ``walkout`` command as ``walkout scan
snmp`` and ``walkout snmp dump``; this entry point runs them without it.
"""

from __future__ import annotations

import typer

from walkout.cli.snmp_cmd import dump_snmp, scan_snmp

app = typer.Typer(
    help="Find SNMP agents and record a UPS as a fixture.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("scan")(scan_snmp)
app.command("dump")(dump_snmp)

if __name__ == "__main__":
    app()
